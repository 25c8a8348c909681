#include "tests/testing/tes_client.h"

#include <thread>

#include "gtest/gtest.h"

namespace safeflow::testing {

using nlohmann::json;

bool IsTerminalState(const std::string& s) {
  return s == "COMPLETE" || s == "EXECUTOR_ERROR" || s == "SYSTEM_ERROR" || s == "CANCELED" ||
         s == "PREEMPTED";
}

HttpResult TesClient::Create(const json& task) const {
  return HttpCall("POST", base_ + "/tasks", task.dump(), {"Content-Type: application/json"});
}

std::string TesClient::CreateOk(const json& task) const {
  HttpResult r = Create(task);
  EXPECT_EQ(r.status, 200) << r.body;
  if (r.status != 200) return "";
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) {
    ADD_FAILURE() << "create answered " << r.body;
    return "";
  }
  return j["id"].get<std::string>();
}

HttpResult TesClient::Get(const std::string& id, const std::string& view) const {
  return HttpGet(base_ + "/tasks/" + id + (view.empty() ? "" : "?view=" + view));
}

json TesClient::GetJson(const std::string& id, const std::string& view) const {
  HttpResult r = Get(id, view);
  EXPECT_EQ(r.status, 200) << r.body;
  return json::parse(r.body, nullptr, false);
}

HttpResult TesClient::List(const std::string& query) const {
  return HttpGet(base_ + "/tasks" + (query.empty() ? "" : "?" + query));
}

HttpResult TesClient::Cancel(const std::string& id) const {
  return HttpCall("POST", base_ + "/tasks/" + id + ":cancel", "", {});
}

HttpResult TesClient::ServiceInfo() const { return HttpGet(base_ + "/service-info"); }

json TesClient::WaitFor(const std::string& id, const std::set<std::string>& states,
                        std::chrono::seconds timeout) const {
  const auto end = std::chrono::steady_clock::now() + timeout;
  json last;
  while (std::chrono::steady_clock::now() < end) {
    HttpResult r = Get(id, "FULL");
    if (r.status == 200) {
      last = json::parse(r.body, nullptr, false);
      const std::string state = last.value("state", "");
      if (states.empty() ? IsTerminalState(state) : states.contains(state)) return last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "task " << id
                << " did not reach the wanted state in time; last: " << last.dump();
  return last;
}

}  // namespace safeflow::testing
