# Keys and certificates of the lab: the client SSH key (its .pub is in every
# host's root authorized_keys), the Ganeti nodes' shared SSH host keys, the
# lab CA (kept across runs under $LAB_STATE/keys) and the RAPI certificate
# it issues for cluster.lab.test. Private keys never leave $LAB_STATE.

keys_make() { # NODE_COUNT
  local n=$1 k=$LAB_STATE/keys t i san
  mkdir -p "$k" "$LAB_OUT/ssh"
  chmod 700 "$k" "$LAB_OUT/ssh"
  if [[ ! -f $k/id_ed25519 ]]; then
    ssh-keygen -q -t ed25519 -N '' -C "snf-upgrade-lab-client" -f "$k/id_ed25519"
  fi
  cp "$k/id_ed25519" "$k/id_ed25519.pub" "$LAB_OUT/ssh/"
  chmod 600 "$LAB_OUT/ssh/id_ed25519"

  rm -rf "$LAB_STATE/node-hostkeys"
  mkdir -p "$LAB_STATE/node-hostkeys"
  for t in rsa ecdsa ed25519; do
    ssh-keygen -q -t "$t" -N '' -C "root@$CLUSTER_NAME" -f "$LAB_STATE/node-hostkeys/ssh_host_${t}_key"
  done

  if [[ ! -f $k/lab-ca.key || ! -f $k/lab-ca.pem ]]; then
    openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -subj "/O=snf-upgrade lab/CN=snf-upgrade lab CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$k/lab-ca.key" -out "$k/lab-ca.pem" 2>/dev/null
    chmod 600 "$k/lab-ca.key"
  fi
  cp "$k/lab-ca.pem" "$LAB_OUT/lab-ca.pem"
  cp "$k/lab-ca.pem" "$LAB_OUT/rapi-ca.pem"

  # The RAPI certificate: valid for the cluster name and IP and every node
  # (RAPI moves with the master).
  san="DNS:$CLUSTER_NAME,IP:$CLUSTER_IP"
  for ((i = 1; i <= n; i++)); do san+=",DNS:node$i.$DOMAIN,IP:$NET_PREFIX.$((10 + i))"; done
  openssl req -new -newkey rsa:2048 -nodes -subj "/O=snf-upgrade lab/CN=$CLUSTER_NAME" \
    -keyout "$k/rapi.key" -out "$k/rapi.csr" 2>/dev/null
  openssl x509 -req -in "$k/rapi.csr" -CA "$k/lab-ca.pem" -CAkey "$k/lab-ca.key" -CAcreateserial \
    -days 825 -sha256 -out "$k/rapi.crt" \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n' "$san") 2>/dev/null
  cat "$k/rapi.key" "$k/rapi.crt" >"$k/rapi.pem"
  chmod 600 "$k/rapi.key" "$k/rapi.pem"

  if [[ ! -f $k/rapi.password ]]; then
    openssl rand -hex 16 >"$k/rapi.password"
    chmod 600 "$k/rapi.password"
  fi
  (umask 077; printf 'lab:%s\n' "$(<"$k/rapi.password")" >"$LAB_OUT/rapi.credentials")
}
