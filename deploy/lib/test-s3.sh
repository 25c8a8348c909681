#!/usr/bin/env bash
# A throwaway S3 server for the integration tests: s3rver 3 (npm) on 127.0.0.1 with its data
# in DIR. It accepts the credentials S3RVER/S3RVER and checks SigV4 signatures made with them.
# No bucket is created: tests create what they need. Prints the endpoint on start.
#   deploy/lib/test-s3.sh start DIR [PORT]  -> prints SAFEFLOW_TEST_S3_ENDPOINT=http://127.0.0.1:PORT
#   deploy/lib/test-s3.sh stop DIR
# s3rver is installed once into a cache (SAFEFLOW_NPM_TOOLS, default
# /var/cache/safeflow/npm-tools) and linked into DIR/node_modules, so that later runs do not
# touch the network. Everything but the endpoint line goes to stderr or to DIR/s3rver.log.
set -euo pipefail

cmd=${1:?start|stop}
dir=${2:?directory}
s3rver_spec=s3rver@3

default_tools=/var/cache/safeflow/npm-tools
if [ "$(id -u)" != 0 ] && ! mkdir -p "$default_tools" 2>/dev/null; then
  default_tools=${XDG_CACHE_HOME:-$HOME/.cache}/safeflow/npm-tools
fi
tools=${SAFEFLOW_NPM_TOOLS:-$default_tools}
prefix=$tools/s3rver3
bin=$prefix/node_modules/s3rver/bin/s3rver.js

install_s3rver() {
  if [ -f "$bin" ]; then return 0; fi
  if ! command -v npm >/dev/null; then
    echo "test-s3: npm is missing (run deploy/install-deps.sh)" >&2
    return 1
  fi
  mkdir -p "$prefix"
  (
    # One installer at a time; a second caller waits and then finds it installed.
    flock -w 600 9
    if [ ! -f "$bin" ]; then
      echo "test-s3: installing $s3rver_spec into $prefix" >&2
      npm install --no-audit --no-fund --prefix "$prefix" \
        --cache "$tools/npm-cache" "$s3rver_spec" >&2
    fi
  ) 9>"$tools/.install.lock"
  [ -f "$bin" ]
}

stop_server() {
  local pidfile=$dir/s3rver.pid pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

case "$cmd" in
start)
  install_s3rver
  stop_server
  port=${3:-}
  if [ -z "$port" ]; then
    port=4568
    while ss -Hltn "sport = :$port" | grep -q .; do port=$((port + 1)); done
  fi
  rm -rf "$dir"
  mkdir -p "$dir/data"
  ln -s "$prefix/node_modules" "$dir/node_modules"
  # setsid: its own session, so that the caller's terminal signals do not reach it; stdout is
  # not inherited, so that $(test-s3.sh start ...) returns once the endpoint is printed.
  # --openssl-legacy-provider: s3rver encrypts ListObjectsV2 continuation tokens with DES,
  # which OpenSSL 3 only offers from its legacy provider (else: HTTP 500 on the second page).
  setsid node --openssl-legacy-provider "$bin" --address 127.0.0.1 --port "$port" --directory "$dir/data" \
    </dev/null >"$dir/s3rver.log" 2>&1 &
  echo $! >"$dir/s3rver.pid"
  endpoint=http://127.0.0.1:$port
  for _ in $(seq 1 300); do
    if ! kill -0 "$(cat "$dir/s3rver.pid")" 2>/dev/null; then
      echo "test-s3: s3rver exited; its log:" >&2
      cat "$dir/s3rver.log" >&2
      exit 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' -m 2 "$endpoint/" || true)
    if [ -n "$code" ] && [ "$code" != 000 ]; then
      echo "SAFEFLOW_TEST_S3_ENDPOINT=$endpoint"
      exit 0
    fi
    sleep 0.1
  done
  echo "test-s3: s3rver did not answer on $endpoint within 30 s; its log:" >&2
  cat "$dir/s3rver.log" >&2
  stop_server
  exit 1
  ;;
stop)
  stop_server
  ;;
*)
  echo "usage: $0 start|stop DIR [PORT]" >&2
  exit 2
  ;;
esac
