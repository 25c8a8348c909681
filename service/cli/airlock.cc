#include "service/cli/airlock.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

#include "service/cli/client.h"

namespace safeflow::cli {
namespace {

using nlohmann::json;

constexpr const char* kUsage = R"(usage: safeflow airlock COMMAND
  list [--status S] [--run RUN_ID]
      one line per release request: id, kind, run or task, state, files by status. --status
      (pending|released|held|escalated|blocked) lists requests with a file in that status:
      output checkers use --status held
  show REQUEST_ID [--json]
      each file's type, verdict, status and the findings of its disclosure report
  review REQUEST_ID FILE approve|reject --comment TEXT
      an output checker's decision on a held file (never on your own request)
  override REQUEST_ID FILE release|block --justification TEXT
      a workflow admin's decision on a blocked or escalated file
  download REQUEST_ID FILE [-o PATH]
      save a released file (default: its file name in the current directory); the SHA-256 is
      checked against the one it was released with
Needs a token in $SAFEFLOW_TOKEN.
Exit status: 0 on success, 1 on failure, 2 on a usage error.
)";

int Usage(const std::string& msg) {
  std::fprintf(stderr, "safeflow airlock: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "safeflow airlock: %s\n", msg.c_str());
  return 1;
}

// Positional arguments and "--flag value" pairs (`bare` flags take no value).
struct Parsed {
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;
  std::string error;
};

Parsed Parse(const std::vector<std::string>& args, const std::vector<std::string>& with_value,
             const std::vector<std::string>& bare) {
  Parsed p;
  auto in = [](const std::vector<std::string>& v, const std::string& s) {
    for (const std::string& x : v) {
      if (x == s) return true;
    }
    return false;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-') {
      p.positional.push_back(a);
    } else if (in(bare, a)) {
      p.flags[a] = "true";
    } else if (!in(with_value, a)) {
      p.error = "unknown option " + a;
    } else if (i + 1 >= args.size()) {
      p.error = a + " needs a value";
    } else {
      p.flags[a] = args[++i];
    }
  }
  return p;
}

std::optional<json> GetJson(const std::string& url, const std::string& token, std::string& err) {
  Response r = Call("GET", url, token);
  if (r.status != 200) {
    err = ErrorOf(r);
    return std::nullopt;
  }
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object()) {
    err = "the server's answer is not a JSON object";
    return std::nullopt;
  }
  return j;
}

void PrintRequest(const json& q) {
  std::printf("request %s (%s %s), project %s, requester %s, profile %s, %s\n",
              q.value("id", "").c_str(), q.value("kind", "").c_str(),
              q.value("run_id", q.value("task_id", "")).c_str(), q.value("project", "").c_str(),
              q.value("requester", "").c_str(), q.value("profile", "").c_str(),
              q.value("state", "").c_str());
  for (const json& f : q.value("files", json::array())) {
    std::printf("  %-20s %-16s verdict %-7s %-10s %s\n", f.value("name", "").c_str(),
                f.value("type", "").c_str(), f.value("verdict", "-").c_str(),
                f.value("status", "").c_str(), f.value("sha256", "").substr(0, 16).c_str());
    const json report = f.value("report", json::object());
    for (const json& x : report.value("findings", json::array())) {
      if (x.value("outcome", "") == "pass") continue;
      std::printf("      %-24s %-6s %s %s\n", x.value("rule", "").c_str(),
                  x.value("outcome", "").c_str(), x.value("message", "").c_str(),
                  x.value("parameters", json::object()).dump().c_str());
      int shown = 0;
      for (const json& c : x.value("cells", json::array())) {
        if (++shown > 10) break;
        std::printf("          row %s, column %s%s%s\n", c.value("row", json(0)).dump().c_str(),
                    c.value("column", "").c_str(),
                    c.contains("value") ? (": " + c["value"].get<std::string>()).c_str() : "",
                    c.contains("note") ? (" (" + c["note"].get<std::string>() + ")").c_str() : "");
      }
    }
    for (const json& r : f.value("reviews", json::array())) {
      std::printf("      review by %s: %s (%s)\n", r.value("checker", "").c_str(),
                  r.value("decision", "").c_str(), r.value("comment", "").c_str());
    }
  }
}

}  // namespace

int AirlockCommand(const std::string& server, const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string cmd = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  Parsed p;
  if (cmd == "list") {
    p = Parse(rest, {"--status", "--run"}, {});
  } else if (cmd == "show") {
    p = Parse(rest, {}, {"--json"});
  } else if (cmd == "review") {
    p = Parse(rest, {"--comment"}, {});
  } else if (cmd == "override") {
    p = Parse(rest, {"--justification"}, {});
  } else if (cmd == "download") {
    p = Parse(rest, {"-o"}, {});
  } else {
    return Usage("unknown command " + cmd);
  }
  if (!p.error.empty()) return Usage(cmd + ": " + p.error);
  const char* token_env = std::getenv("SAFEFLOW_TOKEN");
  if (token_env == nullptr || *token_env == '\0') return Usage("set SAFEFLOW_TOKEN to a token");
  const std::string token = token_env;
  const std::string base = server + "/airlock/v1/requests";
  std::string err;

  if (cmd == "list") {
    if (!p.positional.empty()) return Usage("list takes no arguments");
    std::string url = base + "?page_size=500";
    if (p.flags.contains("--status")) url += "&status=" + EscapeSegment(p.flags["--status"]);
    if (p.flags.contains("--run")) url += "&run_id=" + EscapeSegment(p.flags["--run"]);
    std::optional<json> j = GetJson(url, token, err);
    if (!j) return Fail("list: " + err);
    for (const json& q : j->value("requests", json::array())) {
      std::printf("%s  %-4s %-24s %-8s %s\n", q.value("id", "").c_str(),
                  q.value("kind", "").c_str(), q.value("run_id", q.value("task_id", "")).c_str(),
                  q.value("state", "").c_str(),
                  q.value("status_counts", json::object()).dump().c_str());
    }
    return 0;
  }
  if (cmd == "show") {
    if (p.positional.size() != 1) return Usage("show needs exactly one REQUEST_ID");
    std::optional<json> j = GetJson(base + "/" + EscapeSegment(p.positional[0]), token, err);
    if (!j) return Fail("show: " + err);
    if (p.flags.contains("--json")) {
      std::printf("%s\n", j->dump(2).c_str());
    } else {
      PrintRequest(*j);
    }
    return 0;
  }
  if (cmd == "review" || cmd == "override") {
    const std::string reason_flag = cmd == "review" ? "--comment" : "--justification";
    if (p.positional.size() != 3) {
      return Usage(cmd + " needs REQUEST_ID FILE DECISION");
    }
    if (!p.flags.contains(reason_flag)) return Usage(cmd + " needs " + reason_flag);
    const json body = {{"decision", p.positional[2]},
                       {reason_flag.substr(2), p.flags[reason_flag]}};
    Response r = Call("POST",
                      base + "/" + EscapeSegment(p.positional[0]) + "/files/" +
                          EscapeSegment(p.positional[1]) + ":" + cmd,
                      token, "application/json", body.dump());
    if (r.status != 200) return Fail(absl::StrCat(cmd, ": ", ErrorOf(r)));
    json f = json::parse(r.body, nullptr, false);
    std::printf("%s: %s\n", p.positional[1].c_str(),
                f.is_object() ? f.value("status", "").c_str() : "?");
    return 0;
  }
  // download
  if (p.positional.size() != 2) return Usage("download needs REQUEST_ID FILE");
  std::optional<json> q = GetJson(base + "/" + EscapeSegment(p.positional[0]), token, err);
  if (!q) return Fail("download: " + err);
  json file;
  for (const json& f : q->value("files", json::array())) {
    if (f.value("name", "") == p.positional[1]) file = f;
  }
  if (!file.is_object()) return Fail("download: the request has no file " + p.positional[1]);
  std::string out = p.flags.contains("-o") ? p.flags["-o"] : file.value("path", "output");
  if (!p.flags.contains("-o") && out.rfind('/') != std::string::npos) {
    out = out.substr(out.rfind('/') + 1);
  }
  DownloadInfo info;
  Response r = Download(base + "/" + EscapeSegment(p.positional[0]) + "/files/" +
                            EscapeSegment(p.positional[1]) + "/content",
                        token, out, file.value("sha256", ""), info);
  if (r.status != 200) return Fail("download: " + ErrorOf(r));
  std::printf("%s: %llu bytes, sha256 %s", out.c_str(), static_cast<unsigned long long>(info.bytes),
              info.sha256.c_str());
  if (info.resumed_from > 0) {
    std::printf(" (resumed at byte %llu)", static_cast<unsigned long long>(info.resumed_from));
  }
  std::printf("\n");
  return 0;
}

}  // namespace safeflow::cli
