#!/usr/bin/env bash
# 2 worker processes of `dnn train --spawn-workers 2` (shm) next to PyTorch DDP over gloo (bench/torch_ddp.py,
# 2 processes × 1 thread), the same network (784-256-128-10, ReLU, cross-entropy), data, optimizer (SGD, lr 0.1) and
# global batch (1024, split evenly), run alternately in one session so both see the same machine load.
# Usage: bench/compare-ddp.sh [ROUNDS] [EPOCHS]; extra dnn options in DNN_ARGS (e.g. DNN_ARGS="--shards 2").
# Needs: python3-torch + libopenblas0-openmp (see ../shared/peers/README.md) and the Fashion-MNIST data (deploy/install-data.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
epochs=${2:-3}
DNN_ARGS=${DNN_ARGS:-}
dotnet build src/Coordinator -c Release -v q -nologo >/dev/null
dotnet build src/Worker -c Release -v q -nologo >/dev/null
dnn="dotnet src/Coordinator/bin/Release/net10.0/dnn.dll"
for i in $(seq "$rounds"); do
  t=$(/usr/bin/python3 bench/torch_ddp.py --procs 2 --threads 1 --epochs "$epochs" --batch 1024 --lr 0.1 | grep RESULT)
  torch_sps=$(sed -E 's/.*median_samples_per_s=([0-9]+).*/\1/' <<<"$t")
  torch_acc=$(sed -E 's/.*test_acc=([0-9.]+).*/\1/' <<<"$t")
  run=$($dnn train --layers 784,256,128,10 --optimizer sgd --lr 0.1 --batch 1024 --epochs "$epochs" --spawn-workers 2 $DNN_ARGS)
  ours=$(grep '^epoch' <<<"$run" | sed -E 's/.* ([0-9,]+) samples\/s.*/\1/' | tr -d ',' | sort -n | sed -n "$(( (epochs + 1) / 2 ))p")
  ours_acc=$(grep "^epoch $epochs/" <<<"$run" | sed -E 's/.*test_acc ([0-9.]+) %.*/\1/')
  awk -v r="$i" -v t="$torch_sps" -v o="$ours" -v ta="$torch_acc" -v oa="$ours_acc" 'BEGIN { printf "round %d: pytorch ddp %d samples/s (test acc %.2f%%)  dnn --spawn-workers 2: %d samples/s (test acc %s%%)  ratio %.2f\n", r, t, ta*100, o, oa, o/t }'
done
