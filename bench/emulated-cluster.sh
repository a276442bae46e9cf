#!/usr/bin/env bash
# An emulated cluster on this one machine: H worker hosts and one coordinator host, each a Linux network
# namespace with its own address on a bridge, each host's link shaped with tc, each host's processes held to
# a CPU quota by a cgroup; a real coordinator (`dnn train --min-workers H`) and H real `dnn-worker`
# processes started with the README's multi-node commands (seed node, --host, --public-host, mutual TLS
# with a certificate made for the run). Prints samples/s and bytes per step on each host's link; with
# --baseline also the same run on 1 worker host and the scaling efficiency. Runs as root.
#
#   bench/emulated-cluster.sh [options] [-- dnn train options...]
#
# e.g. bench/emulated-cluster.sh --hosts 8 --cpu 0.2 --rate 2gbit --baseline -- \
#        --layers 784,256,128,10 --batch 1024 --shards 8 --epochs 2 --optimizer sgd --lr 0.1
#
# Options:
#   --hosts H               worker hosts (default 2); the coordinator has a host of its own
#   --cpu CORES             CPU quota per worker host, in cores, e.g. 0.2 (default 0.2; "none": no quota)
#   --coordinator-cpu CORES the coordinator host's quota (default: --cpu)
#   --cfs-period-us US      the CFS period of every quota (default 10000: a 10 ms period slows a process
#                           evenly, where the kernel's 100 ms would run it at full speed, then stall it)
#   --cpu-weight N          the CPU weight of this run's cgroup against the machine's other processes: cgroup v1
#                           cpu.shares (2-262144; the kernel's default 1024) or v2 cpu.weight (1-10000; default
#                           100). On a busy machine a high weight lets each host have its quota (quotas still cap
#                           every host), e.g. 262144; the other processes then share what the hosts leave
#   --rate RATE             each host's link rate, both directions, in tc units (default 2gbit; "none": unshaped)
#   --delay MS              one-way delay added on each host's link in ms (default 0; needs the kernel's netem)
#   --loss PERCENT          packets dropped at random on each host's link, each direction (default 0; needs nft)
#   --baseline              first run the same training on 1 worker host (same quota and link), then print
#                           the scaling efficiency = samples/s(H) / (H × samples/s(1))
#   --partition-at SECONDS  cut a worker host's link this many seconds into the training (counted from the
#                           coordinator's log line with every worker ready), for the rest of the run
#   --partition-host I      the worker host to cut, 1..H (default 1; with --partition-at)
#   --results FILE          append one JSON line per run to FILE (machine-readable: for a cost model)
#   --keep DIR              keep every run's logs, metrics.json and run folder in DIR (default: removed)
#   --bin DIR               a folder holding dnn.dll and dnn-worker.dll (default: build src/Coordinator, Release)
#   --subnet N              use 10.213.N.0/24 inside the namespaces (default: the first N from 0 that no
#                           address or route of this machine uses)
#   --run-timeout SECONDS   stop a run that takes longer, as a failure (default 3600)
#   --insecure              run the nodes without TLS (default: mutual TLS, a `dnn cert` pair made for the run)
#   -h, --help              this text
#
# Time dilation: CPU and link rates are slowed by the same factor, so the ratio of compute to communication
# is that of a faster cluster: 0.2 core and 2 Gbit/s per host emulate 1 core and 10 Gbit/s, five times
# slower. Samples/s are the emulation's; scaling efficiencies and bytes per step carry over.
# samples/s: the median epoch after the first (which carries the JIT and the connections' start), the whole
# run's figure beside it. Bytes per step: each link's bytes over the whole run (joining, evaluation, heartbeats)
# divided by the run's steps; "up" is what the host sent, "down" what it received. CPU throttled: the share of
# the host's CFS periods (those it had work in) that ran out of quota; near 100% the host was CPU-bound. CPU ms/step:
# the CPU time the host's processes used during the second epoch (its training and evaluation) per step of it, in
# real milliseconds (a quota of 0.2 core stretches each into 5 of wall time); needs 2 epochs and a cgroup.
# The coordinator's -- options pass through unchanged (e.g. --topology, once `dnn train` has it). The script
# sets --min-workers, --host, --port, --public-host, --metrics-out, --out and the TLS options itself; the
# workers get the coordinator's --data. DNN_* variables other than DNN_DATA and DNN_KERNEL are not passed on.
# Everything made (namespaces, bridge, veths, cgroups, processes, temp files) is removed on exit, Ctrl-C too.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() {
  echo "error: $*" >&2
  exit 1
}
fail_usage() {
  echo "error: $*" >&2
  exit 2
}

hosts=2 cpu=0.2 coordinator_cpu="" cpu_weight="" period=10000 rate=2gbit delay=0 loss=0 baseline=0
partition_at="" partition_host=1 results="" keep="" bin="" subnet="" run_timeout=3600 insecure=0
train_args=()
while (($# > 0)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --baseline) baseline=1; shift; continue ;;
    --insecure) insecure=1; shift; continue ;;
    --) shift; train_args=("$@"); break ;;
  esac
  case $1 in
    --hosts | --cpu | --coordinator-cpu | --cpu-weight | --cfs-period-us | --rate | --delay | --loss | --partition-at | --partition-host | --results | --keep | --bin | --subnet | --run-timeout)
      (($# >= 2)) || fail_usage "$1 needs a value (see --help)" ;;
    *) fail_usage "unknown option $1 (dnn train options go after --; see --help)" ;;
  esac
  case $1 in
    --hosts) hosts=$2 ;;
    --cpu) cpu=$2 ;;
    --coordinator-cpu) coordinator_cpu=$2 ;;
    --cpu-weight) cpu_weight=$2 ;;
    --cfs-period-us) period=$2 ;;
    --rate) rate=$2 ;;
    --delay) delay=$2 ;;
    --loss) loss=$2 ;;
    --partition-at) partition_at=$2 ;;
    --partition-host) partition_host=$2 ;;
    --results) results=$2 ;;
    --keep) keep=$2 ;;
    --bin) bin=$2 ;;
    --subnet) subnet=$2 ;;
    --run-timeout) run_timeout=$2 ;;
  esac
  shift 2
done
coordinator_cpu=${coordinator_cpu:-$cpu}

number='^[0-9]+([.][0-9]+)?$'
if ! [[ $hosts =~ ^[0-9]+$ ]] || ! ((hosts >= 1 && hosts <= 200)); then fail_usage "--hosts must be a whole number from 1 to 200 (got '$hosts')"; fi
for pair in "--cpu:$cpu" "--coordinator-cpu:$coordinator_cpu"; do
  v=${pair#*:}
  [[ $v == none || ($v =~ $number && $(awk -v c="$v" 'BEGIN { print (c > 0) }') == 1) ]] ||
    fail_usage "${pair%%:*} must be a number of cores above 0, e.g. 0.2, or none (got '$v')"
done
if ! [[ $period =~ ^[0-9]+$ ]] || ! ((period >= 1000 && period <= 1000000)); then fail_usage "--cfs-period-us must be from 1000 to 1000000 (got '$period')"; fi
for pair in "--cpu:$cpu" "--coordinator-cpu:$coordinator_cpu"; do
  v=${pair#*:}
  if [[ $v != none && $(awk -v c="$v" -v p="$period" 'BEGIN { print (c * p >= 1000) }') != 1 ]]; then
    fail_usage "${pair%%:*} $v in a $period us CFS period is a quota below the kernel's 1000 us: raise --cfs-period-us"
  fi
done
if [[ -n $cpu_weight ]] && { ! [[ $cpu_weight =~ ^[0-9]+$ ]] || ((cpu_weight < 1 || cpu_weight > 262144)); }; then
  fail_usage "--cpu-weight must be a whole number, 2-262144 on cgroup v1 or 1-10000 on v2 (got '$cpu_weight')"
fi
[[ $rate == none || $rate =~ ^[0-9]+([.][0-9]+)?(bit|kbit|mbit|gbit)$ ]] || fail_usage "--rate must be a rate like 2gbit, 500mbit, or none (got '$rate')"
[[ $delay =~ $number ]] || fail_usage "--delay must be milliseconds, e.g. 0.1 (got '$delay')"
[[ $loss =~ $number && $(awk -v l="$loss" 'BEGIN { print (l <= 100) }') == 1 ]] || fail_usage "--loss must be a percentage from 0 to 100 (got '$loss')"
[[ -z $partition_at || $partition_at =~ $number ]] || fail_usage "--partition-at must be seconds (got '$partition_at')"
if ! [[ $partition_host =~ ^[0-9]+$ ]] || ! ((partition_host >= 1 && partition_host <= hosts)); then fail_usage "--partition-host must be a worker host from 1 to $hosts (got '$partition_host')"; fi
[[ -z $subnet || ($subnet =~ ^[0-9]+$ && subnet -le 255) ]] || fail_usage "--subnet must be from 0 to 255 (got '$subnet')"
if ! [[ $run_timeout =~ ^[0-9]+$ ]] || ! ((run_timeout > 0)); then fail_usage "--run-timeout must be a whole number of seconds (got '$run_timeout')"; fi
for a in "${train_args[@]}"; do
  case $a in
    --min-workers* | --workers* | --spawn-workers* | --host* | --port* | --public-host* | --metrics-out* | --out | --out=* | --tls-* | --insecure*)
      fail_usage "dnn train's ${a%%=*} is set by this script; leave it out of the options after --" ;;
    --transport=shm) fail_usage "--transport shm would bypass the emulated links: use tcp or akka" ;;
  esac
done
prev=""
worker_data=()
for a in "${train_args[@]}"; do
  [[ $prev == --transport && $a == shm ]] && fail_usage "--transport shm would bypass the emulated links: use tcp or akka"
  [[ $prev == --data ]] && worker_data=(--data "$a")
  [[ $a == --data=* ]] && worker_data=(--data "${a#--data=}")
  prev=$a
done
((EUID == 0)) || die "this script makes network namespaces, qdiscs and cgroups: run it as root"
for tool in ip tc awk; do
  command -v "$tool" >/dev/null || die "'$tool' is missing: install iproute2 (ip, tc) and gawk or mawk"
done
if [[ $loss != 0 ]]; then command -v nft >/dev/null || die "--loss needs nft: install nftables"; fi
if [[ -n $keep ]]; then mkdir -p "$keep" || die "cannot create --keep folder $keep"; fi
if [[ -n $results ]]; then touch "$results" 2>/dev/null || die "cannot write --results file $results"; fi
# the children get only the settings this script gives them (DNN_DATA: the data set's default place)
for v in $(compgen -e); do
  if [[ $v == DNN_* && $v != DNN_DATA && $v != DNN_KERNEL ]]; then unset "$v"; fi
done

run_id=$$
sw_ns=dnn-$run_id-sw # the switch: the bridge and the hosts' far ends, in a namespace of its own
bridge=dnnbr$run_id
tmp=""
made_namespaces=()
made_cgroups=()
pids=()
timer_pid=""

# ---- teardown: only what this run made, each recorded the moment it was made -----------------------
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local pid cg ns t
  trap - EXIT INT TERM
  if [[ -n $timer_pid ]]; then kill "$timer_pid" 2>/dev/null || true; fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # anything still in this run's cgroups is a child of its processes
  for cg in "${made_cgroups[@]}"; do
    # shellcheck disable=SC2013 # one pid a line
    for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
  done
  for ((t = 0; t < 50; t++)); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    for cg in "${made_cgroups[@]}"; do [[ -s $cg/cgroup.procs ]] && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for cg in "${made_cgroups[@]}"; do
    # shellcheck disable=SC2013 # one pid a line
    for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # deleting a namespace deletes its interfaces: the veths (both ends) and the bridge
  for ns in "${made_namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || echo "warning: could not delete network namespace $ns" >&2; done
  # children before parents (they were made parents first)
  for ((t = ${#made_cgroups[@]} - 1; t >= 0; t--)); do
    cg=${made_cgroups[t]}
    for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$cg" 2>/dev/null && break; sleep 0.2; done
    [[ -d $cg ]] && echo "warning: could not remove cgroup $cg" >&2
  done
  if [[ -n $tmp ]]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A process waited for is gone, and its pid may come back as someone else's: the teardown must not signal it.
forget_pid() {
  local pid kept=()
  for pid in "${pids[@]}"; do [[ $pid == "$1" ]] || kept+=("$pid"); done
  pids=("${kept[@]}")
}

# Runs a command that makes something; on failure, one line naming what could not be made, and exit.
make_or_die() {
  local what=$1 out
  shift
  out=$("$@" 2>&1) || die "could not create $what: $(echo "$out" | head -n 1) ($*)"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dnn-emulated.XXXXXX") || die "could not create a temporary folder"
chmod 700 "$tmp"

# ---- the binaries -----------------------------------------------------------------------------------
dotnet=${DOTNET:-dotnet}
command -v "$dotnet" >/dev/null || die "'$dotnet' not found: install the .NET SDK, or set DOTNET to the dotnet executable"
if [[ -z $bin ]]; then
  echo "Building src/Coordinator (Release) ..." >&2
  out=$("$dotnet" build src/Coordinator -c Release -nologo -v quiet 2>&1) || die "the build failed: $(echo "$out" | grep -m1 error || echo "$out" | tail -n 1)"
  bin=src/Coordinator/bin/Release/net10.0
fi
[[ -d $bin ]] || die "--bin folder $bin does not exist"
bin=$(cd "$bin" && pwd)
[[ -f $bin/dnn.dll && -f $bin/dnn-worker.dll ]] || die "--bin folder $bin lacks dnn.dll or dnn-worker.dll"

# ---- TLS: a pair for this run, in the private temp folder -------------------------------------------
tls=()
if ((insecure)); then
  tls=(--insecure)
else
  out=$("$dotnet" "$bin/dnn.dll" cert --out "$tmp/tls" 2>&1) || die "dnn cert failed: $(echo "$out" | head -n 1)"
  tls=(--tls-cert "$tmp/tls/cluster.crt" --tls-key "$tmp/tls/cluster.key")
fi

# ---- the network: a bridge in a namespace of its own, one veth from it into each host's namespace ---
# The bridge and the far ends of the veths live in a switch namespace, not in the root namespace: nothing of
# this run appears among the machine's own interfaces, the root namespace's firewall (br_netfilter, a
# FORWARD policy) never sees the traffic, and deleting the namespaces deletes every interface made. The
# hosts' addresses exist only inside their namespaces, which have no default route, no other interface
# than lo and their veth, and no NAT: a packet can go nowhere but to another host on the bridge.
host_ns() { if (($1 == 0)); then echo "dnn-$run_id-c"; else echo "dnn-$run_id-h$1"; fi; }
host_link() { if (($1 == 0)); then echo vc; else echo "vh$1"; fi; } # the host's veth, its switch end
host_addr() { echo "10.213.$subnet.$(($1 + 1))"; }
host_name() { if (($1 == 0)); then echo coordinator; else echo "host $1"; fi; }

pick_subnet() {
  local n used
  used=$( (ip -4 -o addr show; ip -4 route show table all) 2>/dev/null)
  if [[ -n $subnet ]]; then
    grep -q "10\.213\.$subnet\." <<<"$used" && die "--subnet $subnet: 10.213.$subnet.0/24 is in use on this machine"
    return
  fi
  for ((n = 0; n < 256; n++)); do
    if ! grep -q "10\.213\.$n\." <<<"$used"; then
      subnet=$n
      return
    fi
  done
  die "every 10.213.N.0/24 is in use on this machine: give --subnet"
}

# TBF shapes the rate: a token bucket, the kernel's plain rate shaper. netem's own `rate` is not used: this
# machine's kernel (like many VM kernels) has no netem at all, and where it has, TBF is the steadier shaper at
# Gbit/s rates. The bucket holds max(128 KiB, 0.5 ms of the rate): veth hands TBF 64 KiB GSO packets, and
# with a smaller bucket each one waits for a refill from empty (measured here: 64 KiB gave 1.69 Gbit/s of TCP
# at rate 2gbit, 128 KiB 1.90, 512 KiB 1.91, the rest being headers). Delay, when asked, is netem under TBF.
shape_link() {
  local ns=$1 dev=$2 burst
  if [[ $rate != none ]]; then
    burst=$(awk -v r="$rate" 'BEGIN {
      m = r ~ /gbit$/ ? 1e9 : r ~ /mbit$/ ? 1e6 : r ~ /kbit$/ ? 1e3 : 1; sub(/[a-z]+$/, "", r)
      b = r * m / 8 * 0.0005; printf "%d", (b > 131072 ? b : 131072) }')
    make_or_die "the rate limit on $dev in $ns" tc -n "$ns" qdisc add dev "$dev" root handle 1: tbf rate "$rate" burst "$burst" latency 50ms
    if [[ $delay != 0 ]]; then
      make_or_die "the delay on $dev in $ns" tc -n "$ns" qdisc add dev "$dev" parent 1:1 handle 10: netem delay "${delay}ms" limit 100000
    fi
  elif [[ $delay != 0 ]]; then
    make_or_die "the delay on $dev in $ns" tc -n "$ns" qdisc add dev "$dev" root handle 10: netem delay "${delay}ms" limit 100000
  fi
}

# Loss: nft on the bridge, in the switch namespace: a packet is dropped as it enters or leaves the bridge
# through a host's link, with probability --loss each time (as netem loss on both ends of the link would).
# Dropped in the middle of the network, so TCP sees a real loss, not a local send error.
add_loss() {
  local i rules="" p
  p=$(awk -v l="$loss" 'BEGIN { printf "%d", l * 100 + 0.5 }')
  for ((i = 0; i <= hosts; i++)); do
    rules+="    iifname \"$(host_link "$i")\" numgen random mod 10000 < $p drop"$'\n'
    rules+="    oifname \"$(host_link "$i")\" numgen random mod 10000 < $p drop"$'\n'
  done
  make_or_die "the --loss rules (nft) in $sw_ns" ip netns exec "$sw_ns" nft -f - <<NFT
table bridge dnn_loss {
  chain forward {
    type filter hook forward priority 0; policy accept;
$rules  }
}
NFT
}

make_network() {
  local i ns link
  pick_subnet
  if [[ $delay != 0 ]]; then
    # netem is a module (sch_netem) on most kernels and absent from some: ask before building anything
    make_or_die "network namespace $sw_ns" ip netns add "$sw_ns"
    made_namespaces+=("$sw_ns")
    tc -n "$sw_ns" qdisc add dev lo root netem delay 1ms >/dev/null 2>&1 ||
      die "--delay needs the kernel's netem qdisc (sch_netem; try modprobe sch_netem), which this kernel lacks: use --delay 0"
    tc -n "$sw_ns" qdisc del dev lo root
  else
    make_or_die "network namespace $sw_ns" ip netns add "$sw_ns"
    made_namespaces+=("$sw_ns")
  fi
  make_or_die "bridge $bridge in $sw_ns" ip -n "$sw_ns" link add "$bridge" type bridge
  make_or_die "bridge $bridge in $sw_ns" ip -n "$sw_ns" link set "$bridge" up
  for ((i = 0; i <= hosts; i++)); do
    ns=$(host_ns "$i")
    link=$(host_link "$i")
    make_or_die "network namespace $ns" ip netns add "$ns"
    made_namespaces+=("$ns")
    make_or_die "lo in $ns" ip -n "$ns" link set lo up
    # no IPv6 on the links: router solicitations and the like would only add noise to the byte counts
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
    make_or_die "veth $link ↔ eth0 of $ns" ip -n "$sw_ns" link add "$link" type veth peer name eth0 netns "$ns"
    make_or_die "the bridge port $link" ip -n "$sw_ns" link set "$link" master "$bridge"
    make_or_die "the address $(host_addr "$i") in $ns" ip -n "$ns" addr add "$(host_addr "$i")/24" dev eth0
    make_or_die "eth0 in $ns" ip -n "$ns" link set eth0 up
    make_or_die "the bridge port $link" ip -n "$sw_ns" link set "$link" up
    shape_link "$sw_ns" "$link" # towards the host
    shape_link "$ns" eth0       # from the host
    [[ -z $(ip -n "$ns" route show default) ]] || die "namespace $ns has a default route: refusing to run"
  done
  if [[ $loss != 0 ]]; then add_loss; fi
  echo "network: $((hosts + 1)) namespaces dnn-$run_id-{c,h1..h$hosts} on bridge $bridge (in $sw_ns), 10.213.$subnet.0/24, link $rate, delay ${delay} ms, loss ${loss}%" >&2
}

# ---- CPU: a cgroup per host with a CFS quota ----------------------------------------------------------
cgroup_base=""
cgroup_version=""
host_cgroup() { if [[ -n $cgroup_base ]]; then if (($1 == 0)); then echo "$cgroup_base/c"; else echo "$cgroup_base/h$1"; fi; fi; }
host_cpu() { if (($1 == 0)); then echo "$coordinator_cpu"; else echo "$cpu"; fi; }
host_cores() { # whole cores for DNN_CORES and the runtime: the quota rounded up
  local c
  c=$(host_cpu "$1")
  if [[ $c == none ]]; then nproc; else awk -v c="$c" 'BEGIN { n = int(c); if (n < c) n++; print n }'; fi
}

set_quota() {
  local cg=$1 cores=$2 quota
  [[ $cores == none ]] && return
  quota=$(awk -v c="$cores" -v p="$period" 'BEGIN { printf "%d", c * p + 0.5 }')
  if [[ $cgroup_version == v1 ]]; then
    make_or_die "the CFS period of $cg" sh -c "echo $period > '$cg/cpu.cfs_period_us'"
    make_or_die "the CFS quota of $cg" sh -c "echo $quota > '$cg/cpu.cfs_quota_us'"
  else
    make_or_die "the cpu.max of $cg" sh -c "echo '$quota $period' > '$cg/cpu.max'"
  fi
}

make_cgroups() {
  local i cg
  [[ $cpu == none && $coordinator_cpu == none ]] && return
  if [[ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then
    cgroup_version=v1
    cgroup_base=/sys/fs/cgroup/cpu/dnn-$run_id
  elif [[ -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
    cgroup_version=v2
    cgroup_base=/sys/fs/cgroup/dnn-$run_id
  else
    die "no CPU cgroup controller: neither cgroup v1's /sys/fs/cgroup/cpu nor cgroup v2's cpu controller in /sys/fs/cgroup (or give --cpu none --coordinator-cpu none)"
  fi
  [[ -e $cgroup_base ]] && die "cgroup $cgroup_base exists already: not this run's, leaving it alone"
  make_or_die "cgroup $cgroup_base" mkdir "$cgroup_base"
  made_cgroups+=("$cgroup_base")
  if [[ $cgroup_version == v2 ]]; then
    # the cpu controller must reach this run's cgroup from its parent; enabled for the children only here
    grep -qw cpu "$cgroup_base/cgroup.controllers" ||
      die "cgroup v2: the cpu controller is not enabled for the children of /sys/fs/cgroup (its cgroup.subtree_control); this script changes only cgroups it made"
    make_or_die "the cpu controller in $cgroup_base" sh -c "echo +cpu > '$cgroup_base/cgroup.subtree_control'"
  fi
  if [[ -n $cpu_weight ]]; then
    if [[ $cgroup_version == v1 ]]; then
      make_or_die "cpu.shares $cpu_weight of $cgroup_base (2-262144)" sh -c "echo $cpu_weight > '$cgroup_base/cpu.shares'"
    else
      make_or_die "cpu.weight $cpu_weight of $cgroup_base (1-10000)" sh -c "echo $cpu_weight > '$cgroup_base/cpu.weight'"
    fi
  fi
  for ((i = 0; i <= hosts; i++)); do
    cg=$(host_cgroup "$i")
    make_or_die "cgroup $cg" mkdir "$cg"
    made_cgroups+=("$cg")
    set_quota "$cg" "$(host_cpu "$i")"
  done
  echo "cpu: cgroup $cgroup_version $cgroup_base, ${cpu} core per worker host, ${coordinator_cpu} for the coordinator, CFS period ${period} us${cpu_weight:+, weight $cpu_weight}" >&2
}

# Starts a command in host i: its cgroup first (the wrapper shell joins it, so everything it execs is in it),
# then its namespace. `ip netns exec` remounts /sys, hiding the cgroup from the .NET runtime inside: its
# processor count is therefore given (DOTNET_PROCESSOR_COUNT), as the compute threads' (DNN_CORES).
start_in_host() {
  local i=$1 log=$2 cores
  shift 2
  cores=$(host_cores "$i")
  sh -c 'if [ -n "$1" ]; then echo $$ > "$1/cgroup.procs" || exit 97; fi; shift; exec "$@"' sh "$(host_cgroup "$i")" \
    ip netns exec "$(host_ns "$i")" env DNN_CORES="$cores" DOTNET_PROCESSOR_COUNT="$cores" "$@" >"$log" 2>&1 &
  pids+=($!)
}

# ---- one run ------------------------------------------------------------------------------------------
link_bytes() { # "up down periods throttled" of host i: what the host sent (its switch end received) and received;
  # its cgroup's CFS periods and how many of them ran out of quota (0 0 without a cgroup)
  local cg periods=0 throttled=0
  cg=$(host_cgroup "$1")
  if [[ -n $cg ]]; then
    periods=$(awk '$1 == "nr_periods" { print $2 }' "$cg/cpu.stat")
    throttled=$(awk '$1 == "nr_throttled" { print $2 }' "$cg/cpu.stat")
  fi
  echo "$(ip netns exec "$sw_ns" cat "/sys/class/net/$(host_link "$1")/statistics/rx_bytes" \
    "/sys/class/net/$(host_link "$1")/statistics/tx_bytes" | paste -sd ' ') $periods $throttled"
}
host_cpu_usec() { # CPU time used by host i's processes so far, in µs (cgroup v2: its cgroup's; v1: its live processes'; 0 without a cgroup)
  local cg pid ticks=0
  cg=$(host_cgroup "$1")
  if [[ -z $cg ]]; then echo 0; return; fi
  if [[ $cgroup_version == v2 ]]; then awk '$1 == "usage_usec" { print $2 }' "$cg/cpu.stat"; return; fi
  while read -r pid; do ticks=$((ticks + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0))); done <"$cg/cgroup.procs"
  echo $((ticks * 1000000 / clock_ticks))
}
clock_ticks=$(getconf CLK_TCK)
metric() { grep -m1 -E "^  \"$1\": " "$2" | sed -E 's/^  "[^"]+": "?([^",]*)"?,?$/\1/'; }
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }

wait_listening() { # the coordinator's port, in its namespace; it loads the data set before it listens
  local coordinator=$1 log=$2 t
  for ((t = 0; t < 1200; t++)); do
    ip netns exec "$(host_ns 0)" ss -Hltn "sport = :4053" 2>/dev/null | grep -q . && return 0
    if ! kill -0 "$coordinator" 2>/dev/null; then
      wait "$coordinator" || true
      forget_pid "$coordinator"
      die "the coordinator stopped before it listened: $(grep -m1 -E '^error|rror' "$log" || tail -n 1 "$log")"
    fi
    sleep 0.2
  done
  die "the coordinator did not listen on $(host_addr 0):4053 within 240 s (log: $log)"
}

# shellcheck disable=SC2034 # before, after and worker_exits are read by report through namerefs
run_training() {
  local workers=$1 cut_at=$2 label=$3 dir coordinator rc i t before=() after=() worker_pids=() cut_time="" cpu_pid=""
  dir=${keep:-$tmp}/$label
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "== $label: $workers worker host(s) × $cpu core, coordinator $coordinator_cpu core, link $rate, CFS period $period us" >&2
  for ((i = 0; i <= workers; i++)); do before[i]=$(link_bytes "$i"); done
  start_in_host 0 "$dir/coordinator.log" timeout --signal TERM "$run_timeout" "$dotnet" "$bin/dnn.dll" train \
    --min-workers "$workers" --host "$(host_addr 0)" --port 4053 --metrics-out "$dir/metrics.json" --out "$dir/run" \
    "${tls[@]}" "${train_args[@]}"
  coordinator=$!
  wait_listening "$coordinator" "$dir/coordinator.log"
  for ((i = 1; i <= workers; i++)); do
    start_in_host "$i" "$dir/worker-$i.log" "$dotnet" "$bin/dnn-worker.dll" --seed-nodes "akka.tcp://dnn@$(host_addr 0):4053" \
      --host "$(host_addr "$i")" --public-host "$(host_addr "$i")" --port 4054 --data-port 4055 --cores "$(host_cores "$i")" \
      --log-level warning "${tls[@]}" "${worker_data[@]}"
    worker_pids[i]=$!
  done
  # each host's CPU time when the coordinator prints epochs 1 and 2: the report's CPU per step is the second epoch's (the
  # first carries the start-up and the JIT; the epoch's evaluation is in it)
  (
    trap 'kill "${pause:-}" 2>/dev/null; exit 0' TERM
    for e in 1 2; do
      until grep -qE "^epoch $e/" "$dir/coordinator.log"; do
        sleep 0.2 &
        pause=$!
        wait "$pause"
      done
      for ((i = 0; i <= workers; i++)); do host_cpu_usec "$i"; done | paste -sd ' ' >"$dir/cpu-after-epoch-$e"
    done
  ) &
  cpu_pid=$!
  if [[ -n $cut_at ]]; then
    (
      # stopped (the run ended first): its sleep goes with it
      trap 'kill "${nap:-}" 2>/dev/null; exit 0' TERM
      # the clock starts with the training: when the coordinator's run log has every worker ready
      until grep -qsE "ready \($workers of at least|\"Ready\":$workers," "$dir/run/train.log" "$dir/run/train.jsonl"; do
        sleep 0.2 &
        nap=$!
        wait "$nap"
      done
      date +%s.%N >"$dir/started"
      sleep "$cut_at" &
      nap=$!
      wait "$nap"
      ip -n "$sw_ns" link set "$(host_link "$partition_host")" down && date +%s.%N >"$dir/cut"
    ) &
    timer_pid=$!
  fi
  rc=0
  wait "$coordinator" || rc=$?
  forget_pid "$coordinator"
  kill "$cpu_pid" 2>/dev/null || true
  wait "$cpu_pid" 2>/dev/null || true
  for ((i = 0; i <= workers; i++)); do after[i]=$(link_bytes "$i"); done
  if [[ -n $timer_pid ]]; then
    kill "$timer_pid" 2>/dev/null || true
    wait "$timer_pid" 2>/dev/null || true
    timer_pid=""
  fi
  [[ -f $dir/cut ]] && cut_time=$(awk -v a="$(cat "$dir/cut")" -v b="$(cat "$dir/started")" 'BEGIN { printf "%.1f", a - b }')
  # after a finished job the workers leave by themselves; a cut-off one cannot, and is stopped
  for ((t = 0; t < 100; t++)); do
    local running=0
    for ((i = 1; i <= workers; i++)); do kill -0 "${worker_pids[i]}" 2>/dev/null && running=1; done
    ((running)) || break
    sleep 0.2
  done
  local worker_exits=()
  for ((i = 1; i <= workers; i++)); do
    if kill -0 "${worker_pids[i]}" 2>/dev/null; then
      worker_exits[i]="still running, stopped"
      kill -TERM "${worker_pids[i]}" 2>/dev/null || true
    fi
    local wrc=0
    wait "${worker_pids[i]}" 2>/dev/null || wrc=$?
    forget_pid "${worker_pids[i]}"
    worker_exits[i]=${worker_exits[i]:-exit $wrc}
  done
  if [[ -n $cut_at ]]; then ip -n "$sw_ns" link set "$(host_link "$partition_host")" up 2>/dev/null || true; fi
  grep -E '^epoch ' "$dir/coordinator.log" >&2 || true
  if ((rc != 0)) || [[ ! -f $dir/metrics.json ]]; then
    ((rc == 124)) && echo "error: the run took longer than --run-timeout $run_timeout s" >&2
    echo "coordinator (exit $rc), last lines of $dir/coordinator.log:" >&2
    tail -n 15 "$dir/coordinator.log" | sed 's/^/  /' >&2
    for ((i = 1; i <= workers; i++)); do
      echo "worker on host $i (${worker_exits[i]}), last lines:" >&2
      tail -n 5 "$dir/worker-$i.log" | sed 's/^/  /' >&2
    done
    die "the $label run failed (coordinator exit $rc)"
  fi
  report "$workers" "$label" "$dir" "$cut_at" "$cut_time" before after worker_exits
}

report() {
  local workers=$1 label=$2 dir=$3 cut_at=$4 cut_time=$5
  # shellcheck disable=SC2034 # exits is read by partition_report through a nameref
  local -n b=$6 a=$7 exits=$8
  local m=$dir/metrics.json steps sps run_sps per_epoch i up down throttled links="" busiest="" busiest_bytes=0 line
  steps=$(metric steps "$m")
  run_sps=$(metric samples_per_second "$m")
  per_epoch=$(grep -E '^      "samples_per_second": ' "$m" | sed -E 's/.*: ([^,]*),?$/\1/' | paste -sd, -)
  # the figure compared: the median epoch after the first (which carries the JIT and the connections' start)
  sps=$(tr , '\n' <<<"$per_epoch" | awk '{ a[++n] = $1 } END {
    s = n > 1 ? 2 : 1; m = n - s + 1; for (i = s; i <= n; i++) b[i - s + 1] = a[i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t }
    printf "%.1f", m % 2 ? b[(m + 1) / 2] : (b[m / 2] + b[m / 2 + 1]) / 2 }')
  ((steps > 0)) || die "the $label run made no steps"
  printf 'samples/s: %s (median epoch after the first; %s over the whole run); %s epoch(s), %s steps; weights_sha256 %s\n' \
    "$(printf '%.0f' "$sps")" "$(printf '%.0f' "$run_sps")" "$(metric epochs "$m")" "$steps" "$(metric weights_sha256 "$m")"
  printf '  %-12s %14s %14s %14s %16s %12s\n' link "up B/step" "down B/step" "total B/step" "CPU throttled" "CPU ms/step"
  local cpu1=() cpu2=() cpu_ms
  if [[ -s $dir/cpu-after-epoch-1 && -s $dir/cpu-after-epoch-2 ]]; then
    read -r -a cpu1 <"$dir/cpu-after-epoch-1"
    read -r -a cpu2 <"$dir/cpu-after-epoch-2"
  fi
  for ((i = 0; i <= workers; i++)); do
    read -r u0 d0 p0 t0 <<<"${b[i]}"
    read -r u1 d1 p1 t1 <<<"${a[i]}"
    # the share of CFS periods in which the host used up its quota: near 100%, the host was CPU-bound
    throttled=$(awk -v p=$((p1 - p0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.0f", (p > 0 ? 100 * t / p : 0) }')
    up=$(((u1 - u0) / steps))
    down=$(((d1 - d0) / steps))
    # CPU time over the second epoch per step of it (null: no cgroup, or fewer than 2 epochs)
    cpu_ms=null
    if ((${#cpu2[@]} > i && ${cpu2[i]:-0} > 0)); then
      cpu_ms=$(awk -v d=$((cpu2[i] - cpu1[i])) -v s="$steps" -v e="$(metric epochs "$m")" 'BEGIN { printf "%.2f", d / 1000 / (s / e) }')
    fi
    printf '  %-12s %14d %14d %14d %15s%% %12s\n' "$(host_name "$i")" "$up" "$down" $((up + down)) "$throttled" "${cpu_ms/null/-}"
    if ((up + down > busiest_bytes)); then busiest_bytes=$((up + down)) busiest=$(host_name "$i"); fi
    links+="${links:+,}{\"host\":$(json_str "$(host_name "$i")"),\"address\":\"$(host_addr "$i")\",\"up_bytes_per_step\":$up,\"down_bytes_per_step\":$down,\"cpu_throttled_percent\":$throttled,\"cpu_ms_per_step\":$cpu_ms}"
  done
  echo "busiest link: $busiest, $busiest_bytes bytes per step"
  local partition=null
  if [[ -n $cut_at ]]; then
    partition_report "$workers" "$dir" "$cut_at" "$cut_time" exits
    partition="{\"host\":$partition_host,\"at_seconds\":$cut_at,\"cut\":$([[ -n $cut_time ]] && echo true || echo false)}"
  fi
  last_sps=$sps
  if [[ -n $results ]]; then
    local efficiency=null args="" arg
    if [[ $label == main && $baseline == 1 ]]; then efficiency=$(awk -v h="$workers" -v s="$sps" -v b="$baseline_sps" 'BEGIN { printf "%.4f", s / (h * b) }'); fi
    for arg in "${train_args[@]}"; do args+="${args:+ }$arg"; done
    line="{\"label\":\"$label\",\"hosts\":$workers,\"cpu\":$(json_str "$cpu"),\"coordinator_cpu\":$(json_str "$coordinator_cpu"),\"cfs_period_us\":$period,\"cpu_weight\":${cpu_weight:-null}"
    line+=",\"rate\":$(json_str "$rate"),\"delay_ms\":$delay,\"loss_percent\":$loss,\"train_args\":$(json_str "$args")"
    line+=",\"samples_per_second\":$sps,\"run_samples_per_second\":$run_sps,\"epoch_samples_per_second\":[$per_epoch]"
    line+=",\"epochs\":$(metric epochs "$m"),\"steps\":$steps"
    line+=",\"parameters\":$(metric parameters "$m"),\"batch\":$(metric batch "$m"),\"shards\":$(metric shards "$m")"
    line+=",\"weights_sha256\":\"$(metric weights_sha256 "$m")\",\"links\":[$links],\"busiest_link\":$(json_str "$busiest")"
    line+=",\"busiest_bytes_per_step\":$busiest_bytes,\"baseline_samples_per_second\":${baseline_sps:-null},\"scaling_efficiency\":$efficiency,\"partition\":$partition}"
    echo "$line" >>"$results"
  fi
}

partition_report() {
  local workers=$1 dir=$2 cut_at=$3 cut_time=$4
  local -n ex=$5
  if [[ -z $cut_time ]]; then
    echo "partition: the run ended before host $partition_host's link was to be cut at $cut_at s: nothing was cut"
    return
  fi
  echo "partition: host $partition_host's link ($(host_addr "$partition_host")) cut ${cut_time} s into the training, at $(date -d "@$(cat "$dir/cut")" +%H:%M:%S.%3N); the run finished with the other host(s)"
  echo "  the coordinator's log about it:"
  grep -E "$(host_addr "$partition_host" | sed 's/\./\\./g')|removed|nreachable|slow|stall|deadline" "$dir/coordinator.log" | head -n 12 | cut -c1-220 | sed "s/^/    /" || echo "    (nothing)"
  echo "  the cut-off worker: ${ex[$partition_host]}"
}

# ---- the runs -----------------------------------------------------------------------------------------
make_network
make_cgroups
if ((baseline)); then
  run_training 1 "" baseline
  baseline_sps=$last_sps
fi
run_training "$hosts" "$partition_at" main
if ((baseline)); then
  awk -v h="$hosts" -v s="$last_sps" -v b="$baseline_sps" \
    'BEGIN { printf "scaling: %d hosts %.0f samples/s, 1 host %.0f samples/s: speed-up %.2f, efficiency %.1f%%\n", h, s, b, s / b, 100 * s / (h * b) }'
fi
