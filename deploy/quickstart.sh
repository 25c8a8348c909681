#!/usr/bin/env bash
# SafeFlow quickstart: installs the Debian packages, builds (Release), and starts safeflowd with
# its embedded PostgreSQL in the background, then checks it end to end and says how to reach
# and stop it.
#   ./deploy/quickstart.sh          install, build, (re)start, check
#   ./deploy/quickstart.sh stop     stop the quickstart safeflowd (and its PostgreSQL)
# Environment: SAFEFLOW_PORT (default 8080), SAFEFLOW_DATA_DIR (default /var/lib/safeflow as
# root, else ./var/quickstart).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

port=${SAFEFLOW_PORT:-8080}
if [ "$(id -u)" = 0 ]; then default_data=/var/lib/safeflow; else default_data=$root/var/quickstart; fi
data=${SAFEFLOW_DATA_DIR:-$default_data}
build=$root/build/release
pidfile=$data.quickstart.pid
logfile=$data.quickstart.log

stop_running() {
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    local pid
    pid=$(cat "$pidfile")
    echo "quickstart: stopping safeflowd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "quickstart: safeflowd did not stop in 30 s" >&2
      return 1
    fi
  fi
  rm -f "$pidfile"
}

if [ "${1:-}" = stop ]; then
  stop_running
  exit 0
fi

./deploy/install-deps.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSAFEFLOW_BUILD_TESTS=OFF \
  -DSAFEFLOW_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)"

stop_running
mkdir -p "$(dirname "$data")"
echo "quickstart: starting safeflowd on 127.0.0.1:$port with data in $data"
setsid nohup "$build/service/safeflowd" --data-dir "$data" --listen "127.0.0.1:$port" \
  >>"$logfile" 2>&1 </dev/null &
echo $! >"$pidfile"

url=http://127.0.0.1:$port
for _ in $(seq 1 300); do
  if curl -fsS "$url/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "quickstart: safeflowd exited; its log ($logfile) ends with:" >&2
    tail -n 30 "$logfile" >&2
    exit 1
  fi
  sleep 0.2
done

echo
echo "== safeflowd is up =="
"$build/service/safeflow" --server "$url" health
echo
echo "Reach it:   curl $url/readyz     curl $url/metrics"
echo "            $build/service/safeflow --server $url health"
echo "Logs:       $logfile"
echo "Data:       $data (embedded PostgreSQL in $data/pg, socket in $data/pg-run)"
echo "Stop it:    ./deploy/quickstart.sh stop      (or: kill $(cat "$pidfile"))"
