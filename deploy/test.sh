#!/usr/bin/env bash
# Installs what is missing (Debian packages), builds SafeFlow with AddressSanitizer and
# UndefinedBehaviorSanitizer, runs the static checks, starts the real components the
# integration tests need (PostgreSQL, an S3 server, a one-host SLURM cluster), and runs the
# whole suite. Ends with ctest's summary.
#   SAFEFLOW_BUILD_DIR   build directory (default build/test)
#   CTEST_ARGS           extra ctest arguments, e.g. "-L unit"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

./deploy/install-deps.sh

build=${SAFEFLOW_BUILD_DIR:-$root/build/test}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DSAFEFLOW_SANITIZE="address;undefined" >/dev/null
cmake --build "$build" -j"$(nproc)"

./deploy/lib/checks.sh

# Under /tmp, not the build tree: service users (postgres) must be able to reach it even when
# the checkout lives in a private home directory.
services=$(mktemp -d /tmp/safeflow-test-services.XXXXXX)
chmod 0711 "$services"
stop_services() {
  "$root/deploy/lib/test-s3.sh" stop "$services/s3" >/dev/null 2>&1 || true
  "$root/deploy/slurm/cluster.sh" stop "$services/slurm" >/dev/null 2>&1 || true
  "$root/deploy/lib/test-postgres.sh" stop "$services/postgres" >/dev/null 2>&1 || true
  rm -rf "$services"
}
trap stop_services EXIT

SAFEFLOW_TEST_PG_DSN=$("$root/deploy/lib/test-postgres.sh" start "$services/postgres")
export SAFEFLOW_TEST_PG_DSN
s3_line=$("$root/deploy/lib/test-s3.sh" start "$services/s3")
export "${s3_line?}"
# SLURM (munged, slurmctld, slurmd) on the first two free ports from 6817: a developer's own
# cluster may hold the defaults. Tests find it through SLURM_CONF; the directory and script
# let them stop and restart slurmctld.
slurm_port=6817
while ss -Hltn "sport = :$slurm_port" | grep -q . || ss -Hltn "sport = :$((slurm_port + 1))" | grep -q .; do
  slurm_port=$((slurm_port + 2))
  if [ "$slurm_port" -gt 6899 ]; then
    echo "test.sh: no free port pair for SLURM in 6817..6900" >&2
    exit 1
  fi
done
slurm_line=$(SAFEFLOW_SLURMCTLD_PORT=$slurm_port SAFEFLOW_SLURMD_PORT=$((slurm_port + 1)) \
  "$root/deploy/slurm/cluster.sh" start "$services/slurm")
export "${slurm_line?}"
export SAFEFLOW_TEST_SLURM_DIR=$services/slurm
export SAFEFLOW_TEST_SLURM_SCRIPT=$root/deploy/slurm/cluster.sh
export SAFEFLOW_REQUIRE_INTEGRATION=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# ctest's summary is the last thing printed (services stop quietly in the trap).
# shellcheck disable=SC2086
ctest --test-dir "$build" --output-on-failure -j2 --timeout 600 ${CTEST_ARGS:-}
