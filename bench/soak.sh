#!/usr/bin/env bash
# Soak (not part of CI): a long multi-process training run on Fashion-MNIST while a worker is killed
# with SIGKILL and a new one started every ~20 s. Reports how many kills the run survived, and the final
# accuracy and weights against a fault-free single-process run of the same seed (they must be equal).
# Usage: bench/soak.sh [EPOCHS] [KILL_EVERY_SECONDS]      (default: 140 epochs ≈ 10 minutes here, 20 s)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-140}
every=${2:-20}
dotnet build src/Coordinator -c Release -v q -nologo >/dev/null
dotnet build src/Worker -c Release -v q -nologo >/dev/null
dnn="dotnet src/Coordinator/bin/Release/net10.0/dnn.dll"
worker="dotnet src/Worker/bin/Release/net10.0/dnn-worker.dll"
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
train=(--layers 784,256,128,10 --epochs "$epochs" --batch 64 --shards 4 --optimizer momentum --lr 0.01 --seed 7)
pids=()
cleanup() { kill -9 "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

start_worker() {
  $worker --seed-nodes "akka.tcp://dnn@127.0.0.1:$port" --log-level error >>"$tmp/workers.log" 2>&1 &
  pids+=($!)
}

started=$(date +%s)
$dnn train "${train[@]}" --min-workers 2 --port "$port" --step-timeout 10 --worker-wait 60 \
  --metrics-out "$tmp/soak.json" --log-level warning >"$tmp/coordinator.log" 2>&1 &
coordinator=$!
start_worker; start_worker
kills=0
while kill -0 "$coordinator" 2>/dev/null; do
  sleep "$every"
  kill -0 "$coordinator" 2>/dev/null || break
  alive=()
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
  if [ ${#alive[@]} -gt 0 ]; then
    victim=${alive[$((RANDOM % ${#alive[@]}))]}
    if kill -9 "$victim" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$victim" 2>/dev/null || true   # reap it quietly
  fi
  start_worker
done
wait "$coordinator" && status=0 || status=$?
elapsed=$(( $(date +%s) - started ))
echo "soak: coordinator exit $status after ${elapsed} s, $kills workers killed (SIGKILL) and replaced"
grep -E '^epoch' "$tmp/coordinator.log" | tail -2
$dnn train "${train[@]}" --metrics-out "$tmp/clean.json" >/dev/null
python3 - "$tmp/soak.json" "$tmp/clean.json" <<'PY'
import json, sys
soak, clean = (json.load(open(p)) for p in sys.argv[1:3])
same = soak["weights_sha256"] == clean["weights_sha256"]
print(f"soak test accuracy {soak['test_accuracy']:.4f}, fault-free {clean['test_accuracy']:.4f}; "
      f"weights {'identical' if same else 'DIFFERENT'} (sha256 {soak['weights_sha256'][:16]}…); "
      f"steps {soak['steps']} vs {clean['steps']}; tensor bytes {soak['bytes_sent'] + soak['bytes_received']:,}")
sys.exit(0 if same else 1)
PY
