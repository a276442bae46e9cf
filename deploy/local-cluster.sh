#!/usr/bin/env bash
# A training cluster of separate processes on this machine, without containers: builds once, starts
# the coordinator (`dnn train --min-workers N`) on a free port of 127.0.0.1 and N `dnn-worker`
# processes that join it, and exits with the coordinator's exit code. Leftover workers are stopped
# on exit (also on Ctrl-C). Every node runs mutual TLS with a certificate made for this run
# (`dnn cert`, in a private temporary folder removed on exit).
#
#   deploy/local-cluster.sh [N] [train options...]      N: number of workers (default 2)
#
# e.g. deploy/local-cluster.sh 3 --epochs 1 --shards 6 --metrics-out runs/metrics.json
# Your own TLS: --tls-cert F [--tls-key K] [--tls-ca CA] [--tls-peer-name NAME], or --insecure, among
# the train options (or DNN_TLS_CERT / DNN_INSECURE=true in the environment) go to the workers too.
# (The script runs from the repository root: relative paths are relative to it.)
# Environment: DNN_COORDINATOR_PORT (instead of a free port), DNN_CORES (cores per worker; default
# the machine's cores divided among the workers), DNN_WORKER_LOG_LEVEL (default warning).
# The data set must be installed (deploy/install-data.sh) or given with --data.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

workers=2
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  workers=$1
  shift
fi
if [[ $# -gt 0 && ($1 == -h || $1 == --help) ]]; then
  usage
  exit 0
fi
if ((workers < 1)); then
  echo "error: the number of workers must be at least 1 (got $workers)" >&2
  exit 2
fi
# The user's own TLS options (with their values): the coordinator has them among "$@", the workers get them too.
user_tls=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  a=${args[i]}
  case $a in
    --min-workers | --min-workers=* | --port | --port=* | --workers | --spawn-workers)
      echo "error: $a is set by this script (the first argument is the number of workers; DNN_COORDINATOR_PORT sets the port)" >&2
      exit 2
      ;;
    --insecure | --insecure=* | --tls-cert[=:]* | --tls-key[=:]* | --tls-ca[=:]* | --tls-peer-name[=:]*)
      user_tls+=("$a")
      ;;
    --tls-cert | --tls-key | --tls-ca | --tls-peer-name)
      if ((i + 1 >= ${#args[@]})); then
        echo "error: $a needs a value" >&2
        exit 2
      fi
      user_tls+=("$a" "${args[i + 1]}")
      i=$((i + 1))
      ;;
  esac
done

# a worker loads only its own --data (or $DNN_DATA, else the installed data set), never a path the coordinator names:
# give the workers the coordinator's --data
worker_data=()
previous=
for a in "$@"; do
  [[ $previous == --data ]] && worker_data=(--data "$a")
  [[ $a == --data=* ]] && worker_data=(--data "${a#--data=}")
  previous=$a
done

echo "Building ..." >&2
dotnet build src/Coordinator -c Release -nologo -v quiet >&2
dotnet build src/Worker -c Release -nologo -v quiet >&2
coordinator_dll=src/Coordinator/bin/Release/net10.0/dnn.dll
worker_dll=src/Worker/bin/Release/net10.0/dnn-worker.dll

# A free TCP port on 127.0.0.1: ask the kernel (python3), or probe from 4053 up.
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local p
  for ((p = 4053; p < 4153; p++)); do
    # a refused connection means nobody listens there
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "error: no free port in 4053-4152" >&2
  return 1
}
port=${DNN_COORDINATOR_PORT:-$(free_port)}

cores=${DNN_CORES:-$(($(nproc) / workers))}
((cores >= 1)) || cores=1

coordinator_pid=""
worker_pids=()
certdir=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local pid
  for pid in "${worker_pids[@]}" $coordinator_pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${worker_pids[@]}" $coordinator_pid; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n $certdir ]]; then rm -rf "$certdir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Mutual TLS on both planes. Without TLS options of the user's, a certificate and key made for this run
# (`dnn cert`) in a private folder (mode 700, key 600), removed on exit: every node of this run is given
# both files and trusts only peers that hold them. (The nodes bind 127.0.0.1, where the coordinator would
# otherwise make a run secret that hand-started workers like these cannot know in advance.)
tls=()
if ((${#user_tls[@]} > 0)); then
  tls=("${user_tls[@]}")
  echo "TLS: your options, given to the workers as well: ${tls[*]}" >&2
elif [[ -n ${DNN_TLS_CERT:-} || ${DNN_INSECURE:-} =~ ^(1|true|TRUE|True)$ ]]; then
  echo "TLS: from DNN_TLS_CERT / DNN_INSECURE in the environment, which the workers inherit" >&2
else
  certdir=$(mktemp -d "${TMPDIR:-/tmp}/dnn-local-cluster.XXXXXX")
  dotnet "$coordinator_dll" cert --out "$certdir" >&2
  # the pair is complete in itself: a CA or peer name meant for other certificates must not apply to it
  unset DNN_TLS_KEY DNN_TLS_CA DNN_TLS_PEER_NAME
  tls=(--tls-cert "$certdir/cluster.crt" --tls-key "$certdir/cluster.key")
  echo "TLS: mutual, with this run's certificate in $certdir (removed on exit)" >&2
fi

echo "Coordinator on 127.0.0.1:$port, $workers worker(s) with $cores core(s) each" >&2
if ((${#user_tls[@]} > 0)); then
  dotnet "$coordinator_dll" train --min-workers "$workers" --port "$port" "$@" &
else
  dotnet "$coordinator_dll" train --min-workers "$workers" --port "$port" "${tls[@]}" "$@" &
fi
coordinator_pid=$!

# Start the workers once the coordinator listens (it loads the data set first): workers that come
# too early retry, but only after Akka's gating and seed-join delays (~10 s).
listening() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltn "sport = :$port" 2>/dev/null | grep -q .
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}
for ((t = 0; t < 600; t++)); do
  listening && break
  kill -0 "$coordinator_pid" 2>/dev/null || break
  sleep 0.2
done
# (a coordinator that already exited, e.g. on a bad option, gets no workers)
if kill -0 "$coordinator_pid" 2>/dev/null; then
  for ((i = 1; i <= workers; i++)); do
    # explicit options, so that DNN_HOST, DNN_PORT, ... from the environment cannot interfere
    dotnet "$worker_dll" --seed-nodes "akka.tcp://dnn@127.0.0.1:$port" --host 127.0.0.1 --public-host 127.0.0.1 \
      --port 0 --data-port 0 --cores "$cores" --log-level "${DNN_WORKER_LOG_LEVEL:-warning}" "${tls[@]}" "${worker_data[@]}" &
    worker_pids+=($!)
  done
fi

rc=0
wait "$coordinator_pid" || rc=$?
coordinator_pid=""

# After a finished job the workers leave by themselves; give them a moment, then the trap stops the rest.
for ((t = 0; t < 50; t++)); do
  running=0
  for pid in "${worker_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then running=1; fi
  done
  ((running)) || break
  sleep 0.2
done
exit "$rc"
