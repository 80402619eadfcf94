# The lab network: bridge snflab0 with the machine's lab address, one network
# namespace per host joined by a veth (eth0 inside), plus a bridge br0
# inside each host for the Ganeti instance NICs (on a node, eth0 is its
# port and br0 holds the node's address). No default route in a host:
# nothing leaves the machine (APT goes through the proxy on the bridge).

bridge_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr replace "$BRIDGE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  allow_bridge_forwarding
}

# Docker leaves br_netfilter loaded with FORWARD policy DROP: then frames
# between two ports of our bridge are filtered. Only in that case add one
# narrow rule (and remove it in `down`).
allow_bridge_forwarding() {
  [[ -r /proc/sys/net/bridge/bridge-nf-call-iptables ]] || return 0
  [[ $(</proc/sys/net/bridge/bridge-nf-call-iptables) == 1 ]] || return 0
  command -v iptables >/dev/null || return 0
  iptables -S FORWARD 2>/dev/null | grep -q -- '-P FORWARD DROP' || return 0
  iptables -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null ||
    iptables -I FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
}

bridge_down() {
  if command -v iptables >/dev/null; then
    while iptables -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
  fi
  ip link del "$BRIDGE" 2>/dev/null || true
}

netns_up() { # NAME IP
  local name=$1 ip=$2 ns veth
  ns=$(netns_of "$name"); veth=$(veth_of "$name")
  ip netns add "$ns"
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$ns" link set lo up
  netns_reset "$name" "$ip"
}

# Brings the host's network to its boot state: what a previous boot
# configured (the Ganeti master IP, extra links) is gone, as after a reboot.
netns_reset() { # NAME IP
  local name=$1 ip=$2 ns l
  ns=$(netns_of "$name")
  for l in $(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
    [[ $l == lo || $l == eth0 ]] || ip -n "$ns" link del "$l" 2>/dev/null || true
  done
  ip -n "$ns" addr flush dev eth0
  ip -n "$ns" link add br0 type bridge
  if [[ $(host_field "$name" 2) == node ]]; then
    # A node's eth0 is a port of its br0, which holds the node's address:
    # the guests' taps on br0 are on the lab segment and keep their
    # addresses on any node.
    ip -n "$ns" link set eth0 master br0
    ip -n "$ns" addr add "$ip/24" dev br0
  else
    ip -n "$ns" addr add "$ip/24" dev eth0
  fi
  ip -n "$ns" link set br0 up
}

link_set() { # NAME up|down
  ip link set "$(veth_of "$1")" "$2" 2>/dev/null || true
  ip -n "$(netns_of "$1")" link set eth0 "$2" 2>/dev/null || true
}

netns_down_all() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NETNS_PREFIX" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}
