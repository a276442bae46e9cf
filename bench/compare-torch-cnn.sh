#!/usr/bin/env bash
# The CNN of examples/cnn.json (conv 5×5×32 → maxpool 2 → conv 5×5×64 → maxpool 2 → dense 128 → 10) trained by
# `dnn train --model-spec` and by the same network in PyTorch (bench/torch_cnn.py): Adam lr 0.001, batch 64,
# Fashion-MNIST, run alternately in one session so that both see the same machine load.
# Usage: bench/compare-torch-cnn.sh [ROUNDS] [THREADS] [EPOCHS]      (defaults 3, 1, 1)
# Needs: python3-torch + libopenblas0-openmp (see ../shared/peers/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
threads=${2:-1}
epochs=${3:-1}
DNN_ARGS=${DNN_ARGS:-}
dotnet build src/Coordinator -c Release -v q -nologo >/dev/null
dnn="dotnet src/Coordinator/bin/Release/net10.0/dnn.dll"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for i in $(seq "$rounds"); do
  t=$(/usr/bin/python3 bench/torch_cnn.py --threads "$threads" --epochs "$epochs" --batch 64 --optimizer adam --lr 0.001 | grep RESULT)
  torch_sps=$(sed -E 's/.*median_samples_per_s=([0-9.]+).*/\1/' <<<"$t")
  torch_acc=$(sed -E 's/.*test_acc=([0-9.]+).*/\1/' <<<"$t")
  run=$($dnn train --model-spec examples/cnn.json --optimizer adam --lr 0.001 --batch 64 --epochs "$epochs" --threads "$threads" \
        --progress plain --out "$out/run$i" $DNN_ARGS)
  ours=$(grep '^epoch' <<<"$run" | sed -E 's/.* ([0-9,]+) samples\/s.*/\1/' | tr -d ',' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  ours_acc=$(grep "^epoch $epochs/" <<<"$run" | sed -E 's/.*test_acc ([0-9.]+) %.*/\1/')
  awk -v r="$i" -v t="$torch_sps" -v o="$ours" -v ta="$torch_acc" -v oa="$ours_acc" -v th="$threads" 'BEGIN {
    printf "round %d (%d thread(s)): pytorch %d samples/s (test acc %.2f%%)  dnn %d samples/s (test acc %s%%)  ratio %.2f\n", r, th, t, ta * 100, o, oa, o / t }'
done
