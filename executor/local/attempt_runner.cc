#include "executor/local/attempt_runner.h"

#include <algorithm>
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "executor/attestation/config_id.h"
#include "executor/attestation/measurement.h"
#include "executor/attestation/quote.h"
#include "executor/crypto/sealed_file.h"
#include "executor/log.h"
#include "executor/sandbox/unique_fd.h"
#include "executor/transfer/transfer.h"
#include "executor/worker/protocol.h"

namespace safeflow::executor {
namespace {

namespace fs = std::filesystem;
namespace tes = schemas::tes;
using Clock = std::chrono::steady_clock;

constexpr const char* kSpecPath = "/.safeflow/spec.json";
constexpr const char* kWorkerPath = "/.safeflow/bin/safeflow-worker";
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string Now() { return worker::FormatTime(std::chrono::system_clock::now()); }

std::string TailOfFile(const std::string& path, std::size_t n) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > n) s = s.substr(s.size() - n);
  return worker::SanitizeUtf8(s);
}

absl::Status ChownTree(const std::string& root, const std::optional<UserIds>& user) {
  if (!user) return absl::OkStatus();
  std::error_code ec;
  if (::lchown(root.c_str(), user->uid, user->gid) != 0) {
    return absl::InternalError(absl::StrCat("chown ", root, ": ", std::strerror(errno)));
  }
  if (!fs::is_directory(fs::symlink_status(root, ec))) return absl::OkStatus();
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (::lchown(it->path().c_str(), user->uid, user->gid) != 0) {
      return absl::InternalError(
          absl::StrCat("chown ", it->path().string(), ": ", std::strerror(errno)));
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("walk ", root, ": ", ec.message()));
  return absl::OkStatus();
}

// The key id of a sealed file, nullopt for a plain one; DataLoss for a damaged sealed header.
absl::StatusOr<std::optional<std::string>> SealedKeyOf(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid())
    return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  char magic[8];
  const ssize_t n = ::pread(fd.get(), magic, sizeof magic, 0);
  if (n != static_cast<ssize_t>(sizeof magic) ||
      !crypto::LooksSealed(std::string_view(magic, sizeof magic))) {
    return std::optional<std::string>();
  }
  absl::StatusOr<crypto::SealedHeader> h = crypto::ReadSealedHeader(fd.get());
  if (!h.ok()) return h.status();
  return std::optional<std::string>(h->key_id);
}

}  // namespace

void AttemptControl::Kill() {
  canceled = true;
  std::scoped_lock lock(mu);
  if (sandbox != nullptr) {
    if (absl::Status s = sandbox->Kill(); !s.ok()) {
      Log().warn("task={} kill: {}", id, s.message());
    }
  }
}

void RunAttempt(const LocalBackendConfig& config_, const TaskAttempt& attempt,
                const std::string& dir, AttemptControl& run, TaskEventSink& sink) {
  const tes::Task& task = attempt.task;
  tes::TaskLog log;
  log.start_time = Now();
  log.metadata = {{"backend", attempt.backend.empty() ? std::string("local") : attempt.backend},
                  {"attempt", std::to_string(attempt.attempt)}};
  auto cleanup = [&] {
    if (config_.keep_task_dirs) return;
    std::error_code ec;
    fs::remove_all(dir, ec);
  };
  auto finish = [&](tes::State state) {
    log.end_time = Now();
    if (!run.canceled) sink.OnFinished(attempt.task_id, state, log);
    cleanup();
  };
  auto fail = [&](const std::string& msg) {
    Log().warn("task={} system error: {}", attempt.task_id, msg);
    log.system_logs.push_back(msg);
    finish(tes::State::kSystemError);
  };

  // --- the task directory -------------------------------------------------------------------
  std::error_code ec;
  fs::remove_all(dir, ec);
  const std::string inbox = dir + "/inbox", outbox = dir + "/outbox";
  for (const std::string& d : {dir, inbox, outbox}) {
    if (::mkdir(d.c_str(), 0700) != 0) {
      return fail(absl::StrCat("cannot create ", d, ": ", std::strerror(errno)));
    }
  }

  // --- environment --------------------------------------------------------------------------
  std::string env_root;
  for (const tes::Executor& e : task.executors) {
    auto it = config_.images.find(e.image);
    if (it == config_.images.end()) {
      return fail(absl::StrCat("image '", e.image, "' is no longer an approved environment"));
    }
    if (!env_root.empty() && it->second != env_root) {
      return fail("all executors of a task must use the same execution environment");
    }
    env_root = it->second;
  }
  log.metadata["environment_root"] = env_root;

  const LocalEnclaveConfig& enc = config_.enclave;
  const bool enclave = enc.platform != nullptr && enc.authority != nullptr;

  // --- stage inputs (outside the sandbox: it has no network) --------------------------------
  SandboxPolicy policy = BaseSandboxPolicy(config_, env_root);
  std::vector<worker::SealedInputSpec> sealed_inputs;
  std::set<std::string> key_ids;
  for (size_t i = 0; i < task.inputs.size(); ++i) {
    if (run.canceled) return cleanup();
    const tes::Input& in = task.inputs[i];
    const std::string staged = absl::StrCat(inbox, "/", i);
    if (in.content) {
      std::ofstream f(staged, std::ios::binary);
      f << *in.content;
      if (!f) return fail(absl::StrCat("inputs[", i, "]: cannot write content"));
    } else {
      absl::StatusOr<std::uint64_t> got = transfer::FetchInput(
          config_.transfer, in.url.value_or(""), staged, in.type == tes::FileType::kDirectory);
      if (!got.ok()) {
        return fail(absl::StrCat("inputs[", i, "] (", in.url.value_or(""),
                                 "): ", std::string(got.status().message())));
      }
    }
    std::optional<std::string> sealed_key;
    if (!in.content && in.type != tes::FileType::kDirectory) {
      absl::StatusOr<std::optional<std::string>> k = SealedKeyOf(staged);
      if (!k.ok())
        return fail(absl::StrCat("inputs[", i, "] (", *in.url, "): ", k.status().message()));
      sealed_key = *k;
    }
    if (enc.authority != nullptr && in.url) {
      absl::StatusOr<attestation::InputDecision> d =
          enc.authority->CheckInput(attempt.project, *in.url, sealed_key);
      if (!d.ok()) {
        return fail(absl::StrCat("inputs[", i, "] (", *in.url, "): ", d.status().message()));
      }
    }
    if (sealed_key) {
      if (!enclave) {
        return fail(absl::StrCat("inputs[", i, "] (", *in.url,
                                 ") is sealed: sealed inputs need enclave mode (enclave.enabled)"));
      }
      const std::string container = absl::StrCat("/.safeflow/sealed/", i);
      sealed_inputs.push_back({container, in.path, *sealed_key});
      key_ids.insert(*sealed_key);
      policy.binds.push_back(Bind{staged, container, false});
    } else {
      policy.binds.push_back(Bind{staged, in.path, false});
    }
  }
  if (absl::Status s = ChownTree(dir, config_.run_as); !s.ok()) {
    return fail(std::string(s.message()));
  }

  // --- the worker's instructions ------------------------------------------------------------
  const tes::Resources res = task.resources.value_or(tes::Resources{});
  const double disk_gb = res.disk_gb.value_or(config_.default_disk_gb);
  const double ram_gb = res.ram_gb.value_or(config_.default_ram_gb);
  worker::WorkerSpec spec;
  spec.task_id = attempt.task_id;
  spec.log_tail_bytes = static_cast<std::int64_t>(config_.log_tail_bytes);
  // The memory limit applies to the executors (set by the worker before each exec), not to the
  // trusted worker itself.
  spec.executor_memory_bytes = static_cast<std::int64_t>(ram_gb * kGiB);
  for (const tes::Executor& e : task.executors) {
    spec.executors.push_back(worker::ExecutorSpec{e.command, e.workdir, e.stdin_path, e.stdout_path,
                                                  e.stderr_path, e.env,
                                                  e.ignore_error.value_or(false)});
  }
  for (size_t i = 0; i < task.outputs.size(); ++i) {
    const tes::Output& o = task.outputs[i];
    spec.outputs.push_back(worker::OutputSpec{static_cast<int>(i), o.path, o.path_prefix,
                                              o.type == tes::FileType::kDirectory
                                                  ? worker::OutputType::kDirectory
                                                  : worker::OutputType::kFile});
  }
  UniqueFd outbox_fd(::open(outbox.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (outbox_fd.get() < 0) return fail(absl::StrCat("open ", outbox, ": ", std::strerror(errno)));
  spec.outbox = "/.safeflow/outbox";
  spec.outbox_fd = outbox_fd.get();

  // --- enclave: the control channel, the measured worker image, the outputs key -------------
  int control_fds[2] = {-1, -1};
  if (enclave && ::pipe2(control_fds, O_CLOEXEC) != 0) return fail("pipe2 failed");
  UniqueFd control_read(control_fds[0]);
  UniqueFd control_write(control_fds[1]);
  std::optional<attestation::MeasuredImage> image;
  std::string mr_enclave;
  if (enclave) {
    worker::EnclaveSpec es;
    es.control_fd = control_read.get();
    es.debug = enc.debug_workers;
    es.key_ids.assign(key_ids.begin(), key_ids.end());
    es.sealed_inputs = sealed_inputs;
    es.attest_timeout_seconds = enc.attest_timeout_seconds;
    if (enc.seal_outputs && !task.outputs.empty()) {
      absl::StatusOr<attestation::OutputKey> k = enc.authority->OutputKeyFor(attempt.project);
      if (!k.ok()) return fail(absl::StrCat("outputs key: ", k.status().message()));
      es.output_key_id = k->key_id;
      absl::WebSafeBase64Escape(absl::string_view(k->public_key), &es.output_public_key);
      log.metadata["outputs_sealed_to"] = k->key_id;
    }
    spec.enclave = std::move(es);
    absl::StatusOr<attestation::MeasuredImage> img =
        attestation::LoadMeasuredImage(config_.worker_path);
    if (!img.ok()) return fail(absl::StrCat("cannot load the worker: ", img.status().message()));
    image = std::move(*img);
    policy.executables.push_back(SandboxExecutable{kWorkerPath, image->fd.get()});
  } else {
    policy.binds.push_back(Bind{config_.worker_path, kWorkerPath, false});
  }
  const std::string spec_file = dir + "/spec.json";
  {
    std::ofstream f(spec_file);
    f << worker::SerializeWorkerSpec(spec);
    if (!f) return fail("cannot write the worker spec");
  }
  ::chmod(spec_file.c_str(), 0644);
  policy.binds.push_back(Bind{spec_file, kSpecPath, false});
  policy.writable_dirs = TaskWritableDirs(task);
  policy.tmpfs_bytes = static_cast<std::uint64_t>(disk_gb * kGiB);
  // RLIMIT_FSIZE just above the tmpfs size: a full disk shows as ENOSPC, which programs report,
  // rather than as SIGXFSZ, which kills them silently.
  policy.max_file_bytes = policy.tmpfs_bytes + (1u << 20);
  // bwrap itself copies the measured worker image under this limit.
  if (image) policy.max_file_bytes = std::max(policy.max_file_bytes, image->size + (1u << 20));
  policy.cpu_cores = res.cpu_cores.value_or(0);
  if (enclave) {
    absl::StatusOr<std::string> mr = attestation::MrEnclave(image->sha256_hex, policy);
    if (!mr.ok()) return fail(absl::StrCat("cannot measure the worker: ", mr.status().message()));
    mr_enclave = *mr;
  }
  log.metadata["limits"] = absl::StrCat(
      "cpu_cores=", policy.cpu_cores == 0 ? std::string("all") : std::to_string(policy.cpu_cores),
      " ram_gb=", ram_gb, " disk_gb=", disk_gb);

  // --- run ----------------------------------------------------------------------------------
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return fail("pipe2 failed");
  UniqueFd events_read(pipe_fds[0]);
  UniqueFd events_write(pipe_fds[1]);
  const std::vector<std::string> inner = {
      kWorkerPath, "run", "--spec", kSpecPath, "--events-fd", std::to_string(events_write.get())};
  if (run.canceled) return cleanup();
  std::vector<int> keep = {events_write.get(), outbox_fd.get()};
  if (enclave) keep.push_back(control_read.get());
  absl::StatusOr<std::unique_ptr<SandboxProcess>> sandbox =
      SandboxProcess::Start(policy, inner, keep, dir + "/sandbox.log");
  events_write.Reset();
  outbox_fd.Reset();
  control_read.Reset();
  if (!sandbox.ok()) {
    return fail(
        absl::StrCat("cannot start the sandbox: ", std::string(sandbox.status().message())));
  }
  {
    std::scoped_lock lock(run.mu);
    run.sandbox = sandbox->get();
  }
  if (run.canceled) (void)(*sandbox)->Kill();
  Log().info("task={} attempt={} sandbox started (pid {})", attempt.task_id, attempt.attempt,
             (*sandbox)->pid());

  // The relay between the worker and the verifier / key broker (enclave mode).
  std::string worker_key, nonce;
  int attest_step = 0;  // 0: expect hello, 1: expect report, 2: done
  auto send = [&](const worker::ControlMessage& m) {
    const std::string line = worker::ControlToLine(m);
    if (!control_write.valid() || ::write(control_write.get(), line.data(), line.size()) !=
                                      static_cast<ssize_t>(line.size())) {
      log.system_logs.push_back("enclave: cannot answer the worker");
    }
  };
  auto refuse = [&](const std::string& why) {
    attest_step = 2;
    log.metadata["attestation"] = "refused";
    Log().warn("task={} attestation refused: {}", attempt.task_id, why);
    send({.type = "refused", .msg = why});
  };
  auto on_hello = [&](const worker::AttestHelloEvent& h) {
    if (!enclave || attest_step != 0) return refuse("enclave: unexpected attestation request");
    attest_step = 1;
    std::string raw;
    if (!absl::WebSafeBase64Unescape(absl::string_view(h.public_key), &raw) || raw.size() != 32) {
      return refuse("enclave: the worker key is not a base64url X25519 key");
    }
    worker_key = raw;
    absl::StatusOr<std::string> n = enc.authority->NewNonce();
    if (!n.ok())
      return refuse(absl::StrCat("enclave: no nonce from the verifier: ", n.status().message()));
    nonce = *n;
    send({.type = "challenge", .nonce = nonce});
  };
  auto on_report = [&](const worker::AttestReportEvent& r) {
    if (!enclave || attest_step != 1) return refuse("enclave: unexpected attestation report");
    attest_step = 2;
    attestation::EnclaveIdentity id;
    id.mr_enclave = mr_enclave;
    id.config_id = attestation::TaskConfigId(attempt.task_id, task);
    id.debug = enc.debug_workers;
    id.security_version = attestation::kWorkerSecurityVersion;
    id.task_id = attempt.task_id;
    id.attempt = attempt.attempt;
    absl::StatusOr<std::string> quote = enc.platform->Quote(id, r.report_data);
    if (!quote.ok()) return refuse(absl::StrCat("enclave: quote: ", quote.status().message()));
    absl::StatusOr<attestation::AttestationResult> token =
        enc.authority->Attest({*quote, worker_key, nonce});
    if (!token.ok()) return refuse(std::string(token.status().message()));
    std::vector<std::string> ids(key_ids.begin(), key_ids.end());
    std::vector<attestation::ReleasedKey> released;
    if (!ids.empty()) {
      absl::StatusOr<std::vector<attestation::ReleasedKey>> k =
          enc.authority->ReleaseKeys(token->token, ids);
      if (!k.ok()) return refuse(std::string(k.status().message()));
      released = std::move(*k);
    }
    worker::ControlMessage m{.type = "keys", .token_id = token->token_id, .mr_enclave = mr_enclave};
    for (const attestation::ReleasedKey& k : released) {
      m.keys.push_back({k.key_id, k.ephemeral_public_key, k.ciphertext});
    }
    log.metadata["attestation"] = "verified";
    log.metadata["attestation_mr_enclave"] = mr_enclave;
    log.metadata["attestation_token_id"] = token->token_id;
    log.system_logs.push_back(absl::StrCat(
        "enclave: attested (mr_enclave ", mr_enclave, ", token ", token->token_id, ", debug ",
        id.debug ? "true" : "false", ", security version ", id.security_version,
        "); keys released: ", ids.empty() ? std::string("none") : absl::StrJoin(ids, ", ")));
    send(m);
  };

  std::vector<worker::OutputEvent> outputs;
  std::optional<worker::FinishedEvent> finished;
  std::string pending;
  bool timed_out = false;
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(config_.max_task_seconds);
  char buf[65536];
  while (true) {
    if (run.canceled) break;
    if (Clock::now() >= deadline) {
      timed_out = true;
      (void)(*sandbox)->Kill();
      break;
    }
    pollfd p{events_read.get(), POLLIN, 0};
    const int pr = ::poll(&p, 1, 200);
    if (pr < 0 && errno != EINTR) break;
    if (pr <= 0) continue;
    const ssize_t n = ::read(events_read.get(), buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;  // EOF: the worker (and every process holding the pipe) is gone
    pending.append(buf, static_cast<size_t>(n));
    if (pending.size() > (64u << 20)) {
      (void)(*sandbox)->Kill();
      log.system_logs.push_back("the worker sent an oversized event; sandbox killed");
      break;
    }
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      absl::StatusOr<worker::WorkerEvent> ev = worker::ParseEventLine(line);
      if (!ev.ok()) {
        log.system_logs.push_back(
            absl::StrCat("ignored a malformed worker event: ", std::string(ev.status().message())));
        continue;
      }
      if (std::holds_alternative<worker::RunningEvent>(*ev)) {
        sink.OnRunning(attempt.task_id);
      } else if (auto* f = std::get_if<worker::ExecutorFinishedEvent>(&*ev)) {
        tes::ExecutorLog el;
        el.start_time = f->start_time;
        el.end_time = f->end_time;
        el.stdout_text = f->stdout_tail;
        el.stderr_text = f->stderr_tail;
        el.exit_code = f->exit_code;
        log.logs.push_back(std::move(el));
        sink.OnProgress(attempt.task_id, log);
      } else if (auto* o = std::get_if<worker::OutputEvent>(&*ev)) {
        outputs.push_back(*o);
      } else if (auto* fin = std::get_if<worker::FinishedEvent>(&*ev)) {
        finished = *fin;
      } else if (auto* h = std::get_if<worker::AttestHelloEvent>(&*ev)) {
        on_hello(*h);
      } else if (auto* r = std::get_if<worker::AttestReportEvent>(&*ev)) {
        on_report(*r);
      }
    }
  }
  std::optional<int> exit_status = (*sandbox)->WaitFor(std::chrono::seconds(10));
  if (!exit_status) {
    (void)(*sandbox)->Kill();
    exit_status = (*sandbox)->Wait();
  }
  {
    std::scoped_lock lock(run.mu);
    run.sandbox = nullptr;
  }
  sandbox->reset();
  if (run.canceled) {
    Log().info("task={} attempt={} ended by cancel", attempt.task_id, attempt.attempt);
    return cleanup();
  }
  if (timed_out) {
    return fail(
        absl::StrCat("exceeded the time limit of ", config_.max_task_seconds, " s; killed"));
  }
  if (!finished) {
    return fail(absl::StrCat("the worker ended without a result (exit status ", *exit_status,
                             "); sandbox log: ", TailOfFile(dir + "/sandbox.log", 2000)));
  }
  for (const std::string& s : finished->system_logs) log.system_logs.push_back(s);
  tes::State state = finished->state == worker::FinalState::kComplete ? tes::State::kComplete
                     : finished->state == worker::FinalState::kExecutorError
                         ? tes::State::kExecutorError
                         : tes::State::kSystemError;
  if (state == tes::State::kComplete) {
    for (const worker::OutputEvent& o : outputs) {
      if (run.canceled) return cleanup();
      if (o.index < 0 || static_cast<size_t>(o.index) >= task.outputs.size() || o.outbox.empty() ||
          o.outbox.find("..") != std::string::npos || o.outbox[0] == '/') {
        return fail(absl::StrCat("the worker reported an invalid output (", o.path, ")"));
      }
      const tes::Output& decl = task.outputs[static_cast<size_t>(o.index)];
      const std::string url =
          o.relative.empty() ? decl.url : transfer::JoinUrl(decl.url, o.relative);
      absl::StatusOr<std::uint64_t> put =
          transfer::PutOutput(config_.transfer, outbox + "/" + o.outbox, url);
      if (!put.ok()) {
        return fail(absl::StrCat("outputs[", o.index, "] (", o.path, " -> ", url,
                                 "): ", std::string(put.status().message())));
      }
      log.outputs.push_back(tes::OutputFileLog{url, o.path, std::to_string(*put)});
    }
    if (!outputs.empty()) sink.OnProgress(attempt.task_id, log);
  }
  Log().info("task={} attempt={} worker finished: {}", attempt.task_id, attempt.attempt,
             tes::StateName(state));
  finish(state);
}

}  // namespace safeflow::executor
