# The `lab` command line: up, down, status, exec, reboot, crash, poweroff,
# start, wait-up. Callers sharing the machine serialise up/down/tests with
# `flock "$LAB_LOCK"` (no lock is taken here: a lock fd inherited by a
# host would outlive the command).

usage() {
  cat <<'EOU'
usage: lab COMMAND [ARGS]
  up [--nodes N] [--reboot-delay S] [--bare] [--site-...]
                      build (or reuse) the roots, boot the hosts, form the
                      Ganeti cluster, write the output folder; removes any
                      earlier lab first
  down                stop everything of the lab (the root cache is kept)
  status              output folder and the state of every host
  exec HOST CMD...    run CMD inside HOST (no CMD: a shell)
  reboot HOST         clean reboot (as `reboot` inside the host)
  crash HOST          kill every process of HOST at once, boot it again
  poweroff HOST       hard power-off; HOST stays down until `lab start HOST`
  start HOST          power HOST on
  wait-up HOST [S]    wait until HOST has booted (default 60 s)
HOST: short name (node1, astakos), FQDN (node1.lab.test) or address.
Environment: LAB_STATE (default /var/lib/snf-upgrade-lab),
LAB_CACHE (default /var/cache/snf-upgrade-lab).
EOU
}

main() {
  local cmd=${1:-}
  [[ -n $cmd ]] || { usage >&2; exit 2; }
  shift
  case $cmd in
    -h | --help | help) usage ;;
    up) require_root; require_tools; cmd_up "$@" ;;
    down) require_root; cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    exec) require_root; [[ $# -ge 1 ]] || die "usage: lab exec HOST CMD..."
      local h; h=$(resolve_host "$1"); shift
      if (($#)); then host_exec "$h" "$@"; else host_exec "$h" bash -l; fi ;;
    reboot | crash | poweroff | start)
      require_root; [[ $# -eq 1 ]] || die "usage: lab $cmd HOST"
      local h; h=$(resolve_host "$1")
      "host_$cmd" "$h"
      log "$cmd $h" ;;
    wait-up) require_root; [[ $# -ge 1 ]] || die "usage: lab wait-up HOST [SECONDS]"
      local h; h=$(resolve_host "$1")
      host_wait_up "$h" "${2:-60}" || die "host $h did not come up" ;;
    _supervise) cmd__supervise "$@" ;;
    _boot) cmd__boot "$@" ;;
    *) usage >&2; die "unknown command '$cmd'" ;;
  esac
}

cmd_up() {
  local nodes=3 delay=3 bare=0 site_args=() a
  while (($#)); do
    a=$1; shift
    case $a in
      --nodes) nodes=${1:?--nodes needs a number}; shift ;;
      --nodes=*) nodes=${a#*=} ;;
      --reboot-delay) delay=${1:?--reboot-delay needs seconds}; shift ;;
      --reboot-delay=*) delay=${a#*=} ;;
      --bare) bare=1 ;;
      --site-*) site_args+=("$a") ;;
      *) die "lab up: unknown argument '$a'" ;;
    esac
  done
  [[ $nodes =~ ^[0-9]+$ ]] && ((nodes >= 1 && nodes <= MAX_NODES)) ||
    die "--nodes must be 1..$MAX_NODES"
  [[ $delay =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--reboot-delay must be a number of seconds"
  local t0=$SECONDS
  teardown
  mkdir -p "$LAB_STATE" "$LAB_CACHE" "$LAB_OUT" "$LAB_HOSTS_DIR" "$LAB_LOGS"
  chmod 755 "$LAB_STATE"
  bridge_up
  proxy_up
  build_roots
  guest_image_build
  log "roots and guest image ready ($((SECONDS - t0)) s)"
  keys_make "$nodes"
  host_table "$nodes" >"$(hosts_file)"
  mkdir -p "$LAB_STATE/shared-file-storage"
  local name kind ip roles
  while read -r name kind ip roles; do
    netns_up "$name" "$ip"
    host_prepare "$name" "$kind" "$ip"
    echo "$delay" >"$(hdir "$name")/reboot-delay"
    host_supervise_start "$name"
  done <"$(hosts_file)"
  for name in $(all_hosts); do
    host_wait_up "$name" 60 || die "host $name did not boot; see $(hdir "$name")/supervisor.log and /var/log/lab-init.log inside"
  done
  log "hosts up ($((SECONDS - t0)) s)"
  cluster_form "$nodes"
  write_known_hosts
  write_inventory
  write_probes
  for name in $(all_hosts); do
    lab_ssh "$name" true || die "SSH to $name with the lab's key and known_hosts failed"
  done
  lab_rapi /2/info -o /dev/null || die "RAPI does not answer at https://$CLUSTER_NAME:5080 with the lab CA"
  log "lab up ($((SECONDS - t0)) s): $LAB_OUT"
  if ((bare == 0)) && [[ -x $LAB_ROOT/site/provision ]]; then
    log "provisioning the site (lab/site/provision ${site_args[*]})"
    # Marked, so that `down` finds whatever it leaves running on the machine;
    # without the caller's extra fds (a daemon must not keep its lock).
    (
      close_fds
      exec env "$LAB_MARK=site" LAB_STATE="$LAB_STATE" LAB_OUT="$LAB_OUT" LAB_ROOT="$LAB_ROOT" \
        LAB_SITE_ARGS="${site_args[*]}" "$LAB_ROOT/site/provision"
    ) || die "lab/site/provision failed"
    log "site provisioned ($((SECONDS - t0)) s)"
  fi
  cmd_status
}

# Removes every trace of a lab (this run's or an earlier one's): processes,
# namespaces, bridge, proxy, host disks. Keeps $LAB_CACHE and the lab keys.
teardown() {
  local p i
  [[ -x $LAB_ROOT/site/teardown ]] && { LAB_STATE=$LAB_STATE "$LAB_ROOT/site/teardown" || true; }
  for p in $(marked_pids supervisor); do kill -KILL "$p" 2>/dev/null || true; done
  for p in $(marked_pids host); do kill -KILL "$p" 2>/dev/null || true; done
  netns_down_all
  proxy_down
  for p in $(state_pids); do kill -KILL "$p" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    [[ -z $(marked_pids) ]] && break
    for p in $(marked_pids); do kill -KILL "$p" 2>/dev/null || true; done
    sleep 0.1
  done
  [[ -z $(marked_pids) ]] || die "processes of the lab survive: $(marked_pids | tr '\n' ' ')"
  local l
  for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^slv-' || true); do
    ip link del "$l" 2>/dev/null || true
  done
  bridge_down
  # No lab mount lives in the machine's namespace; an old one is removed.
  local m
  for m in $(awk -v s="$LAB_STATE" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$LAB_HOSTS_DIR" "$LAB_OUT" "$LAB_STATE/shared-file-storage" "$LAB_STATE/node-hostkeys" "$(hosts_file)"
}

# Processes started for the lab on the machine that name the state folder
# in their command line (e.g. a daemon of the site hook that dropped the
# mark). Never this process nor its ancestors.
state_pids() {
  local keep=" $$ " p=$$ f
  while [[ $p -gt 1 ]]; do
    p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null) || break
    keep+="$p "
  done
  # The pattern is written so that grep's own command line does not match.
  for f in $(grep -lsE "${LAB_STATE//\//[/]}[/]" /proc/[0-9]*/cmdline); do
    p=${f#/proc/}; p=${p%/cmdline}
    [[ $keep == *" $p "* || $p == "$BASHPID" ]] || echo "$p"
  done
  return 0
}

# Memory the lab uses: proportional set size of every process in a lab
# host and of the lab's own processes on the machine.
lab_memory_mib() {
  local pids ns
  pids=$(
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NETNS_PREFIX" || true); do
      ip netns pids "$ns" 2>/dev/null
    done
    marked_pids
  )
  [[ -n $pids ]] || { echo 0; return; }
  # shellcheck disable=SC2086
  for p in $(sort -u <<<"$pids"); do cat "/proc/$p/smaps_rollup" 2>/dev/null; done |
    awk '/^Pss:/ {kb += $2} END {printf "%d\n", kb / 1024}'
}

cmd_down() {
  teardown
  log "lab down"
}

cmd_status() {
  echo "out: $LAB_OUT"
  if [[ ! -f $(hosts_file) ]]; then
    echo "lab: down"
    return 0
  fi
  if [[ -n $(proxy_pid) ]]; then echo "proxy: up ($BRIDGE_IP:$PROXY_PORT)"; else echo "proxy: down"; fi
  echo "rapi: https://$CLUSTER_NAME:5080 ($CLUSTER_IP)"
  echo "memory: $(lab_memory_mib) MiB (PSS of every process of the lab)"
  local name kind ip roles
  printf '%-10s %-8s %-15s %-9s %s\n' HOST KIND ADDRESS STATE ROLES
  while read -r name kind ip roles; do
    printf '%-10s %-8s %-15s %-9s %s\n' "$name" "$kind" "$ip" "$(host_state "$name")" "$roles"
  done <"$(hosts_file)"
}
