#!/usr/bin/env bash
# A data set larger than this machine's memory as float32 (issue 17): ~10 GB of IDX pixels (12.7 M images, 37 GiB as
# float32) written by bench/synthetic_idx.py, trained for one epoch through the memory-mapped data cache, next to
# Fashion-MNIST held in memory (DNN_DATA_CACHE=off) with the same network and options: samples/s of each (training
# only, from metrics.json), and the big run's peak resident memory split into anonymous (the process's own) and file
# pages (the mapped cache, shared and reclaimable).
# Usage: bench/larger-than-memory.sh [DIR] [GIGABYTES] [extra dnn train arguments]
#   DIR (default /var/tmp/dnn-larger-than-memory) holds the data and its cache; both are removed at the end unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/var/tmp/dnn-larger-than-memory}
gb=${2:-10}
shift 2 || shift $# || true
dll=src/Coordinator/bin/Release/net10.0/dnn.dll
[ -f "$dll" ] || dotnet build src/Coordinator -c Release -v q -nologo
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$dir"' EXIT
[ -f "$dir/idx/train-images-idx3-ubyte" ] || python3 bench/synthetic_idx.py "$dir/idx" "$gb"
export DNN_DATA_CACHE="$dir/cache"
grep -m1 'model name' /proc/cpuinfo
start=$(date +%s.%N)
dotnet "$dll" train --data "$dir/idx" --epochs 0 --out "$dir/run-build" --log-level warning > /dev/null
echo "cache built in $(echo "$(date +%s.%N) - $start" | bc) s: $(du -h "$dir/cache"/*.dnndata | cut -f1)"

rate() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['samples_per_second']))" "$1/metrics.json"; }
memory_run() { # fashion-mnist in memory
  DNN_DATA_CACHE=off dotnet "$dll" train --epochs 3 --out "$dir/run-memory" --log-level warning "$@" > /dev/null
  rate "$dir/run-memory"
}
big_run() { # the big set through the cache, with its peak memory
  dotnet "$dll" train --data "$dir/idx" --epochs 1 --out "$dir/run-big" --log-level warning "$@" > /dev/null &
  local pid=$! anon=0 file=0 a f
  while kill -0 $pid 2>/dev/null; do
    a=$(awk '$1 == "RssAnon:" { print $2 }' /proc/$pid/status 2>/dev/null || echo 0)
    f=$(awk '$1 == "RssFile:" { print $2 }' /proc/$pid/status 2>/dev/null || echo 0)
    [ "${a:-0}" -gt $anon ] && anon=$a; [ "${f:-0}" -gt $file ] && file=$f
    sleep 1
  done
  wait $pid
  echo "$(rate "$dir/run-big") $((anon / 1024)) $((file / 1024))"
}
m1=$(memory_run "$@")
read -r b anon file <<< "$(big_run "$@")"
m2=$(memory_run "$@")
echo "in memory (Fashion-MNIST, 60,000): $m1, $m2 samples/s"
echo "mapped (12.7 M images, one epoch):  $b samples/s = $(echo "scale=2; 2 * $b / ($m1 + $m2)" | bc) of in memory"
echo "big run's peak resident memory: $anon MB anonymous, $file MB of mapped file pages"
