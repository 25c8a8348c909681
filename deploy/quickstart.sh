#!/usr/bin/env bash
# SafeFlow quickstart: installs the Debian packages, builds (Release), makes a local PKI and a
# development OIDC issuer, starts safeflowd (embedded PostgreSQL, plain HTTP on loopback) behind
# nginx (HTTPS and mutual TLS on the public port) and a one-host SLURM cluster, then runs the
# demo over HTTPS: who am I (with a bearer token and with a client certificate), a data owner's
# sealed dataset, an attested TES task over it in a local sandbox, the same analysis as a SLURM
# job, and their results; then workflow admins register and approve the example workflows and
# a researcher runs them through WES (Snakemake locally, CWL on SLURM) on a sealed cohort.
#   ./deploy/quickstart.sh          install, build, (re)start, demo
#   ./deploy/quickstart.sh stop     stop nginx, safeflowd and its PostgreSQL, SLURM
# Environment: SAFEFLOW_PORT (HTTPS, default 8443), SAFEFLOW_INTERNAL_PORT (safeflowd's loopback
# port, default 8080), SAFEFLOW_STATE_DIR (default /var/lib/safeflow-quickstart as root, else
# ./var/quickstart), SAFEFLOW_SLURMCTLD_PORT / SAFEFLOW_SLURMD_PORT (default 6827 / 6828, away
# from a cluster of your own on 6817 / 6818).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

port=${SAFEFLOW_PORT:-8443}
internal_port=${SAFEFLOW_INTERNAL_PORT:-8080}
if [ "$(id -u)" = 0 ]; then default_state=/var/lib/safeflow-quickstart; else default_state=$root/var/quickstart; fi
state=${SAFEFLOW_STATE_DIR:-$default_state}
build=$root/build/release
cli=$build/service/safeflow
pidfile=$state/safeflowd.pid
logfile=$state/safeflowd.log

stop_all() {
  "$root/deploy/lib/nginx.sh" stop "$state/nginx" >/dev/null 2>&1 || true
  if [ -d "$state/slurm" ]; then "$root/deploy/slurm/cluster.sh" stop "$state/slurm" >/dev/null 2>&1 || true; fi
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
  stop_all
  exit 0
fi

./deploy/install-deps.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSAFEFLOW_BUILD_TESTS=OFF \
  -DSAFEFLOW_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)"

stop_all
mkdir -p "$state" "$state/inputs" "$state/results"
chmod 0711 "$state"

# --- identities: a local CA with server and client certificates, a development issuer -------
"$root/deploy/tls/make-pki.sh" "$state/pki" --hosts "localhost 127.0.0.1" \
  --clients "alice pipeline" >/dev/null
if [ ! -f "$state/issuer/private.pem" ]; then "$cli" dev-issuer init "$state/issuer" >/dev/null; fi

# --- a one-host SLURM cluster (munged, slurmctld, slurmd; no systemd) ---------------------------
# SLURM's daemons need root; without it the SLURM part of the demo is skipped.
slurm_conf=""
if [ "$(id -u)" = 0 ]; then
  echo "quickstart: starting a one-host SLURM cluster in $state/slurm"
  slurm_line=$(SAFEFLOW_SLURMCTLD_PORT=${SAFEFLOW_SLURMCTLD_PORT:-6827} \
    SAFEFLOW_SLURMD_PORT=${SAFEFLOW_SLURMD_PORT:-6828} "$root/deploy/slurm/cluster.sh" start "$state/slurm")
  slurm_conf=${slurm_line#SLURM_CONF=}
else
  echo "quickstart: not root: no SLURM cluster (the SLURM part of the demo is skipped)"
fi

# --- safeflowd ----------------------------------------------------------------------------------
cat >"$state/safeflowd.yaml" <<YAML
# Written by deploy/quickstart.sh. Every key: deploy/config/safeflowd.example.yaml.
data_dir: $state/data
server:
  listen: 127.0.0.1:$internal_port
auth:
  mode: [oidc, mtls, access-keys]
  oidc:
    issuer: safeflow-dev
    audiences: [safeflow]
    jwks_file: $state/issuer/jwks.json
  mtls:
    trusted_proxies: [127.0.0.1]
    identities:
      - fingerprint_sha256: "$(cat "$state/pki/clients/pipeline.sha256")"
        subject: pipeline
        roles: [researcher]
        projects: [demo]
environments:
  - name: host
    root: /
    aliases: [ubuntu, "debian:bookworm", "snakemake/snakemake:v7.21.0"]
storage:
  input_roots: [$state/inputs]
  output_roots: [$state/results]
airlock:
  projects:
    demo: {profile: acro-default, auto_release: true, checkers: 2}
slurm:
  enabled: $([ -n "$slurm_conf" ] && echo true || echo false)
  slurm_conf: ${slurm_conf:-/etc/slurm/slurm.conf}
  jobcomp_file: $state/slurm/jobcomp.log
  partitions: [debug, batch]
  default_time_minutes: 10
YAML
echo "quickstart: starting safeflowd on 127.0.0.1:$internal_port (state in $state)"
setsid nohup "$build/service/safeflowd" --config "$state/safeflowd.yaml" \
  >>"$logfile" 2>&1 </dev/null &
echo $! >"$pidfile"
for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$internal_port/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "quickstart: safeflowd exited; its log ($logfile) ends with:" >&2
    tail -n 30 "$logfile" >&2
    exit 1
  fi
  sleep 0.2
done

# --- nginx: HTTPS and mutual TLS on the public port ------------------------------------------
url=$("$root/deploy/lib/nginx.sh" start "$state/nginx" --listen "127.0.0.1:$port" \
  --upstream "127.0.0.1:$internal_port" --pki "$state/pki")

# --- the demo, over HTTPS ---------------------------------------------------------------------
ca=$state/pki/ca.pem
token=$("$cli" dev-issuer token "$state/issuer" --sub alice --roles researcher --projects demo)
api() { curl -sS --fail-with-body --cacert "$ca" -H "Authorization: Bearer $token" "$@"; }
# Submits the TES task JSON $1, sets $id, waits (up to 60 s) until it ends; exits unless COMPLETE.
run_task() {
  id=$(api -H 'Content-Type: application/json' -d "$1" "$url/ga4gh/tes/v1/tasks" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  echo "task $id"
  local state_now=""
  for _ in $(seq 1 300); do
    state_now=$(api "$url/ga4gh/tes/v1/tasks/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    case "$state_now" in COMPLETE | EXECUTOR_ERROR | SYSTEM_ERROR | CANCELED) break ;; esac
    sleep 0.2
  done
  echo "state: $state_now"
  if [ "$state_now" != COMPLETE ]; then
    api "$url/ga4gh/tes/v1/tasks/$id?view=FULL" >&2
    exit 1
  fi
}

echo
echo "== who am I (bearer token from the development issuer) =="
api "$url/auth/v1/whoami"
echo
echo "== who am I (client certificate 'pipeline', mutual TLS) =="
curl -sS --fail-with-body --cacert "$ca" --cert "$state/pki/clients/pipeline.pem" \
  --key "$state/pki/clients/pipeline.key" "$url/auth/v1/whoami"
echo
echo "== without credentials =="
curl -sS --cacert "$ca" "$url/ga4gh/tes/v1/tasks" || true
echo

# --- the data owner seals a synthetic cohort into the zone and registers it -------------------
mkdir -p "$state/owner"
chmod 0700 "$state/owner"
printf 'age,sex\n34,F\n51,M\n47,F\n29,M\n62,F\n' >"$state/owner/cohort.csv"
dataset=cohort-$(date -u +%Y%m%d%H%M%S)
owner_token=$("$cli" dev-issuer token "$state/issuer" --sub olivia --roles data-owner --projects demo)
echo "== the data owner imports a sealed dataset ($dataset) =="
SAFEFLOW_TOKEN=$owner_token SAFEFLOW_CA_BUNDLE=$ca "$cli" --server "$url" data import \
  --project demo --name "$dataset" --key-file "$state/owner/$dataset.jwk" \
  --dest "$state/inputs/$dataset" "$state/owner/cohort.csv"
echo "(the zone holds only ciphertext: $(head -c 8 "$state/inputs/$dataset/cohort.csv.sealed" | od -An -c | tr -s ' '))"

result=$state/results/cohort-summary.txt.sealed
rm -f "$result"
task=$(cat <<JSON
{
  "name": "quickstart-cohort-summary",
  "tags": {"project": "demo"},
  "inputs": [{"path": "/data/cohort.csv", "url": "file://$state/inputs/$dataset/cohort.csv.sealed"}],
  "outputs": [{"path": "/data/summary.txt", "url": "file://$result"}],
  "executors": [{
    "image": "ubuntu",
    "command": ["bash", "-c", "tail -n +2 /data/cohort.csv | cut -d, -f2 | sort | uniq -c > /data/summary.txt; cat /data/summary.txt"]
  }],
  "resources": {"cpu_cores": 1, "ram_gb": 0.5, "disk_gb": 0.1}
}
JSON
)
echo
echo "== submit a TES task over the sealed dataset (HTTPS, bearer token) =="
run_task "$task"
api "$url/ga4gh/tes/v1/tasks/$id?view=FULL" | python3 -c '
import json, sys
t = json.load(sys.stdin)
log = t["logs"][-1]
print("== attestation (system_logs) ==")
for line in log["system_logs"]:
    print(" ", line)
print("== the executor saw the decrypted data inside the enclave (stdout) ==")
print(log["logs"][0]["stdout"], end="")'
echo "== the result is sealed to project demo's outputs key ($result) =="
head -c 8 "$result" | od -An -c

# --- the same analysis as a SLURM job ------------------------------------------------------------
if [ -n "$slurm_conf" ]; then
slurm_result=$state/results/cohort-summary-slurm.txt.sealed
rm -f "$slurm_result"
slurm_task=$(printf '%s' "$task" | python3 -c '
import json, sys
t = json.load(sys.stdin)
t["name"] = "quickstart-cohort-summary-slurm"
t["outputs"][0]["url"] = "file://" + sys.argv[1]
t["resources"]["backend_parameters"] = {"backend": "slurm", "partition": "batch", "time_minutes": "5"}
print(json.dumps(t))' "$slurm_result")
echo
echo "== the same task on SLURM (backend_parameters: backend slurm, partition batch) =="
run_task "$slurm_task"
api "$url/ga4gh/tes/v1/tasks/$id?view=FULL" | python3 -c '
import json, sys
t = json.load(sys.stdin)
log = t["logs"][-1]
m = log["metadata"]
print("SLURM job %s on node %s (%s), attestation %s" % (m.get("slurm_job_id"), m.get("node"),
      m.get("slurm_job_name"), m.get("attestation")))
for line in log["system_logs"]:
    if line.startswith("SLURM") or line.startswith("enclave"):
        print(" ", line)
print(log["logs"][0]["stdout"], end="")'
echo "(SLURM's record: $(SLURM_CONF=$slurm_conf scontrol --oneliner show job "$(api "$url/ga4gh/tes/v1/tasks/$id?view=FULL" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["logs"][-1]["metadata"]["slurm_job_id"])')" |
  tr ' ' '\n' | grep -E '^(JobState|Partition|ExitCode)=' | tr '\n' ' '))"
echo "== service-info: backends =="
api "$url/ga4gh/tes/v1/service-info" | python3 -c '
import json, sys
for b in json.load(sys.stdin)["safeflow_backends"]:
    print("  %-6s %-8s parameters: %s" % (b["name"], b["status"], ", ".join(b["backend_parameters"]) or "-"))'
fi

# --- WES: only admin-approved workflows run ------------------------------------------------------
# wendy registers the example workflows of workflows/; victor, another workflow admin, approves
# them (the author may never approve her own). Then alice runs one through WES on a bigger
# synthetic cohort that the data owner sealed, and another on SLURM.
wendy_token=$("$cli" dev-issuer token "$state/issuer" --sub wendy --roles workflow-admin --projects demo)
victor_token=$("$cli" dev-issuer token "$state/issuer" --sub victor --roles workflow-admin --projects demo)
as() { local t=$1; shift; curl -sS --cacert "$ca" -H "Authorization: Bearer $t" "$@"; }
json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get(sys.argv[1], ""))' "$1"; }
register_and_approve() { # $1: a directory of workflows/; sets $ref (name@version)
  local dir=$root/workflows/$1 args=() f code
  while IFS= read -r f; do args+=(-F "workflow_attachment=@$dir/$f;filename=$f"); done \
    < <(cd "$dir" && find . -type f ! -path '*/__pycache__/*' | sed 's|^\./||' | LC_ALL=C sort)
  ref=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["name"]+"@"+m["version"])' \
    "$dir/safeflow-manifest.json")
  code=$(as "$wendy_token" -o "$state/wes-reply.json" -w '%{http_code}' "${args[@]}" "$url/admin/v1/workflows")
  case "$code" in
    201) echo "wendy registered $ref ($(json_field id <"$state/wes-reply.json"), ${#args[@]} files): pending" ;;
    409) echo "$ref was registered by an earlier quickstart" ;;
    *) echo "registering $ref: HTTP $code $(cat "$state/wes-reply.json")" >&2; exit 1 ;;
  esac
  echo "wendy approves her own workflow: $(as "$wendy_token" -X POST "$url/admin/v1/workflows/$ref:approve")"
  as "$victor_token" -X POST -o /dev/null "$url/admin/v1/workflows/$ref:approve"
  echo "victor approves it: $(as "$victor_token" "$url/admin/v1/workflows/$ref" | json_field state)"
}
# Submits a WES run of safeflow:$1 (type $2 $3) with params file $4 and tags $5; waits; sets $run_id.
wes_run() {
  local params
  params=$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); p["cohort"]=sys.argv[2]; print(json.dumps(p))' \
    "$4" "file://$state/inputs/$wes_dataset/patients.csv.sealed")
  run_id=$(api --form-string "workflow_url=safeflow:$1" --form-string "workflow_type=$2" \
    --form-string "workflow_type_version=$3" --form-string "workflow_params=$params" \
    --form-string "tags=$5" "$url/ga4gh/wes/v1/runs" | json_field run_id)
  echo "run $run_id"
  local state_now=""
  for _ in $(seq 1 600); do
    state_now=$(api "$url/ga4gh/wes/v1/runs/$run_id/status" | json_field state)
    case "$state_now" in COMPLETE | EXECUTOR_ERROR | SYSTEM_ERROR | CANCELED) break ;; esac
    sleep 0.5
  done
  echo "state: $state_now"
  if [ "$state_now" != COMPLETE ]; then
    api "$url/ga4gh/wes/v1/runs/$run_id" >&2
    exit 1
  fi
}
show_run() { # the steps the engine reported, the tail of its log, the airlock's decisions
  api "$url/ga4gh/wes/v1/runs/$run_id/tasks" | python3 -c '
import json, sys
for t in json.load(sys.stdin)["task_logs"]:
    print("  %-28s %-22s exit %s" % (t["name"], t.get("end_time", "")[:19], t.get("exit_code", "-")))'
  local stderr_url
  stderr_url=$(api "$url/ga4gh/wes/v1/runs/$run_id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_log"]["stderr"])')
  echo "-- the engine's log ($stderr_url), last lines --"
  api "$stderr_url" | tail -n 4
  show_airlock
}
checker1_token=$("$cli" dev-issuer token "$state/issuer" --sub olga --roles output-checker --projects demo)
checker2_token=$("$cli" dev-issuer token "$state/issuer" --sub oscar --roles output-checker --projects demo)
show_airlock() { # the disclosure report of each output, checkers for held ones, the download
  local rid
  rid=$(api "$url/ga4gh/wes/v1/runs/$run_id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["airlock"]["request_id"])')
  echo "-- airlock: release request $rid, the disclosure report --"
  api "$url/airlock/v1/requests/$rid" | python3 -c '
import json, sys
q = json.load(sys.stdin)
print("  profile %s, auto-release %s, %d checkers for held files" % (q["profile"], q["auto_release"], q["required_reviews"]))
for f in q["files"]:
    r = f.get("report", {})
    print("  %-10s %-16s verdict %-6s -> %-9s sha256 %s" % (f["name"], f["type"], f.get("verdict"), f["status"], f.get("sha256", "")[:16]))
    for x in r.get("findings", []):
        print("      %-24s %-6s %s" % (x["rule"], x["outcome"], x["message"][:90]))'
  local held
  held=$(api "$url/airlock/v1/requests/$rid" | python3 -c '
import json, sys
print(" ".join(f["name"] for f in json.load(sys.stdin)["files"] if f["status"] == "held"))')
  for name in $held; do
    echo "-- $name is held: two output checkers decide, blind to each other --"
    for t in "$checker1_token" "$checker2_token"; do
      as "$t" -X POST -H 'Content-Type: application/json' \
        -d '{"decision":"approve","comment":"aggregate, all cells checked"}' \
        "$url/airlock/v1/requests/$rid/files/$name:review" | python3 -c '
import json, sys
f = json.load(sys.stdin); print("  %s approves %s: now %s" % (f["reviews"][-1]["checker"], f["name"], f["status"]))'
    done
  done
  echo "-- downloading the released outputs (the only files that leave) --"
  mkdir -p "$state/released/$run_id"
  api "$url/ga4gh/wes/v1/runs/$run_id" | python3 -c '
import json, sys
for name, o in json.load(sys.stdin)["outputs"].items():
    print(name, o["location"], o["sha256"], o["path"].replace("/", "_"))' |
    while read -r name location sha file; do
      api -o "$state/released/$run_id/$file" "$location"
      echo "  $name -> $state/released/$run_id/$file (sha256 $(sha256sum "$state/released/$run_id/$file" | cut -c1-16), released as ${sha:0:16})"
      head -n 4 "$state/released/$run_id/$file" | sed 's/^/      /'
    done
}

echo
echo "== WES: register and approve the example workflows =="
register_and_approve cohort-counts
counts_ref=$ref
register_and_approve cohort-regression
regression_ref=$ref
python3 "$root/workflows/data/generate_cohort.py" --rows 2000 --seed 42 --out "$state/owner/patients.csv"
wes_dataset=patients-$(date -u +%Y%m%d%H%M%S)
echo "== the data owner seals the synthetic cohort ($wes_dataset, 2000 patients) =="
SAFEFLOW_TOKEN=$owner_token SAFEFLOW_CA_BUNDLE=$ca "$cli" --server "$url" data import \
  --project demo --name "$wes_dataset" --key-file "$state/owner/$wes_dataset.jwk" \
  --dest "$state/inputs/$wes_dataset" "$state/owner/patients.csv"
echo "== an unapproved workflow is refused =="
api --form-string "workflow_url=https://example.org/my-own.smk" --form-string workflow_type=SMK \
  --form-string workflow_type_version=7.21 "$url/ga4gh/wes/v1/runs" || true
echo
echo "== WES run of safeflow:$counts_ref (Snakemake, local sandbox, attested) =="
wes_run "$counts_ref" SMK 7.21 "$root/workflows/cohort-counts/example-params.json" '{"project":"demo"}'
show_run
if [ -n "$slurm_conf" ]; then
  echo
  echo "== WES run of safeflow:$regression_ref (CWL, as a SLURM job) =="
  wes_run "$regression_ref" CWL v1.2 "$root/workflows/cohort-regression/example-params.json" \
    '{"project":"demo","backend":"slurm"}'
  show_run
fi
echo "== WES service-info: engines =="
api "$url/ga4gh/wes/v1/service-info" | python3 -c '
import json, sys
i = json.load(sys.stdin)
for e, v in i["workflow_engine_versions"].items():
    print("  %-10s %s" % (e, ", ".join(v["workflow_engine_version"])))
print("  runs by state:", {k: v for k, v in i["system_state_counts"].items() if v})'
echo
echo "== SafeFlow is up =="
echo "HTTPS:        $url   (CA: $ca)"
echo "Token:        $cli dev-issuer token $state/issuer --sub alice --roles researcher --projects demo"
echo "Try:          curl --cacert $ca -H \"Authorization: Bearer \$TOKEN\" $url/ga4gh/tes/v1/tasks"
echo "WES:          curl --cacert $ca -H \"Authorization: Bearer \$TOKEN\" $url/ga4gh/wes/v1/runs"
echo "Client certs: $state/pki/clients/ (pipeline is a researcher in project demo)"
echo "SLURM:        SLURM_CONF=$slurm_conf squeue --states=all"
echo "Logs:         $logfile, $state/nginx/, $state/slurm/log/"
echo "Stop:         ./deploy/quickstart.sh stop"
