# The two lower roots (Ganeti node, service host): minimal Debian built once
# with mmdebstrap through the lab's APT proxy, cached under $LAB_CACHE/roots,
# keyed by everything that goes into them so that a changed package list
# rebuilds. Hosts never write here (they get an overlay upper each).

ROOT_FORMAT=1 # bump when customize_root changes in a way the key cannot see
NODE_BASE=(openssh-server iproute2 procps iputils-ping ca-certificates curl less ganeti python3)
SERVICE_BASE=(openssh-server iproute2 procps iputils-ping ca-certificates curl less python3)

# Extra packages of KIND from lab/roots/KIND.packages (# comments allowed).
extra_packages() {
  local f=$LAB_ROOT/roots/$1.packages
  [[ -f $f ]] || return 0
  sed -e 's/#.*//' "$f" | tr -s ' \t' '\n' | grep -v '^$' || true
}

root_packages() {
  local kind=$1
  if [[ $kind == node ]]; then printf '%s\n' "${NODE_BASE[@]}"; else printf '%s\n' "${SERVICE_BASE[@]}"; fi
  extra_packages "$kind"
}

root_key() {
  local kind=$1
  {
    echo "format $ROOT_FORMAT suite $SUITE mirrors $(machine_mirrors)"
    root_packages "$kind" | sort -u
    declare -f customize_root
  } | sha256sum | cut -c1-16
}

root_path() { echo "$LAB_CACHE/roots/$1-$(root_key "$1")"; }

# Lab-specific files every host of KIND has in its lower root.
customize_root() {
  local r=$1 kind=$2
  rm -f "$r/etc/apt/apt.conf.d/99mmdebstrap"
  echo "Acquire::http::Proxy \"http://$BRIDGE_IP:$PROXY_PORT\";" >"$r/etc/apt/apt.conf.d/01lab-proxy"
  # Each host makes its own host keys at first boot.
  rm -f "$r"/etc/ssh/ssh_host_*
  mkdir -p "$r/etc/lab/boot.d" "$r/root/.ssh"
  chmod 700 "$r/root/.ssh"
  : >"$r/etc/machine-id"
  if [[ $kind == node ]]; then
    # A no-op OS definition (API 20): instances need an OS, the fake
    # hypervisor runs nothing.
    local os=$r/usr/local/lib/ganeti/os/noop s
    mkdir -p "$os"
    echo 20 >"$os/ganeti_api_version"
    : >"$os/parameters.list"
    for s in create export import rename verify; do
      printf '#!/bin/sh\nexit 0\n' >"$os/$s"
      chmod 755 "$os/$s"
    done
    # RAPI must listen on the master IP, not only on 127.0.0.1.
    [[ -f $r/etc/default/ganeti ]] && sed -i 's/-b 127\.0\.0\.1//' "$r/etc/default/ganeti"
    printf '/srv/ganeti/file-storage\n/srv/ganeti/shared-file-storage\n' >"$r/etc/ganeti/file-storage-paths"
    mkdir -p "$r/srv/ganeti/file-storage" "$r/srv/ganeti/shared-file-storage"
  fi
}

build_root() {
  local kind=$1 dest tmp main sec pkgs
  dest=$(root_path "$kind")
  [[ -f $dest/.lab-root-complete ]] && return 0
  read -r main sec <<<"$(machine_mirrors)"
  tmp=$dest.tmp
  rm -rf "$tmp"
  mkdir -p "$LAB_CACHE/roots" "$LAB_LOGS"
  pkgs=$(root_packages "$kind" | sort -u | paste -sd, -)
  log "building the $kind root (cold cache): $pkgs"
  if ! mmdebstrap --variant=minbase --include="$pkgs" \
    --aptopt="Acquire::http::Proxy \"http://$BRIDGE_IP:$PROXY_PORT\"" \
    "$SUITE" "$tmp" \
    "deb $main $SUITE main" "deb $main $SUITE-updates main" "deb $sec $SUITE-security main" \
    >"$LAB_LOGS/mmdebstrap-$kind.log" 2>&1; then
    tail -20 "$LAB_LOGS/mmdebstrap-$kind.log" >&2
    die "building the $kind root failed; see $LAB_LOGS/mmdebstrap-$kind.log"
  fi
  customize_root "$tmp" "$kind"
  touch "$tmp/.lab-root-complete"
  mv "$tmp" "$dest"
  # The cache keeps the three newest roots of this kind: branches with
  # different package lists sharing a machine do not rebuild each other's.
  local old
  for old in $(ls -dt "$LAB_CACHE/roots/$kind"-* 2>/dev/null | grep -v '\.tmp$' | tail -n +4); do
    [[ $old == "$dest" ]] || rm -rf "$old"
  done
}

build_roots() {
  local pids=() k rc=0
  for k in node service; do
    [[ -f $(root_path "$k")/.lab-root-complete ]] && continue
    (build_root "$k") &
    pids+=($!)
  done
  for k in "${pids[@]}"; do wait "$k" || rc=1; done
  ((rc == 0)) || die "building the lab roots failed"
}
