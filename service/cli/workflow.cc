#include "service/cli/workflow.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include <curl/curl.h>
#include <openssl/rand.h>

#include "service/registry/bundle.h"

namespace safeflow::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
namespace registry = service::registry;

constexpr const char* kUsage = R"(usage: safeflow workflow COMMAND
  register DIR
      register the workflow bundle in DIR (every regular file under it, with its path relative
      to DIR; DIR/safeflow-manifest.json is the manifest) -> pending until approved
  approve REF
      approve a workflow (REF: "name@version" or its id "sha256:..."); never its author's
  revoke REF --reason TEXT
      revoke a workflow: no new runs may use it
  list [--state pending|approved|revoked]
  show REF
Needs a token in $SAFEFLOW_TOKEN (workflow-admin to change anything).
Exit status: 0 on success, 1 on failure, 2 on a usage error.
)";

int Usage(const std::string& msg) {
  std::fprintf(stderr, "safeflow workflow: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "safeflow workflow: %s\n", msg.c_str());
  return 1;
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct Response {
  long status = 0;  // 0: the request failed (see error)
  std::string body, error;
};

Response Call(const std::string& method, const std::string& url, const std::string& token,
              const std::string& content_type = "", const std::string& body = "") {
  Response r;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    r.error = "curl_easy_init failed";
    return r;
  }
  curl_slist* headers = nullptr;
  const std::string ct = "Content-Type: " + content_type;
  if (!content_type.empty()) headers = curl_slist_append(headers, ct.c_str());
  const std::string auth = "Authorization: Bearer " + token;
  if (!token.empty()) headers = curl_slist_append(headers, auth.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (const char* ca = std::getenv("SAFEFLOW_CA_BUNDLE"))
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
  const CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  } else {
    r.error = curl_easy_strerror(rc);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return r;
}

// The server's error message, or the raw body.
std::string ErrorOf(const Response& r) {
  if (r.status == 0) return r.error;
  const json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("msg") && j["msg"].is_string()) {
    return absl::StrCat("HTTP ", r.status, ": ", j["msg"].get<std::string>());
  }
  return absl::StrCat("HTTP ", r.status, ": ", r.body);
}

// A path segment with everything but unreserved characters, '@' and ':' percent-encoded.
std::string EscapeSegment(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '@' || c == ':') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string RandomBoundary() {
  unsigned char raw[12];
  if (RAND_bytes(raw, sizeof raw) != 1) std::abort();
  std::string b = "safeflow-";
  for (unsigned char c : raw) b += absl::StrCat(absl::Hex(c, absl::kZeroPad2));
  return b;
}

// The files under `dir` (regular files; symbolic links and special files are refused).
absl::StatusOr<std::vector<registry::BundleFile>> ReadBundleDir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": not a directory"));
  }
  std::vector<registry::BundleFile> files;
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) return absl::InvalidArgumentError(absl::StrCat(dir, ": ", ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) return absl::InvalidArgumentError(absl::StrCat(dir, ": ", ec.message()));
    const fs::file_status st = it->symlink_status(ec);
    if (fs::is_directory(st)) continue;
    const std::string rel = fs::path(it->path()).lexically_relative(dir).generic_string();
    if (!fs::is_regular_file(st)) {
      return absl::InvalidArgumentError(
          absl::StrCat(rel, ": not a regular file (symbolic links and special files are refused)"));
    }
    std::ifstream in(it->path(), std::ios::binary);
    if (!in) return absl::InvalidArgumentError(absl::StrCat(rel, ": cannot open"));
    std::stringstream ss;
    ss << in.rdbuf();
    files.push_back(registry::BundleFile{rel, ss.str()});
  }
  std::sort(
      files.begin(), files.end(),
      [](const registry::BundleFile& a, const registry::BundleFile& b) { return a.path < b.path; });
  return files;
}

absl::StatusOr<std::string> MultipartBody(const std::vector<registry::BundleFile>& files,
                                          const std::string& boundary) {
  std::string body;
  for (const registry::BundleFile& f : files) {
    for (char c : f.path) {
      if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
        return absl::InvalidArgumentError(
            absl::StrCat(f.path, ": a quote, backslash or control character in the path"));
      }
    }
    if (f.content.find(boundary) != std::string::npos) {
      return absl::InternalError("the multipart boundary occurs in a file; try again");
    }
    absl::StrAppend(&body, "--", boundary,
                    "\r\nContent-Disposition: form-data; name=\"workflow_attachment\"; filename=\"",
                    f.path, "\"\r\nContent-Type: application/octet-stream\r\n\r\n", f.content,
                    "\r\n");
  }
  absl::StrAppend(&body, "--", boundary, "--\r\n");
  return body;
}

void PrintItem(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  std::printf("%s\n", j.is_discarded() ? body.c_str() : j.dump(2).c_str());
}

int Register(const std::string& server, const std::string& token,
             const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("register needs exactly one DIR");
  absl::StatusOr<std::vector<registry::BundleFile>> files = ReadBundleDir(args[0]);
  if (!files.ok()) return Fail(std::string(files.status().message()));
  if (files->empty()) return Fail(absl::StrCat(args[0], ": no files"));
  const std::string boundary = RandomBoundary();
  absl::StatusOr<std::string> body = MultipartBody(*files, boundary);
  if (!body.ok()) return Fail(std::string(body.status().message()));
  Response r = Call("POST", server + "/admin/v1/workflows", token,
                    "multipart/form-data; boundary=" + boundary, *body);
  if (r.status != 201) return Fail(absl::StrCat("registering ", args[0], ": ", ErrorOf(r)));
  const json j = json::parse(r.body, nullptr, false);
  if (j.is_object()) {
    std::printf("registered %s@%s as %s (%zu files, state %s)\n", j.value("name", "").c_str(),
                j.value("version", "").c_str(), j.value("id", "").c_str(), files->size(),
                j.value("state", "").c_str());
  } else {
    PrintItem(r.body);
  }
  return 0;
}

}  // namespace

int WorkflowCommand(const std::string& server, const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string cmd = args[0];
  std::vector<std::string> pos;
  std::map<std::string, std::string> flags;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--reason" || args[i] == "--state") {
      if (i + 1 >= args.size()) return Usage(args[i] + " needs a value");
      flags[args[i]] = args[i + 1];
      ++i;
    } else if (args[i].rfind("--", 0) == 0) {
      return Usage("unknown option " + args[i]);
    } else {
      pos.push_back(args[i]);
    }
  }
  const std::set<std::string> known = {"register", "approve", "revoke", "list", "show"};
  if (!known.contains(cmd)) return Usage("unknown command " + cmd);
  if ((cmd != "revoke" && flags.contains("--reason")) ||
      (cmd != "list" && flags.contains("--state"))) {
    return Usage(absl::StrCat("option not valid for ", cmd));
  }
  const char* token_env = std::getenv("SAFEFLOW_TOKEN");
  if (token_env == nullptr || *token_env == '\0') return Usage("set SAFEFLOW_TOKEN to a token");
  const std::string token = token_env;
  const std::string base = server + "/admin/v1/workflows";

  if (cmd == "register") return Register(server, token, pos);
  if (cmd == "list") {
    if (!pos.empty()) return Usage("list takes no arguments");
    std::string url = base;
    if (flags.contains("--state")) url += "?state=" + EscapeSegment(flags["--state"]);
    Response r = Call("GET", url, token);
    if (r.status != 200) return Fail(ErrorOf(r));
    const json j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("workflows") || !j["workflows"].is_array()) {
      return Fail("the server's answer has no workflows");
    }
    for (const json& w : j["workflows"]) {
      std::string approvers;
      for (const json& a : w.value("approvers", json::array())) {
        absl::StrAppend(&approvers, approvers.empty() ? "" : ",", a.get<std::string>());
      }
      std::printf("%s  %s@%s  %s  by %s  approved by [%s]\n", w.value("id", "").c_str(),
                  w.value("name", "").c_str(), w.value("version", "").c_str(),
                  w.value("state", "").c_str(), w.value("created_by", "").c_str(),
                  approvers.c_str());
    }
    return 0;
  }
  if (pos.size() != 1) return Usage(absl::StrCat(cmd, " needs exactly one REF"));
  const std::string url = base + "/" + EscapeSegment(pos[0]);
  Response r;
  if (cmd == "show") {
    r = Call("GET", url, token);
  } else if (cmd == "approve") {
    r = Call("POST", url + ":approve", token, "application/json", "{}");
  } else {  // revoke
    if (!flags.contains("--reason") || flags["--reason"].empty()) {
      return Usage("revoke needs --reason TEXT");
    }
    r = Call("POST", url + ":revoke", token, "application/json",
             json{{"reason", flags["--reason"]}}.dump());
  }
  if (r.status != 200) return Fail(absl::StrCat(cmd, " ", pos[0], ": ", ErrorOf(r)));
  PrintItem(r.body);
  return 0;
}

}  // namespace safeflow::cli
