// tests/testing/tes_client.h. A TES client for integration tests: real HTTP to a safeflowd,
// JSON in and out, polling with a deadline.
#ifndef SAFEFLOW_TESTS_TESTING_TES_CLIENT_H_
#define SAFEFLOW_TESTS_TESTING_TES_CLIENT_H_

#include <chrono>
#include <set>
#include <string>

#include "nlohmann/json.hpp"

#include "tests/testing/http_client.h"

namespace safeflow::testing {

class TesClient {
 public:
  // `base` like "http://127.0.0.1:1234/ga4gh/tes/v1".
  explicit TesClient(std::string base) : base_(std::move(base)) {}

  HttpResult Create(const nlohmann::json& task) const;
  // Creates and returns the id; "" (and a gtest failure) when not 200.
  std::string CreateOk(const nlohmann::json& task) const;
  HttpResult Get(const std::string& id, const std::string& view = "") const;
  nlohmann::json GetJson(const std::string& id, const std::string& view = "") const;
  HttpResult List(const std::string& query) const;  // query without '?'
  HttpResult Cancel(const std::string& id) const;
  HttpResult ServiceInfo() const;
  // Polls until the state is one of `states` (or terminal when empty); returns the FULL task.
  nlohmann::json WaitFor(const std::string& id, const std::set<std::string>& states = {},
                         std::chrono::seconds timeout = std::chrono::seconds(60)) const;
  const std::string& base() const { return base_; }

 private:
  std::string base_;
};

bool IsTerminalState(const std::string& state);

}  // namespace safeflow::testing

#endif  // SAFEFLOW_TESTS_TESTING_TES_CLIENT_H_
