# Streaming receivers for the live tests: one Icecast 2 and one nginx with the RTMP module, each on
# free 127.0.0.1 ports, with generated configs and logs under target/receivers/. scripts/test
# sources this file; to get the same receivers for `cargo nextest run` in your own shell:
#
#   source scripts/receivers.sh; start_icecast; start_rtmp    # exports PODOPS_TEST_ICECAST* / _RTMP*
#   cargo nextest run
#   stop_receivers
#
# Needs icecast2, nginx and libnginx-mod-rtmp installed (scripts/test installs them). A function
# leaves a receiver alone when its variable is already set (PODOPS_TEST_ICECAST, PODOPS_TEST_RTMP):
# the tests then use that one. Sourcing changes no shell options; the functions return non-zero on
# failure and print the receiver's log.

declare -F say >/dev/null || say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

_podops_receivers_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/receivers"
_podops_icecast_pid=""
_podops_rtmp_pid=""

# N free loopback TCP ports, all bound at once so that they differ.
_podops_free_ports() {
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

_podops_random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# Stops one process we started (TERM, then KILL after 5 s) and reaps it.
_podops_stop_pid() {
  local pid=$1 _
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Icecast 2 on 127.0.0.1:<free port>. Exports PODOPS_TEST_ICECAST=127.0.0.1:PORT and the source
# password PODOPS_TEST_ICECAST_PASSWORD (random, with '/' and '%' in it so the tests can prove it is
# never leaked, plain or percent-encoded), plus PODOPS_TEST_ICECAST_ADMIN_PASSWORD (user admin).
start_icecast() {
  if [ -n "${PODOPS_TEST_ICECAST:-}" ]; then
    say "using the Icecast at $PODOPS_TEST_ICECAST"
    [ -n "${PODOPS_TEST_ICECAST_PASSWORD:-}" ] || echo "warning: PODOPS_TEST_ICECAST is set but PODOPS_TEST_ICECAST_PASSWORD is not" >&2
    return 0
  fi
  local icecast dir logdir port password admin_password security="" user group _
  icecast=$(command -v icecast2) || { echo "icecast2 is not installed (apt-get install icecast2)" >&2; return 1; }
  dir="$_podops_receivers_dir/icecast"
  logdir="$dir/log"
  rm -rf "$logdir" && mkdir -p "$logdir" || return 1
  # Icecast refuses to run as root: as root it drops to the package's user, which must be able to
  # write the log dir (and reach it: a repo under a private home falls back to a dir in /tmp).
  if [ "$(id -u)" -eq 0 ]; then
    user=icecast2
    group=$(id -gn "$user") || { echo "no $user user (is the icecast2 package installed?)" >&2; return 1; }
    chown "$user:$group" "$logdir" || return 1
    if ! runuser -u "$user" -- test -w "$logdir" -a -x "$logdir"; then
      logdir=$(mktemp -d /tmp/podops-icecast-log.XXXXXX) && chown "$user:$group" "$logdir" || return 1
    fi
    security="<changeowner><user>$user</user><group>$group</group></changeowner>"
  fi
  port=$(_podops_free_ports 1) || return 1
  password="s3cr/t%2Fpass-$(_podops_random_hex 8)"
  admin_password="adm/n%25-$(_podops_random_hex 8)"
  cat >"$dir/icecast.xml" <<EOF || return 1
<icecast>
  <location>PodOps tests</location>
  <admin>podops@localhost</admin>
  <hostname>127.0.0.1</hostname>
  <limits>
    <clients>200</clients>
    <sources>64</sources>
    <queue-size>524288</queue-size>
    <client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout>
    <burst-on-connect>1</burst-on-connect>
    <burst-size>65535</burst-size>
  </limits>
  <authentication>
    <source-password>$password</source-password>
    <relay-password>$(_podops_random_hex 16)</relay-password>
    <admin-user>admin</admin-user>
    <admin-password>$admin_password</admin-password>
  </authentication>
  <listen-socket>
    <port>$port</port>
    <bind-address>127.0.0.1</bind-address>
  </listen-socket>
  <fileserve>1</fileserve>
  <paths>
    <basedir>/usr/share/icecast2</basedir>
    <logdir>$logdir</logdir>
    <webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging>
    <accesslog>access.log</accesslog>
    <errorlog>error.log</errorlog>
    <loglevel>3</loglevel>
    <logsize>10000</logsize>
  </logging>
  <security>
    <chroot>0</chroot>
    $security
  </security>
</icecast>
EOF
  chmod 600 "$dir/icecast.xml" || return 1
  say "starting Icecast on 127.0.0.1:$port (config in ${dir#"$PWD/"}, logs in ${logdir#"$PWD/"})"
  "$icecast" -c "$dir/icecast.xml" >"$dir/icecast.out" 2>&1 &
  _podops_icecast_pid=$!
  for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:$port/status-json.xsl" >/dev/null 2>&1; then
      export PODOPS_TEST_ICECAST="127.0.0.1:$port" PODOPS_TEST_ICECAST_PASSWORD="$password" \
        PODOPS_TEST_ICECAST_ADMIN_PASSWORD="$admin_password"
      return 0
    fi
    kill -0 "$_podops_icecast_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "Icecast did not answer on 127.0.0.1:$port; its output and error log:" >&2
  tail -n 20 "$dir/icecast.out" "$logdir/error.log" >&2 2>/dev/null
  _podops_stop_pid "$_podops_icecast_pid"; _podops_icecast_pid=""
  return 1
}

# nginx with the RTMP module (not the system's: its own config, prefix and pid file), one process in
# the foreground of a background job. Exports PODOPS_TEST_RTMP=127.0.0.1:PORT (publish and play
# rtmp://$PODOPS_TEST_RTMP/live/<key>) and PODOPS_TEST_RTMP_STAT=http://127.0.0.1:PORT/stat (the
# module's XML list of applications, streams and clients).
start_rtmp() {
  if [ -n "${PODOPS_TEST_RTMP:-}" ]; then
    say "using the RTMP server at $PODOPS_TEST_RTMP"
    return 0
  fi
  local nginx module=/usr/lib/nginx/modules/ngx_rtmp_module.so dir ports rtmp_port http_port temp="" m _
  nginx=$(command -v nginx || command -v /usr/sbin/nginx) || { echo "nginx is not installed (apt-get install nginx-light)" >&2; return 1; }
  [ -f "$module" ] || { echo "no $module (apt-get install libnginx-mod-rtmp)" >&2; return 1; }
  dir="$_podops_receivers_dir/nginx"
  rm -rf "$dir" && mkdir -p "$dir/tmp" || return 1
  ports=$(_podops_free_ports 2) || return 1
  read -r rtmp_port http_port <<<"$ports"
  # Every HTTP temp path inside $dir (the compiled-in ones are under /var/lib/nginx); only for the
  # modules this nginx has.
  for m in proxy fastcgi uwsgi scgi; do
    "$nginx" -V 2>&1 | grep -q -- "--without-http_${m}_module" || temp+="  ${m}_temp_path $dir/tmp/$m;"$'\n'
  done
  cat >"$dir/nginx.conf" <<EOF || return 1
load_module $module;
daemon off;
master_process off;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 512; }
rtmp {
  access_log $dir/rtmp-access.log;
  server {
    listen 127.0.0.1:$rtmp_port;
    application live { live on; record off; }
  }
}
http {
  access_log $dir/access.log;
  client_body_temp_path $dir/tmp/client_body;
$temp  server {
    listen 127.0.0.1:$http_port;
    location /stat { rtmp_stat all; }
  }
}
EOF
  say "starting nginx-rtmp on 127.0.0.1:$rtmp_port, stats on 127.0.0.1:$http_port (config and logs in ${dir#"$PWD/"})"
  "$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/nginx.out" 2>&1 &
  _podops_rtmp_pid=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$rtmp_port") 2>/dev/null \
      && curl -fs "http://127.0.0.1:$http_port/stat" >/dev/null 2>&1; then
      export PODOPS_TEST_RTMP="127.0.0.1:$rtmp_port" PODOPS_TEST_RTMP_STAT="http://127.0.0.1:$http_port/stat"
      return 0
    fi
    kill -0 "$_podops_rtmp_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "nginx-rtmp did not answer on 127.0.0.1:$rtmp_port; its output and error log:" >&2
  tail -n 20 "$dir/error.log" >&2 2>/dev/null
  _podops_stop_pid "$_podops_rtmp_pid"; _podops_rtmp_pid=""
  return 1
}

# Stops the receivers this shell started (never ones it was pointed at) and unsets their variables.
stop_receivers() {
  if [ -n "$_podops_icecast_pid" ]; then
    _podops_stop_pid "$_podops_icecast_pid"; _podops_icecast_pid=""
    unset PODOPS_TEST_ICECAST PODOPS_TEST_ICECAST_PASSWORD PODOPS_TEST_ICECAST_ADMIN_PASSWORD
  fi
  if [ -n "$_podops_rtmp_pid" ]; then
    _podops_stop_pid "$_podops_rtmp_pid"; _podops_rtmp_pid=""
    unset PODOPS_TEST_RTMP PODOPS_TEST_RTMP_STAT
  fi
  return 0
}
