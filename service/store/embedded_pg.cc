#include "service/store/embedded_pg.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <pwd.h>
#include <regex>
#include <signal.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "pqxx/pqxx"

#include "executor/users.h"
#include "service/log.h"
#include "service/store/pool.h"

namespace safeflow::service::store {
namespace fs = std::filesystem;
namespace {

constexpr int kPort = 5432;  // only names the socket file; no TCP listener

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& path, std::size_t n) {
  std::string s = ReadFile(path);
  if (s.size() > n) s = s.substr(s.size() - n);
  return s;
}

// Quotes a value for a libpq key=value connection string.
std::string DsnValue(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// Quotes a value for postgresql.conf.
std::string ConfValue(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

absl::StatusOr<int> MajorVersionOfBinaries(executor::Env& env, const std::string& bin_dir) {
  executor::Command cmd{.argv = {bin_dir + "/postgres", "-V"}};
  cmd.timeout = std::chrono::seconds(10);
  absl::StatusOr<executor::CommandResult> r = executor::RunChecked(env, cmd);
  if (!r.ok()) return r.status();
  static const std::regex kVer(R"(PostgreSQL\)?\s+(\d+))");
  std::smatch m;
  if (!std::regex_search(r->out, m, kVer)) {
    return absl::InternalError(absl::StrCat("cannot read version from '", r->out, "'"));
  }
  return std::stoi(m[1].str());
}

// Whether `user` may traverse every directory from / down to `dir`.
absl::Status CheckSearchable(const std::string& dir, const executor::UserIds& user) {
  fs::path p = fs::absolute(dir);
  fs::path acc = "/";
  for (const fs::path& part : p.relative_path()) {
    acc /= part;
    struct stat st {};
    if (::stat(acc.c_str(), &st) != 0) break;  // does not exist yet: created by us
    const bool ok = (st.st_mode & S_IXOTH) || (st.st_uid == user.uid && (st.st_mode & S_IXUSR)) ||
                    (st.st_gid == user.gid && (st.st_mode & S_IXGRP));
    if (!ok) {
      return absl::FailedPreconditionError(
          absl::StrCat("the embedded PostgreSQL runs as user '", user.name,
                       "', which cannot enter ", acc.string(), " (on the way to data_dir ", dir,
                       "): make it searchable (chmod o+x) or choose another data_dir"));
    }
  }
  return absl::OkStatus();
}

absl::Status MakeOwnedDir(const std::string& path, const std::optional<executor::UserIds>& owner) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("mkdir ", path, ": ", ec.message()));
  if (::chmod(path.c_str(), 0700) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("chmod ", path, ": ", std::strerror(errno)));
  }
  if (owner && ::chown(path.c_str(), owner->uid, owner->gid) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("chown ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> FindPostgresBinDir() {
  int best = -1;
  std::string best_dir;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    int v = 0;
    if (!absl::SimpleAtoi(e.path().filename().string(), &v)) continue;
    const fs::path bin = e.path() / "bin";
    if (fs::exists(bin / "initdb") && fs::exists(bin / "pg_ctl") && fs::exists(bin / "postgres") &&
        v > best) {
      best = v;
      best_dir = bin.string();
    }
  }
  if (best < 0) {
    return absl::NotFoundError(
        "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (install the "
        "'postgresql' package, or set embedded.bin_dir, or set database.url)");
  }
  return best_dir;
}

EmbeddedPostgres::EmbeddedPostgres(executor::Env& env, EmbeddedPgConfig config)
    : env_(env), config_(std::move(config)) {}

EmbeddedPostgres::~EmbeddedPostgres() {
  if (running_) {
    if (absl::Status s = Stop(); !s.ok()) StoreLog().error("embedded postgres: {}", s.message());
  }
}

absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> EmbeddedPostgres::Start(
    executor::Env& env, const std::string& data_dir, const EmbeddedPgConfig& config) {
  std::unique_ptr<EmbeddedPostgres> pg(new EmbeddedPostgres(env, config));
  if (absl::Status s = pg->Prepare(data_dir); !s.ok()) return s;
  if (absl::Status s = pg->InitIfNeeded(); !s.ok()) return s;
  if (absl::Status s = pg->WriteSettings(); !s.ok()) return s;
  if (absl::Status s = pg->RecoverStalePid(); !s.ok()) return s;
  if (absl::Status s = pg->StartServer(); !s.ok()) return s;
  if (absl::Status s = pg->EnsureDatabase(); !s.ok()) return s;
  return pg;
}

executor::Command EmbeddedPostgres::PgCommand(std::vector<std::string> argv,
                                              int timeout_seconds) const {
  executor::Command cmd;
  cmd.argv = std::move(argv);
  cmd.argv[0] = absl::StrCat(bin_dir_, "/", cmd.argv[0]);
  cmd.env = std::vector<std::string>{"PATH=/usr/bin:/bin", "LC_ALL=C", "LANG=C", "TZ=UTC"};
  cmd.cwd = "/";
  cmd.run_as = run_as_;
  cmd.timeout = std::chrono::seconds(timeout_seconds);
  return cmd;
}

absl::Status EmbeddedPostgres::Prepare(const std::string& data_dir) {
  if (config_.bin_dir.empty()) {
    absl::StatusOr<std::string> dir = FindPostgresBinDir();
    if (!dir.ok()) return dir.status();
    bin_dir_ = *dir;
  } else {
    bin_dir_ = config_.bin_dir;
  }
  pgdata_ = absl::StrCat(data_dir, "/pg");
  socket_dir_ = absl::StrCat(data_dir, "/pg-run");
  const std::string socket_path = absl::StrCat(socket_dir_, "/.s.PGSQL.", kPort);
  if (socket_path.size() > 107) {
    return absl::FailedPreconditionError(
        absl::StrCat("data_dir is too long for a unix socket path (", socket_path.size(),
                     " > 107 bytes): ", socket_path));
  }
  if (executor::RunningAsRoot()) {
    struct stat st {};
    if (::stat(pgdata_.c_str(), &st) == 0 && st.st_uid != 0) {
      // An existing cluster keeps its owner (it may have been made by a non-root safeflowd).
      passwd* pw = ::getpwuid(st.st_uid);
      executor::UserIds owner{
          .uid = st.st_uid, .gid = st.st_gid, .name = pw ? pw->pw_name : std::to_string(st.st_uid)};
      run_as_ = owner;
    } else {
      absl::StatusOr<executor::UserIds> user =
          executor::EnsureSystemUser(env_, config_.system_user);
      if (!user.ok()) return user.status();
      run_as_ = *user;
    }
    if (absl::Status s = CheckSearchable(data_dir, *run_as_); !s.ok()) return s;
  }
  if (absl::Status s = MakeOwnedDir(pgdata_, run_as_); !s.ok()) return s;
  if (absl::Status s = MakeOwnedDir(socket_dir_, run_as_); !s.ok()) return s;
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::InitIfNeeded() {
  absl::StatusOr<int> major = MajorVersionOfBinaries(env_, bin_dir_);
  if (!major.ok()) return major.status();
  const std::string version_file = absl::StrCat(pgdata_, "/PG_VERSION");
  if (fs::exists(version_file)) {
    std::string v(absl::StripAsciiWhitespace(ReadFile(version_file)));
    if (v != std::to_string(*major)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the embedded cluster in ", pgdata_, " was made by PostgreSQL ", v,
          " but the binaries in ", bin_dir_, " are ", *major, ": upgrade it with pg_upgrade"));
    }
    return absl::OkStatus();
  }
  std::error_code ec;
  if (!fs::is_empty(pgdata_, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(pgdata_, " is not empty but holds no PostgreSQL cluster; move it away"));
  }
  StoreLog().info("creating embedded PostgreSQL {} cluster in {}", *major, pgdata_);
  absl::StatusOr<executor::CommandResult> r = executor::RunChecked(
      env_, PgCommand({"initdb", "-D", pgdata_, "-U", "safeflow", "-E", "UTF8", "--locale=C",
                       "--auth-local=trust", "--auth-host=reject"},
                      180));
  if (!r.ok()) return r.status();
  std::ofstream conf(absl::StrCat(pgdata_, "/postgresql.conf"), std::ios::app);
  conf << "\n# Added by safeflowd: settings it manages live in safeflow.conf.\n"
       << "include_if_exists = 'safeflow.conf'\n";
  if (!conf) return absl::InternalError("cannot append to postgresql.conf");
  created_ = true;
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::WriteSettings() {
  const std::string path = absl::StrCat(pgdata_, "/safeflow.conf");
  {
    std::ofstream out(path, std::ios::trunc);
    out << "# Written by safeflowd at every start; edits are overwritten.\n"
        << "listen_addresses = ''\n"
        << "unix_socket_directories = " << ConfValue(socket_dir_) << "\n"
        << "unix_socket_permissions = 0700\n"
        << "port = " << kPort << "\n"
        << "max_connections = " << config_.max_connections << "\n"
        << "shared_buffers = " << ConfValue(config_.shared_buffers) << "\n"
        << "logging_collector = off\n"
        << "log_timezone = 'UTC'\n"
        << "timezone = 'UTC'\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  if (run_as_ && ::chown(path.c_str(), run_as_->uid, run_as_->gid) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("chown ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::RecoverStalePid() {
  const std::string pidfile = absl::StrCat(pgdata_, "/postmaster.pid");
  if (!fs::exists(pidfile)) return absl::OkStatus();
  std::istringstream lines(ReadFile(pidfile));
  std::string first;
  std::getline(lines, first);
  int pid = 0;
  const bool have_pid = absl::SimpleAtoi(first, &pid) && pid > 0;
  bool ours = false;
  if (have_pid && (::kill(pid, 0) == 0 || errno == EPERM)) {
    std::error_code ec;
    const fs::path exe = fs::read_symlink(absl::StrCat("/proc/", pid, "/exe"), ec);
    const fs::path cwd = fs::read_symlink(absl::StrCat("/proc/", pid, "/cwd"), ec);
    ours = exe.filename() == "postgres" && cwd == fs::weakly_canonical(pgdata_);
  }
  if (ours) {
    // We hold the data-dir lock, so no live safeflowd owns this server: it is left over from one
    // that was killed. Stop it and start afresh with the current settings.
    StoreLog().warn("embedded PostgreSQL (pid {}) left running by an earlier safeflowd; restarting",
                    pid);
    running_ = true;
    return Stop();
  }
  StoreLog().warn("removing stale {} (pid {} is not running this cluster)", pidfile, first);
  std::error_code ec;
  fs::remove(pidfile, ec);
  fs::remove(absl::StrCat(socket_dir_, "/.s.PGSQL.", kPort, ".lock"), ec);
  fs::remove(absl::StrCat(socket_dir_, "/.s.PGSQL.", kPort), ec);
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::StartServer() {
  const std::string log = absl::StrCat(pgdata_, "/server.log");
  absl::StatusOr<executor::CommandResult> r = executor::RunChecked(
      env_, PgCommand({"pg_ctl", "-D", pgdata_, "-l", log, "-w", "-t",
                       std::to_string(config_.start_timeout_seconds), "-s", "start"},
                      config_.start_timeout_seconds + 10));
  if (!r.ok()) {
    return absl::UnavailableError(
        absl::StrCat("embedded PostgreSQL did not start: ", r.status().message(), "\n--- ", log,
                     " ---\n", Tail(log, 2000)));
  }
  running_ = true;
  dsn_ = absl::StrCat("host=", DsnValue(socket_dir_), " port=", kPort,
                      " dbname=safeflow user=safeflow");
  StoreLog().info("embedded PostgreSQL running in {} (socket {})", pgdata_, socket_dir_);
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::EnsureDatabase() {
  const std::string admin_dsn = absl::StrCat("host=", DsnValue(socket_dir_), " port=", kPort,
                                             " dbname=postgres user=safeflow connect_timeout=10");
  try {
    pqxx::connection c(admin_dsn);
    pqxx::nontransaction tx(c);
    if (tx.exec("SELECT 1 FROM pg_database WHERE datname = 'safeflow'").empty()) {
      tx.exec("CREATE DATABASE safeflow");
    }
  } catch (const std::exception& e) {
    bool broken = false;
    return StatusFromException(e, broken);
  }
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::Stop() {
  if (!running_) return absl::OkStatus();
  absl::StatusOr<executor::CommandResult> r = executor::RunChecked(
      env_, PgCommand({"pg_ctl", "-D", pgdata_, "-m", "fast", "-w", "-t", "60", "-s", "stop"}, 70));
  if (!r.ok()) {
    StoreLog().warn("pg_ctl stop -m fast failed ({}); trying -m immediate", r.status().message());
    r = executor::RunChecked(env_, PgCommand({"pg_ctl", "-D", pgdata_, "-m", "immediate", "-w",
                                              "-t", "30", "-s", "stop"},
                                             40));
    if (!r.ok()) return r.status();
  }
  running_ = false;
  StoreLog().info("embedded PostgreSQL stopped");
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::Restart() {
  if (running_) return absl::OkStatus();
  if (absl::Status s = WriteSettings(); !s.ok()) return s;
  if (absl::Status s = RecoverStalePid(); !s.ok()) return s;
  return StartServer();
}

}  // namespace safeflow::service::store
