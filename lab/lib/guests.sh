# The lab's real guests: Ganeti `kvm` instances that run QEMU (TCG: this
# machine's /dev/kvm is a paravirtual nested module that cannot run an
# unmodified guest). Each guest is diskless, 128 MiB, booted from a Debian
# kernel and a busybox initramfs built once and cached under $LAB_CACHE/guest
# (keyed like the roots). Inside, the guest takes the address the kernel
# command line gives it (`lab.ip=`, the same one Ganeti records as its NIC's
# IP) and serves a one-line page on port 80 (busybox httpd): watchers ping it
# and open a TCP connection to it.

GUEST_FORMAT=1 # bump when the image's layout changes in a way the key cannot see
GUEST_PORT=80
GUEST_MEM_MIB=128
# The modules the NIC needs, in load order (the package has no modules.dep).
GUEST_MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net)
# Where the nodes see the image (bound read-only at every boot).
GUEST_DIR_IN_NODE=/srv/ganeti/lab-guest

# The guests of the default set: NAME ADDRESS (node: spread like the others).
guest_table() {
  local i
  for i in 1 2 3; do echo "inst$i $NET_PREFIX.$((40 + i))"; done
}
is_guest() { guest_table | awk -v n="$1" '$1 == n {f = 1} END {exit !f}'; }
guest_ip() { guest_table | awk -v n="$1" '$1 == n {print $2}'; }

guest_kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}

guest_key() {
  {
    echo "format $GUEST_FORMAT"
    apt-cache policy "$(guest_kernel_package)" busybox-static 2>/dev/null | awk '/Candidate/ {print $2}'
    printf '%s\n' "${GUEST_MODULES[@]}"
    guest_init_script
  } | sha256sum | cut -c1-16
}

guest_image_path() { echo "$LAB_CACHE/guest/$(guest_key)"; }

# /init of the initramfs (busybox sh).
guest_init_script() {
  cat <<'EOI'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do insmod /mods/$m.ko 2>/dev/null; done
arg() { sed -n "s/.*[ ^]$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
ip=$(arg lab.ip); name=$(arg lab.name)
hostname "${name:-guest}"
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ip link set lo up
ip link set eth0 up
[ -n "$ip" ] && ip addr add "$ip" dev eth0
mkdir -p /www
echo "lab guest ${name:-guest} ${ip%/*}" >/www/index.html
httpd -p 80 -h /www
echo "lab guest up: ${name:-guest} ${ip:-no address}" >/dev/console
while :; do sleep 3600; done
EOI
}

# Builds the kernel and initramfs once (cold cache): the kernel package and
# busybox-static fetched with the machine's APT, unpacked with dpkg-deb.
guest_image_build() {
  local dest tmp kpkg kver m f
  dest=$(guest_image_path)
  [[ -f $dest/.lab-guest-complete ]] && return 0
  kpkg=$(guest_kernel_package)
  [[ -n $kpkg ]] || die "no Debian kernel package for the guests (apt-cache depends linux-image-amd64 found none; run apt-get update)"
  log "building the guest image (cold cache): $kpkg, busybox-static"
  tmp=$dest.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp/debs" "$tmp/x" "$tmp/initrd/bin" "$tmp/initrd/mods" "$tmp/initrd/proc" \
    "$tmp/initrd/sys" "$tmp/initrd/dev" "$tmp/initrd/tmp"
  # Downloads as root into a folder _apt cannot read: no sandbox warning.
  (cd "$tmp/debs" && apt-get -o APT::Sandbox::User=root download "$kpkg" busybox-static) \
    >"$LAB_LOGS/guest-image.log" 2>&1 || { cat "$LAB_LOGS/guest-image.log" >&2; die "downloading $kpkg busybox-static failed"; }
  for f in "$tmp"/debs/*.deb; do dpkg-deb -x "$f" "$tmp/x"; done
  kver=${kpkg#linux-image-}
  cp "$tmp/x/boot/vmlinuz-$kver" "$tmp/vmlinuz"
  cp "$tmp/x/bin/busybox" "$tmp/initrd/bin/busybox"
  for m in "${GUEST_MODULES[@]}"; do
    f=$(find "$tmp/x/lib/modules/$kver" -name "$m.ko*" | head -1)
    [[ -n $f ]] || continue # built into the kernel
    case $f in
      *.xz) xz -dc "$f" >"$tmp/initrd/mods/$m.ko" ;;
      *.zst) zstd -dcq "$f" >"$tmp/initrd/mods/$m.ko" ;;
      *) cp "$f" "$tmp/initrd/mods/$m.ko" ;;
    esac
    echo "$m" >>"$tmp/initrd/mods/order"
  done
  guest_init_script >"$tmp/initrd/init"
  chmod 755 "$tmp/initrd/init"
  (cd "$tmp/initrd" && find . | cpio -o -H newc --quiet | gzip -9) >"$tmp/initrd.gz"
  rm -rf "$tmp/debs" "$tmp/x" "$tmp/initrd"
  touch "$tmp/.lab-guest-complete"
  mv "$tmp" "$dest"
  local old
  for old in "$LAB_CACHE"/guest/*; do
    [[ $old == "$dest" ]] || rm -rf "$old"
  done
}

# Ganeti's kvm hypervisor parameters of the cluster: QEMU's TCG through
# kvm_path (no -enable-kvm), the lab's kernel and initramfs, the machine
# type pinned (a newer QEMU on an upgraded node keeps accepting migrations).
guest_cluster_hvparams() {
  local p=kvm:kvm_path=/usr/bin/qemu-system-x86_64,kvm_flag=disabled
  p+=,kernel_path=$GUEST_DIR_IN_NODE/vmlinuz,initrd_path=$GUEST_DIR_IN_NODE/initrd.gz
  p+=",kernel_args=console=ttyS0 quiet"
  p+=,machine_version=pc-i440fx-7.2,vnc_bind_address=,serial_console=false
  p+=,migration_bandwidth=1000,migration_downtime=30
  echo "$p"
}

# out/probes.toml: every guest's probe, for the engine's watcher and tests.
write_probes() {
  local f=$LAB_OUT/probes.toml name ip
  {
    echo "# The lab's real guests, written by \`lab up\` (format: docs/lab.md)."
    echo "# Each answers ping at its address and a TCP connection on its port."
    while read -r name ip; do
      echo
      echo "[[probes]]"
      echo "instance = \"$name.$DOMAIN\""
      echo "address = \"$ip\""
      echo "port = $GUEST_PORT"
    done < <(guest_table)
  } >"$f.tmp"
  mv "$f.tmp" "$f"
}
