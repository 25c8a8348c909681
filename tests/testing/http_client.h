// tests/testing/http_client.h. A small blocking HTTP client (libcurl) for tests: real HTTP over
// loopback, every call bounded by a timeout.
#ifndef SAFEFLOW_TESTS_TESTING_HTTP_CLIENT_H_
#define SAFEFLOW_TESTS_TESTING_HTTP_CLIENT_H_

#include <map>
#include <string>
#include <vector>

namespace safeflow::testing {

struct HttpResult {
  long status = 0;  // 0: the request failed (see error)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;
};

HttpResult HttpCall(const std::string& method, const std::string& url, const std::string& body = "",
                    const std::vector<std::string>& headers = {}, long timeout_ms = 10000);

inline HttpResult HttpGet(const std::string& url, long timeout_ms = 10000) {
  return HttpCall("GET", url, "", {}, timeout_ms);
}

}  // namespace safeflow::testing

#endif  // SAFEFLOW_TESTS_TESTING_HTTP_CLIENT_H_
