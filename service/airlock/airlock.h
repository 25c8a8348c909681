// service/airlock/airlock.h. The airlock's engine inside safeflowd: it finds WES runs whose
// engine ended COMPLETE (and TES tasks with outputs addressed "airlock:"), makes a release
// request for them, reads each file in the zone (unsealing it with the project's outputs key),
// runs the disclosure filter (executor/disclosure/) with the project's profile and the
// project's earlier releases, and records a verdict, a report and a status per file:
//   pass   -> released when the project allows auto-release, else held for checkers
//   review -> held for output checkers
//   fail   -> blocked (an admin override with a justification can release it)
// Crash-safe: a request is created 'checking' in one transaction and decided in another, so
// a restart re-checks what was not decided. One background thread; Stop() joins it.
//
// Deviation from DESIGN.md: the filter runs here, inside safeflowd, not in the worker. The
// service is inside the zone (it holds the outputs keys for downloads anyway), differencing
// needs the project's release history, checkers must be able to re-run the same check, and
// SLURM and local runs then share one code path.
#ifndef SAFEFLOW_SERVICE_AIRLOCK_AIRLOCK_H_
#define SAFEFLOW_SERVICE_AIRLOCK_AIRLOCK_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

#include "executor/disclosure/profile.h"
#include "service/airlock/zone_file.h"
#include "service/config/config.h"
#include "service/store/airlock_store.h"

namespace safeflow::service {

struct AirlockPolicy {
  executor::disclosure::Profile profile;
  bool auto_release = false;
  int checkers = 2;
};

struct AirlockOptions {
  AirlockConfig config;
  std::string wes_outputs_dir;  // <dir>/<project>/<run id>/<path>, as WES writes them
  OutputKeyLookup key_for;      // null: sealed files cannot be read (they fail)
};

class Airlock {
 public:
  // InvalidArgument for an unknown profile in the config.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Airlock>> Create(AirlockOptions options,
                                                                       store::AirlockStore& store);
  ~Airlock();
  Airlock(const Airlock&) = delete;
  Airlock& operator=(const Airlock&) = delete;

  void Start();
  void Stop();
  // Wakes the thread (a task just ended).
  void Kick();
  // One round: requests for finished runs and tasks, then every request still 'checking'.
  [[nodiscard]] absl::Status RunOnce();

  AirlockPolicy PolicyFor(const std::string& project) const;
  // Downloads that may stream at once (airlock.max_downloads).
  int max_downloads() const { return options_.config.max_downloads; }
  // Profiles by name (built-ins and config), for GET /airlock/v1/profiles.
  const std::map<std::string, executor::disclosure::Profile>& profiles() const { return profiles_; }

  // The plaintext of a file in the zone at `location` (file:// URL), unsealed with `project`'s
  // outputs key when sealed. ResourceExhausted when larger than `max_bytes` (nothing is read
  // beyond that); NotFound when missing; DataLoss when a sealed file does not authenticate.
  [[nodiscard]] absl::StatusOr<std::string> ReadZoneFile(const std::string& location,
                                                         const std::string& project,
                                                         std::uint64_t max_bytes) const;
  // Opens a file in the zone at `location` (file:// URL, a regular file, no symlink) for
  // streaming, fetching `project`'s outputs key when it is sealed. NotFound when missing;
  // DataLoss for a damaged sealed header; the key broker's error when the key is refused.
  [[nodiscard]] absl::StatusOr<ZoneFile> OpenZoneFile(const std::string& location,
                                                      const std::string& project) const;
  // The digest of the file at `location`, read as a stream (any size, one chunk in memory).
  [[nodiscard]] absl::StatusOr<ZoneDigest> HashZoneFile(const std::string& location,
                                                        const std::string& project) const;

 private:
  Airlock(AirlockOptions options, store::AirlockStore& store,
          std::map<std::string, executor::disclosure::Profile> profiles);
  void Loop();
  // A request of `kind` with the project's policy, no files.
  store::AirlockRequest NewRequest(const std::string& kind, const std::string& task_id,
                                   const std::string& project, const std::string& requester) const;
  absl::Status MakeRunRequests();
  absl::Status MakeTaskRequests();
  absl::Status Check(const store::AirlockRequest& request);

  const AirlockOptions options_;
  store::AirlockStore& store_;
  const std::map<std::string, executor::disclosure::Profile> profiles_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;    // guarded by mu_
  bool kicked_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_AIRLOCK_AIRLOCK_H_
