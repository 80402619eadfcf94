# The lab's output folder ($LAB_STATE/out): the inventory (docs/inventory.md
# format), known_hosts collected from the hosts' own /etc/ssh, the client key,
# the RAPI CA and credentials. Clients verify every host key and the RAPI
# certificate with these files; nothing here turns verification off.

write_known_hosts() {
  local f=$LAB_OUT/known_hosts tmp name kind ip roles pub names
  tmp=$f.tmp
  : >"$tmp"
  while read -r name kind ip roles; do
    names="$name.$DOMAIN,$name,$ip"
    for pub in "$(hdir "$name")"/upper/etc/ssh/ssh_host_*_key.pub; do
      [[ -f $pub ]] || die "host $name has no SSH host key yet ($pub)"
      awk -v n="$names" '{print n, $1, $2}' "$pub" >>"$tmp"
    done
  done <"$(hosts_file)"
  # The cluster name and IP reach the master node: the nodes' shared key.
  for pub in "$LAB_STATE"/node-hostkeys/ssh_host_*_key.pub; do
    awk -v n="$CLUSTER_NAME,$CLUSTER_IP" '{print n, $1, $2}' "$pub" >>"$tmp"
  done
  mv "$tmp" "$f"
}

write_inventory() {
  local f=$LAB_OUT/site.toml name kind ip roles
  {
    echo "# The lab's site inventory, written by \`lab up\` (format: docs/inventory.md)."
    echo "version = 1"
    echo
    echo "[site]"
    echo 'name = "lab"'
    echo
    echo "[ssh]"
    echo 'user = "root"'
    echo "port = 22"
    echo 'identity_file = "ssh/id_ed25519"'
    echo 'known_hosts = "known_hosts"'
    echo "connect_timeout = 10"
    echo
    echo "[[clusters]]"
    echo "name = \"$CLUSTER_NAME\""
    echo "rapi_url = \"https://$CLUSTER_NAME:5080\""
    echo "rapi_address = \"$CLUSTER_IP\""
    echo 'rapi_ca = "rapi-ca.pem"'
    echo 'rapi_credentials_file = "rapi.credentials"'
    while read -r name kind ip roles; do
      echo
      echo "[[hosts]]"
      echo "name = \"$name.$DOMAIN\""
      echo "address = \"$ip\""
      echo "roles = [$(echo "$roles" | sed 's/[^,]\+/"&"/g; s/,/, /g')]"
      [[ $kind == node ]] && echo "cluster = \"$CLUSTER_NAME\""
    done <"$(hosts_file)"
  } >"$f.tmp"
  mv "$f.tmp" "$f"
}

# SSH to a host the way clients do: the lab key, host key verified.
lab_ssh() { # NAME CMD...
  local name=$1; shift
  ssh -i "$LAB_OUT/ssh/id_ed25519" -o UserKnownHostsFile="$LAB_OUT/known_hosts" \
    -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes \
    -o ConnectTimeout=5 -o LogLevel=ERROR "root@$(host_field "$name" 3)" "$@"
}

# curl against the lab's RAPI, TLS verified against the lab CA; the
# credentials go through a config on stdin-less fd, never on the command line.
lab_rapi() { # PATH [curl args...]
  local path=$1; shift
  curl -sS --fail-with-body --noproxy "*" --cacert "$LAB_OUT/rapi-ca.pem" \
    --resolve "$CLUSTER_NAME:5080:$CLUSTER_IP" \
    -K <(printf 'user = "%s"\n' "$(<"$LAB_OUT/rapi.credentials")") \
    "https://$CLUSTER_NAME:5080$path" "$@"
}

# Waits for a RAPI job to end; succeeds only when it succeeded. Child jobs
# (node migrate/evacuate submit one per instance) are followed too.
rapi_job_wait() { # JOB_ID [TIMEOUT]
  local id=$1 timeout=${2:-300} end status body child
  id=${id//\"/}
  end=$((SECONDS + timeout))
  while :; do
    body=$(lab_rapi "/2/jobs/$id") || return 1
    status=$(jq -r .status <<<"$body")
    case $status in
      success) break ;;
      error | canceled) log "job $id: $status: $(jq -c '.opresult' <<<"$body" | cut -c1-400)"; return 1 ;;
    esac
    ((SECONDS < end)) || { log "job $id still $status after ${timeout}s"; return 1; }
    sleep 0.3
  done
  for child in $(jq -r '.opresult[]? | objects | .jobs[]? | select(.[0] == true) | .[1]' <<<"$body" 2>/dev/null); do
    rapi_job_wait "$child" "$timeout" || return 1
  done
  return 0
}
