# The Ganeti cluster of the lab: Debian's Ganeti 3.0 with the fake
# hypervisor, cluster.lab.test with its master IP on node1, every other node
# a master candidate, RAPI over HTTPS with a certificate of the lab CA and a
# write user, and a default set of instances. Everything runs inside the
# node hosts (`host_exec`); nothing Ganeti touches the machine.

RAPI_USER=lab

gnt() { host_exec node1 "$@"; }

cluster_form() { # NODE_COUNT
  local n=$1 i t0=$SECONDS k=$LAB_STATE/keys
  local storage=diskless,file
  [[ -d $LAB_STATE/shared-file-storage ]] && storage+=,sharedfile
  gnt gnt-cluster init --enabled-hypervisors=fake,kvm -H "$(guest_cluster_hvparams)" \
    --enabled-disk-templates="$storage" \
    --file-storage-dir=/srv/ganeti/file-storage --shared-file-storage-dir=/srv/ganeti/shared-file-storage \
    --master-netdev=br0 --master-netmask=24 --nic-parameters=mode=bridged,link=br0 \
    --no-etc-hosts "$CLUSTER_NAME" >"$LAB_LOGS/cluster-init.log" 2>&1 ||
    { cat "$LAB_LOGS/cluster-init.log" >&2; die "gnt-cluster init failed"; }
  log "cluster initialised ($((SECONDS - t0)) s)"
  local pub
  pub=$(host_exec node1 sh -c 'cat /root/.ssh/id_*.pub')
  for ((i = 2; i <= n; i++)); do
    host_exec "node$i" sh -c 'cat >>/root/.ssh/authorized_keys' <<<"$pub"
  done
  # Ganeti checks the new node's host key against its own known_hosts: the
  # nodes share the cluster's key set, so it is known under every node name.
  local names="$CLUSTER_NAME"
  for ((i = 1; i <= n; i++)); do names+=",node$i.$DOMAIN,$NET_PREFIX.$((10 + i))"; done
  cat "$LAB_STATE"/node-hostkeys/ssh_host_*_key.pub | awk -v n="$names" '{print n, $1, $2}' |
    host_exec node1 sh -c 'cat >>/var/lib/ganeti/known_hosts'
  for ((i = 2; i <= n; i++)); do
    gnt gnt-node add "node$i.$DOMAIN" >>"$LAB_LOGS/node-add.log" 2>&1 ||
      { tail -20 "$LAB_LOGS/node-add.log" >&2; die "gnt-node add node$i failed"; }
  done
  log "nodes added ($((SECONDS - t0)) s)"
  # The password goes through stdin, never on a command line.
  host_exec node1 sh -c 'umask 077; cat >/var/lib/ganeti/rapi/users;
    chown gnt-rapi:gnt-masterd /var/lib/ganeti/rapi/users; chmod 640 /var/lib/ganeti/rapi/users' \
    <<<"$RAPI_USER $(<"$k/rapi.password") write"
  # The RAPI certificate of the lab CA replaces Ganeti's self-signed one on
  # every node (RAPI runs wherever the master goes). Placed by hand: `init`
  # refuses a pre-placed rapi.pem, and Ganeti 3.0's `renew-crypto
  # --rapi-certificate=FILE` reports success but never writes it.
  for ((i = 1; i <= n; i++)); do
    host_exec "node$i" install -m 440 -o gnt-rapi -g gnt-masterd /dev/stdin /var/lib/ganeti/rapi.pem <"$k/rapi.pem"
  done
  host_exec node1 sh -c '/usr/lib/ganeti/daemon-util stop ganeti-rapi; /usr/lib/ganeti/daemon-util start ganeti-rapi' \
    >>"$LAB_LOGS/cluster-init.log" 2>&1 || die "restarting ganeti-rapi with the lab's certificate failed"
  gnt gnt-cluster redist-conf >>"$LAB_LOGS/cluster-init.log" 2>&1
  log "RAPI ready ($((SECONDS - t0)) s)"
  instances_create "$n"
  log "cluster ready ($((SECONDS - t0)) s)"
}

# The default instances: 8 running diskless ones of mixed sizes spread over
# the nodes, one running `file` instance, one administratively down. Made
# through RAPI (one process per job instead of a Python client each).
instances_create() {
  local n=$1 i mem jobs=() j
  # inst1..inst3 are the real guests (lab/lib/guests.sh), 128 MiB each.
  local sizes=(128 128 128 1024 128 256 512 768)
  for ((i = 1; i <= 8; i++)); do
    jobs+=("$(instance_submit "inst$i" diskless "${sizes[i - 1]}" "node$(((i - 1) % n + 1))")")
  done
  jobs+=("$(instance_submit file1 file 256 "node$((n > 1 ? 2 : 1))")")
  # On the master: every other node can be emptied by live migration alone.
  jobs+=("$(instance_submit stopped1 diskless 128 node1)")
  for j in "${jobs[@]}"; do rapi_job_wait "$j" 120 || die "creating an instance failed (job $j)"; done
  log "instances created"
  jobs=()
  for i in inst{1..8} file1; do
    jobs+=("$(lab_rapi "/2/instances/$i.$DOMAIN/startup" -X PUT)")
  done
  for j in "${jobs[@]}"; do rapi_job_wait "$j" 120 || die "starting an instance failed (job $j)"; done
}

instance_submit() { # NAME TEMPLATE MEMORY_MIB NODE -> job id
  local disks='[]' nics='[{}]' hv=''
  [[ $2 == diskless ]] || disks='[{"size": 1024}]'
  if is_guest "$1"; then
    # A real guest: its address is its NIC's IP in Ganeti and reaches the
    # guest on its kernel command line.
    local ip; ip=$(guest_ip "$1")
    nics="[{\"ip\": \"$ip\"}]"
    hv=", \"hypervisor\": \"kvm\", \"hvparams\": {\"kernel_args\": \"quiet lab.ip=$ip/24 lab.name=$1\"}"
  fi
  lab_rapi /2/instances -X POST -H 'Content-Type: application/json' -d @- <<EOJ
{"__version__": 1, "mode": "create", "name": "$1.$DOMAIN", "disk_template": "$2",
 "disks": $disks, "nics": $nics, "os_type": "noop", "no_install": true,
 "name_check": false, "ip_check": false, "pnode": "$4.$DOMAIN",
 "beparams": {"memory": $3, "vcpus": 1}$hv}
EOJ
}
