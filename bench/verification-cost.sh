#!/usr/bin/env bash
# Issue 15's cost of --verify-fraction: rounds that alternate the same 2-worker run without verification and with each
# fraction given (784-256-128-10 on Fashion-MNIST, SGD lr 0.1, global batch 1024 in 2 shards, 2 worker processes over
# shared memory), each run's figure the median epoch's samples/s over epochs 2..N (epoch 1 holds the start-up), each
# round's ratio verified / unverified, and their median per fraction. Every run must end with the same weights. Also the
# CPU seconds of each whole run (coordinator and worker processes, user + system; start-up included), which a loaded
# machine disturbs less than the wall clock, and their ratio.
# Usage: bench/verification-cost.sh [ROUNDS] [FRACTION ...]   (default 3 rounds, fractions 0.05 0.25);
#        EPOCHS=N (default 8), BATCH=B (default 1024), SHARDS=K (default 2), WORKERS="--spawn-workers 2" (how the workers run).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shift || true
fractions=("$@")
[ ${#fractions[@]} -eq 0 ] && fractions=(0.05 0.25)
epochs=${EPOCHS:-8}
batch=${BATCH:-1024}
shards=${SHARDS:-2}
workers=${WORKERS:---spawn-workers 2}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "error: ROUNDS must be a positive whole number, not '$rounds'" >&2; exit 1; }
[[ "$epochs" =~ ^[0-9]+$ && "$epochs" -ge 2 ]] || { echo "error: EPOCHS must be at least 2 (epoch 1 is left out), not '$epochs'" >&2; exit 1; }
dotnet build src/Coordinator -c Release -v q -nologo >/dev/null
dnn="dotnet src/Coordinator/bin/Release/net10.0/dnn.dll"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common=(train --layers "784,256,128,10" --optimizer sgd --lr 0.1 --batch "$batch" --shards "$shards" --epochs "$epochs" --progress plain --log-level error --out "$tmp/run")
# prints the median epoch's samples/s (epochs 2..N), the weights' hash and the CPU seconds of one run
run() {
  rm -rf "$tmp/run"
  # shellcheck disable=SC2086
  /usr/bin/time -f "%U %S" -o "$tmp/time.txt" $dnn "${common[@]}" $workers --verify-fraction "$1" > "$tmp/out.txt"
  local sps sha cpu
  sps=$(grep '^epoch' "$tmp/out.txt" | tail -n +2 | sed -E 's/.* ([0-9,]+) samples\/s.*/\1/' | tr -d ',' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  sha=$(grep '^weights sha256' "$tmp/out.txt" | awk '{print $3}')
  cpu=$(tail -n 1 "$tmp/time.txt" | awk '{printf "%.1f", $1 + $2}')
  echo "$sps $sha $cpu"
}
echo "== $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; global batch $batch in $shards shards, $epochs epochs, $workers"
declare -A ratios cpus
for r in $(seq "$rounds"); do
  read -r base sha0 cpu0 < <(run 0)
  line="round $r  F=0 $base samples/s, ${cpu0} s CPU"
  for f in "${fractions[@]}"; do
    read -r sps sha cpu < <(run "$f")
    [ "$sha" == "$sha0" ] || { echo "error: F=$f gave weights $sha, F=0 gave $sha0" >&2; exit 1; }
    ratio=$(awk -v a="$sps" -v b="$base" 'BEGIN {printf "%.3f", a / b}')
    cpuRatio=$(awk -v a="$cpu" -v b="$cpu0" 'BEGIN {printf "%.3f", a / b}')
    ratios[$f]="${ratios[$f]:-} $ratio"
    cpus[$f]="${cpus[$f]:-} $cpuRatio"
    line+="   F=$f $sps samples/s ${ratio}×, ${cpu} s CPU ${cpuRatio}×"
  done
  echo "$line"
done
median() { sort -n | awk -v what="$1" '{a[NR]=$1; s=s " " $1} END {printf "%s: median of %d rounds %.3f× (rounds:%s)\n", what, NR, a[int((NR+1)/2)], s}'; }
for f in "${fractions[@]}"; do
  # shellcheck disable=SC2086
  printf '%s\n' ${ratios[$f]} | median "F=$f samples/s"
  # shellcheck disable=SC2086
  printf '%s\n' ${cpus[$f]} | median "F=$f CPU seconds"
done
