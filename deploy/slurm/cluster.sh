#!/usr/bin/env bash
# A one-host SLURM cluster for the tests and the quickstart, without systemd: its own munged
# (own key and socket), slurmctld and slurmd (node "localhost"), all run as root with every
# file under DIR (config, state, spool, logs, pid files, munge key and socket, jobcomp.log).
#   deploy/slurm/cluster.sh start DIR      -> prints SLURM_CONF=DIR/slurm.conf once the node is idle
#   deploy/slurm/cluster.sh stop DIR       cancels the jobs, stops the three daemons (idempotent)
#   deploy/slurm/cluster.sh ctld-stop DIR  stops slurmctld alone (running jobs go on)
#   deploy/slurm/cluster.sh ctld-start DIR starts it again from its saved state; waits for squeue
#   deploy/slurm/cluster.sh status DIR     exit 0 when munged, slurmctld and slurmd are all alive
# With SLURM_CONF=DIR/slurm.conf in the environment, sbatch, squeue, scontrol, scancel and sinfo
# talk to this cluster. The config is generated from slurm.conf.in next to this script.
# Environment (read by start):
#   SAFEFLOW_SLURMCTLD_PORT    slurmctld's port (default 6817)
#   SAFEFLOW_SLURMD_PORT       slurmd's port (default 6818)
#   SAFEFLOW_SLURM_MIN_JOB_AGE seconds a finished job stays visible to squeue/scontrol (300)
# start refuses a port that is already in use, and a non-empty DIR it did not create; a DIR it
# created is wiped (after stopping its daemons). Only the single line SLURM_CONF=... goes to
# stdout; everything else goes to stderr or to DIR/log.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?start|stop|ctld-stop|ctld-start|status}
dir=${2:?directory}
dir=$(realpath -m "$dir")
conf=$dir/slurm.conf
marker=$dir/.safeflow-slurm-cluster
start_timeout=60

say() { echo "slurm-cluster: $*" >&2; }

# The pid of daemon NAME (munged, slurmctld, slurmd) of this cluster when it is alive: the pid
# file must name a live process with that name whose command line mentions DIR (so a pid
# reused by another process is never taken for ours).
daemon_pid() {
  local name=$1 pid comm
  pid=$(cat "$dir/run/$name.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [ "$comm" = "$name" ] || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$dir/" || return 1
  echo "$pid"
}

alive() { daemon_pid "$1" >/dev/null; }

# PID exists and is not a zombie (an exited daemon may stay a zombie for a while: PID 1 of a
# container does not always reap promptly, and kill -0 succeeds on zombies).
running() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# PID and all its descendants.
process_tree() {
  local c
  echo "$1"
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do process_tree "$c"; done
}

# Stops the named daemons together (each may take 1-2 s to exit): SIGTERM, up to 15 s for them
# to exit (slurmctld saves its state on SIGTERM), then SIGKILL.
stop_daemons() {
  local name pid pids=() left
  for name in "$@"; do
    if pid=$(daemon_pid "$name"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  for _ in $(seq 1 150); do
    left=0
    for pid in "${pids[@]}"; do
      if running "$pid"; then left=1; fi
    done
    [ $left = 1 ] || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if running "$pid"; then
      say "$(cat "/proc/$pid/comm" 2>/dev/null) (pid $pid) ignored SIGTERM for 15 s; killing it"
      # With its children (slurmctld's slurmscriptd).
      # shellcheck disable=SC2046
      kill -KILL $(process_tree "$pid") 2>/dev/null || true
    fi
  done
  for name in "$@"; do rm -f "$dir/run/$name.pid"; done
}

# slurmstepd processes of this cluster. They rewrite their command line and environment (to
# "slurmstepd: [JOB.STEP]"), but inherit slurmd's working directory, DIR/log.
stepd_pids() {
  local p cwd
  for p in $(pgrep -x slurmstepd); do
    cwd=$(readlink "/proc/$p/cwd" 2>/dev/null) || continue
    case "$cwd" in "$dir"/*) echo "$p" ;; esac
  done
}

# Ends every job of the cluster: scancel while slurmctld is up (KillWait=5 s, so up to ~15 s),
# then whatever slurmstepd and job processes are left are killed.
end_jobs() {
  local pids p ids
  if alive slurmctld; then
    ids=$(SLURM_CONF=$conf timeout 10 squeue --noheader --format=%i 2>/dev/null || true)
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      SLURM_CONF=$conf timeout 10 scancel --quiet $ids >/dev/null 2>&1 || true
    fi
    for _ in $(seq 1 75); do
      [ -z "$(stepd_pids)" ] && break
      sleep 0.2
    done
  fi
  pids=$(for p in $(stepd_pids); do process_tree "$p"; done)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
  fi
}

stop_all() {
  [ -d "$dir" ] || return 0
  end_jobs
  stop_daemons slurmd slurmctld munged
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

log_tails() {
  local f
  for f in "$dir"/log/daemons.out "$dir"/log/*.log "$dir"/munge/munged.log; do
    [ -s "$f" ] || continue
    echo "--- last lines of $f" >&2
    tail -n 25 "$f" >&2
  done
}

# A failed start stops what it started; a failed ctld-start leaves the rest running.
cleanup_on_fail=0
fail() {
  say "$*"
  log_tails
  if [ "$cleanup_on_fail" = 1 ]; then stop_all; fi
  exit 1
}

start_munged() {
  # The socket's directory (run/) must be searchable by everyone; the key's (munge/) private.
  # --force: go on despite "insecure" permissions of DIR's parents (e.g. a directory under a
  # group-writable checkout) and a stale socket left by a killed munged; the key stays 0600.
  munged --force --socket="$dir/run/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed" </dev/null >>"$dir/log/daemons.out" 2>&1 ||
    fail "munged did not start"
  for _ in $(seq 1 50); do
    if alive munged && [ -S "$dir/run/munge.socket" ]; then return 0; fi
    sleep 0.1
  done
  fail "munged did not create its socket"
}

start_slurmctld() {
  # -i: ignore errors in the saved state instead of refusing to start (a test that kills the
  # cluster must not leave it unstartable). The state itself is recovered.
  slurmctld -i -f "$conf" </dev/null >>"$dir/log/daemons.out" 2>&1 || fail "slurmctld did not start"
}

start_slurmd() {
  slurmd -N localhost -f "$conf" </dev/null >>"$dir/log/daemons.out" 2>&1 ||
    fail "slurmd did not start"
}

# Waits until CHECK (a function) succeeds, at most start_timeout seconds; WHAT names it in the error.
wait_for() {
  local what=$1 check=$2 deadline=$((SECONDS + start_timeout)) d
  while ! "$check"; do
    for d in "${@:3}"; do alive "$d" || fail "$d exited while waiting for $what"; done
    [ $SECONDS -lt $deadline ] || fail "no $what within $start_timeout s"
    sleep 0.2
  done
}

# One line per partition, all "idle" once slurmd has registered ("idle*" while it does not answer).
node_idle() {
  [ "$(SLURM_CONF=$conf timeout 10 sinfo --noheader --Node --nodes=localhost --format=%t 2>/dev/null |
    sort -u)" = idle ]
}

squeue_answers() { SLURM_CONF=$conf timeout 10 squeue --noheader >/dev/null 2>&1; }

write_conf() {
  local cpus mem_mib real_mem margin def_mem
  cpus=$(nproc)
  mem_mib=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
  # Leave 5% (at least 512 MiB) to the system: slurmd drains a node whose RealMemory is more
  # than it measures.
  margin=$((mem_mib / 20))
  [ $margin -ge 512 ] || margin=512
  real_mem=$((mem_mib - margin))
  [ $real_mem -ge 256 ] || real_mem=256
  # Per-CPU default for jobs without --mem: a quarter of a CPU's share, 256..1024 MiB (four
  # jobs may share a CPU, see OverSubscribe in the template).
  def_mem=$((real_mem / cpus / 4))
  [ $def_mem -le 1024 ] || def_mem=1024
  [ $def_mem -ge 256 ] || def_mem=256
  sed -e "s|@DIR@|$dir|g" \
    -e "s|@MUNGE_SOCKET@|$dir/run/munge.socket|g" \
    -e "s|@SLURMCTLD_PORT@|$ctld_port|g" \
    -e "s|@SLURMD_PORT@|$slurmd_port|g" \
    -e "s|@MIN_JOB_AGE@|$min_job_age|g" \
    -e "s|@CPUS@|$cpus|g" \
    -e "s|@REAL_MEMORY@|$real_mem|g" \
    -e "s|@DEF_MEM_PER_CPU@|$def_mem|g" \
    "$here/slurm.conf.in" >"$conf"
  if grep -v '^#' "$conf" | grep -q '@[A-Z_]*@'; then
    say "unfilled placeholder in $conf: $(grep -v '^#' "$conf" | grep -o '@[A-Z_]*@' | head -n 1)"
    exit 1
  fi
}

check_port() {
  local what=$1 port=$2
  if ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
    say "$what port '$port' is not a port number"
    exit 1
  fi
  port_free "$port" || {
    say "$what port $port is already in use (another SLURM?); set SAFEFLOW_SLURMCTLD_PORT and SAFEFLOW_SLURMD_PORT"
    ss -Hltnp "sport = :$port" >&2 || true
    exit 1
  }
}

case "$cmd" in
start)
  for tool in munged mungekey slurmctld slurmd sinfo squeue scancel ss; do
    command -v "$tool" >/dev/null || {
      say "$tool is missing (run deploy/install-deps.sh)"
      exit 1
    }
  done
  if [ -e "$dir" ] && [ ! -e "$marker" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
    say "$dir exists, is not empty and was not made by this script; refusing to wipe it"
    exit 1
  fi
  stop_all
  ctld_port=${SAFEFLOW_SLURMCTLD_PORT:-6817}
  slurmd_port=${SAFEFLOW_SLURMD_PORT:-6818}
  min_job_age=${SAFEFLOW_SLURM_MIN_JOB_AGE:-300}
  [[ $min_job_age =~ ^[0-9]+$ ]] || {
    say "SAFEFLOW_SLURM_MIN_JOB_AGE '$min_job_age' is not a number of seconds"
    exit 1
  }
  [ "$ctld_port" != "$slurmd_port" ] || {
    say "slurmctld and slurmd need different ports (both $ctld_port)"
    exit 1
  }
  check_port slurmctld "$ctld_port"
  check_port slurmd "$slurmd_port"
  rm -rf "$dir"
  mkdir -p "$dir"/{state,spool,log,run,munge}
  touch "$marker"
  # Jobs may run as other users than root: they must reach the munge socket (run/) and their
  # script under the spool directory (slurmd makes each job's own directory private).
  chmod 0755 "$dir" "$dir/run" "$dir/spool" "$dir/log"
  chmod 0700 "$dir/munge" "$dir/state"
  mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 ||
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 0600 "$dir/munge/munge.key"
  : >"$dir/plugstack.conf"
  write_conf
  cleanup_on_fail=1
  start_munged
  start_slurmctld
  wait_for "answer from slurmctld" squeue_answers slurmctld munged
  start_slurmd
  wait_for "idle node" node_idle slurmctld slurmd munged
  echo "SLURM_CONF=$conf"
  ;;
stop)
  stop_all
  ;;
ctld-stop)
  stop_daemons slurmctld
  ;;
ctld-start)
  [ -f "$conf" ] || {
    say "no cluster in $dir (run: $0 start $dir)"
    exit 1
  }
  if ! alive slurmctld; then
    alive munged || fail "munged of $dir is not running"
    check_port slurmctld "$(sed -n 's/^SlurmctldPort=//p' "$conf")"
    start_slurmctld
  fi
  wait_for "answer from slurmctld" squeue_answers slurmctld munged
  ;;
status)
  alive munged && alive slurmctld && alive slurmd
  ;;
*)
  echo "usage: $0 start|stop|ctld-stop|ctld-start|status DIR" >&2
  exit 2
  ;;
esac
