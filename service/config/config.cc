#include "service/config/config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "yaml-cpp/yaml.h"

#include "executor/disclosure/profile.h"

namespace safeflow::service {
namespace {

std::string Join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(std::string(path), ".", std::string(key));
}

// Walks a YAML document, records every problem with its dotted path, never throws.
class Reader {
 public:
  // Checks that `node` is a mapping whose keys are all in `known`.
  bool Map(const YAML::Node& node, std::string_view path, const std::set<std::string>& known) {
    if (!node || node.IsNull()) return false;
    if (!node.IsMap()) {
      Error(path, "expected a mapping");
      return false;
    }
    for (const auto& kv : node) {
      std::string key;
      try {
        key = kv.first.as<std::string>();
      } catch (const YAML::Exception&) {
        Error(path, "keys must be strings");
        continue;
      }
      if (!known.contains(key)) {
        Error(Join(path, key),
              absl::StrCat("unknown key (known: ", absl::StrJoin(known, ", "), ")"));
      }
    }
    return true;
  }

  void Str(const YAML::Node& parent, std::string_view path, const char* key, std::string& out) {
    const YAML::Node n = parent[key];
    if (!n) return;
    if (n.IsNull()) {
      out.clear();
      return;
    }
    if (!n.IsScalar()) {
      Error(Join(path, key), "expected a string");
      return;
    }
    out = n.Scalar();
  }

  template <typename Int>
  void Integer(const YAML::Node& parent, std::string_view path, const char* key, Int& out, Int min,
               Int max) {
    const YAML::Node n = parent[key];
    if (!n) return;
    const std::string where = Join(path, key);
    if (!n.IsScalar()) {
      Error(where, "expected an integer");
      return;
    }
    const std::string& s = n.Scalar();
    long long v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) {
      Error(where, absl::StrCat("expected an integer, got '", s, "'"));
      return;
    }
    if (v < static_cast<long long>(min) ||
        static_cast<unsigned long long>(v) > static_cast<unsigned long long>(max)) {
      Error(where, absl::StrCat("must be between ", min, " and ", max, ", got ", v));
      return;
    }
    out = static_cast<Int>(v);
  }

  void StrList(const YAML::Node& parent, std::string_view path, const char* key,
               std::vector<std::string>& out) {
    const YAML::Node n = parent[key];
    if (!n || n.IsNull()) return;
    const std::string where = Join(path, key);
    if (!n.IsSequence()) {
      Error(where, "expected a list of strings");
      return;
    }
    out.clear();
    for (std::size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar()) {
        Error(absl::StrCat(where, "[", i, "]"), "expected a string");
        continue;
      }
      out.push_back(n[i].Scalar());
    }
  }

  void StrMap(const YAML::Node& parent, std::string_view path, const char* key,
              std::map<std::string, std::string>& out) {
    const YAML::Node n = parent[key];
    if (!n || n.IsNull()) return;
    const std::string where = Join(path, key);
    if (!n.IsMap()) {
      Error(where, "expected a mapping of strings");
      return;
    }
    out.clear();
    for (const auto& kv : n) {
      if (!kv.first.IsScalar() || !kv.second.IsScalar()) {
        Error(where, "expected string keys and values");
        continue;
      }
      out[kv.first.Scalar()] = kv.second.Scalar();
    }
  }

  void Bool(const YAML::Node& parent, std::string_view path, const char* key, bool& out) {
    const YAML::Node n = parent[key];
    if (!n) return;
    const std::string where = Join(path, key);
    if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false")) {
      Error(where, "expected true or false");
      return;
    }
    out = n.Scalar() == "true";
  }

  void Number(const YAML::Node& parent, std::string_view path, const char* key, double& out,
              double min, double max) {
    const YAML::Node n = parent[key];
    if (!n) return;
    const std::string where = Join(path, key);
    double v = 0;
    if (!n.IsScalar() || !absl::SimpleAtod(n.Scalar(), &v) || !std::isfinite(v)) {
      Error(where, "expected a number");
      return;
    }
    if (v < min || v > max) {
      Error(where, absl::StrCat("must be between ", min, " and ", max, ", got ", v));
      return;
    }
    out = v;
  }

  void Error(std::string_view path, std::string_view what) {
    errors_.push_back(absl::StrCat(path.empty() ? std::string("(top level)") : std::string(path),
                                   ": ", std::string(what)));
  }

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<std::string> errors_;
};

void ReadServer(Reader& r, const YAML::Node& n, ServerConfig& c) {
  if (!r.Map(
          n, "server",
          {"listen", "io_threads", "handler_threads", "max_request_bytes", "header_timeout_seconds",
           "body_timeout_seconds", "shutdown_grace_seconds", "stream_stall_seconds"})) {
    return;
  }
  r.Str(n, "server", "listen", c.listen);
  r.Integer(n, "server", "io_threads", c.io_threads, 1, 64);
  r.Integer(n, "server", "handler_threads", c.handler_threads, 1, 256);
  r.Integer<std::uint64_t>(n, "server", "max_request_bytes", c.max_request_bytes, 4096,
                           std::uint64_t{1} << 30);
  r.Integer(n, "server", "header_timeout_seconds", c.header_timeout_seconds, 1, 3600);
  r.Integer(n, "server", "body_timeout_seconds", c.body_timeout_seconds, 1, 3600);
  r.Integer(n, "server", "shutdown_grace_seconds", c.shutdown_grace_seconds, 0, 600);
  r.Integer(n, "server", "stream_stall_seconds", c.stream_stall_seconds, 1, 3600);
}

void ReadDatabase(Reader& r, const YAML::Node& n, DatabaseConfig& c) {
  if (!r.Map(n, "database",
             {"url", "pool_size", "connect_timeout_seconds", "acquire_timeout_ms",
              "statement_timeout_ms", "startup_timeout_seconds"})) {
    return;
  }
  r.Str(n, "database", "url", c.url);
  r.Integer(n, "database", "pool_size", c.pool_size, 1, 256);
  r.Integer(n, "database", "connect_timeout_seconds", c.connect_timeout_seconds, 1, 300);
  r.Integer(n, "database", "acquire_timeout_ms", c.acquire_timeout_ms, 1, 600000);
  r.Integer(n, "database", "statement_timeout_ms", c.statement_timeout_ms, 0, 86400000);
  r.Integer(n, "database", "startup_timeout_seconds", c.startup_timeout_seconds, 0, 3600);
}

void ReadEmbedded(Reader& r, const YAML::Node& n, EmbeddedPgConfig& c) {
  if (!r.Map(n, "embedded",
             {"bin_dir", "system_user", "start_timeout_seconds", "shared_buffers",
              "max_connections"})) {
    return;
  }
  r.Str(n, "embedded", "bin_dir", c.bin_dir);
  r.Str(n, "embedded", "system_user", c.system_user);
  r.Integer(n, "embedded", "start_timeout_seconds", c.start_timeout_seconds, 1, 3600);
  r.Str(n, "embedded", "shared_buffers", c.shared_buffers);
  r.Integer(n, "embedded", "max_connections", c.max_connections, 10, 10000);
}

void ReadScheduler(Reader& r, const YAML::Node& n, SchedulerConfig& c) {
  if (!r.Map(n, "scheduler",
             {"max_concurrent_tasks", "lease_seconds", "orphan_policy", "max_attempts",
              "poll_interval_ms"})) {
    return;
  }
  r.Integer(n, "scheduler", "max_concurrent_tasks", c.max_concurrent_tasks, 0, 4096);
  r.Integer(n, "scheduler", "lease_seconds", c.lease_seconds, 5, 3600);
  r.Str(n, "scheduler", "orphan_policy", c.orphan_policy);
  r.Integer(n, "scheduler", "max_attempts", c.max_attempts, 1, 100);
  r.Integer(n, "scheduler", "poll_interval_ms", c.poll_interval_ms, 50, 60000);
}

void ReadBackends(Reader& r, const YAML::Node& n, BackendsConfig& c) {
  if (!r.Map(n, "backends", {"default", "projects"})) return;
  r.Str(n, "backends", "default", c.default_backend);
  r.StrMap(n, "backends", "projects", c.projects);
}

void ReadRegistry(Reader& r, const YAML::Node& n, RegistryConfig& c) {
  if (!r.Map(n, "registry", {"required_approvals"})) return;
  r.Integer(n, "registry", "required_approvals", c.required_approvals, 1, 2);
}

void ReadWes(Reader& r, const YAML::Node& n, WesConfig& c) {
  if (!r.Map(n, "wes", {"engine_path", "outputs_dir", "public_url", "max_params_bytes"})) return;
  r.Str(n, "wes", "engine_path", c.engine_path);
  r.Str(n, "wes", "outputs_dir", c.outputs_dir);
  r.Str(n, "wes", "public_url", c.public_url);
  r.Integer(n, "wes", "max_params_bytes", c.max_params_bytes, std::uint64_t{1024},
            std::uint64_t{64} << 20);
}

// A YAML node as JSON: mappings, sequences, and scalars as integers, numbers, booleans or strings.
nlohmann::json YamlToJson(const YAML::Node& n) {
  if (n.IsMap()) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& kv : n) j[kv.first.Scalar()] = YamlToJson(kv.second);
    return j;
  }
  if (n.IsSequence()) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& e : n) j.push_back(YamlToJson(e));
    return j;
  }
  if (!n.IsScalar()) return nullptr;
  const std::string& s = n.Scalar();
  if (s == "true" || s == "false") return s == "true";
  long long i = 0;
  if (auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
      ec == std::errc() && end == s.data() + s.size()) {
    return i;
  }
  double d = 0;
  if (absl::SimpleAtod(s, &d) && std::isfinite(d)) return d;
  return s;
}

void ReadAirlock(Reader& r, const YAML::Node& n, AirlockConfig& c) {
  if (!r.Map(n, "airlock",
             {"default_profile", "auto_release", "checkers", "poll_interval_ms", "history_limit",
              "max_downloads", "staging_dir", "profiles", "projects"})) {
    return;
  }
  r.Str(n, "airlock", "default_profile", c.default_profile);
  r.Bool(n, "airlock", "auto_release", c.auto_release);
  r.Integer(n, "airlock", "checkers", c.checkers, 1, 5);
  r.Integer(n, "airlock", "poll_interval_ms", c.poll_interval_ms, 50, 60000);
  r.Integer(n, "airlock", "history_limit", c.history_limit, 0, 10000);
  r.Integer(n, "airlock", "max_downloads", c.max_downloads, 1, 255);
  r.Str(n, "airlock", "staging_dir", c.staging_dir);
  if (const YAML::Node p = n["profiles"]; p && !p.IsNull()) {
    if (!p.IsMap()) {
      r.Error("airlock.profiles", "expected a mapping of profile name -> profile");
    } else {
      for (const auto& kv : p) {
        const std::string name = kv.first.Scalar();
        nlohmann::json j = YamlToJson(kv.second);
        absl::StatusOr<executor::disclosure::Profile> prof =
            executor::disclosure::ProfileFromJson(name, j);
        if (!prof.ok()) {
          r.Error(absl::StrCat("airlock.profiles.", name), std::string(prof.status().message()));
          continue;
        }
        c.profiles[name] = std::move(j);
      }
    }
  }
  if (const YAML::Node p = n["projects"]; p && !p.IsNull()) {
    if (!p.IsMap()) {
      r.Error("airlock.projects",
              "expected a mapping of project -> {profile, auto_release, "
              "checkers}");
    } else {
      for (const auto& kv : p) {
        const std::string where = absl::StrCat("airlock.projects.", kv.first.Scalar());
        AirlockProjectConfig pc;
        if (r.Map(kv.second, where, {"profile", "auto_release", "checkers"})) {
          r.Str(kv.second, where, "profile", pc.profile);
          if (kv.second["auto_release"]) {
            bool b = false;
            r.Bool(kv.second, where, "auto_release", b);
            pc.auto_release = b;
          }
          r.Integer(kv.second, where, "checkers", pc.checkers, 1, 5);
        }
        c.projects[kv.first.Scalar()] = pc;
      }
    }
  }
  auto known = [&](const std::string& name) {
    return c.profiles.contains(name) || executor::disclosure::BuiltinProfile(name).ok();
  };
  if (!known(c.default_profile)) {
    r.Error("airlock.default_profile", absl::StrCat("unknown profile '", c.default_profile, "'"));
  }
  for (const auto& [project, pc] : c.projects) {
    if (!pc.profile.empty() && !known(pc.profile)) {
      r.Error(absl::StrCat("airlock.projects.", project, ".profile"),
              absl::StrCat("unknown profile '", pc.profile, "'"));
    }
  }
}

void ReadSlurm(Reader& r, const YAML::Node& n, SlurmConfig& c) {
  if (!r.Map(n, "slurm",
             {"enabled",
              "bin_dir",
              "slurm_conf",
              "command_timeout_seconds",
              "poll_interval_ms",
              "max_jobs",
              "shared_dir",
              "scratch_dir",
              "node_program",
              "jobcomp_file",
              "partition",
              "account",
              "qos",
              "partitions",
              "accounts",
              "default_time_minutes",
              "max_time_minutes",
              "lost_after_seconds",
              "relay_url",
              "relay_ca_bundle",
              "job_env"})) {
    return;
  }
  r.Bool(n, "slurm", "enabled", c.enabled);
  r.Str(n, "slurm", "bin_dir", c.bin_dir);
  r.Str(n, "slurm", "slurm_conf", c.slurm_conf);
  r.Integer(n, "slurm", "command_timeout_seconds", c.command_timeout_seconds, 1, 600);
  r.Integer(n, "slurm", "poll_interval_ms", c.poll_interval_ms, 100, 600000);
  r.Integer(n, "slurm", "max_jobs", c.max_jobs, 1, 100000);
  r.Str(n, "slurm", "shared_dir", c.shared_dir);
  r.Str(n, "slurm", "scratch_dir", c.scratch_dir);
  r.Str(n, "slurm", "node_program", c.node_program);
  r.Str(n, "slurm", "jobcomp_file", c.jobcomp_file);
  r.Str(n, "slurm", "partition", c.partition);
  r.Str(n, "slurm", "account", c.account);
  r.Str(n, "slurm", "qos", c.qos);
  r.StrList(n, "slurm", "partitions", c.partitions);
  r.StrList(n, "slurm", "accounts", c.accounts);
  r.Integer(n, "slurm", "default_time_minutes", c.default_time_minutes, 1, 525600);
  r.Integer(n, "slurm", "max_time_minutes", c.max_time_minutes, 1, 525600);
  r.Integer(n, "slurm", "lost_after_seconds", c.lost_after_seconds, 5, 86400);
  r.Str(n, "slurm", "relay_url", c.relay_url);
  r.Str(n, "slurm", "relay_ca_bundle", c.relay_ca_bundle);
  r.StrList(n, "slurm", "job_env", c.job_env);
}

void ReadLocal(Reader& r, const YAML::Node& n, LocalConfig& c) {
  if (!r.Map(n, "local",
             {"work_dir", "worker_path", "worker_user", "max_task_seconds", "default_disk_gb",
              "default_ram_gb", "max_ram_gb", "max_disk_gb", "max_cpu_cores", "log_tail_bytes",
              "keep_task_dirs"})) {
    return;
  }
  r.Str(n, "local", "work_dir", c.work_dir);
  r.Str(n, "local", "worker_path", c.worker_path);
  r.Str(n, "local", "worker_user", c.worker_user);
  r.Integer(n, "local", "max_task_seconds", c.max_task_seconds, 1, 30 * 86400);
  r.Number(n, "local", "default_disk_gb", c.default_disk_gb, 0.001, 65536);
  r.Number(n, "local", "default_ram_gb", c.default_ram_gb, 0.001, 65536);
  r.Number(n, "local", "max_ram_gb", c.max_ram_gb, 0.001, 65536);
  r.Number(n, "local", "max_disk_gb", c.max_disk_gb, 0.001, 65536);
  r.Integer(n, "local", "max_cpu_cores", c.max_cpu_cores, 0, 4096);
  r.Integer<std::uint64_t>(n, "local", "log_tail_bytes", c.log_tail_bytes, 1024, 16 << 20);
  r.Bool(n, "local", "keep_task_dirs", c.keep_task_dirs);
}

void ReadEnvironments(Reader& r, const YAML::Node& n, std::vector<EnvironmentConfig>& out) {
  if (!n || n.IsNull()) return;
  if (!n.IsSequence()) {
    r.Error("environments", "expected a list of {name, root, aliases}");
    return;
  }
  out.clear();
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string path = absl::StrCat("environments[", i, "]");
    EnvironmentConfig e;
    e.aliases.clear();
    if (!r.Map(n[i], path, {"name", "root", "aliases"})) {
      if (!n[i] || n[i].IsNull()) r.Error(path, "expected a mapping");
      continue;
    }
    r.Str(n[i], path, "name", e.name);
    r.Str(n[i], path, "root", e.root);
    r.StrList(n[i], path, "aliases", e.aliases);
    out.push_back(std::move(e));
  }
}

void ReadStorage(Reader& r, const YAML::Node& n, StorageConfig& c) {
  if (!r.Map(n, "storage",
             {"input_roots", "output_roots", "http_allow_hosts", "s3", "max_input_bytes",
              "transfer_timeout_seconds"})) {
    return;
  }
  r.StrList(n, "storage", "input_roots", c.input_roots);
  r.StrList(n, "storage", "output_roots", c.output_roots);
  r.StrList(n, "storage", "http_allow_hosts", c.http_allow_hosts);
  r.Integer<std::uint64_t>(n, "storage", "max_input_bytes", c.max_input_bytes, 1,
                           std::uint64_t{1} << 50);
  r.Integer(n, "storage", "transfer_timeout_seconds", c.transfer_timeout_seconds, 1, 7 * 86400);
  const YAML::Node s3 = n["s3"];
  if (r.Map(s3, "storage.s3",
            {"endpoint", "region", "access_key_id", "secret_access_key", "path_style"})) {
    r.Str(s3, "storage.s3", "endpoint", c.s3.endpoint);
    r.Str(s3, "storage.s3", "region", c.s3.region);
    r.Str(s3, "storage.s3", "access_key_id", c.s3.access_key_id);
    r.Str(s3, "storage.s3", "secret_access_key", c.s3.secret_access_key);
    r.Bool(s3, "storage.s3", "path_style", c.s3.path_style);
  }
}

void ReadServiceInfo(Reader& r, const YAML::Node& n, ServiceInfoConfig& c) {
  if (!r.Map(n, "service_info",
             {"id", "name", "description", "organization_name", "organization_url", "contact_url",
              "documentation_url", "environment"})) {
    return;
  }
  r.Str(n, "service_info", "id", c.id);
  r.Str(n, "service_info", "name", c.name);
  r.Str(n, "service_info", "description", c.description);
  r.Str(n, "service_info", "organization_name", c.organization_name);
  r.Str(n, "service_info", "organization_url", c.organization_url);
  r.Str(n, "service_info", "contact_url", c.contact_url);
  r.Str(n, "service_info", "documentation_url", c.documentation_url);
  r.Str(n, "service_info", "environment", c.environment);
}

void ReadAuth(Reader& r, const YAML::Node& n, AuthConfig& c) {
  if (!r.Map(n, "auth", {"mode", "oidc", "mtls", "access_keys"})) return;
  r.StrList(n, "auth", "mode", c.mode);
  const YAML::Node o = n["oidc"];
  if (r.Map(
          o, "auth.oidc",
          {"issuer", "audiences", "jwks_file", "jwks_url", "ca_bundle", "allow_insecure_jwks_http",
           "leeway_seconds", "roles_claim", "role_values", "projects_claim", "project_prefix"})) {
    r.Str(o, "auth.oidc", "issuer", c.oidc.issuer);
    r.StrList(o, "auth.oidc", "audiences", c.oidc.audiences);
    r.Str(o, "auth.oidc", "jwks_file", c.oidc.jwks_file);
    r.Str(o, "auth.oidc", "jwks_url", c.oidc.jwks_url);
    r.Str(o, "auth.oidc", "ca_bundle", c.oidc.ca_bundle);
    r.Bool(o, "auth.oidc", "allow_insecure_jwks_http", c.oidc.allow_insecure_jwks_http);
    r.Integer(o, "auth.oidc", "leeway_seconds", c.oidc.leeway_seconds, 0, 600);
    r.Str(o, "auth.oidc", "roles_claim", c.oidc.roles_claim);
    r.StrMap(o, "auth.oidc", "role_values", c.oidc.role_values);
    r.Str(o, "auth.oidc", "projects_claim", c.oidc.projects_claim);
    r.Str(o, "auth.oidc", "project_prefix", c.oidc.project_prefix);
  }
  const YAML::Node m = n["mtls"];
  if (r.Map(m, "auth.mtls", {"trusted_proxies", "verify_header", "cert_header", "identities"})) {
    r.StrList(m, "auth.mtls", "trusted_proxies", c.mtls.trusted_proxies);
    r.Str(m, "auth.mtls", "verify_header", c.mtls.verify_header);
    r.Str(m, "auth.mtls", "cert_header", c.mtls.cert_header);
    const YAML::Node ids = m["identities"];
    if (ids && !ids.IsNull()) {
      if (!ids.IsSequence()) {
        r.Error("auth.mtls.identities", "expected a list");
      } else {
        for (std::size_t i = 0; i < ids.size(); ++i) {
          const std::string path = absl::StrCat("auth.mtls.identities[", i, "]");
          CertIdentityConfig id;
          if (!r.Map(ids[i], path,
                     {"fingerprint_sha256", "subject", "roles", "projects", "read_only"})) {
            continue;
          }
          r.Str(ids[i], path, "fingerprint_sha256", id.fingerprint_sha256);
          r.Str(ids[i], path, "subject", id.subject);
          r.StrList(ids[i], path, "roles", id.roles);
          r.StrList(ids[i], path, "projects", id.projects);
          r.Bool(ids[i], path, "read_only", id.read_only);
          c.mtls.identities.push_back(std::move(id));
        }
      }
    }
  }
  const YAML::Node k = n["access_keys"];
  if (r.Map(k, "auth.access_keys", {"default_ttl_days", "max_ttl_days"})) {
    r.Integer(k, "auth.access_keys", "default_ttl_days", c.access_keys.default_ttl_days, 1, 3650);
    r.Integer(k, "auth.access_keys", "max_ttl_days", c.access_keys.max_ttl_days, 1, 3650);
  }
}

void ReadEnclave(Reader& r, const YAML::Node& n, EnclaveConfig& c) {
  if (!r.Map(
          n, "enclave",
          {"enabled", "debug_workers", "allow_debug", "min_security_version", "platform_key_file",
           "trusted_platform_keys", "master_key_file", "reference_measurements", "token_issuer",
           "token_audience", "token_ttl_seconds", "nonce_ttl_seconds",
           "signing_key_rotation_seconds", "relay_token_ttl_seconds", "seal_outputs"})) {
    return;
  }
  r.Bool(n, "enclave", "enabled", c.enabled);
  r.Bool(n, "enclave", "debug_workers", c.debug_workers);
  r.Bool(n, "enclave", "allow_debug", c.allow_debug);
  r.Integer(n, "enclave", "min_security_version", c.min_security_version, 0, 1 << 16);
  r.Str(n, "enclave", "platform_key_file", c.platform_key_file);
  r.StrList(n, "enclave", "trusted_platform_keys", c.trusted_platform_keys);
  r.Str(n, "enclave", "master_key_file", c.master_key_file);
  r.StrList(n, "enclave", "reference_measurements", c.reference_measurements);
  r.Str(n, "enclave", "token_issuer", c.token_issuer);
  r.Str(n, "enclave", "token_audience", c.token_audience);
  r.Integer(n, "enclave", "token_ttl_seconds", c.token_ttl_seconds, 10, 86400);
  r.Integer(n, "enclave", "nonce_ttl_seconds", c.nonce_ttl_seconds, 1, 3600);
  r.Integer(n, "enclave", "signing_key_rotation_seconds", c.signing_key_rotation_seconds, 1,
            365 * 86400);
  r.Integer(n, "enclave", "relay_token_ttl_seconds", c.relay_token_ttl_seconds, 60, 365 * 86400);
  r.Bool(n, "enclave", "seal_outputs", c.seal_outputs);
}

void ReadLog(Reader& r, const YAML::Node& n, LogConfig& c) {
  if (!r.Map(n, "log", {"level", "format", "file"})) return;
  r.Str(n, "log", "level", c.level);
  r.Str(n, "log", "format", c.format);
  r.Str(n, "log", "file", c.file);
}

absl::Status Collect(const std::vector<std::string>& errors) {
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
}

bool IsRoleName(const std::string& r) {
  return r == "researcher" || r == "workflow-admin" || r == "output-checker" || r == "auditor" ||
         r == "data-owner";
}

void ValidateEnclave(const EnclaveConfig& e, std::vector<std::string>& errors) {
  static const std::regex kHex64("^[0-9a-f]{64}$");
  for (const std::string& m : e.reference_measurements) {
    if (!std::regex_match(m, kHex64)) {
      errors.push_back(absl::StrCat("enclave.reference_measurements: '", m,
                                    "' is not 64 lower-case hex digits"));
    }
  }
  for (const std::string& f : {e.platform_key_file, e.master_key_file}) {
    if (!f.empty() && f.front() != '/') {
      errors.push_back(absl::StrCat("enclave: key file '", f, "' must be an absolute path"));
    }
  }
  for (const std::string& f : e.trusted_platform_keys) {
    if (f.empty() || f.front() != '/') {
      errors.push_back(
          absl::StrCat("enclave.trusted_platform_keys: '", f, "' must be an absolute path"));
    }
  }
  if (e.token_audience.empty()) errors.push_back("enclave.token_audience: must not be empty");
  if (e.signing_key_rotation_seconds < e.token_ttl_seconds) {
    errors.push_back("enclave.signing_key_rotation_seconds: must be at least token_ttl_seconds");
  }
  if (e.debug_workers && !e.enabled) {
    errors.push_back("enclave.debug_workers: needs enclave.enabled");
  }
}

void ValidateBackends(const Config& c, std::vector<std::string>& errors) {
  auto known = [&](const std::string& b) {
    return b == "local" || (b == "slurm" && c.slurm.enabled);
  };
  if (!known(c.backends.default_backend)) {
    errors.push_back(absl::StrCat("backends.default: '", c.backends.default_backend,
                                  "' is not local or an enabled slurm"));
  }
  for (const auto& [project, b] : c.backends.projects) {
    if (!known(b)) {
      errors.push_back(absl::StrCat("backends.projects.", project, ": '", b,
                                    "' is not local or an enabled slurm"));
    }
  }
  const SlurmConfig& s = c.slurm;
  if (s.default_time_minutes > s.max_time_minutes) {
    errors.push_back("slurm.default_time_minutes: must not exceed max_time_minutes");
  }
  for (const auto& [key, path] :
       {std::pair{"shared_dir", s.shared_dir}, std::pair{"scratch_dir", s.scratch_dir},
        std::pair{"node_program", s.node_program}, std::pair{"bin_dir", s.bin_dir},
        std::pair{"slurm_conf", s.slurm_conf}, std::pair{"jobcomp_file", s.jobcomp_file}}) {
    if (!path.empty() && path.front() != '/') {
      errors.push_back(absl::StrCat("slurm.", key, ": must be an absolute path"));
    }
  }
  static const std::regex kName("^[A-Za-z0-9._-]{1,64}$");
  for (const auto& [key, v] : {std::pair{"partition", s.partition}, std::pair{"account", s.account},
                               std::pair{"qos", s.qos}}) {
    if (!v.empty() && !std::regex_match(v, kName)) {
      errors.push_back(absl::StrCat("slurm.", key, ": '", v, "' is not a SLURM name"));
    }
  }
  for (const std::string& v : s.partitions) {
    if (!std::regex_match(v, kName)) {
      errors.push_back(absl::StrCat("slurm.partitions: '", v, "' is not a SLURM name"));
    }
  }
  for (const std::string& v : s.accounts) {
    if (!std::regex_match(v, kName)) {
      errors.push_back(absl::StrCat("slurm.accounts: '", v, "' is not a SLURM name"));
    }
  }
  static const std::regex kEnv("^[A-Za-z_][A-Za-z0-9_]*=.*$");
  for (const std::string& e : s.job_env) {
    if (!std::regex_match(e, kEnv)) {
      errors.push_back(absl::StrCat("slurm.job_env: '", e, "' is not KEY=VALUE"));
    }
  }
  if (!s.relay_url.empty() && s.relay_url.rfind("http://", 0) != 0 &&
      s.relay_url.rfind("https://", 0) != 0) {
    errors.push_back("slurm.relay_url: must be an http:// or https:// URL");
  }
}

void ValidateWes(const Config& c, std::vector<std::string>& errors) {
  const WesConfig& w = c.wes;
  if (!w.outputs_dir.empty()) {
    if (w.outputs_dir.front() != '/') {
      errors.push_back("wes.outputs_dir: must be an absolute path");
    } else {
      bool under = false;
      for (const std::string& root : c.storage.output_roots) {
        const std::string r = root.ends_with('/') ? root : root + "/";
        under |= w.outputs_dir == root || w.outputs_dir.starts_with(r);
      }
      if (!under) errors.push_back("wes.outputs_dir: must lie under one of storage.output_roots");
    }
  }
  if (!w.public_url.empty() && !w.public_url.starts_with("http://") &&
      !w.public_url.starts_with("https://")) {
    errors.push_back("wes.public_url: must be an http:// or https:// URL");
  }
  if (w.engine_path.empty()) errors.push_back("wes.engine_path: must not be empty");
}

void ValidateAuth(const Config& c, std::vector<std::string>& errors) {
  const AuthConfig& a = c.auth;
  static const std::set<std::string> kModes = {"oidc", "mtls", "access-keys", "none"};
  for (const std::string& m : a.mode) {
    if (!kModes.contains(m)) {
      errors.push_back(
          absl::StrCat("auth.mode: '", m, "' is not one of oidc, mtls, access-keys, none"));
    }
  }
  if (a.enabled("none") && a.mode.size() > 1) {
    errors.push_back("auth.mode: none cannot be combined with other modes");
  }
  if (a.enabled("oidc")) {
    if (a.oidc.issuer.empty()) errors.push_back("auth.oidc.issuer: required with mode oidc");
    if (a.oidc.audiences.empty()) errors.push_back("auth.oidc.audiences: required with mode oidc");
    if (a.oidc.jwks_file.empty() == a.oidc.jwks_url.empty()) {
      errors.push_back("auth.oidc: set exactly one of jwks_file and jwks_url");
    }
    if (!a.oidc.jwks_url.empty() && a.oidc.jwks_url.rfind("https://", 0) != 0 &&
        !(a.oidc.allow_insecure_jwks_http && a.oidc.jwks_url.rfind("http://", 0) == 0)) {
      errors.push_back("auth.oidc.jwks_url: must be https://");
    }
    for (const auto& [value, role] : a.oidc.role_values) {
      if (!IsRoleName(role)) {
        errors.push_back(
            absl::StrCat("auth.oidc.role_values: '", role, "' (for '", value, "') is not a role"));
      }
    }
  }
  static const std::regex kHex64("^[0-9a-f]{64}$");
  for (std::size_t i = 0; i < a.mtls.identities.size(); ++i) {
    const CertIdentityConfig& id = a.mtls.identities[i];
    const std::string path = absl::StrCat("auth.mtls.identities[", i, "]");
    if (!std::regex_match(id.fingerprint_sha256, kHex64)) {
      errors.push_back(path + ".fingerprint_sha256: must be 64 lower-case hex digits");
    }
    if (id.subject.empty()) errors.push_back(path + ".subject: required");
    for (const std::string& r : id.roles) {
      if (!IsRoleName(r)) errors.push_back(absl::StrCat(path, ".roles: '", r, "' is not a role"));
    }
  }
  if (a.access_keys.default_ttl_days > a.access_keys.max_ttl_days) {
    errors.push_back("auth.access_keys.default_ttl_days: must not exceed max_ttl_days");
  }
}

}  // namespace

absl::StatusOr<Config> ParseConfig(std::string_view yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", e.mark.line + 1, ", column ", e.mark.column + 1, ": ", e.msg));
  }
  Config c;
  Reader r;
  if (root && !root.IsNull()) {
    if (r.Map(root, "",
              {"data_dir", "server", "database", "embedded", "scheduler", "local", "environments",
               "storage", "service_info", "auth", "enclave", "backends", "slurm", "registry", "wes",
               "airlock", "log"})) {
      r.Str(root, "", "data_dir", c.data_dir);
      ReadServer(r, root["server"], c.server);
      ReadDatabase(r, root["database"], c.database);
      ReadEmbedded(r, root["embedded"], c.embedded);
      ReadScheduler(r, root["scheduler"], c.scheduler);
      ReadLocal(r, root["local"], c.local);
      ReadEnvironments(r, root["environments"], c.environments);
      ReadStorage(r, root["storage"], c.storage);
      ReadServiceInfo(r, root["service_info"], c.service_info);
      ReadAuth(r, root["auth"], c.auth);
      ReadEnclave(r, root["enclave"], c.enclave);
      ReadBackends(r, root["backends"], c.backends);
      ReadSlurm(r, root["slurm"], c.slurm);
      ReadRegistry(r, root["registry"], c.registry);
      ReadWes(r, root["wes"], c.wes);
      ReadAirlock(r, root["airlock"], c.airlock);
      ReadLog(r, root["log"], c.log);
    }
  }
  if (absl::Status s = Collect(r.errors()); !s.ok()) return s;
  return c;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<Config> c = ParseConfig(ss.str());
  if (!c.ok()) {
    return absl::Status(c.status().code(), absl::StrCat(path, ":\n", c.status().message()));
  }
  return c;
}

void ApplyEnvOverrides(Config& config,
                       const std::function<std::optional<std::string>(const char*)>& getenv) {
  if (std::optional<std::string> dsn = getenv("SAFEFLOW_DB_DSN"); dsn && !dsn->empty()) {
    config.database.url = *dsn;
  }
  if (std::optional<std::string> secret = getenv("SAFEFLOW_S3_SECRET_ACCESS_KEY");
      secret && !secret->empty()) {
    config.storage.s3.secret_access_key = *secret;
  }
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view s) {
  HostPort hp;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("'", std::string(s), "' is not [IPV6]:PORT"));
    }
    hp.host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(absl::StrCat("'", std::string(s), "' is not HOST:PORT"));
    }
    hp.host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
    if (hp.host.find(':') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", std::string(s), "': write IPv6 as [ADDR]:PORT"));
    }
  }
  int p = -1;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", std::string(s), "': port must be 0..65535"));
  }
  hp.port = p;
  if (hp.host.empty())
    return absl::InvalidArgumentError(absl::StrCat("'", std::string(s), "': empty host"));
  return hp;
}

absl::Status ValidateConfig(const Config& c) {
  std::vector<std::string> errors;
  if (c.data_dir.empty()) {
    errors.push_back("data_dir: must not be empty");
  } else if (c.data_dir.front() != '/') {
    errors.push_back("data_dir: must be an absolute path");
  }
  if (absl::StatusOr<HostPort> hp = ParseHostPort(c.server.listen); !hp.ok()) {
    errors.push_back(absl::StrCat("server.listen: ", hp.status().message()));
  }
  static const std::set<std::string> kLevels = {"trace", "debug",    "info", "warn",
                                                "error", "critical", "off"};
  if (!kLevels.contains(c.log.level)) {
    errors.push_back(absl::StrCat("log.level: '", c.log.level, "' is not one of ",
                                  absl::StrJoin(kLevels, ", ")));
  }
  if (c.log.format != "text" && c.log.format != "json") {
    errors.push_back(absl::StrCat("log.format: '", c.log.format, "' is not text or json"));
  }
  if (c.embedded_database()) {
    static const std::regex kUser("^[a-z_][a-z0-9_-]{0,31}$");
    if (!std::regex_match(c.embedded.system_user, kUser)) {
      errors.push_back(absl::StrCat("embedded.system_user: '", c.embedded.system_user,
                                    "' is not a valid system user name"));
    }
    if (c.embedded.system_user == "root") {
      errors.push_back("embedded.system_user: must not be root");
    }
    static const std::regex kMem("^[0-9]+(kB|MB|GB)$");
    if (!std::regex_match(c.embedded.shared_buffers, kMem)) {
      errors.push_back(absl::StrCat("embedded.shared_buffers: '", c.embedded.shared_buffers,
                                    "' is not like 128MB"));
    }
    if (!c.embedded.bin_dir.empty() && c.embedded.bin_dir.front() != '/') {
      errors.push_back("embedded.bin_dir: must be an absolute path");
    }
    if (c.database.pool_size + 5 > c.embedded.max_connections) {
      errors.push_back("database.pool_size: must leave 5 of embedded.max_connections spare");
    }
  }
  if (c.airlock.max_downloads >= c.server.handler_threads) {
    errors.push_back(absl::StrCat("airlock.max_downloads: ", c.airlock.max_downloads,
                                  " must be below server.handler_threads (",
                                  c.server.handler_threads,
                                  "): each download holds a handler thread"));
  }
  if (c.scheduler.orphan_policy != "requeue" && c.scheduler.orphan_policy != "fail") {
    errors.push_back(absl::StrCat("scheduler.orphan_policy: '", c.scheduler.orphan_policy,
                                  "' is not requeue or fail"));
  }
  static const std::regex kName("^[a-z_][a-z0-9_-]{0,31}$");
  if (!std::regex_match(c.local.worker_user, kName) || c.local.worker_user == "root") {
    errors.push_back(absl::StrCat("local.worker_user: '", c.local.worker_user,
                                  "' is not a valid non-root system user name"));
  }
  if (c.local.default_ram_gb > c.local.max_ram_gb) {
    errors.push_back("local.default_ram_gb: must not exceed local.max_ram_gb");
  }
  if (c.local.default_disk_gb > c.local.max_disk_gb) {
    errors.push_back("local.default_disk_gb: must not exceed local.max_disk_gb");
  }
  for (const std::string* p : {&c.local.work_dir, &c.local.worker_path}) {
    if (!p->empty() && p->front() != '/') {
      errors.push_back(absl::StrCat(p == &c.local.work_dir ? "local.work_dir" : "local.worker_path",
                                    ": must be an absolute path"));
    }
  }
  if (c.environments.empty()) errors.push_back("environments: at least one is required");
  std::set<std::string> image_names;
  for (std::size_t i = 0; i < c.environments.size(); ++i) {
    const EnvironmentConfig& e = c.environments[i];
    const std::string path = absl::StrCat("environments[", i, "]");
    if (e.name.empty()) errors.push_back(path + ".name: required");
    if (e.root.empty() || e.root.front() != '/') {
      errors.push_back(path + ".root: must be an absolute path");
    }
    std::vector<std::string> names = e.aliases;
    names.push_back(e.name);
    for (const std::string& n : names) {
      if (!n.empty() && !image_names.insert(n).second) {
        errors.push_back(absl::StrCat(path, ": image name '", n, "' is used twice"));
      }
    }
  }
  for (const auto* roots : {&c.storage.input_roots, &c.storage.output_roots}) {
    for (const std::string& r : *roots) {
      if (r.empty() || r.front() != '/') {
        errors.push_back(absl::StrCat(
            roots == &c.storage.input_roots ? "storage.input_roots" : "storage.output_roots", ": '",
            r, "' must be an absolute path"));
      }
    }
  }
  ValidateAuth(c, errors);
  ValidateEnclave(c.enclave, errors);
  ValidateBackends(c, errors);
  ValidateWes(c, errors);
  if (!c.storage.s3.endpoint.empty() && c.storage.s3.endpoint.rfind("http://", 0) != 0 &&
      c.storage.s3.endpoint.rfind("https://", 0) != 0) {
    errors.push_back("storage.s3.endpoint: must start with http:// or https://");
  }
  return Collect(errors);
}

std::string RedactDsn(std::string_view dsn) {
  std::string out(dsn);
  // URI form: scheme://user:password@host
  static const std::regex kUri(R"(^([a-z]+://[^:/@]*):[^@]*@)");
  out = std::regex_replace(out, kUri, "$1:***@", std::regex_constants::format_first_only);
  // key=value form, quoted or not.
  static const std::regex kKv(R"((password\s*=\s*)('([^'\\]|\\.)*'|[^\s]*))");
  out = std::regex_replace(out, kKv, "$1***");
  // URI query parameter.
  static const std::regex kQuery(R"(([?&]password=)[^&]*)");
  out = std::regex_replace(out, kQuery, "$1***");
  return out;
}

std::string Config::Redacted() const {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "data_dir" << YAML::Value << data_dir;
  e << YAML::Key << "server" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "listen" << YAML::Value << server.listen;
  e << YAML::Key << "io_threads" << YAML::Value << server.io_threads;
  e << YAML::Key << "handler_threads" << YAML::Value << server.handler_threads;
  e << YAML::Key << "max_request_bytes" << YAML::Value << server.max_request_bytes;
  e << YAML::Key << "header_timeout_seconds" << YAML::Value << server.header_timeout_seconds;
  e << YAML::Key << "body_timeout_seconds" << YAML::Value << server.body_timeout_seconds;
  e << YAML::Key << "shutdown_grace_seconds" << YAML::Value << server.shutdown_grace_seconds;
  e << YAML::Key << "stream_stall_seconds" << YAML::Value << server.stream_stall_seconds;
  e << YAML::EndMap;
  e << YAML::Key << "database" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "url" << YAML::Value << RedactDsn(database.url);
  e << YAML::Key << "pool_size" << YAML::Value << database.pool_size;
  e << YAML::Key << "connect_timeout_seconds" << YAML::Value << database.connect_timeout_seconds;
  e << YAML::Key << "acquire_timeout_ms" << YAML::Value << database.acquire_timeout_ms;
  e << YAML::Key << "statement_timeout_ms" << YAML::Value << database.statement_timeout_ms;
  e << YAML::Key << "startup_timeout_seconds" << YAML::Value << database.startup_timeout_seconds;
  e << YAML::EndMap;
  e << YAML::Key << "embedded" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "bin_dir" << YAML::Value << embedded.bin_dir;
  e << YAML::Key << "system_user" << YAML::Value << embedded.system_user;
  e << YAML::Key << "start_timeout_seconds" << YAML::Value << embedded.start_timeout_seconds;
  e << YAML::Key << "shared_buffers" << YAML::Value << embedded.shared_buffers;
  e << YAML::Key << "max_connections" << YAML::Value << embedded.max_connections;
  e << YAML::EndMap;
  e << YAML::Key << "scheduler" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "max_concurrent_tasks" << YAML::Value << scheduler.max_concurrent_tasks;
  e << YAML::Key << "lease_seconds" << YAML::Value << scheduler.lease_seconds;
  e << YAML::Key << "orphan_policy" << YAML::Value << scheduler.orphan_policy;
  e << YAML::Key << "max_attempts" << YAML::Value << scheduler.max_attempts;
  e << YAML::Key << "poll_interval_ms" << YAML::Value << scheduler.poll_interval_ms;
  e << YAML::EndMap;
  e << YAML::Key << "local" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "work_dir" << YAML::Value << local.work_dir;
  e << YAML::Key << "worker_path" << YAML::Value << local.worker_path;
  e << YAML::Key << "worker_user" << YAML::Value << local.worker_user;
  e << YAML::Key << "max_task_seconds" << YAML::Value << local.max_task_seconds;
  e << YAML::Key << "default_disk_gb" << YAML::Value << local.default_disk_gb;
  e << YAML::Key << "default_ram_gb" << YAML::Value << local.default_ram_gb;
  e << YAML::Key << "max_ram_gb" << YAML::Value << local.max_ram_gb;
  e << YAML::Key << "max_disk_gb" << YAML::Value << local.max_disk_gb;
  e << YAML::Key << "max_cpu_cores" << YAML::Value << local.max_cpu_cores;
  e << YAML::Key << "log_tail_bytes" << YAML::Value << local.log_tail_bytes;
  e << YAML::Key << "keep_task_dirs" << YAML::Value << local.keep_task_dirs;
  e << YAML::EndMap;
  e << YAML::Key << "environments" << YAML::Value << YAML::BeginSeq;
  for (const EnvironmentConfig& env : environments) {
    e << YAML::BeginMap;
    e << YAML::Key << "name" << YAML::Value << env.name;
    e << YAML::Key << "root" << YAML::Value << env.root;
    e << YAML::Key << "aliases" << YAML::Value << YAML::Flow << env.aliases;
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
  e << YAML::Key << "storage" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "input_roots" << YAML::Value << YAML::Flow << storage.input_roots;
  e << YAML::Key << "output_roots" << YAML::Value << YAML::Flow << storage.output_roots;
  e << YAML::Key << "http_allow_hosts" << YAML::Value << YAML::Flow << storage.http_allow_hosts;
  e << YAML::Key << "s3" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "endpoint" << YAML::Value << storage.s3.endpoint;
  e << YAML::Key << "region" << YAML::Value << storage.s3.region;
  e << YAML::Key << "access_key_id" << YAML::Value << storage.s3.access_key_id;
  e << YAML::Key << "secret_access_key" << YAML::Value
    << (storage.s3.secret_access_key.empty() ? "" : "***");
  e << YAML::Key << "path_style" << YAML::Value << storage.s3.path_style;
  e << YAML::EndMap;
  e << YAML::Key << "max_input_bytes" << YAML::Value << storage.max_input_bytes;
  e << YAML::Key << "transfer_timeout_seconds" << YAML::Value << storage.transfer_timeout_seconds;
  e << YAML::EndMap;
  e << YAML::Key << "service_info" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "id" << YAML::Value << service_info.id;
  e << YAML::Key << "name" << YAML::Value << service_info.name;
  e << YAML::Key << "description" << YAML::Value << service_info.description;
  e << YAML::Key << "organization_name" << YAML::Value << service_info.organization_name;
  e << YAML::Key << "organization_url" << YAML::Value << service_info.organization_url;
  e << YAML::Key << "contact_url" << YAML::Value << service_info.contact_url;
  e << YAML::Key << "documentation_url" << YAML::Value << service_info.documentation_url;
  e << YAML::Key << "environment" << YAML::Value << service_info.environment;
  e << YAML::EndMap;
  e << YAML::Key << "auth" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "mode" << YAML::Value << YAML::Flow << auth.mode;
  e << YAML::Key << "oidc" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "issuer" << YAML::Value << auth.oidc.issuer;
  e << YAML::Key << "audiences" << YAML::Value << YAML::Flow << auth.oidc.audiences;
  e << YAML::Key << "jwks_file" << YAML::Value << auth.oidc.jwks_file;
  e << YAML::Key << "jwks_url" << YAML::Value << auth.oidc.jwks_url;
  e << YAML::Key << "leeway_seconds" << YAML::Value << auth.oidc.leeway_seconds;
  e << YAML::Key << "roles_claim" << YAML::Value << auth.oidc.roles_claim;
  e << YAML::Key << "projects_claim" << YAML::Value << auth.oidc.projects_claim;
  e << YAML::EndMap;
  e << YAML::Key << "mtls" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "trusted_proxies" << YAML::Value << YAML::Flow << auth.mtls.trusted_proxies;
  e << YAML::Key << "identities" << YAML::Value << auth.mtls.identities.size();
  e << YAML::EndMap;
  e << YAML::EndMap;
  e << YAML::Key << "enclave" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "enabled" << YAML::Value << enclave.enabled;
  e << YAML::Key << "debug_workers" << YAML::Value << enclave.debug_workers;
  e << YAML::Key << "allow_debug" << YAML::Value << enclave.allow_debug;
  e << YAML::Key << "min_security_version" << YAML::Value << enclave.min_security_version;
  e << YAML::Key << "platform_key_file" << YAML::Value << enclave.platform_key_file;
  e << YAML::Key << "trusted_platform_keys" << YAML::Value << YAML::Flow
    << enclave.trusted_platform_keys;
  e << YAML::Key << "master_key_file" << YAML::Value << enclave.master_key_file;
  e << YAML::Key << "reference_measurements" << YAML::Value << YAML::Flow
    << enclave.reference_measurements;
  e << YAML::Key << "token_issuer" << YAML::Value << enclave.token_issuer;
  e << YAML::Key << "token_audience" << YAML::Value << enclave.token_audience;
  e << YAML::Key << "token_ttl_seconds" << YAML::Value << enclave.token_ttl_seconds;
  e << YAML::Key << "nonce_ttl_seconds" << YAML::Value << enclave.nonce_ttl_seconds;
  e << YAML::Key << "signing_key_rotation_seconds" << YAML::Value
    << enclave.signing_key_rotation_seconds;
  e << YAML::Key << "relay_token_ttl_seconds" << YAML::Value << enclave.relay_token_ttl_seconds;
  e << YAML::Key << "seal_outputs" << YAML::Value << enclave.seal_outputs;
  e << YAML::EndMap;
  e << YAML::Key << "backends" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "default" << YAML::Value << backends.default_backend;
  e << YAML::Key << "projects" << YAML::Value << YAML::Flow << backends.projects;
  e << YAML::EndMap;
  e << YAML::Key << "registry" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "required_approvals" << YAML::Value << registry.required_approvals;
  e << YAML::EndMap;
  e << YAML::Key << "wes" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "engine_path" << YAML::Value << wes.engine_path;
  e << YAML::Key << "outputs_dir" << YAML::Value << wes.outputs_dir;
  e << YAML::Key << "public_url" << YAML::Value << wes.public_url;
  e << YAML::Key << "max_params_bytes" << YAML::Value << wes.max_params_bytes;
  e << YAML::EndMap;
  e << YAML::Key << "airlock" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "default_profile" << YAML::Value << airlock.default_profile;
  e << YAML::Key << "auto_release" << YAML::Value << airlock.auto_release;
  e << YAML::Key << "checkers" << YAML::Value << airlock.checkers;
  e << YAML::Key << "poll_interval_ms" << YAML::Value << airlock.poll_interval_ms;
  e << YAML::Key << "history_limit" << YAML::Value << airlock.history_limit;
  e << YAML::Key << "max_downloads" << YAML::Value << airlock.max_downloads;
  e << YAML::Key << "staging_dir" << YAML::Value << airlock.staging_dir;
  e << YAML::Key << "profiles" << YAML::Value << YAML::BeginMap;
  for (const auto& [name, p] : airlock.profiles) {
    e << YAML::Key << name << YAML::Value << YAML::Flow << YAML::Load(p.dump());
  }
  e << YAML::EndMap;
  e << YAML::Key << "projects" << YAML::Value << YAML::BeginMap;
  for (const auto& [name, p] : airlock.projects) {
    e << YAML::Key << name << YAML::Value << YAML::Flow << YAML::BeginMap;
    if (!p.profile.empty()) e << YAML::Key << "profile" << YAML::Value << p.profile;
    if (p.auto_release) e << YAML::Key << "auto_release" << YAML::Value << *p.auto_release;
    if (p.checkers > 0) e << YAML::Key << "checkers" << YAML::Value << p.checkers;
    e << YAML::EndMap;
  }
  e << YAML::EndMap;
  e << YAML::EndMap;
  e << YAML::Key << "slurm" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "enabled" << YAML::Value << slurm.enabled;
  e << YAML::Key << "bin_dir" << YAML::Value << slurm.bin_dir;
  e << YAML::Key << "slurm_conf" << YAML::Value << slurm.slurm_conf;
  e << YAML::Key << "command_timeout_seconds" << YAML::Value << slurm.command_timeout_seconds;
  e << YAML::Key << "poll_interval_ms" << YAML::Value << slurm.poll_interval_ms;
  e << YAML::Key << "max_jobs" << YAML::Value << slurm.max_jobs;
  e << YAML::Key << "shared_dir" << YAML::Value << slurm.shared_dir;
  e << YAML::Key << "scratch_dir" << YAML::Value << slurm.scratch_dir;
  e << YAML::Key << "node_program" << YAML::Value << slurm.node_program;
  e << YAML::Key << "jobcomp_file" << YAML::Value << slurm.jobcomp_file;
  e << YAML::Key << "partition" << YAML::Value << slurm.partition;
  e << YAML::Key << "account" << YAML::Value << slurm.account;
  e << YAML::Key << "qos" << YAML::Value << slurm.qos;
  e << YAML::Key << "partitions" << YAML::Value << YAML::Flow << slurm.partitions;
  e << YAML::Key << "accounts" << YAML::Value << YAML::Flow << slurm.accounts;
  e << YAML::Key << "default_time_minutes" << YAML::Value << slurm.default_time_minutes;
  e << YAML::Key << "max_time_minutes" << YAML::Value << slurm.max_time_minutes;
  e << YAML::Key << "lost_after_seconds" << YAML::Value << slurm.lost_after_seconds;
  e << YAML::Key << "relay_url" << YAML::Value << slurm.relay_url;
  e << YAML::Key << "relay_ca_bundle" << YAML::Value << slurm.relay_ca_bundle;
  e << YAML::Key << "job_env" << YAML::Value << slurm.job_env.size();
  e << YAML::EndMap;
  e << YAML::Key << "log" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "level" << YAML::Value << log.level;
  e << YAML::Key << "format" << YAML::Value << log.format;
  e << YAML::Key << "file" << YAML::Value << log.file;
  e << YAML::EndMap;
  e << YAML::EndMap;
  return e.c_str();
}

}  // namespace safeflow::service
