// safeflowd: wiring only. Parse flags and config, set up logging, lock the data directory,
// start the embedded PostgreSQL (or use database.url), migrate, serve HTTP, stop on SIGTERM.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <signal.h>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include <openssl/rand.h>

#include "executor/env.h"
#include "executor/local/local_backend.h"
#include "executor/slurm/slurm_backend.h"
#include "executor/transfer/transfer.h"
#include "executor/users.h"
#include "schemas/migrations.h"
#include "service/airlock/airlock.h"
#include "service/api/airlock_api.h"
#include "service/api/auth_api.h"
#include "service/api/enclave_api.h"
#include "service/api/health.h"
#include "service/api/http_server.h"
#include "service/api/metrics.h"
#include "service/api/registry_api.h"
#include "service/api/request_context.h"
#include "service/api/tes_api.h"
#include "service/api/wes_api.h"
#include "service/attestation/authority.h"
#include "service/auth/authenticator.h"
#include "service/config/config.h"
#include "service/data_dir.h"
#include "service/log.h"
#include "service/scheduler/scheduler.h"
#include "service/store/audit_store.h"
#include "service/store/auth_store.h"
#include "service/store/embedded_pg.h"
#include "service/store/enclave_store.h"
#include "service/store/registry_store.h"
#include "service/store/run_store.h"
#include "service/store/store.h"
#include "service/store/task_store.h"
#include "service/version.h"
#include "service/wes/engine.h"

namespace safeflow::service {
namespace {

constexpr const char* kUsage = R"(usage: safeflowd [options]
  --config FILE       YAML configuration (see deploy/config/safeflowd.example.yaml)
  --data-dir DIR      override data_dir
  --listen HOST:PORT  override server.listen (port 0 picks a free port)
  --auth-jwks FILE    turn on OIDC for the development issuer (iss safeflow-dev, aud safeflow)
                      with the keys in FILE (see: safeflow dev-issuer init), plus access keys
  --check-config      validate the configuration, print it (secrets masked) and exit
  --version           print the version and exit
  --help              this text
Environment: SAFEFLOW_DB_DSN overrides database.url; libpq's PG* variables apply.
)";

struct Flags {
  std::optional<std::string> config, data_dir, listen, auth_jwks;
  bool check_config = false;
};

// Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
std::optional<Flags> ParseFlags(int argc, char** argv, int& exit_code) {
  Flags f;
  exit_code = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const size_t eq = a.find('=');
    const std::string name = a.substr(0, eq);
    std::optional<std::string>* target = name == "--config"      ? &f.config
                                         : name == "--data-dir"  ? &f.data_dir
                                         : name == "--listen"    ? &f.listen
                                         : name == "--auth-jwks" ? &f.auth_jwks
                                                                 : nullptr;
    if (target != nullptr) {
      if (eq != std::string::npos) {
        *target = a.substr(eq + 1);
      } else if (i + 1 < argc) {
        *target = argv[++i];
      } else {
        std::fprintf(stderr, "safeflowd: %s needs a value\n", a.c_str());
        return std::nullopt;
      }
    } else if (a == "--check-config") {
      f.check_config = true;
    } else if (a == "--version") {
      std::printf("safeflowd %s\n", kVersion);
      exit_code = 0;
      return std::nullopt;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      exit_code = 0;
      return std::nullopt;
    } else {
      std::fprintf(stderr, "safeflowd: unknown option %s\n%s", a.c_str(), kUsage);
      return std::nullopt;
    }
  }
  exit_code = 0;
  return f;
}

std::string NewUuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) std::abort();
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  return absl::StrFormat("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                         b[12], b[13], b[14], b[15]);
}

std::string Hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

// Waits for the database and migrates it, retrying while it is unreachable.
absl::StatusOr<store::MigrationReport> MigrateWithRetry(store::Store& store, int timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  auto delay = std::chrono::milliseconds(200);
  while (true) {
    absl::StatusOr<store::MigrationReport> r = store.Migrate(schemas::Migrations());
    if (r.ok() || !absl::IsUnavailable(r.status()) ||
        std::chrono::steady_clock::now() + delay > deadline) {
      return r;
    }
    Log().warn("database not reachable yet ({}); retrying", r.status().message());
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(5000));
  }
}

executor::transfer::TransferConfig MakeTransferConfig(const StorageConfig& s) {
  executor::transfer::TransferConfig t;
  t.input_roots = s.input_roots;
  t.output_roots = s.output_roots;
  t.http_allow_hosts = s.http_allow_hosts;
  t.max_input_bytes = s.max_input_bytes;
  t.timeout = std::chrono::seconds(s.transfer_timeout_seconds);
  if (!s.s3.endpoint.empty()) {
    executor::transfer::S3Config s3;
    s3.endpoint = s.s3.endpoint;
    s3.region = s.s3.region;
    s3.access_key_id = s.s3.access_key_id;
    s3.secret_access_key = s.s3.secret_access_key;
    s3.path_style = s.s3.path_style;
    t.s3 = s3;
  }
  return t;
}

// A SafeFlow program (safeflow-worker, safeflow-node): beside this binary, else in the build
// tree's executor/ folder, else /usr/lib/safeflow, else on PATH.
std::string FindProgram(const std::string& name) {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  for (const std::filesystem::path& candidate :
       {self.parent_path() / name, self.parent_path().parent_path() / "executor" / name,
        std::filesystem::path("/usr/lib/safeflow") / name}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  for (const char* dir : {"/usr/local/bin", "/usr/bin"}) {
    const std::string p = std::string(dir) + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return name + " (not found)";
}

// safeflow-worker: local.worker_path, else found as FindProgram does.
std::string FindWorker(const LocalConfig& local) {
  if (!local.worker_path.empty()) return local.worker_path;
  return FindProgram("safeflow-worker");
}

// The SLURM backend's settings: the node runs attempts as the local backend would.
executor::SlurmBackendConfig SlurmBackendSettings(const Config& config,
                                                  const executor::LocalBackendConfig& local,
                                                  EnclaveAuthority* authority) {
  const SlurmConfig& s = config.slurm;
  executor::SlurmBackendConfig c;
  c.bin_dir = s.bin_dir;
  if (!s.slurm_conf.empty()) c.command_env.push_back("SLURM_CONF=" + s.slurm_conf);
  c.command_timeout = std::chrono::seconds(s.command_timeout_seconds);
  c.poll_interval = std::chrono::milliseconds(s.poll_interval_ms);
  c.shared_dir = s.shared_dir.empty() ? config.data_dir + "/slurm" : s.shared_dir;
  c.scratch_dir = s.scratch_dir.empty() ? config.data_dir + "/slurm-scratch" : s.scratch_dir;
  c.node_program = s.node_program.empty() ? FindProgram("safeflow-node") : s.node_program;
  c.jobcomp_file = s.jobcomp_file;
  c.partition = s.partition;
  c.account = s.account;
  c.qos = s.qos;
  c.default_time_minutes = s.default_time_minutes;
  c.max_time_minutes = s.max_time_minutes;
  c.lost_after = std::chrono::seconds(s.lost_after_seconds);
  c.worker_path = local.worker_path;
  if (local.run_as) c.run_as_user = local.run_as->name;
  c.images = local.images;
  c.default_disk_gb = local.default_disk_gb;
  c.default_ram_gb = local.default_ram_gb;
  c.log_tail_bytes = local.log_tail_bytes;
  c.keep_task_dirs = local.keep_task_dirs;
  c.transfer = local.transfer;
  c.worker_env = local.extra_env;
  c.job_env = s.job_env;
  // A sanitizer build of safeflow-node needs the same options as ours.
  for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"}) {
    if (const char* v = std::getenv(name)) c.job_env.push_back(absl::StrCat(name, "=", v));
  }
  if (authority != nullptr) {
    c.authority = authority;
    c.platform_key_file = config.enclave.platform_key_file.empty()
                              ? config.data_dir + "/enclave/platform.pem"
                              : config.enclave.platform_key_file;
    c.debug_workers = config.enclave.debug_workers;
    c.seal_outputs = config.enclave.seal_outputs;
    c.relay_ca_bundle = s.relay_ca_bundle;
  }
  return c;
}

// The values a task may give the SLURM backend's parameters.
std::vector<std::string> CheckSlurmParameters(const SlurmConfig& s,
                                              const std::map<std::string, std::string>& params) {
  std::vector<std::string> problems;
  auto allowed = [](const std::vector<std::string>& list, const std::string& def,
                    const std::string& v) {
    return v == def || std::find(list.begin(), list.end(), v) != list.end();
  };
  for (const auto& [k, v] : params) {
    const std::string where = "resources.backend_parameters." + k;
    if (k == "partition" && !allowed(s.partitions, s.partition, v)) {
      problems.push_back(absl::StrCat(where, ": partition '", v, "' is not allowed (allowed: ",
                                      absl::StrJoin(s.partitions, ", "), ")"));
    } else if (k == "account" && !allowed(s.accounts, s.account, v)) {
      problems.push_back(absl::StrCat(where, ": account '", v, "' is not allowed (allowed: ",
                                      absl::StrJoin(s.accounts, ", "), ")"));
    } else if (k == "qos" && v != s.qos) {
      problems.push_back(absl::StrCat(where, ": qos '", v, "' is not allowed"));
    } else if (k == "time_minutes") {
      int m = 0;
      if (!absl::SimpleAtoi(v, &m) || m < 1 || m > s.max_time_minutes) {
        problems.push_back(absl::StrCat(
            where, ": '", v, "' is not a whole number of minutes from 1 to ", s.max_time_minutes));
      }
    }
  }
  return problems;
}

absl::StatusOr<executor::LocalBackendConfig> LocalBackendSettings(
    const Config& config, const executor::transfer::TransferConfig& transfer) {
  executor::LocalBackendConfig c;
  c.work_dir = config.local.work_dir.empty() ? config.data_dir + "/work" : config.local.work_dir;
  c.worker_path = FindWorker(config.local);
  if (executor::RunningAsRoot()) {
    absl::StatusOr<executor::UserIds> user =
        executor::EnsureSystemUser(executor::DefaultEnv(), config.local.worker_user);
    if (!user.ok()) return user.status();
    c.run_as = *user;
  }
  for (const EnvironmentConfig& e : config.environments) {
    c.images[e.name] = e.root;
    for (const std::string& a : e.aliases) c.images[a] = e.root;
  }
  c.max_task_seconds = config.local.max_task_seconds;
  c.default_disk_gb = config.local.default_disk_gb;
  c.default_ram_gb = config.local.default_ram_gb;
  c.log_tail_bytes = config.local.log_tail_bytes;
  c.keep_task_dirs = config.local.keep_task_dirs;
  c.transfer = transfer;
  // A sanitizer build of the worker needs its options; LeakSanitizer cannot run under the
  // sandbox's seccomp filter (it uses ptrace), so it is switched off there.
  if (const char* asan = std::getenv("ASAN_OPTIONS")) {
    c.extra_env.push_back(absl::StrCat("ASAN_OPTIONS=", asan, ":detect_leaks=0"));
  }
  if (const char* ubsan = std::getenv("UBSAN_OPTIONS")) {
    c.extra_env.push_back(absl::StrCat("UBSAN_OPTIONS=", ubsan));
  }
  Log().info("local backend: worker {}, work dir {}, sandbox user {}", c.worker_path, c.work_dir,
             c.run_as ? c.run_as->name : "(self)");
  return c;
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The enclave emulation: the platform (quoting key), the verifier and key broker, and the
// reference measurements of our own worker.
struct Enclave {
  std::unique_ptr<executor::attestation::Platform> platform;
  std::unique_ptr<EnclaveAuthority> authority;
};

absl::StatusOr<Enclave> MakeEnclave(const Config& config, const executor::LocalBackendConfig& local,
                                    store::Store& store, store::TaskStore& tasks,
                                    store::AuditStore& audit) {
  const EnclaveConfig& e = config.enclave;
  Enclave out;
  absl::StatusOr<std::unique_ptr<executor::attestation::Platform>> platform =
      executor::attestation::Platform::LoadOrCreate(e.platform_key_file.empty()
                                                        ? config.data_dir + "/enclave/platform.pem"
                                                        : e.platform_key_file);
  if (!platform.ok()) return platform.status();
  out.platform = std::move(*platform);
  AuthorityOptions o;
  o.config = e;
  o.trusted_platform_pems.push_back(out.platform->public_key_pem());
  for (const std::string& f : e.trusted_platform_keys) {
    absl::StatusOr<std::string> pem = ReadTextFile(f);
    if (!pem.ok()) return pem.status();
    o.trusted_platform_pems.push_back(*pem);
  }
  absl::StatusOr<std::vector<std::string>> ours = executor::LocalWorkerMeasurements(local);
  if (!ours.ok()) return ours.status();
  o.allowed_measurements = *ours;
  for (const std::string& m : e.reference_measurements) o.allowed_measurements.push_back(m);
  absl::StatusOr<executor::crypto::SecretBytes> master = LoadOrCreateMasterKey(
      e.master_key_file.empty() ? config.data_dir + "/enclave/master.key" : e.master_key_file);
  if (!master.ok()) return master.status();
  o.master_key = std::move(*master);
  absl::StatusOr<std::unique_ptr<EnclaveAuthority>> authority =
      EnclaveAuthority::Create(std::move(o), store, tasks, audit);
  if (!authority.ok()) return authority.status();
  out.authority = std::move(*authority);
  Log().info("enclave: platform {}, worker measurement(s) {}, debug workers {}, allow debug {}",
             out.platform->platform_id(), absl::StrJoin(*ours, ", "), e.debug_workers,
             e.allow_debug);
  return out;
}

class Heartbeat {
 public:
  Heartbeat(store::Store& store, std::string id) : store_(store), id_(std::move(id)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Heartbeat() {
    {
      std::scoped_lock lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(15), [this] { return stop_; })) {
      lock.unlock();
      if (absl::Status s = store_.HeartbeatInstance(id_); !s.ok()) {
        Log().warn("instance heartbeat: {}", s.message());
      }
      lock.lock();
    }
  }
  store::Store& store_;
  const std::string id_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

int Run(int argc, char** argv) {
  // Signals: SIGPIPE would kill us when a peer hangs up mid-response; the others are taken
  // synchronously by sigwait() below, so block them before any thread starts.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t wait_set;
  sigemptyset(&wait_set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&wait_set, s);
  pthread_sigmask(SIG_BLOCK, &wait_set, nullptr);

  int exit_code = 0;
  std::optional<Flags> flags = ParseFlags(argc, argv, exit_code);
  if (!flags) return exit_code;

  Config config;
  if (flags->config) {
    absl::StatusOr<Config> loaded = LoadConfigFile(*flags->config);
    if (!loaded.ok()) {
      std::fprintf(stderr, "safeflowd: configuration errors:\n%s\n",
                   std::string(loaded.status().message()).c_str());
      return 2;
    }
    config = *std::move(loaded);
  }
  if (flags->data_dir) config.data_dir = *flags->data_dir;
  if (flags->listen) config.server.listen = *flags->listen;
  if (flags->auth_jwks) {
    config.auth.mode = {"oidc", "access-keys"};
    config.auth.oidc.issuer = "safeflow-dev";
    config.auth.oidc.audiences = {"safeflow"};
    config.auth.oidc.jwks_file = *flags->auth_jwks;
    config.auth.oidc.jwks_url.clear();
  }
  ApplyEnvOverrides(config, [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  });
  if (!config.data_dir.empty() && config.data_dir.front() != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd) != nullptr)
      config.data_dir = absl::StrCat(cwd, "/", config.data_dir);
  }
  if (absl::Status s = ValidateConfig(config); !s.ok()) {
    std::fprintf(stderr, "safeflowd: configuration errors:\n%s\n",
                 std::string(s.message()).c_str());
    return 2;
  }
  if (config.auth.mode.empty()) {
    absl::StatusOr<HostPort> hp = ParseHostPort(config.server.listen);
    const bool loopback = hp.ok() && (hp->host == "127.0.0.1" || hp->host == "localhost" ||
                                      hp->host == "::1" || hp->host.rfind("127.", 0) == 0);
    if (!loopback) {
      std::fprintf(stderr,
                   "safeflowd: configuration errors:\nauth.mode: must be set when listening on a "
                   "non-loopback address (%s); use none only for local development\n",
                   config.server.listen.c_str());
      return 2;
    }
  }
  if (flags->check_config) {
    std::printf("configuration OK\n%s\n", config.Redacted().c_str());
    return 0;
  }
  if (absl::Status s = SetupLogging(config.log); !s.ok()) {
    std::fprintf(stderr, "safeflowd: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  Log().info("safeflowd {} starting (pid {})", kVersion, ::getpid());
  Log().debug("configuration:\n{}", config.Redacted());

  absl::StatusOr<std::unique_ptr<DataDirLock>> lock = DataDirLock::Acquire(config.data_dir);
  if (!lock.ok()) {
    Log().error("{}", lock.status().message());
    return 1;
  }

  std::unique_ptr<store::EmbeddedPostgres> embedded;
  std::string dsn = config.database.url;
  if (config.embedded_database()) {
    absl::StatusOr<std::unique_ptr<store::EmbeddedPostgres>> pg =
        store::EmbeddedPostgres::Start(executor::DefaultEnv(), config.data_dir, config.embedded);
    if (!pg.ok()) {
      Log().error("embedded PostgreSQL: {}", pg.status().message());
      return 1;
    }
    embedded = *std::move(pg);
    dsn = embedded->dsn();
  } else {
    Log().info("using external PostgreSQL {}", RedactDsn(dsn));
  }

  std::unique_ptr<store::Store> store = store::Store::Open(dsn, config.database);
  absl::StatusOr<store::MigrationReport> migrated =
      MigrateWithRetry(*store, config.database.startup_timeout_seconds);
  if (!migrated.ok()) {
    Log().error("database migration failed: {}", migrated.status().message());
    return 1;
  }
  Log().info("database schema at version {} (applied now: {})", migrated->to_version,
             migrated->applied.size());

  const std::string instance_id = NewUuid();
  absl::StatusOr<std::vector<std::string>> dead_instances =
      store->RegisterInstance({.id = instance_id,
                               .hostname = Hostname(),
                               .pid = ::getpid(),
                               .version = kVersion,
                               .data_dir = config.data_dir});
  if (!dead_instances.ok()) {
    Log().error("registering instance: {}", dead_instances.status().message());
    return 1;
  }
  if (!dead_instances->empty()) {
    Log().warn(
        "{} earlier instance(s) of this data_dir did not stop cleanly; their tasks are "
        "reclaimed now",
        dead_instances->size());
  }

  // Execution: the local sandbox backend, the SLURM backend, and the scheduler that feeds them.
  std::string relay_address;  // host:port we listen on, once the server runs
  const executor::transfer::TransferConfig transfer_config = MakeTransferConfig(config.storage);
  store::TaskStore task_store(*store);
  store::AuditStore audit_store(*store);
  store::AuthStore auth_store(*store);
  store::EnclaveStore enclave_store(*store);
  store::RegistryStore registry_store(*store);
  store::RunStore run_store(*store, task_store);
  // Approved environments of the registry join the configured ones; each is the TES image
  // "<name>:<version>" (and its aliases). Approvals made later take effect at the next start;
  // revocations at once (admission checks the registry).
  std::map<std::string, std::string> registry_images;
  if (absl::StatusOr<std::vector<store::RegistryItem>> envs =
          registry_store.List(store::RegistryKind::kEnvironment, "approved");
      envs.ok()) {
    for (const store::RegistryItem& item : *envs) {
      absl::StatusOr<registry::EnvironmentManifest> m =
          registry::ParseEnvironmentManifest(item.manifest);
      if (!m.ok()) {
        Log().warn("registry environment {}: {}", item.digest, m.status().message());
        continue;
      }
      EnvironmentConfig e{absl::StrCat(m->name, ":", m->version), m->root, m->aliases};
      registry_images[e.name] = item.digest;
      for (const std::string& a : e.aliases) registry_images[a] = item.digest;
      config.environments.push_back(std::move(e));
    }
    if (!envs->empty()) Log().info("{} approved environment(s) from the registry", envs->size());
  } else {
    Log().error("loading approved environments: {}", envs.status().message());
    return 1;
  }
  absl::StatusOr<executor::LocalBackendConfig> local_settings =
      LocalBackendSettings(config, transfer_config);
  if (!local_settings.ok()) {
    Log().error("local backend: {}", local_settings.status().message());
    return 1;
  }
  Enclave enclave;
  if (config.enclave.enabled) {
    absl::StatusOr<Enclave> made =
        MakeEnclave(config, *local_settings, *store, task_store, audit_store);
    if (!made.ok()) {
      Log().error("enclave: {}", made.status().message());
      return 1;
    }
    enclave = std::move(*made);
    local_settings->enclave.platform = enclave.platform.get();
    local_settings->enclave.authority = enclave.authority.get();
    local_settings->enclave.debug_workers = config.enclave.debug_workers;
    local_settings->enclave.seal_outputs = config.enclave.seal_outputs;
  } else {
    Log().warn(
        "enclave emulation is disabled (enclave.enabled: false): workers are not "
        "attested, sealed inputs are refused and outputs are written in the clear");
  }
  std::unique_ptr<executor::Backend> slurm;
  if (config.slurm.enabled) {
    executor::SlurmBackendConfig sc =
        SlurmBackendSettings(config, *local_settings, enclave.authority.get());
    Log().info("slurm backend: node program {}, job directories {}, SLURM_CONF {}", sc.node_program,
               sc.shared_dir,
               config.slurm.slurm_conf.empty() ? "(default)" : config.slurm.slurm_conf);
    sc.relay_url = [&config, &relay_address]() {
      return config.slurm.relay_url.empty() ? "http://" + relay_address : config.slurm.relay_url;
    };
    absl::StatusOr<std::unique_ptr<executor::Backend>> made =
        executor::NewSlurmBackend(std::move(sc));
    if (!made.ok()) {
      Log().error("slurm backend: {}", made.status().message());
      return 1;
    }
    slurm = std::move(*made);
  }
  absl::StatusOr<std::unique_ptr<executor::Backend>> local =
      executor::NewLocalBackend(*std::move(local_settings));
  if (!local.ok()) {
    Log().error("local backend: {}", local.status().message());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<AuthChain>> auth = AuthChain::Create(config.auth, auth_store);
  if (!auth.ok()) {
    Log().error("auth: {}", auth.status().message());
    return 1;
  }
  if ((*auth)->disabled()) {
    Log().error(
        "AUTHENTICATION IS DISABLED (auth.mode {}): every caller is an anonymous "
        "principal with every role in every project. For local development only.",
        config.auth.mode.empty() ? "unset" : "none");
  } else {
    Log().info("authentication: {}", absl::StrJoin(config.auth.mode, ", "));
  }

  Metrics metrics;
  metrics.AddGauge("safeflow_build_info", "Build information.",
                   absl::StrCat("version=\"", kVersion, "\""), [] { return 1.0; });
  metrics.AddGauge("safeflow_db_pool_size", "Maximum database connections.", "",
                   [&store] { return static_cast<double>(store->Usage().size); });
  metrics.AddGauge("safeflow_db_pool_connections", "Database connections by state.",
                   "state=\"in_use\"",
                   [&store] { return static_cast<double>(store->Usage().in_use); });
  metrics.AddGauge("safeflow_db_pool_connections", "Database connections by state.",
                   "state=\"open\"", [&store] { return static_cast<double>(store->Usage().open); });

  std::map<std::string, BackendSlot> backends = {
      {"local", {local->get(), config.scheduler.max_concurrent_tasks}}};
  if (slurm) backends["slurm"] = {slurm.get(), config.slurm.max_jobs};
  Scheduler scheduler(task_store, backends, config.scheduler, instance_id, dsn, *dead_instances);
  metrics.AddGauge("safeflow_tasks_running", "Task attempts running in this process.", "",
                   [&scheduler] { return static_cast<double>(scheduler.running()); });

  HttpServer server(config.server, metrics);
  TesApiOptions tes_options;
  tes_options.check_input_url = [&transfer_config](std::string_view url) {
    return executor::transfer::CheckInputUrl(transfer_config, url);
  };
  tes_options.check_output_url = [&transfer_config](std::string_view url) {
    return executor::transfer::CheckOutputUrl(transfer_config, url);
  };
  tes_options.started_at = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  tes_options.cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  tes_options.airlock_staging_dir = config.airlock.staging_dir;
  if (tes_options.airlock_staging_dir.empty() && !config.storage.output_roots.empty()) {
    std::string root = config.storage.output_roots.front();
    while (root.size() > 1 && root.ends_with('/')) root.pop_back();
    tes_options.airlock_staging_dir = root + "/airlock";
  }
  if (!tes_options.airlock_staging_dir.empty()) {
    if (absl::Status s = executor::transfer::CheckOutputUrl(
            transfer_config, absl::StrCat("file://", tes_options.airlock_staging_dir, "/x"));
        !s.ok()) {
      Log().error("airlock.staging_dir must lie under one of storage.output_roots: {}",
                  s.message());
      return 1;
    }
  }
  tes_options.attestation =
      enclave.authority ? enclave.authority->Describe() : nlohmann::json{{"enabled", false}};
  tes_options.check_image = [&registry_store,
                             registry_images](const std::string& image) -> absl::Status {
    auto it = registry_images.find(image);
    if (it == registry_images.end()) return absl::OkStatus();  // a configured environment
    absl::StatusOr<store::RegistryItem> env =
        registry_store.Get(store::RegistryKind::kEnvironment, it->second);
    if (!env.ok() && !absl::IsNotFound(env.status())) return env.status();
    if (!env.ok() || env->state != "approved") {
      return absl::PermissionDeniedError(
          absl::StrCat("'", image, "' is no longer an approved execution environment"));
    }
    return absl::OkStatus();
  };
  tes_options.default_backend = config.backends.default_backend;
  tes_options.project_backends = config.backends.projects;
  if (slurm) {
    const std::set<std::string>& p = executor::SlurmTaskParameters();
    tes_options.backends["slurm"] = std::vector<std::string>(p.begin(), p.end());
    tes_options.check_backend_parameters["slurm"] =
        [&config](const std::map<std::string, std::string>& params) {
          return CheckSlurmParameters(config.slurm, params);
        };
  }
  tes_options.backends_info = [&scheduler, &config, backend_params = tes_options.backends]() {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [name, h] : scheduler.Health()) {
      nlohmann::json b = {
          {"name", name},
          {"status", h.ok ? "ok" : "degraded"},
          {"default", name == config.backends.default_backend},
          {"backend_parameters",
           backend_params.count(name) ? backend_params.at(name) : std::vector<std::string>{}}};
      if (!h.ok) b["detail"] = h.detail;
      std::vector<std::string> projects;
      for (const auto& [project, backend] : config.backends.projects) {
        if (backend == name) projects.push_back(project);
      }
      b["default_for_projects"] = projects;
      out.push_back(std::move(b));
    }
    return out;
  };
  if (absl::Status s = RegisterHealthRoutes(server, *store, metrics,
                                            [&scheduler] { return scheduler.Health(); });
      !s.ok()) {
    Log().error("routes: {}", s.message());
    return 1;
  }
  server.SetAuthenticator(auth->get());
  server.SetDeniedHook([&audit_store](const HttpRequest& req, const Route& route, int status,
                                      const std::string& reason) {
    if (status != 403) return;  // 401s are logged, not audited (anyone can make them)
    store::AuditEntry e =
        AuditOf(req, absl::StrCat("http.", req.method, " ", route.pattern), "denied");
    e.details["reason"] = reason;
    if (absl::Status s = audit_store.Append(e); !s.ok()) {
      Log().warn("request_id={} auditing a refusal: {}", req.request_id, s.message());
    }
  });
  WesApiOptions wes_options;
  wes_options.engines =
      wes::DetectEngines(executor::DefaultEnv(), config.wes.engine_path, std::chrono::seconds(20));
  for (const wes::EngineInfo& e : wes_options.engines) {
    Log().info("WES engine {} {} ({})", e.engine, e.version, e.program);
  }
  wes_options.tes = tes_options;
  wes_options.outputs_dir = config.wes.outputs_dir;
  if (wes_options.outputs_dir.empty() && !config.storage.output_roots.empty()) {
    std::string root = config.storage.output_roots.front();
    while (root.size() > 1 && root.ends_with('/')) root.pop_back();
    wes_options.outputs_dir = root + "/wes-runs";
  }
  store::AirlockStore airlock_store(*store);
  AirlockOptions airlock_options;
  airlock_options.config = config.airlock;
  airlock_options.wes_outputs_dir = wes_options.outputs_dir;
  if (enclave.authority) {
    EnclaveAuthority* authority = enclave.authority.get();
    airlock_options.key_for = [authority](const std::string& key_id, const std::string& project) {
      return authority->OutputsPrivateKey(key_id, project);
    };
  }
  absl::StatusOr<std::unique_ptr<Airlock>> airlock =
      Airlock::Create(std::move(airlock_options), airlock_store);
  if (!airlock.ok()) {
    Log().error("{}", airlock.status().message());
    return 1;
  }
  if (absl::Status s = RegisterAirlockRoutes(server, **airlock, airlock_store, audit_store);
      !s.ok()) {
    Log().error("routes: {}", s.message());
    return 1;
  }
  wes_options.public_url = config.wes.public_url;
  wes_options.max_params_bytes = config.wes.max_params_bytes;
  if (absl::Status s = RegisterWesRoutes(server, run_store, registry_store, audit_store, config,
                                         std::move(wes_options));
      !s.ok()) {
    Log().error("routes: {}", s.message());
    return 1;
  }
  if (absl::Status s =
          RegisterTesRoutes(server, task_store, audit_store, config, std::move(tes_options));
      !s.ok()) {
    Log().error("routes: {}", s.message());
    return 1;
  }
  if (absl::Status s = RegisterAuthRoutes(server, auth_store, audit_store, config.auth); !s.ok()) {
    Log().error("routes: {}", s.message());
    return 1;
  }
  if (enclave.authority) {
    if (absl::Status s =
            RegisterEnclaveRoutes(server, *enclave.authority, enclave_store, audit_store);
        !s.ok()) {
      Log().error("routes: {}", s.message());
      return 1;
    }
  }
  if (absl::Status s = RegisterRegistryRoutes(
          server, registry_store, audit_store,
          RegistryApiOptions{.required_approvals = config.registry.required_approvals});
      !s.ok()) {
    Log().error("routes: {}", s.message());
    return 1;
  }
  if (absl::Status s = server.Start(); !s.ok()) {
    Log().error("{}", s.message());
    return 1;
  }
  const std::string address = absl::StrCat(server.host().find(':') != std::string::npos
                                               ? absl::StrCat("[", server.host(), "]")
                                               : server.host(),
                                           ":", server.port());
  relay_address = address;
  const std::string addr_file = absl::StrCat(config.data_dir, "/safeflowd.addr");
  if (absl::Status s = WriteFileAtomically(addr_file, address + "\n"); !s.ok()) {
    Log().warn("{}", s.message());
  }
  Log().info("listening on http://{} (instance {})", address, instance_id);
  scheduler.Start();
  (*airlock)->Start();

  {
    Heartbeat heartbeat(*store, instance_id);
    while (true) {
      int sig = 0;
      if (sigwait(&wait_set, &sig) != 0) continue;
      if (sig == SIGHUP) {
        Log().info("SIGHUP ignored (restart safeflowd to apply configuration changes)");
        continue;
      }
      Log().info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }
  server.Shutdown();
  (*airlock)->Stop();
  scheduler.Stop();
  ::unlink(addr_file.c_str());
  if (absl::Status s = store->StopInstance(instance_id); !s.ok()) {
    Log().warn("marking instance stopped: {}", s.message());
  }
  store.reset();  // close connections before stopping the server
  if (embedded) {
    if (absl::Status s = embedded->Stop(); !s.ok()) {
      Log().error("stopping embedded PostgreSQL: {}", s.message());
      return 1;
    }
  }
  Log().info("safeflowd stopped");
  return 0;
}

}  // namespace
}  // namespace safeflow::service

int main(int argc, char** argv) { return safeflow::service::Run(argc, argv); }
