# The APT proxy of the lab: apt-cacher-ng on the bridge address, run by hand
# (no service manager here), with a private config whose Debian backend is
# the machine's own mirror, a private /etc/hosts in its own mount namespace
# (its resolver fails where glibc works) and IPv4 only. The cache lives under
# $LAB_CACHE so it survives runs. Never edits /etc/apt-cacher-ng.

# The mirror URIs of the machine's own APT sources: "debian-uri security-uri".
machine_mirrors() {
  local f=/etc/apt/sources.list.d/debian.sources main='' sec=''
  if [[ -f $f ]]; then
    main=$(awk '/^URIs:/ {print $2}' "$f" | grep -v -- '-security' | head -1)
    sec=$(awk '/^URIs:/ {print $2}' "$f" | grep -- '-security' | head -1)
  fi
  if [[ -z $main && -f /etc/apt/sources.list ]]; then
    main=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
    sec=$(awk '$1 == "deb" && $0 ~ /security/ {print $2; exit}' /etc/apt/sources.list)
  fi
  main=${main:-http://deb.debian.org/debian}
  sec=${sec:-${main%/debian}/debian-security}
  echo "${main%/} ${sec%/}"
}

proxy_pid() {
  local f=$LAB_STATE/acng/pid p
  [[ -s $f ]] || return 0
  p=$(<"$f")
  [[ -d /proc/$p ]] && grep -q "^$LAB_MARK=proxy$" <(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null) && echo "$p"
  return 0
}

proxy_up() {
  [[ -n $(proxy_pid) ]] && return 0
  local d=$LAB_STATE/acng mirrors main sec host
  read -r main sec <<<"$(machine_mirrors)"
  rm -rf "$d"
  mkdir -p "$d/log" "$LAB_CACHE/acng"
  cp -a /etc/apt-cacher-ng "$d/conf"
  echo "$main/" >"$d/conf/backends_debian"
  sed -i "s|^Remap-secdeb:.*|Remap-secdeb: security.debian.org security.debian.org/debian-security deb.debian.org/debian-security /debian-security ; $sec/|" "$d/conf/acng.conf"
  # Resolve the mirror hosts here (glibc works) for the proxy's private hosts.
  {
    echo "127.0.0.1 localhost"
    for host in $(printf '%s\n' "$main" "$sec" | sed -E 's|^[a-z]+://([^/:]+).*|\1|' | sort -u); do
      getent ahostsv4 "$host" | awk -v h="$host" 'NR == 1 {print $1, h}'
    done
  } >"$d/hosts"
  chown -R apt-cacher-ng: "$d/log" "$LAB_CACHE/acng" 2>/dev/null || true
  (close_fds; exec env "$LAB_MARK=proxy" setsid unshare --mount --propagation private sh -c '
      mount --bind "$1/hosts" /etc/hosts &&
      exec /usr/sbin/apt-cacher-ng -c "$1/conf" ForeGround=1 CacheDir="$2" LogDir="$1/log" \
        Port='"$PROXY_PORT"' BindAddress='"$BRIDGE_IP"' ConnectProto=v4 PidFile="$1/acng.pid" \
        SocketPath="$1/socket"' sh "$d" "$LAB_CACHE/acng" \
    </dev/null >"$d/log/stdout.log" 2>&1) &
  echo $! >"$d/pid"
  wait_for 20 "the APT proxy on port $PROXY_PORT" \
    curl -s --noproxy "*" -o /dev/null "http://$BRIDGE_IP:$PROXY_PORT/acng-report.html" ||
    die "the APT proxy did not start; see $d/log"
}

proxy_down() {
  local p
  for p in $(marked_pids proxy); do kill -KILL "$p" 2>/dev/null || true; done
  rm -f "$LAB_STATE/acng/pid"
}

# Every process carrying the lab mark (value VALUE or VALUE:*, or any).
marked_pids() {
  local want=${1:-} f p
  local re="^$LAB_MARK=${want:-.*}(:.*)?\$"
  for f in $(grep -lzaEs "$re" /proc/[0-9]*/environ); do
    p=${f#/proc/}; p=${p%/environ}
    [[ $p != "$$" && $p != "$BASHPID" ]] && echo "$p"
  done
  return 0
}
