#!/usr/bin/env bash
# Runs Debian's nginx as SafeFlow's TLS front door from a directory of its own: renders
# deploy/nginx/safeflow.conf.template into DIR/safeflow.conf, writes a complete DIR/nginx.conf
# around it (pid file, logs, temporary files all under DIR), checks it with `nginx -t` and starts
# nginx. Never reads or writes /etc/nginx, /var/log/nginx or /var/lib/nginx.
#
#   nginx.sh start DIR --listen HOST:PORT --upstream HOST:PORT --pki PKIDIR
#                      [--proxy-bind ADDR] [--max-body SIZE] [--server-name NAME]
#                      [--user USER] [--workers N|auto]
#       PKIDIR is made by deploy/tls/make-pki.sh (server.pem, server.key, ca.pem, crl.pem).
#       --proxy-bind  source address for connections to safeflowd (default 127.0.0.1); list it
#                     in safeflowd's auth.mtls.trusted_proxies.
#       --max-body    client_max_body_size (default 16m, safeflowd's default max_request_bytes).
#       --server-name default localhost.
#       --user        when started as root, the user of the worker processes (default www-data,
#                     else nobody); the master stays root to read the keys and bind the port.
#                     Ignored when not root. DIR must be reachable by that user.
#       Prints the https:// URL on stdout once the port accepts connections.
#   nginx.sh reload DIR   re-reads the configuration, certificates and CRL (after make-pki.sh
#                         revoke/crl); returns once the new workers serve.
#   nginx.sh stop DIR [--timeout SECONDS]
#                         graceful stop (SIGQUIT, as `nginx -s quit`: open requests finish),
#                         then SIGTERM, then SIGKILL for the master and its workers.
#   nginx.sh status DIR   exit 0 when running.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
template=${SAFEFLOW_NGINX_TEMPLATE:-$here/../nginx/safeflow.conf.template}

die() {
  echo "nginx.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

find_nginx() {
  local n
  for n in "${NGINX:-}" /usr/sbin/nginx "$(command -v nginx 2>/dev/null || true)"; do
    if [ -n "$n" ] && [ -x "$n" ]; then
      echo "$n"
      return
    fi
  done
  die "nginx is not installed (apt-get install nginx-light or nginx)"
}

# The pid of the master of DIR, if it is running (checked against /proc so that a stale pid
# file never makes us signal an unrelated process).
master_pid() {
  local dir=$1 pid
  [ -f "$dir/nginx.pid" ] || return 1
  pid=$(tr -dc '0-9' <"$dir/nginx.pid")
  [ -n "$pid" ] || return 1
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "^nginx: master process" || return 1
  grep -qF -- "$dir/nginx.conf" "/proc/$pid/cmdline" || return 1
  echo "$pid"
}

# True while `pid` runs. A daemonised master is reparented to init, which may reap it late: a
# zombie counts as gone.
alive() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Children of `pid` (from /proc: procps may not be installed).
workers_of() {
  local p stat ppid
  for p in /proc/[0-9]*; do
    stat=$(cat "$p/stat" 2>/dev/null) || continue
    read -r _ ppid _ <<<"${stat##*) }"
    if [ "$ppid" = "$1" ]; then echo "${p#/proc/}"; fi
  done
}

abs_dir() {
  mkdir -p "$1"
  (cd "$1" && pwd)
}

# Values end up in nginx.conf: allow only what addresses, sizes and paths need.
check_value() {
  local what=$1 value=$2 re=$3
  [[ $value =~ $re ]] || die "invalid $what: '$value'"
}

split_hostport() {
  local hp=$1
  if [[ $hp =~ ^\[([0-9A-Fa-f:.]+)\]:([0-9]{1,5})$ ]]; then
    echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
  elif [[ $hp =~ ^([A-Za-z0-9.-]+):([0-9]{1,5})$ ]]; then
    echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
  else
    return 1
  fi
}

port_answers() {
  local host=$1 port=$2
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

cmd_start() {
  local dir=${1:-}
  if [ -z "$dir" ] || [[ $dir == -* ]]; then usage; fi
  shift
  local listen="" upstream="" pki="" proxy_bind=127.0.0.1 max_body=16m server_name=localhost
  local user="" workers=auto
  while [ $# -gt 0 ]; do
    case "$1" in
    --listen) listen=${2:?}; shift 2 ;;
    --upstream) upstream=${2:?}; shift 2 ;;
    --pki) pki=${2:?}; shift 2 ;;
    --proxy-bind) proxy_bind=${2:?}; shift 2 ;;
    --max-body) max_body=${2:?}; shift 2 ;;
    --server-name) server_name=${2:?}; shift 2 ;;
    --user) user=${2:?}; shift 2 ;;
    --workers) workers=${2:?}; shift 2 ;;
    *) die "unknown option $1" ;;
    esac
  done
  [ -n "$listen" ] || die "--listen HOST:PORT is required"
  [ -n "$upstream" ] || die "--upstream HOST:PORT is required"
  [ -n "$pki" ] || die "--pki DIR is required"
  local hp lhost lport uhost uport pid
  hp=$(split_hostport "$listen") || die "invalid --listen '$listen' (HOST:PORT or [V6]:PORT)"
  read -r lhost lport <<<"$hp"
  hp=$(split_hostport "$upstream") || die "invalid --upstream '$upstream' (HOST:PORT or [V6]:PORT)"
  read -r uhost uport <<<"$hp"
  if ((lport < 1 || lport > 65535)); then
    die "--listen needs a port 1..65535 (port 0 would change on every reload)"
  fi
  if ((uport < 1 || uport > 65535)); then die "--upstream needs a port 1..65535"; fi
  if [[ $uhost != 127.* && $uhost != ::1 && $uhost != localhost ]]; then
    echo "nginx.sh: warning: upstream $uhost is not a loopback address; the hop to safeflowd is plain HTTP" >&2
  fi
  check_value --proxy-bind "$proxy_bind" '^[0-9A-Fa-f:.]+$'
  check_value --max-body "$max_body" '^[0-9]+[kKmMgG]?$'
  check_value --server-name "$server_name" '^[A-Za-z0-9*._-]+$'
  check_value --workers "$workers" '^(auto|[1-9][0-9]?)$'

  local nginx
  nginx=$(find_nginx)
  [ -f "$template" ] || die "$template: no such template"
  dir=$(abs_dir "$dir")
  check_value DIR "$dir" '^/[A-Za-z0-9/._+-]*$'
  [ -d "$pki" ] || die "--pki $pki: no such directory"
  pki=$(cd "$pki" && pwd)
  check_value --pki "$pki" '^/[A-Za-z0-9/._+-]*$'
  local f
  for f in server.pem server.key ca.pem crl.pem; do
    [ -f "$pki/$f" ] || die "$pki/$f is missing (make it with deploy/tls/make-pki.sh $pki)"
  done
  if pid=$(master_pid "$dir"); then die "already running in $dir (pid $pid); stop it first"; fi

  # Worker user: the master runs as root (reads the keys, binds the port); workers do not.
  local user_line=""
  if [ "$(id -u)" = 0 ]; then
    if [ -z "$user" ]; then
      if id -u www-data >/dev/null 2>&1; then user=www-data; else user=nobody; fi
    fi
    id -u "$user" >/dev/null 2>&1 || die "--user $user: no such user"
    check_value --user "$user" '^[a-z_][a-z0-9_-]*$'
    user_line="user $user $(id -gn "$user");"
  fi

  mkdir -p "$dir/logs" "$dir/tmp"
  chmod 0711 "$dir" "$dir/tmp"
  chmod 0700 "$dir/logs"
  if [ -n "$user" ] && [ "$user" != root ]; then
    # nginx creates the temporary directories and gives them to the worker user, but the user
    # must be able to reach them.
    runuser -u "$user" -- test -x "$dir/tmp" ||
      die "$dir is not reachable by user $user (a parent directory lacks o+x); use another DIR or --user root"
  fi

  local conf
  conf=$(<"$template")
  conf=${conf//@LISTEN@/$listen}
  conf=${conf//@SERVER_NAME@/$server_name}
  conf=${conf//@CERT@/$pki/server.pem}
  conf=${conf//@KEY@/$pki/server.key}
  conf=${conf//@CLIENT_CA@/$pki/ca.pem}
  conf=${conf//@CRL@/$pki/crl.pem}
  conf=${conf//@UPSTREAM@/$upstream}
  conf=${conf//@PROXY_BIND@/$proxy_bind}
  conf=${conf//@MAX_BODY@/$max_body}
  conf=${conf//@ACCESS_LOG@/$dir/logs/access.log}
  if grep -qE '@[A-Z_]+@' <<<"$conf"; then
    die "unfilled placeholders in $template: $(grep -oE '@[A-Z_]+@' <<<"$conf" | sort -u | tr '\n' ' ')"
  fi
  printf '%s\n' "$conf" >"$dir/safeflow.conf.tmp"
  mv -f "$dir/safeflow.conf.tmp" "$dir/safeflow.conf"

  cat >"$dir/nginx.conf.tmp" <<EOF
# Written by deploy/lib/nginx.sh; the server block is in safeflow.conf. Everything nginx writes
# stays under $dir.
$user_line
daemon on;
master_process on;
worker_processes $workers;
pid $dir/nginx.pid;
lock_file $dir/nginx.lock;
error_log $dir/logs/error.log warn;
pcre_jit on;

events {
    worker_connections 1024;
}

http {
    client_body_temp_path $dir/tmp/client_body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log off;
    include $dir/safeflow.conf;
}
EOF
  mv -f "$dir/nginx.conf.tmp" "$dir/nginx.conf"

  local out
  if ! out=$("$nginx" -q -t -p "$dir" -c "$dir/nginx.conf" 2>&1); then
    echo "$out" >&2
    die "nginx -t rejected $dir/nginx.conf"
  fi
  rm -f "$dir/nginx.pid"
  if ! "$nginx" -p "$dir" -c "$dir/nginx.conf" </dev/null >&2; then
    tail -n 20 "$dir/logs/error.log" >&2 2>/dev/null || true
    die "nginx did not start"
  fi

  local chost=$lhost i
  case "$chost" in 0.0.0.0) chost=127.0.0.1 ;; :: | 0:0:0:0:0:0:0:0) chost=::1 ;; esac
  for ((i = 0; i < 200; i++)); do
    if master_pid "$dir" >/dev/null && port_answers "$chost" "$lport"; then
      local uhost_url=$lhost
      case "$lhost" in 0.0.0.0 | :: | 0:0:0:0:0:0:0:0) uhost_url=$server_name ;; esac
      [[ $uhost_url != *:* ]] || uhost_url="[$uhost_url]"
      echo "https://$uhost_url:$lport"
      return 0
    fi
    sleep 0.05
  done
  tail -n 20 "$dir/logs/error.log" >&2 2>/dev/null || true
  die "nginx did not answer on $listen within 10 s"
}

cmd_reload() {
  local dir=${1:?usage: nginx.sh reload DIR} nginx pid old out w i
  nginx=$(find_nginx)
  dir=$(cd "$dir" && pwd)
  pid=$(master_pid "$dir") || die "not running in $dir"
  if ! out=$("$nginx" -q -t -p "$dir" -c "$dir/nginx.conf" 2>&1); then
    echo "$out" >&2
    die "nginx -t rejected the configuration (or a certificate/CRL); still running the old one"
  fi
  old=$(workers_of "$pid")
  kill -HUP "$pid"
  # Done when a new worker runs and every old one has stopped accepting (gone or shutting down).
  for ((i = 0; i < 200; i++)); do
    local new=0 old_busy=0
    for w in $(workers_of "$pid"); do
      if ! grep -qx "$w" <<<"$old"; then new=1; fi
    done
    for w in $old; do
      if [ -r "/proc/$w/cmdline" ] && ! tr '\0' ' ' <"/proc/$w/cmdline" | grep -q "shutting down"; then
        old_busy=1
      fi
    done
    if [ "$new" = 1 ] && [ "$old_busy" = 0 ]; then
      echo "nginx.sh: reloaded $dir" >&2
      return 0
    fi
    sleep 0.05
  done
  tail -n 20 "$dir/logs/error.log" >&2 2>/dev/null || true
  die "reload did not complete within 10 s"
}

cmd_stop() {
  local dir=${1:?usage: nginx.sh stop DIR [--timeout SECONDS]}
  shift
  local timeout=10
  while [ $# -gt 0 ]; do
    case "$1" in
    --timeout) timeout=${2:?}; shift 2 ;;
    *) die "unknown option $1" ;;
    esac
  done
  check_value --timeout "$timeout" '^[0-9]{1,4}$'
  [ -d "$dir" ] || die "$dir: no such directory"
  dir=$(cd "$dir" && pwd)
  local pid workers i
  if ! pid=$(master_pid "$dir"); then
    echo "nginx.sh: not running in $dir" >&2
    return 0
  fi
  workers=$(workers_of "$pid")
  kill -QUIT "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 20; i++)); do
    alive "$pid" || break
    sleep 0.05
  done
  if alive "$pid"; then
    echo "nginx.sh: graceful stop took longer than ${timeout}s; terminating" >&2
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
      alive "$pid" || break
      sleep 0.05
    done
  fi
  if alive "$pid"; then
    workers="$workers $(workers_of "$pid")"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # Workers whose master died without them (after SIGKILL) would keep serving.
  local w
  for w in $workers; do
    if [ -r "/proc/$w/cmdline" ] && tr '\0' ' ' <"/proc/$w/cmdline" | grep -q "^nginx: worker process"; then
      kill -KILL "$w" 2>/dev/null || true
    fi
  done
  rm -f "$dir/nginx.pid"
  echo "nginx.sh: stopped $dir" >&2
}

cmd_status() {
  local dir=${1:?usage: nginx.sh status DIR} pid
  dir=$(cd "$dir" 2>/dev/null && pwd) || exit 1
  if pid=$(master_pid "$dir"); then
    echo "running (pid $pid)"
  else
    echo "not running"
    exit 1
  fi
}

case "${1:-}" in
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
reload) shift; cmd_reload "$@" ;;
status) shift; cmd_status "$@" ;;
*) usage ;;
esac
