#!/usr/bin/env bash
# Resident memory of a one-machine cluster run: `dnn train --spawn-workers 2` (the coordinator and 2
# worker processes), sampled every 0.2 s from /proc. Prints, per process, the peak resident set (RSS:
# every page mapped and resident, shared file pages included) and the peak proportional set (PSS:
# a shared page counted 1/n in each of the n processes that map it), and their sums.
# Usage: bench/resident-memory.sh [DNN_DLL] [extra dnn train arguments]
#   DNN_DLL defaults to src/Coordinator/bin/Release/net10.0/dnn.dll (build it first).
set -euo pipefail
cd "$(dirname "$0")/.."
dll=${1:-src/Coordinator/bin/Release/net10.0/dnn.dll}
shift || true
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
dotnet "$dll" train --spawn-workers 2 --epochs 2 --out "$out/run" --log-level warning "$@" > "$out/log" 2>&1 &
top=$!
declare -A rss pss
kb() { awk -v k="$2" '$1 == k":" { print $2 }' "$1" 2>/dev/null || true; }
while kill -0 "$top" 2>/dev/null; do
  for pid in $top $(pgrep -P "$top" || true); do
    r=$(kb /proc/$pid/status VmRSS); p=$(kb /proc/$pid/smaps_rollup Pss)
    [ -n "$r" ] && [ "$r" -gt "${rss[$pid]:-0}" ] && rss[$pid]=$r
    [ -n "$p" ] && [ "$p" -gt "${pss[$pid]:-0}" ] && pss[$pid]=$p
  done
  sleep 0.2
done
wait "$top" || { cat "$out/log"; echo "the run failed" >&2; exit 1; }
tr=0; tp=0
for pid in "${!rss[@]}"; do
  role=worker; [ "$pid" = "$top" ] && role=coordinator
  printf '%-11s pid %-7s peak RSS %6d MB  peak PSS %6d MB\n' "$role" "$pid" $((rss[$pid] / 1024)) $((${pss[$pid]:-0} / 1024))
  tr=$((tr + rss[$pid])); tp=$((tp + ${pss[$pid]:-0}))
done
printf 'sum of peaks: RSS %d MB, PSS %d MB\n' $((tr / 1024)) $((tp / 1024))
grep -m1 -i "test accuracy\|weights_sha256" "$out/log" || true
