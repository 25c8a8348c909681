// service/config/config.h. safeflowd's typed configuration: YAML (yaml-cpp) loaded once in
// main(), defaults in code, every key documented in deploy/config/safeflowd.example.yaml.
// Unknown keys are errors and all errors are reported at once. Environment variables override
// only secrets and the DSN. Modules receive their own sub-struct by const&. Not thread-safe to
// mutate; immutable after start.
#ifndef SAFEFLOW_SERVICE_CONFIG_CONFIG_H_
#define SAFEFLOW_SERVICE_CONFIG_CONFIG_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace safeflow::service {

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 picks a free one
  int io_threads = 2;                     // Pistache reactor threads
  int handler_threads = 4;                // threads for handlers that touch the database
  std::uint64_t max_request_bytes = 16 * 1024 * 1024;
  int header_timeout_seconds = 60;
  int body_timeout_seconds = 120;
  int shutdown_grace_seconds = 10;
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
  LogConfig log;

  bool embedded_database() const { return database.url.empty(); }
  // The configuration as YAML with secrets (database password) masked: the only way to log it.
  std::string Redacted() const;
};

// Parses YAML text. Every problem (unknown key, wrong type, value out of range) is collected and
// returned together as one InvalidArgument whose message has one line per problem.
[[nodiscard]] absl::StatusOr<Config> ParseConfig(std::string_view yaml_text);
[[nodiscard]] absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// Applies SAFEFLOW_DB_DSN (database.url) from `getenv`. Injected for tests.
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
