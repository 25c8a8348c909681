// service/config/config.h. safeflowd's typed configuration: YAML (yaml-cpp) loaded once in
// main(), defaults in code, every key documented in deploy/config/safeflowd.example.yaml.
// Unknown keys are errors and all errors are reported at once. Environment variables override
// only secrets and the DSN. Modules receive their own sub-struct by const&. Not thread-safe to
// mutate; immutable after start.
#ifndef SAFEFLOW_SERVICE_CONFIG_CONFIG_H_
#define SAFEFLOW_SERVICE_CONFIG_CONFIG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace safeflow::service {

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 picks a free one
  int io_threads = 2;                     // Pistache reactor threads
  int handler_threads = 4;                // threads for handlers that touch the database
  std::uint64_t max_request_bytes = 16 * 1024 * 1024;
  int header_timeout_seconds = 60;
  int body_timeout_seconds = 120;
  int shutdown_grace_seconds = 10;
  // A streamed response (a download) whose client reads nothing for this long is cut off,
  // freeing its handler thread.
  int stream_stall_seconds = 60;
};

struct DatabaseConfig {
  std::string url;  // libpq DSN or URI; empty: embedded private cluster in <data_dir>/pg
  int pool_size = 8;
  int connect_timeout_seconds = 5;
  int acquire_timeout_ms = 2000;
  int statement_timeout_ms = 30000;
  int startup_timeout_seconds = 60;  // how long start-up waits for an external database
};

struct EmbeddedPgConfig {
  std::string bin_dir;                      // empty: newest /usr/lib/postgresql/*/bin
  std::string system_user = "safeflow-pg";  // runs PostgreSQL when safeflowd runs as root
  int start_timeout_seconds = 60;
  std::string shared_buffers = "128MB";
  int max_connections = 100;
};

struct SchedulerConfig {
  int max_concurrent_tasks = 2;           // tasks this process runs at once
  int lease_seconds = 30;                 // a claim not renewed for this long is an orphan
  std::string orphan_policy = "requeue";  // requeue | fail
  int max_attempts = 3;                   // attempts before an orphan fails instead of requeueing
  int poll_interval_ms = 500;             // how often to look for work when no notification arrives
};

// An approved execution environment: TES images are names of these.
struct EnvironmentConfig {
  std::string name;                  // e.g. "host"
  std::string root = "/";            // sandbox root whose usr/ (and etc/ parts) are bound
  std::vector<std::string> aliases;  // other image names that mean this environment
};

struct LocalConfig {
  std::string work_dir;                         // empty: <data_dir>/work
  std::string worker_path;                      // empty: next to safeflowd, else PATH
  std::string worker_user = "safeflow-worker";  // sandboxes run as this user when we are root
  int max_task_seconds = 86400;
  double default_disk_gb = 2;  // tmpfs size when resources.disk_gb is absent
  double default_ram_gb = 4;   // memory limit when resources.ram_gb is absent
  double max_ram_gb = 64;      // larger requests are refused at submission
  double max_disk_gb = 256;
  int max_cpu_cores = 0;                     // 0: the machine's CPUs
  std::uint64_t log_tail_bytes = 64 * 1024;  // executor stdout/stderr kept in the task log
  bool keep_task_dirs = false;               // keep <work_dir>/<task> after the task (debugging)
};

struct S3StorageConfig {
  std::string endpoint;  // empty: no s3:// support
  std::string region = "us-east-1";
  std::string access_key_id;
  std::string secret_access_key;  // prefer SAFEFLOW_S3_SECRET_ACCESS_KEY
  bool path_style = true;
};

struct StorageConfig {
  std::vector<std::string> input_roots;       // file:// inputs must lie under one of these
  std::vector<std::string> output_roots;      // file:// outputs must lie under one of these
  std::vector<std::string> http_allow_hosts;  // hosts http(s):// inputs may come from
  S3StorageConfig s3;
  std::uint64_t max_input_bytes = 64ull << 30;
  int transfer_timeout_seconds = 3600;
};

struct ServiceInfoConfig {
  std::string id = "org.safeflow.tes";
  std::string name = "SafeFlow";
  std::string description = "SafeFlow TES/WES service for a secure processing environment";
  std::string organization_name = "SafeFlow";
  std::string organization_url = "https://safeflow.invalid";
  std::string contact_url = "mailto:safeflow@safeflow.invalid";
  std::string documentation_url;
  std::string environment = "dev";
};

struct OidcConfig {
  std::string issuer;                     // required "iss"
  std::vector<std::string> audiences;     // the token's "aud" must contain one
  std::string jwks_file;                  // a JWKS file, re-read when it changes; or
  std::string jwks_url;                   // an https URL, cached and refreshed on an unknown kid
  std::string ca_bundle;                  // CA file for jwks_url; empty: the system store
  bool allow_insecure_jwks_http = false;  // http:// JWKS (tests on loopback only)
  int leeway_seconds = 60;                // clock skew allowed for exp/nbf/iat
  std::string roles_claim = "roles";      // dotted path to a string or an array of strings
  // Claim value -> role. Without an entry, a value counts as a role when it is the role's name
  // or ends with ":<role>" or "/<role>" (after dropping a "#..." suffix, as in
  // eduperson_entitlement URNs).
  std::map<std::string, std::string> role_values;
  std::string projects_claim = "projects";
  std::string project_prefix;  // only values with this prefix name projects (prefix removed)
};

struct CertIdentityConfig {
  std::string fingerprint_sha256;  // lower-case hex SHA-256 of the DER certificate
  std::string subject;
  std::vector<std::string> roles, projects;
  bool read_only = false;
};

struct MtlsConfig {
  // Peer addresses whose client-certificate headers are believed (the TLS front door).
  std::vector<std::string> trusted_proxies = {"127.0.0.1"};
  std::string verify_header = "X-SSL-Client-Verify";  // "SUCCESS" when nginx verified it
  std::string cert_header = "X-SSL-Client-Cert";      // $ssl_client_escaped_cert
  std::vector<CertIdentityConfig> identities;         // plus those registered by admins
};

struct AccessKeysConfig {
  int default_ttl_days = 30;
  int max_ttl_days = 90;
};

struct AuthConfig {
  // Any of oidc, mtls, access-keys; or none (local development only: every caller is an
  // anonymous principal with every role in every project, logged loudly at start).
  std::vector<std::string> mode;
  OidcConfig oidc;
  MtlsConfig mtls;
  AccessKeysConfig access_keys;
  bool enabled(std::string_view m) const {
    for (const std::string& x : mode) {
      if (x == m) return true;
    }
    return false;
  }
};

// Enclave emulation (executor/attestation/, service/attestation/): remote attestation of every
// worker, a key broker for sealed datasets, sealed outputs.
struct EnclaveConfig {
  bool enabled = true;            // attest every worker; sealed inputs need it
  bool debug_workers = false;     // launch workers in debug mode (dumpable); their quotes say so
  bool allow_debug = false;       // the verifier accepts debug quotes (never in production)
  int min_security_version = 1;   // quotes with a lower worker security version are refused
  std::string platform_key_file;  // emulated hardware root; empty: <data_dir>/enclave/platform.pem
  // PEM public keys of other platforms whose quotes are trusted (e.g. compute nodes).
  std::vector<std::string> trusted_platform_keys;
  std::string master_key_file;  // seals keys at rest; empty: <data_dir>/enclave/master.key
  // mr_enclave values (hex) accepted besides those of this safeflowd's own worker.
  std::vector<std::string> reference_measurements;
  std::string token_issuer;  // empty: "safeflow-attestation"
  std::string token_audience = "safeflow-kbs";
  int token_ttl_seconds = 300;
  int nonce_ttl_seconds = 60;
  int signing_key_rotation_seconds = 86400;  // a new token-signing key after this long
  // Lifetime of a relay token (a SLURM job's credential for its attempt's attestation). Long,
  // since a job may wait in the queue; a token is refused anyway once its attempt has ended.
  int relay_token_ttl_seconds = 2592000;  // 30 days
  bool seal_outputs = true;  // outputs written to the zone are sealed to the project's key
};

// Where tasks run: "local" (a sandbox on this host) or "slurm". A task picks one with
// resources.backend_parameters.backend; otherwise its project's default, else `default`.
struct BackendsConfig {
  std::string default_backend = "local";
  std::map<std::string, std::string> projects;  // project -> its default backend
};

// The SLURM backend (executor/slurm/): tasks become batch jobs that run safeflow-node.
struct SlurmConfig {
  bool enabled = false;
  std::string bin_dir;     // where sbatch, squeue, scontrol, scancel are; empty: PATH
  std::string slurm_conf;  // exported as SLURM_CONF to the commands; empty: SLURM's default
  int command_timeout_seconds = 15;  // every sbatch/squeue/scontrol/scancel call
  int poll_interval_ms = 1000;       // one batched squeue per round
  int max_jobs = 256;                // attempts this process keeps in SLURM at once
  std::string shared_dir;   // job directories, the same path on every node; empty: <data_dir>/slurm
  std::string scratch_dir;  // node-local scratch; empty: <data_dir>/slurm-scratch
  std::string node_program;  // safeflow-node as the nodes see it; empty: beside safeflowd
  std::string jobcomp_file;  // JobCompLoc of jobcomp/filetxt when readable here; empty: none
  std::string partition;     // default partition; empty: SLURM's default
  std::string account;       // default account (--account); empty: none
  std::string qos;           // default QOS; empty: none
  std::vector<std::string> partitions;  // partitions tasks may ask for; empty: only the default
  std::vector<std::string> accounts;    // accounts tasks may ask for; empty: only the default
  int default_time_minutes = 60;
  int max_time_minutes = 1440;
  int lost_after_seconds = 120;      // a job SLURM has no record of is failed after this long
  std::string relay_url;             // safeflowd as nodes reach it; empty: http://<server.listen>
  std::string relay_ca_bundle;       // CA file for an https relay_url
  std::vector<std::string> job_env;  // "K=V" exported by every job script
};

// The registry of admin-approved workflows and execution environments (service/registry/).
struct RegistryConfig {
  // Distinct approvers an item needs (1 or 2). The author's own approval never counts: the
  // author may not approve at all.
  int required_approvals = 1;
};

// GA4GH WES runs (service/api/wes_api.h): each run is one TES task running the engine.
struct WesConfig {
  // Where engines (snakemake, cwltool, nextflow) are looked for at start (":"-separated).
  std::string engine_path = "/usr/local/bin:/usr/bin:/bin";
  // Absolute directory under one of storage.output_roots where run outputs are written, as
  // <outputs_dir>/<project>/<run id>/<output path>. Empty: <first output root>/wes-runs.
  std::string outputs_dir;
  // Base URL of the log links in run logs (e.g. https://tre.example.org). Empty: from the
  // request's Host and X-Forwarded-Proto headers.
  std::string public_url;
  std::uint64_t max_params_bytes = 1 << 20;  // workflow_params, tags, engine parameters, each
};

// The airlock (service/airlock/): the disclosure filter's profile, auto-release and output
// checkers, globally and per project.
struct AirlockProjectConfig {
  std::string profile;               // empty: airlock.default_profile
  std::optional<bool> auto_release;  // unset: airlock.auto_release
  int checkers = 0;                  // 0: airlock.checkers
};
struct AirlockConfig {
  std::string default_profile = "acro-default";
  // Whether a file whose verdict is `pass` is released without output checkers.
  bool auto_release = false;
  int checkers = 2;            // independent output checkers a held file needs (1..5)
  int poll_interval_ms = 500;  // how often finished runs and tasks are looked for
  int history_limit = 200;     // released tables compared against (differencing)
  // Downloads streamed at once. Each holds a handler thread while it lasts, so this must be
  // below server.handler_threads; more get 503 with Retry-After.
  int max_downloads = 2;
  // Where TES outputs addressed "airlock:<path>" are staged in the zone; empty:
  // <first output root>/airlock.
  std::string staging_dir;
  // Profiles besides the built-ins: name -> members of executor/disclosure/profile.h, with
  // "base" naming the built-in they start from (JSON of schemas/disclosure/profile.schema.json).
  std::map<std::string, nlohmann::json> profiles;
  std::map<std::string, AirlockProjectConfig> projects;
};

struct LogConfig {
  std::string level = "info";   // trace|debug|info|warn|error|critical|off
  std::string format = "text";  // text|json (one JSON object per line)
  std::string file;             // empty: stderr
};

struct Config {
  std::string data_dir = "/var/lib/safeflow";
  ServerConfig server;
  DatabaseConfig database;
  EmbeddedPgConfig embedded;
  SchedulerConfig scheduler;
  LocalConfig local;
  std::vector<EnvironmentConfig> environments = {{"host", "/", {"snakemake/snakemake:v7.21.0"}}};
  StorageConfig storage;
  ServiceInfoConfig service_info;
  AuthConfig auth;
  EnclaveConfig enclave;
  BackendsConfig backends;
  SlurmConfig slurm;
  RegistryConfig registry;
  WesConfig wes;
  AirlockConfig airlock;
  LogConfig log;

  bool embedded_database() const { return database.url.empty(); }
  // The configuration as YAML with secrets (database password) masked: the only way to log it.
  std::string Redacted() const;
};

// Parses YAML text. Every problem (unknown key, wrong type, value out of range) is collected and
// returned together as one InvalidArgument whose message has one line per problem.
[[nodiscard]] absl::StatusOr<Config> ParseConfig(std::string_view yaml_text);
[[nodiscard]] absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// Applies SAFEFLOW_DB_DSN (database.url) and SAFEFLOW_S3_SECRET_ACCESS_KEY
// (storage.s3.secret_access_key) from `getenv`. Injected for tests.
void ApplyEnvOverrides(Config& config,
                       const std::function<std::optional<std::string>(const char*)>& getenv);

// Checks cross-field rules and value ranges; all problems at once, one per line.
[[nodiscard]] absl::Status ValidateConfig(const Config& config);

struct HostPort {
  std::string host;
  int port = 0;
};
// "127.0.0.1:8080", "localhost:0", "[::1]:8080".
[[nodiscard]] absl::StatusOr<HostPort> ParseHostPort(std::string_view s);

// Masks the password in a libpq DSN ("password=..." or "postgresql://u:PW@...").
std::string RedactDsn(std::string_view dsn);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_CONFIG_CONFIG_H_
