# Lab hosts: each one an overlay root (per-host upper on disk over a cached
# lower root) in its own network, UTS, IPC, PID, mount and time namespaces
# (its own uptime; its own boot id is bound over the kernel's), booted
# by a supervisor process that plays the machine's power: when the host's
# init exits (reboot/poweroff inside, or `lab crash`), every process of the
# host dies with its PID namespace, /run (a tmpfs) is gone, the link goes
# down, and the supervisor boots it again after the reboot delay (or keeps
# it off). Never mounts anything in the machine's own mount namespace.

NODE_MEM_MIB=${LAB_NODE_MEM_MIB:-4096}
SERVICE_MEM_MIB=${LAB_SERVICE_MEM_MIB:-2048}

# /proc/meminfo as the host sees it: its own size. The fake hypervisor
# subtracts the running instances from MemFree, so capacity matters.
write_meminfo() { # FILE MIB
  local kb=$(($2 * 1024)) dom0=$((256 * 1024))
  cat >"$1" <<EOM
MemTotal:       $kb kB
MemFree:        $((kb - dom0)) kB
MemAvailable:   $((kb - dom0)) kB
Buffers:               0 kB
Cached:                0 kB
SwapCached:            0 kB
Active:         $dom0 kB
Inactive:              0 kB
SwapTotal:             0 kB
SwapFree:              0 kB
Dirty:                 0 kB
Shmem:                 0 kB
Slab:                  0 kB
EOM
}

lab_hosts_content() {
  echo "127.0.0.1 localhost"
  echo "::1 localhost ip6-localhost ip6-loopback"
  echo "$BRIDGE_IP machine.$DOMAIN machine"
  echo "$CLUSTER_IP $CLUSTER_NAME cluster"
  local name kind ip roles
  while read -r name kind ip roles; do echo "$ip $name.$DOMAIN $name"; done <"$(hosts_file)"
}

host_prepare() { # NAME KIND IP
  local name=$1 kind=$2 ip=$3 d u
  d=$(hdir "$name"); u=$d/upper
  rm -rf "$d"
  mkdir -p "$u/etc/ssh" "$u/root/.ssh" "$u/etc/lab" "$d/work" "$d/root"
  root_path "$kind" >"$d/lower"
  echo "$name.$DOMAIN" >"$u/etc/hostname"
  lab_hosts_content >"$u/etc/hosts"
  echo "# lab host: no DNS, names are in /etc/hosts" >"$u/etc/resolv.conf"
  cp "$LAB_OUT/ssh/id_ed25519.pub" "$u/root/.ssh/authorized_keys"
  chmod 700 "$u/root/.ssh"; chmod 600 "$u/root/.ssh/authorized_keys"
  echo "$kind" >"$u/etc/lab/kind"
  if [[ $kind == node ]]; then
    # Ganeti nodes share one SSH host key set, as Ganeti itself arranges:
    # the cluster's key is known under the cluster name on every node.
    cp -a "$LAB_STATE/node-hostkeys/." "$u/etc/ssh/"
    write_meminfo "$d/meminfo" "$NODE_MEM_MIB"
    guest_image_path >"$d/guest-image"
  else
    write_meminfo "$d/meminfo" "$SERVICE_MEM_MIB"
  fi
  echo "$ip" >"$d/ip"
  echo up >"$d/want"
}

# Starts the host's supervisor (it boots the host at once).
host_supervise_start() {
  local name=$1 d
  d=$(hdir "$name")
  (
    close_fds
    exec env "$LAB_MARK=supervisor:$name" LAB_STATE="$LAB_STATE" LAB_CACHE="$LAB_CACHE" \
      setsid "$LAB_ROOT/lab" _supervise "$name" </dev/null >>"$d/supervisor.log" 2>&1
  ) &
  echo $! >"$d/supervisor.pid"
}

# The supervisor loop (runs in the machine's namespaces).
cmd__supervise() {
  local name=$1 d ip ns upid p rc i delay
  d=$(hdir "$name"); ip=$(<"$d/ip"); ns=$(netns_of "$name")
  while :; do
    case $(cat "$d/want" 2>/dev/null || echo exit) in
      off) sleep 0.3; continue ;;
      up) ;;
      *) exit 0 ;;
    esac
    netns_reset "$name" "$ip"
    link_set "$name" up
    log "boot $name"
    # A time namespace whose boot clock starts now: the host's /proc/uptime
    # (and `uptime`, and process start times) count from this boot.
    read -r up _ </proc/uptime
    env "$LAB_MARK=host:$name" nsenter --net="/run/netns/$ns" \
      unshare --mount --uts --ipc --pid --time --boottime "-${up%.*}" --fork --kill-child \
      --propagation private "$LAB_ROOT/lab" _boot "$name" &
    upid=$!
    p=
    for ((i = 0; i < 100; i++)); do
      p=$(pgrep -P "$upid" || true)
      [[ -n $p ]] && break
      sleep 0.05
    done
    echo "$p" >"$d/pid1"
    rc=0; wait "$upid" || rc=$?
    : >"$d/pid1"
    link_set "$name" down
    # The kernel keeps the sockets of killed processes (orphans retransmitting
    # their FIN): destroy them while the link is down, so that nothing of the
    # old boot ever reaches a peer and the next boot answers a stale
    # connection with a reset, as a machine that lost power does.
    ip netns exec "$ns" ss -K -a -t >/dev/null 2>&1 || true
    log "$name went down (init exit status $rc)"
    [[ $rc == 11 ]] && echo off >"$d/want"
    delay=$(cat "$d/reboot-delay" 2>/dev/null || echo 3)
    [[ $(cat "$d/want" 2>/dev/null) == up ]] && sleep "$delay"
  done
}

# Runs as PID 1 of the host's new namespaces, still seeing the machine's
# filesystem: mounts the host's root and hands over to its init.
cmd__boot() {
  local name=$1 d m lower s
  d=$(hdir "$name"); m=$d/root; lower=$(<"$d/lower")
  mount --make-rprivate /
  mount -t overlay overlay -o "lowerdir=$lower,upperdir=$d/upper,workdir=$d/work" "$m"
  install -m 755 "$LAB_ROOT/guest/lab-init" "$m/usr/local/sbin/lab-init"
  for s in reboot shutdown poweroff halt systemctl; do
    install -m 755 "$LAB_ROOT/guest/shim" "$m/usr/local/sbin/$s"
  done
  mount -t proc -o nosuid,nodev,noexec proc "$m/proc"
  mount --bind "$d/meminfo" "$m/proc/meminfo"
  # A fresh boot id at every boot, as the kernel of a machine makes one.
  cat /proc/sys/kernel/random/uuid >"$d/boot_id"
  mount --bind -o ro "$d/boot_id" "$m/proc/sys/kernel/random/boot_id"
  mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$m/sys"
  mount -t tmpfs -o mode=755,nosuid,size=16m tmpfs "$m/dev"
  mknod -m 666 "$m/dev/null" c 1 3; mknod -m 666 "$m/dev/zero" c 1 5
  mknod -m 666 "$m/dev/full" c 1 7; mknod -m 666 "$m/dev/random" c 1 8
  mknod -m 666 "$m/dev/urandom" c 1 9; mknod -m 666 "$m/dev/tty" c 5 0
  if [[ $(<"$d/upper/etc/lab/kind") == node ]]; then
    # Ganeti's kvm hypervisor gives each guest NIC a tap.
    mkdir -p "$m/dev/net"; mknod -m 666 "$m/dev/net/tun" c 10 200
  fi
  mkdir -p "$m/dev/pts" "$m/dev/shm"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$m/dev/pts"
  ln -s pts/ptmx "$m/dev/ptmx"
  ln -s /proc/self/fd "$m/dev/fd"
  ln -s /proc/self/fd/0 "$m/dev/stdin"; ln -s /proc/self/fd/1 "$m/dev/stdout"; ln -s /proc/self/fd/2 "$m/dev/stderr"
  mount -t tmpfs -o nosuid,nodev tmpfs "$m/dev/shm"
  mount -t tmpfs -o mode=755,nosuid,nodev,size=256m tmpfs "$m/run"
  if [[ $(<"$d/upper/etc/lab/kind") == node && -d $LAB_STATE/shared-file-storage ]]; then
    mkdir -p "$m/srv/ganeti/shared-file-storage"
    mount --bind "$LAB_STATE/shared-file-storage" "$m/srv/ganeti/shared-file-storage"
  fi
  if [[ $(<"$d/upper/etc/lab/kind") == node && -f $d/guest-image ]]; then
    # The real guests' kernel and initramfs, the same on every node.
    mkdir -p "$m$GUEST_DIR_IN_NODE"
    mount --bind -o ro "$(<"$d/guest-image")" "$m$GUEST_DIR_IN_NODE"
  fi
  hostname "$name.$DOMAIN"
  cd "$m"
  mkdir -p .oldroot
  pivot_root . .oldroot
  cd /
  umount -l /.oldroot
  rmdir /.oldroot
  exec /usr/local/sbin/lab-init
}

host_booted() { # NAME: init finished booting and sshd listens
  local p
  p=$(pid1_of "$1")
  [[ -n $p ]] || return 1
  nsenter -t "$p" -m -r test -e /run/lab-booted
}

host_wait_up() { # NAME [TIMEOUT]
  wait_for "${2:-60}" "host $1 to boot" host_booted "$1"
}

host_state() {
  local name=$1 d
  d=$(hdir "$name")
  if [[ -n $(pid1_of "$name") ]]; then
    if host_booted "$name"; then echo up; else echo booting; fi
  elif [[ $(cat "$d/want" 2>/dev/null) == off ]]; then
    echo off
  else
    echo down
  fi
}

# Power control from the machine -------------------------------------------
host_reboot() { # clean reboot, as `reboot` inside
  local p; p=$(pid1_of "$1")
  [[ -n $p ]] || die "host $1 is not running (use: lab start $1)"
  kill -USR1 "$p"
}
# A crash or a power loss cuts the wire before anything dies: the host's
# kernel closing the sockets of killed processes sends FIN/RST into a link
# that is down, so peers are left with half-open connections.
host_crash() { # no warning: everything of the host is killed at once
  local p; p=$(pid1_of "$1")
  [[ -n $p ]] || die "host $1 is not running"
  link_set "$1" down
  kill -KILL "$p"
}
host_poweroff() { # hard power-off; stays off until `lab start`
  local p; p=$(pid1_of "$1")
  echo off >"$(hdir "$1")/want"
  if [[ -n $p ]]; then
    link_set "$1" down
    kill -KILL "$p"
  fi
  return 0
}
host_start() {
  echo up >"$(hdir "$1")/want"
}
