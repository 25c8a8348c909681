#include "service/config/config.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "yaml-cpp/yaml.h"

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

  void Error(std::string_view path, std::string_view what) {
    errors_.push_back(absl::StrCat(path.empty() ? std::string("(top level)") : std::string(path),
                                   ": ", std::string(what)));
  }

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<std::string> errors_;
};

void ReadServer(Reader& r, const YAML::Node& n, ServerConfig& c) {
  if (!r.Map(n, "server",
             {"listen", "io_threads", "handler_threads", "max_request_bytes",
              "header_timeout_seconds", "body_timeout_seconds", "shutdown_grace_seconds"})) {
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
    if (r.Map(root, "", {"data_dir", "server", "database", "embedded", "log"})) {
      r.Str(root, "", "data_dir", c.data_dir);
      ReadServer(r, root["server"], c.server);
      ReadDatabase(r, root["database"], c.database);
      ReadEmbedded(r, root["embedded"], c.embedded);
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
  e << YAML::Key << "log" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "level" << YAML::Value << log.level;
  e << YAML::Key << "format" << YAML::Value << log.format;
  e << YAML::Key << "file" << YAML::Value << log.file;
  e << YAML::EndMap;
  e << YAML::EndMap;
  return e.c_str();
}

}  // namespace safeflow::service
