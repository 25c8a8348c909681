#!/usr/bin/env bash
# Installs every build and run dependency of SafeFlow from Debian 12's packages. Idempotent:
# when everything is present it changes nothing and does not touch the network. Run as root
# (or with sudo). Nothing is downloaded from anywhere but Debian's package archive.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang clang-format clang-tidy
  libclang-rt-14-dev
  # libraries (see README, "Dependencies")
  libpistache-dev rapidjson-dev libpqxx-dev libpq-dev nlohmann-json3-dev libspdlog-dev
  libfmt-dev libyaml-cpp-dev libssl-dev libcurl4-openssl-dev libseccomp-dev libvalijson-dev
  libabsl-dev libgtest-dev libgmock-dev googletest libbenchmark-dev
  # servers and tools the product runs or the tests start
  postgresql postgresql-client bubblewrap nginx slurm-wlm slurm-client munge
  snakemake cwltool python3 python-is-python3 python3-jsonschema python3-requests python3-yaml
  curl openssl ca-certificates iproute2 procps passwd util-linux wrk hyperfine
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# npm installs the test S3 server (deploy/lib/test-s3.sh). Only when no npm is on PATH: a
# nodesource node bundles its own npm, and Debian's npm package conflicts with it.
if ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then exec sudo "$0" "$@"; fi
  echo "install-deps: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not start services in the installing environment (no systemd here,
# and SafeFlow starts what it needs itself).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get update -qq
apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
echo "install-deps: done"
