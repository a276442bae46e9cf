#!/usr/bin/env bash
# What closing the cluster costs: 2 worker processes training 784-256-128-10 (SGD, global batch 1024, 4 shards) with
# each protection, alternating in ROUNDS rounds so that the shared machine's noise hits them alike:
#   insecure    --insecure (plain TCP on both planes; the old default)
#   run-secret  the default on 127.0.0.1: mutual TLS with the run's own secret on the control plane, tensors guarded by tokens
#   tls         --tls-cert/--tls-key of `dnn cert`: mutual TLS on both planes
# for the tcp and shm transports (TLS certificates move tensors over tcp only). Prints each round's median-epoch
# samples/s and every mode's median ratio to insecure, and checks the weights are the same bits in every mode.
# Usage: bench/security-cost.sh [ROUNDS]   (default 3); EPOCHS=N (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
epochs=${EPOCHS:-3}
dotnet build src/Coordinator -c Release -v q -nologo >/dev/null
dnn="dotnet src/Coordinator/bin/Release/net10.0/dnn.dll"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$dnn cert --out "$tmp/certs" >/dev/null
grep -m1 'model name' /proc/cpuinfo | sed 's/^.*: /CPU: /'
grep -q avx512f /proc/cpuinfo && echo "AVX-512: yes" || echo "AVX-512: no"
declare -A runs
for transport in tcp shm; do
  modes=(insecure run-secret)
  [[ $transport == tcp ]] && modes+=(tls)
  for ((r = 1; r <= rounds; r++)); do
    for mode in "${modes[@]}"; do
      case $mode in
        insecure) extra=(--insecure) ;;
        run-secret) extra=() ;;
        tls) extra=(--tls-cert "$tmp/certs/cluster.crt" --tls-key "$tmp/certs/cluster.key") ;;
      esac
      $dnn train --layers 784,256,128,10 --optimizer sgd --lr 0.1 --batch 1024 --shards 4 --epochs "$epochs" \
        --spawn-workers 2 --transport "$transport" "${extra[@]}" --metrics-out "$tmp/m.json" --out "$tmp/run" > "$tmp/out.txt"
      sps=$(grep '^epoch' "$tmp/out.txt" | sed -E 's/.* ([0-9,]+) samples\/s.*/\1/' | tr -d ',' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
      sha=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["weights_sha256"][:12], m["security"])' "$tmp/m.json")
      echo "$transport round $r  $mode: $sps samples/s  ($sha)"
      runs[$transport,$mode]+="$sps "
      rm -rf "$tmp/run"
    done
  done
  for mode in "${modes[@]}"; do
    python3 - "$transport" "$mode" "${runs[$transport,insecure]}" "${runs[$transport,$mode]}" <<'PY'
import statistics, sys
t, mode, base, runs = sys.argv[1], sys.argv[2], [float(x) for x in sys.argv[3].split()], [float(x) for x in sys.argv[4].split()]
ratios = [r / b for r, b in zip(runs, base)]
print(f"{t} {mode:10s} median {statistics.median(runs):9,.0f} samples/s   / insecure: median {statistics.median(ratios):.2f} (rounds {', '.join(f'{x:.2f}' for x in ratios)})")
PY
  done
done
