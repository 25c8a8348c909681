#include "service/store/notifier.h"

#include <thread>

#include "absl/strings/str_cat.h"

#include "service/log.h"
#include "service/store/pool.h"

namespace safeflow::service::store {

struct Notifier::Impl {
  class Receiver final : public pqxx::notification_receiver {
   public:
    Receiver(pqxx::connection_base& c, const std::string& channel, std::vector<std::string>& into)
        : pqxx::notification_receiver(c, channel), into_(into) {}
    void operator()(const std::string& payload, int) override { into_.push_back(payload); }

   private:
    std::vector<std::string>& into_;
  };

  std::string dsn;
  std::string channel;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<Receiver> receiver;
  std::vector<std::string> received;

  void Reset() {
    receiver.reset();
    conn.reset();
  }
};

Notifier::Notifier(std::string dsn, std::string channel) : impl_(std::make_unique<Impl>()) {
  impl_->dsn = std::move(dsn);
  impl_->channel = std::move(channel);
}

Notifier::~Notifier() {
  try {
    impl_->Reset();
  } catch (const std::exception&) {
    // The connection is gone either way.
  }
}

absl::StatusOr<std::vector<std::string>> Notifier::Wait(std::chrono::milliseconds timeout) {
  Impl& i = *impl_;
  try {
    if (!i.conn) {
      i.conn = std::make_unique<pqxx::connection>(i.dsn);
      i.receiver = std::make_unique<Impl::Receiver>(*i.conn, i.channel, i.received);
    }
    i.received.clear();
    const long secs = static_cast<long>(timeout.count() / 1000);
    const long usecs = static_cast<long>((timeout.count() % 1000) * 1000);
    i.conn->await_notification(secs, usecs);
    i.conn->get_notifs();
    return std::move(i.received);
  } catch (const std::exception& e) {
    bool broken = false;
    absl::Status s = StatusFromException(e, broken);
    try {
      i.Reset();
    } catch (const std::exception&) {
    }
    return s.ok() ? absl::UnavailableError(e.what()) : s;
  }
}

}  // namespace safeflow::service::store
