#!/usr/bin/env bash
# Single-process training throughput of `dnn train` next to PyTorch (../shared/peers/torch_mlp.py),
# the same network, data, optimizer and batch, run alternately in one session so that both see
# the same machine load. Usage: bench/compare-torch.sh [ROUNDS] [THREADS]
# Needs: python3-torch + libopenblas0-openmp (see ../shared/peers/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
threads=${2:-1}
peers=${PEERS:-../shared/peers}
DNN_ARGS=${DNN_ARGS:-}
dotnet build src/Coordinator -c Release -v q -nologo >/dev/null
dnn="dotnet src/Coordinator/bin/Release/net10.0/dnn.dll"
for i in $(seq "$rounds"); do
  t=$(/usr/bin/python3 "$peers/torch_mlp.py" --threads "$threads" --epochs 3 --lr 0.1 --batch 128 | grep RESULT)
  torch_sps=$(sed -E 's/.*median_samples_per_s=([0-9]+).*/\1/' <<<"$t")
  torch_acc=$(sed -E 's/.*test_acc=([0-9.]+).*/\1/' <<<"$t")
  run=$($dnn train --layers 784,256,128,10 --optimizer sgd --lr 0.1 --batch 128 --epochs 3 $DNN_ARGS)
  ours=$(grep '^epoch' <<<"$run" | sed -E 's/.* ([0-9,]+) samples\/s.*/\1/' | tr -d ',' | sort -n | sed -n 2p)
  ours_acc=$(grep '^epoch 3' <<<"$run" | sed -E 's/.*test_acc ([0-9.]+) %.*/\1/')
  awk -v r="$i" -v t="$torch_sps" -v o="$ours" -v ta="$torch_acc" -v oa="$ours_acc" 'BEGIN { printf "round %d: pytorch %d samples/s (test acc %.2f%%)  dnn %d samples/s (test acc %s%%)  ratio %.2f\n", r, t, ta*100, o, oa, o/t }'
done
