#!/usr/bin/env bash
# End-to-end training throughput on Fashion-MNIST, 784-256-128-10, plain SGD, for each way of running,
# in one session: single process (1 and 2 threads), 2 in-process workers, 2 worker processes (TCP, shared memory, bf16, Akka).
# Prints the median epoch's samples/s, the ratio to the single-process 2-thread run, and the tensor
# bytes per step against the floor workers × parameters × (4 bytes of weights down + 4, or 2 for bf16, of gradient up).
# Usage: bench/distributed-throughput.sh [BATCH ...]   (default: 256 1024); SHARDS=K EPOCHS=N to change.
set -euo pipefail
cd "$(dirname "$0")/.."
batches=("$@")
[ $# -eq 0 ] && batches=(256 1024)
shards=${SHARDS:-4}
epochs=${EPOCHS:-3}
dotnet build src/Coordinator -c Release -v q -nologo >/dev/null
dnn="dotnet src/Coordinator/bin/Release/net10.0/dnn.dll"
params=235146
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for batch in "${batches[@]}"; do
  echo "== global batch $batch, $shards shards, $epochs epochs"
  base=""
  for mode in "--threads 2" "--threads 1" "--workers 2 --transport shm" "--spawn-workers 2 --transport tcp" "--spawn-workers 2 --transport shm" "--spawn-workers 2 --gradient-format bf16" "--spawn-workers 2 --transport akka"; do
    [[ "$mode" == *akka* && "$batch" != "1024" ]] && continue
    $dnn train --layers 784,256,128,10 --optimizer sgd --lr 0.1 --batch "$batch" --shards "$shards" --epochs "$epochs" $mode --metrics-out "$tmp/m.json" > "$tmp/out.txt"
    sps=$(grep '^epoch' "$tmp/out.txt" | sed -E 's/.* ([0-9,]+) samples\/s.*/\1/' | tr -d ',' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    python3 - "$tmp/m.json" "$mode" "$sps" "${base:-$sps}" "$params" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); mode, sps, base, params = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
steps = m["steps"]; workers = m["workers"]
moved = (m["bytes_sent"] + m["bytes_received"]) / steps if steps else 0
floor = workers * params * (4 + (2 if m.get("gradient_format") == "bf16" else 4))
extra = f"  tensor bytes/step {moved/1e6:.2f} MB = {moved/floor:.2f}× floor ({floor/1e6:.2f} MB)" if m["mode"] != "single-process" else ""
print(f"{mode:36s} {sps:>9,.0f} samples/s  {sps/base:5.2f}× 2-thread  sha {m['weights_sha256'][:12]}{extra}")
PY
    [[ "$mode" == "--threads 2" ]] && base=$sps
  done
done
