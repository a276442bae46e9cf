#!/usr/bin/env bash
# Issue 5's distributed criterion, measured the way a noisy shared machine allows: rounds that alternate one
# process on 2 threads and 2 worker processes (the same job: 784-256-128-10 on Fashion-MNIST, SGD lr 0.1,
# global batch 1024 in 2 shards), each round's ratio taken between two runs minutes apart at most.
# Each run's figure is the median epoch's samples/s over epochs 2..N (epoch 1 holds the start-up).
# Usage: bench/processes-vs-threads.sh [ROUNDS]   (default 5); TRANSPORT=shm|tcp|akka (default shm),
#        EPOCHS=N (default 8), BATCH=B (default 1024), SHARDS=K (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
transport=${TRANSPORT:-shm}
epochs=${EPOCHS:-8}
batch=${BATCH:-1024}
shards=${SHARDS:-2}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "error: ROUNDS must be a positive whole number, not '$rounds'" >&2; exit 1; }
[[ "$epochs" =~ ^[0-9]+$ && "$epochs" -ge 2 ]] || { echo "error: EPOCHS must be at least 2 (epoch 1 is left out), not '$epochs'" >&2; exit 1; }
dotnet build src/Coordinator -c Release -v q -nologo >/dev/null
dnn="dotnet src/Coordinator/bin/Release/net10.0/dnn.dll"
common=(train --layers "784,256,128,10" --optimizer sgd --lr 0.1 --batch "$batch" --shards "$shards" --epochs "$epochs" --progress plain)
median() { grep '^epoch' | tail -n +2 | sed -E 's/.* ([0-9,]+) samples\/s.*/\1/' | tr -d ',' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "== global batch $batch in $shards shards, $epochs epochs, $rounds rounds: --threads 2 against --spawn-workers 2 --transport $transport"
ratios=()
for r in $(seq "$rounds"); do
  threads=$($dnn "${common[@]}" --threads 2 | median)
  procs=$($dnn "${common[@]}" --spawn-workers 2 --transport "$transport" | median)
  ratio=$(awk -v p="$procs" -v t="$threads" 'BEGIN {printf "%.2f", p / t}')
  ratios+=("$ratio")
  printf 'round %d  2 threads %9s samples/s   2 processes %9s samples/s   %s×\n' "$r" "$threads" "$procs" "$ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median of %d rounds: %.2f×\n", NR, a[int((NR+1)/2)]}'
