#!/usr/bin/env bash
# A small local PKI for SafeFlow's TLS front door (deploy/nginx/), made with the openssl CLI only:
# a CA, a server certificate for nginx, client certificates for mutual TLS, and a CRL. The CA
# keeps an `openssl ca` database in DIR/ca-db so that certificates can be revoked.
#
#   make-pki.sh DIR [--hosts "localhost 127.0.0.1 ::1"] [--clients "alice bob auditor"]
#                   [--crl-days N] [--force]
#       Creates what is missing and keeps every existing file (--force: start again with a new CA).
#   make-pki.sh client DIR NAME [--days N] [--startdate T --enddate T] [--force]
#       Issues (or with --force re-issues) clients/NAME.pem; T is YYYYMMDDHHMMSSZ.
#   make-pki.sh server DIR [--hosts "..."]
#       Re-issues the server certificate (e.g. for other host names).
#   make-pki.sh revoke DIR NAME [--reason keyCompromise|superseded|cessationOfOperation|...]
#       Revokes clients/NAME.pem and regenerates crl.pem. Reload nginx afterwards
#       (deploy/lib/nginx.sh reload NGINXDIR): nginx reads the CRL only at (re)start.
#   make-pki.sh crl DIR
#       Regenerates crl.pem. Its nextUpdate is --crl-days (default 30) ahead and nginx rejects
#       every client certificate once the CRL has expired: run this (and reload nginx) from cron.
#
# Layout of DIR:
#   ca.pem ca.key(0600)          the CA: EC P-256, 10 years, CA:TRUE pathlen:0, keyCertSign+cRLSign
#   server.pem server.key(0600)  nginx's certificate (followed by the CA) for the --hosts as SANs
#   clients/NAME.pem .key(0600)  client certificates (extendedKeyUsage clientAuth), CN=NAME
#   clients/NAME.sha256          SHA-256 of the certificate's DER, lowercase hex: safeflowd's
#                                auth.mtls.identities[].fingerprint_sha256
#   crl.pem                      the CA's CRL (empty at first)
#   ca-db/                       openssl ca database (index.txt, crlnumber, openssl.cnf, certs/)
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true
umask 077

readonly CA_DAYS=3650
readonly SERVER_DAYS=397
readonly CLIENT_DAYS=365
readonly DEFAULT_HOSTS="localhost 127.0.0.1 ::1"
readonly DEFAULT_CLIENTS="alice bob auditor"
readonly ORG="SafeFlow"

die() {
  echo "make-pki: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

valid_name() {
  [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || die "invalid name '$1' (letters, digits, . _ -)"
}

# The `openssl ca` configuration, with paths relative to DIR (every openssl call runs in DIR).
write_ca_config() {
  local crl_days=$1
  mkdir -p ca-db/certs
  [ -f ca-db/index.txt ] || : >ca-db/index.txt
  [ -f ca-db/crlnumber ] || echo 01 >ca-db/crlnumber
  cat >ca-db/openssl.cnf <<EOF
# Written by deploy/tls/make-pki.sh. Paths are relative to the PKI directory.
[ ca ]
default_ca = safeflow_ca

[ safeflow_ca ]
dir              = ./ca-db
database         = \$dir/index.txt
new_certs_dir    = \$dir/certs
certificate      = ./ca.pem
private_key      = ./ca.key
crlnumber        = \$dir/crlnumber
rand_serial      = yes
default_md       = sha256
default_days     = $CLIENT_DAYS
default_crl_days = $crl_days
policy           = policy_cn
unique_subject   = no
copy_extensions  = none
email_in_dn      = no
name_opt         = ca_default
cert_opt         = ca_default
crl_extensions   = crl_ext

[ policy_cn ]
organizationName = optional
commonName       = supplied

[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = unused

[ v3_ca ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ client_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ crl_ext ]
authorityKeyIdentifier = keyid
EOF
  echo "unique_subject = no" >ca-db/index.txt.attr
}

new_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -pkeyopt ec_param_enc:named_curve -out "$1" 2>/dev/null
  chmod 0600 "$1"
}

make_ca() {
  new_key ca.key
  openssl req -new -x509 -config ca-db/openssl.cnf -extensions v3_ca -key ca.key -sha256 \
    -days "$CA_DAYS" -subj "/O=$ORG/CN=$ORG local CA" -out ca.pem
  chmod 0644 ca.pem
  echo "make-pki: created CA $(openssl x509 -in ca.pem -noout -subject)" >&2
}

# issue_cert CSR OUT EXTFILE EXTSECTION [openssl ca options...]
issue_cert() {
  local csr=$1 out=$2 extfile=$3 section=$4
  shift 4
  openssl ca -batch -notext -config ca-db/openssl.cnf -extfile "$extfile" -extensions "$section" \
    -in "$csr" -out "$out.tmp" "$@" 2>ca-db/last-ca.log ||
    {
      cat ca-db/last-ca.log >&2
      rm -f "$out.tmp"
      die "openssl ca failed for $out"
    }
  mv -f "$out.tmp" "$out"
}

make_server() {
  local hosts=$1 san="" h i=0 first=""
  for h in $hosts; do
    [[ $h =~ ^[A-Za-z0-9*.:_-]+$ ]] || die "invalid host '$h'"
    [ -n "$first" ] || first=$h
    i=$((i + 1))
    if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then san+="IP.$i = $h"$'\n'; else san+="DNS.$i = $h"$'\n'; fi
  done
  [ -n "$first" ] || die "--hosts is empty"
  cat >ca-db/server.ext <<EOF
[ server_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
subjectAltName         = @server_san
[ server_san ]
$san
EOF
  new_key server.key.tmp
  openssl req -new -config ca-db/openssl.cnf -key server.key.tmp -subj "/O=$ORG/CN=${first:0:64}" \
    -out ca-db/server.csr
  issue_cert ca-db/server.csr server.leaf.pem ca-db/server.ext server_ext -days "$SERVER_DAYS"
  cat server.leaf.pem ca.pem >server.pem.tmp
  rm -f server.leaf.pem ca-db/server.csr
  chmod 0644 server.pem.tmp
  mv -f server.key.tmp server.key
  mv -f server.pem.tmp server.pem
  echo "make-pki: issued server.pem for: $hosts" >&2
}

fingerprint() {
  local fp
  fp=$(openssl x509 -in "$1" -noout -fingerprint -sha256)
  fp=${fp#*=}
  fp=${fp//:/}
  echo "$fp" | tr 'A-F' 'a-f'
}

# make_client NAME [openssl ca options...]
make_client() {
  local name=$1
  shift
  valid_name "$name"
  mkdir -p clients
  new_key "clients/$name.key.tmp"
  openssl req -new -config ca-db/openssl.cnf -key "clients/$name.key.tmp" \
    -subj "/O=$ORG/CN=$name" -out "ca-db/$name.csr"
  issue_cert "ca-db/$name.csr" "clients/$name.pem" ca-db/openssl.cnf client_ext "$@"
  rm -f "ca-db/$name.csr"
  chmod 0644 "clients/$name.pem"
  mv -f "clients/$name.key.tmp" "clients/$name.key"
  fingerprint "clients/$name.pem" >"clients/$name.sha256"
  chmod 0644 "clients/$name.sha256"
  echo "make-pki: issued clients/$name.pem" >&2
}

make_crl() {
  openssl ca -batch -config ca-db/openssl.cnf -gencrl -out crl.pem.tmp 2>ca-db/last-ca.log ||
    {
      cat ca-db/last-ca.log >&2
      die "openssl ca -gencrl failed"
    }
  chmod 0644 crl.pem.tmp
  mv -f crl.pem.tmp crl.pem
}

# The CRL validity last written into openssl.cnf (default 30 days).
crl_days_of() {
  local d
  d=$(sed -n 's/^default_crl_days *= *\([0-9]*\)$/\1/p' ca-db/openssl.cnf 2>/dev/null || true)
  echo "${d:-30}"
}

enter() {
  local dir=$1
  [ -d "$dir" ] || die "$dir: no such directory"
  cd "$dir"
  if [ ! -f ca.pem ] || [ ! -f ca.key ] || [ ! -f ca-db/openssl.cnf ]; then
    die "$dir: not a PKI made by make-pki.sh"
  fi
}

cmd_init() {
  local dir="" hosts=$DEFAULT_HOSTS clients=$DEFAULT_CLIENTS crl_days="" force=0 name
  while [ $# -gt 0 ]; do
    case "$1" in
    --hosts) hosts=${2:?--hosts needs a value}; shift 2 ;;
    --clients) clients=${2-}; shift 2 ;;
    --crl-days) crl_days=${2:?--crl-days needs a value}; shift 2 ;;
    --force) force=1; shift ;;
    -h | --help) usage ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$dir" ] || die "unexpected argument $1"; dir=$1; shift ;;
    esac
  done
  [ -n "$dir" ] || usage
  mkdir -p "$dir"
  cd "$dir"
  if [ "$force" = 1 ]; then
    rm -rf ca.pem ca.key server.pem server.key crl.pem clients ca-db
  fi
  [ -n "$crl_days" ] || crl_days=$(crl_days_of)
  [[ $crl_days =~ ^[1-9][0-9]{0,3}$ ]] || die "--crl-days must be 1..9999"
  if { [ -f ca.pem ] && [ ! -f ca.key ]; } || { [ ! -f ca.pem ] && [ -f ca.key ]; }; then
    die "$dir: only one of ca.pem and ca.key exists; fix it or use --force"
  fi
  write_ca_config "$crl_days"
  [ -f ca.pem ] || make_ca
  if [ ! -f server.pem ] || [ ! -f server.key ]; then make_server "$hosts"; fi
  for name in $clients; do
    valid_name "$name"
    if [ ! -f "clients/$name.pem" ] || [ ! -f "clients/$name.key" ]; then
      make_client "$name"
    elif [ ! -f "clients/$name.sha256" ]; then
      fingerprint "clients/$name.pem" >"clients/$name.sha256"
      chmod 0644 "clients/$name.sha256"
    fi
  done
  [ -f crl.pem ] || make_crl
  for name in $clients; do
    echo "client $name sha256=$(cat "clients/$name.sha256")"
  done
}

cmd_client() {
  local dir=${1:?usage: make-pki.sh client DIR NAME} name=${2:?usage: make-pki.sh client DIR NAME}
  shift 2
  local force=0 args=()
  while [ $# -gt 0 ]; do
    case "$1" in
    --days) args+=(-days "${2:?}"); shift 2 ;;
    --startdate) args+=(-startdate "${2:?}"); shift 2 ;;
    --enddate) args+=(-enddate "${2:?}"); shift 2 ;;
    --force) force=1; shift ;;
    *) die "unknown option $1" ;;
    esac
  done
  valid_name "$name"
  enter "$dir"
  write_ca_config "$(crl_days_of)"
  if [ -f "clients/$name.pem" ] && [ "$force" = 0 ]; then
    echo "make-pki: clients/$name.pem exists (use --force to re-issue)" >&2
  else
    make_client "$name" "${args[@]}"
  fi
  echo "client $name sha256=$(cat "clients/$name.sha256")"
}

cmd_server() {
  local dir=${1:?usage: make-pki.sh server DIR [--hosts ...]}
  shift
  local hosts=$DEFAULT_HOSTS
  while [ $# -gt 0 ]; do
    case "$1" in
    --hosts) hosts=${2:?--hosts needs a value}; shift 2 ;;
    *) die "unknown option $1" ;;
    esac
  done
  enter "$dir"
  make_server "$hosts"
}

cmd_revoke() {
  local dir=${1:?usage: make-pki.sh revoke DIR NAME} name=${2:?usage: make-pki.sh revoke DIR NAME}
  shift 2
  local reason=""
  while [ $# -gt 0 ]; do
    case "$1" in
    --reason) reason=${2:?}; shift 2 ;;
    *) die "unknown option $1" ;;
    esac
  done
  valid_name "$name"
  enter "$dir"
  [ -f "clients/$name.pem" ] || die "clients/$name.pem: no such certificate"
  local serial
  serial=$(openssl x509 -in "clients/$name.pem" -noout -serial)
  serial=${serial#serial=}
  if awk -F'\t' -v s="$serial" '$1 == "R" && toupper($4) == toupper(s) { found = 1 } END { exit !found }' \
    ca-db/index.txt; then
    echo "make-pki: clients/$name.pem (serial $serial) was already revoked" >&2
  else
    local args=(-revoke "clients/$name.pem")
    [ -z "$reason" ] || args+=(-crl_reason "$reason")
    openssl ca -batch -config ca-db/openssl.cnf "${args[@]}" 2>ca-db/last-ca.log ||
      {
        cat ca-db/last-ca.log >&2
        die "revoking $name failed"
      }
    echo "make-pki: revoked clients/$name.pem (serial $serial)" >&2
  fi
  make_crl
  echo "make-pki: crl.pem regenerated; reload nginx to apply it" >&2
}

cmd_crl() {
  local dir=${1:?usage: make-pki.sh crl DIR}
  enter "$dir"
  make_crl
  echo "make-pki: crl.pem regenerated; reload nginx to apply it" >&2
}

command -v openssl >/dev/null || die "openssl is not installed"
case "${1:-}" in
"" | -h | --help) usage ;;
client) shift; cmd_client "$@" ;;
server) shift; cmd_server "$@" ;;
revoke) shift; cmd_revoke "$@" ;;
crl) shift; cmd_crl "$@" ;;
*) cmd_init "$@" ;;
esac
