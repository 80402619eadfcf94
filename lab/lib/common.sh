# Shared settings and helpers of the lab (sourced by lab/lab).
# Owns: names, addresses, paths, logging, the host table. Never touches the
# machine's own /etc, and never kills a process it cannot prove is the lab's.

LAB_STATE=${LAB_STATE:-/var/lib/snf-upgrade-lab}
LAB_CACHE=${LAB_CACHE:-/var/cache/snf-upgrade-lab}
# The lock that serialises every use of the lab on this machine (up, tests,
# down): callers hold it with `flock "$LAB_LOCK" ...` (scripts/test does).
LAB_LOCK=${LAB_LOCK:-/run/lock/snf-upgrade-lab.lock}
LAB_OUT=$LAB_STATE/out
LAB_HOSTS_DIR=$LAB_STATE/hosts
LAB_LOGS=$LAB_STATE/logs

BRIDGE=snflab0
NET_PREFIX=198.51.100
BRIDGE_IP=$NET_PREFIX.1
CLUSTER_NAME=cluster.lab.test
CLUSTER_IP=$NET_PREFIX.10
DOMAIN=lab.test
NETNS_PREFIX=snflab-
PROXY_PORT=3142
SUITE=bookworm
MAX_NODES=12

# Marks the lab's own long-running processes (supervisors, proxy) so that a
# later `up`/`down` finds them even when the state folder is gone.
LAB_MARK=SNF_UPGRADE_LAB_PROCESS

log() { printf '%s lab: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

# host table -------------------------------------------------------------
# A line per host: "name kind ip roles", kind = node | service.
host_table() {
  local n=$1 i
  for ((i = 1; i <= n; i++)); do
    echo "node$i node $NET_PREFIX.$((10 + i)) ganeti-node"
  done
  echo "astakos service $NET_PREFIX.31 astakos,db,web"
  echo "cyclades service $NET_PREFIX.32 cyclades,web"
  echo "pithos service $NET_PREFIX.33 pithos,web"
}

# The table of the lab that is up (written by `up`).
hosts_file() { echo "$LAB_STATE/hosts.list"; }
all_hosts() { [[ -f $(hosts_file) ]] && awk '{print $1}' "$(hosts_file)"; }
node_hosts() { [[ -f $(hosts_file) ]] && awk '$2 == "node" {print $1}' "$(hosts_file)"; }
host_field() { # NAME FIELD(2=kind,3=ip,4=roles)
  awk -v h="$1" -v f="$2" '$1 == h {print $f}' "$(hosts_file)"
}

# Accepts node1, node1.lab.test or the address; prints the short name.
resolve_host() {
  local h=$1
  [[ -f $(hosts_file) ]] || die "the lab is not up (no $(hosts_file)); run: lab up"
  h=${h%.$DOMAIN}
  local name
  name=$(awk -v h="$h" '$1 == h || $3 == h {print $1}' "$(hosts_file)")
  [[ -n $name ]] || die "no lab host '$1' (hosts: $(all_hosts | tr '\n' ' '))"
  echo "$name"
}

netns_of() { echo "$NETNS_PREFIX$1"; }
veth_of() { echo "slv-$1"; }
hdir() { echo "$LAB_HOSTS_DIR/$1"; }

# PID (in the machine's PID namespace) of the host's init, empty when down.
pid1_of() {
  local f
  f=$(hdir "$1")/pid1
  [[ -s $f ]] || return 0
  local p
  p=$(<"$f")
  [[ -d /proc/$p ]] && grep -q "^$LAB_MARK=host:$1$" <(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null) && echo "$p"
  return 0
}

require_root() {
  [[ $(id -u) == 0 ]] || die "the lab needs root (run it with sudo, or as root)"
}

require_tools() {
  local missing=() t pkg
  for t in mmdebstrap:mmdebstrap apt-cacher-ng:apt-cacher-ng ip:iproute2 ssh:openssh-client \
    ssh-keygen:openssh-client ssh-keyscan:openssh-client openssl:openssl curl:curl \
    unshare:util-linux nsenter:util-linux flock:util-linux setsid:util-linux pgrep:procps \
    cpio:cpio dpkg-deb:dpkg; do
    command -v "${t%%:*}" >/dev/null 2>&1 || [[ -x /usr/sbin/${t%%:*} ]] || missing+=("${t#*:}")
  done
  if ((${#missing[@]})); then
    die "missing tools; install them with: apt-get install $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')(or run scripts/install-deps)"
  fi
}

# Runs a command inside a host (all its namespaces, its root).
host_exec() {
  local name=$1; shift
  local p
  p=$(pid1_of "$name")
  [[ -n $p ]] || die "host $name is down"
  # In a subshell without the caller's extra fds: a daemon started by CMD
  # must not hold the caller's lock.
  (
    close_fds
    exec nsenter -t "$p" -m -u -n -p -i -T -r -w env -i HOME=/root TERM="${TERM:-dumb}" \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
  )
}

# Waits until COMMAND succeeds or TIMEOUT seconds passed.
wait_for() {
  local timeout=$1 what=$2; shift 2
  local end=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || { log "timed out after ${timeout}s waiting for $what"; return 1; }
    sleep 0.2
  done
}

# Closes every inherited file descriptor above 2 in the current (sub)shell:
# a long-running lab process must not keep a caller's lock
# (`flock "$LAB_LOCK" lab up`) or pipe open forever.
close_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
  done
  return 0
}
