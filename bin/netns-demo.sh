#!/usr/bin/env bash
# A GovFS cluster over a real network, on one Linux machine: each node in a network namespace
# of its own (ip netns), joined by veth pairs to a bridge, then the minister's link cut (tc netem
# loss 100%, or the veth set down where the kernel lacks netem) to show failover, and healed to
# show the node rejoin.
#
#   sudo bin/netns-demo.sh [NODES (default 5, at least 5)] [--keep]
#
# Needs root, iproute2 (ip, tc with netem) and a checkout with `npm install` done. Everything it
# creates (namespaces govfs-nX, bridge govfs-br0, processes, a temp folder) is removed on exit,
# also on Ctrl-C; --keep leaves the cluster running until you press Enter.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
KEEP=${2:-}
[[ $N =~ ^[0-9]+$ && $N -ge 5 && $N -le 20 ]] || { echo "usage: $0 [NODES (5..20; a ministry of 3 must survive losing its minister)] [--keep]" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "netns-demo: needs root (ip netns, tc)" >&2; exit 1; }
command -v ip >/dev/null && command -v tc >/dev/null || { echo "netns-demo: needs iproute2 (ip, tc)" >&2; exit 1; }

NET=10.77.0
BR=govfs-br0
PORT=7400
TMP=$(mktemp -d -t govfs-netns.XXXXXX)
GOVFS="$PWD/bin/govfs"
PIDS=()

cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  for i in $(seq 1 "$N"); do ip netns del "govfs-n$i" 2>/dev/null; ip link del "gv-n$i" 2>/dev/null; done
  ip link del "$BR" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "network: bridge $BR ($NET.254/24) and $N namespaces govfs-n1..n$N ($NET.1..$N)"
ip link add "$BR" type bridge
ip addr add "$NET.254/24" dev "$BR"
ip link set "$BR" up
PEERS=""
SERVERS=""
for i in $(seq 1 "$N"); do
  ns=govfs-n$i
  ip netns add "$ns"
  ip link add "gv-n$i" type veth peer name eth0 netns "$ns"
  ip link set "gv-n$i" master "$BR" up
  ip -n "$ns" addr add "$NET.$i/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  PEERS+="${PEERS:+,}n$i=$NET.$i:$PORT"
  SERVERS+="${SERVERS:+,}$NET.$i:$PORT"
done
export GOVFS_SERVER=$SERVERS

step "nodes: govfs node in each namespace (logs in $TMP/nX.log)"
head -c 32 /dev/urandom | base64 > "$TMP/secret"
for i in $(seq 1 "$N"); do
  ip netns exec "govfs-n$i" "$(command -v node)" "$GOVFS" node --id "n$i" --peers "$PEERS" --data "$TMP/n$i" --secret-file "$TMP/secret" --log info >"$TMP/n$i.log" 2>&1 &
  PIDS+=($!)
done

minister() { "$GOVFS" status --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const v=JSON.parse(s);const r=v.ministries.find(m=>m.subtree==="/");process.stdout.write(r&&!r.down&&v.president?r.minister:"")}catch{}})'; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    (( SECONDS < deadline )) || { echo "netns-demo: $what did not happen within the deadline" >&2; tail -n 20 "$TMP"/n*.log >&2; exit 1; }
    sleep 0.5
  done
}
have_minister() { [[ -n $(minister) ]]; }
wait_for 60 "the cluster forming" have_minister
"$GOVFS" status

step "client: mkdir /x, touch /x/f, ls /x (from the host, over the bridge)"
"$GOVFS" mkdir /x && "$GOVFS" touch /x/f && "$GOVFS" ls /x

OLD=$(minister)
I=${OLD#n}
# The cut: tc netem dropping everything on both ends of the node's veth; where the kernel has no
# netem (sch_netem), the veth is set down instead. Either way the node's TCP connections see no
# FIN or RST: the others notice the silence (bridge heartbeats, the president's probes).
if tc qdisc add dev "gv-n$I" root netem loss 100% 2>/dev/null; then
  CUT=netem
  ip netns exec "govfs-n$I" tc qdisc add dev eth0 root netem loss 100%
  step "cut: the minister $OLD loses its link (tc netem loss 100% on both ends of its veth)"
else
  CUT=down
  ip link set "gv-n$I" down
  step "cut: the minister $OLD loses its link (no netem in this kernel: its veth is set down)"
fi
new_minister() { local m; m=$(minister); [[ -n $m && $m != "$OLD" ]]; }
wait_for 60 "a new minister" new_minister
"$GOVFS" status
"$GOVFS" touch /x/after-the-cut && "$GOVFS" ls /x

step "heal: $OLD's link back; it rejoins"
if [[ $CUT == netem ]]; then
  tc qdisc del dev "gv-n$I" root
  ip netns exec "govfs-n$I" tc qdisc del dev eth0 root
else
  ip link set "gv-n$I" up
fi
rejoined() { "$GOVFS" status --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);process.exit(v.nodes.find(n=>n.id===process.argv[1])?.up?0:1)})' "$OLD"; }
wait_for 60 "$OLD rejoining" rejoined
"$GOVFS" status
"$GOVFS" ls /x --server "$NET.$I:$PORT"

if [[ $KEEP == --keep ]]; then
  step "running: GOVFS_SERVER=$SERVERS ./bin/govfs shell — press Enter to stop"
  read -r _
fi
step "done"
