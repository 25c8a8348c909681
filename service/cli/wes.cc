#include "service/cli/wes.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

#include "service/cli/client.h"
#include "service/registry/bundle.h"

namespace safeflow::cli {
namespace {

using nlohmann::json;
namespace registry = service::registry;

constexpr const char* kUsage = R"(usage: safeflow wes COMMAND
  submit WORKFLOW_URL --type SMK|CWL|NFL --type-version V [--params FILE|-] [--tag K=V]...
         [--engine-param K=V]... [--attach DIR] [--wait [--timeout SECONDS]]
      submit a run (POST /ga4gh/wes/v1/runs) and print its id. WORKFLOW_URL is
      safeflow:<name>@<version> of an approved workflow, or with --attach DIR (every regular
      file under DIR, by its relative path) the entry point of a copy of an approved bundle.
      --params: a JSON object (FILE, or - for standard input; default {}). --tag project=P
      picks the project. --wait polls the state every 500 ms until the run ends (or SECONDS
      pass), prints it and exits 0 only for COMPLETE.
  status RUN_ID           print the run's state
  show RUN_ID             print the run's RunLog (JSON)
  list [--page-size N]    one line per run: id, state, start time, tags
  cancel RUN_ID
  logs RUN_ID [--stderr]  print the engine's stdout (or stderr)
  tasks RUN_ID            one line per task: name, end time, exit code
Needs a token in $SAFEFLOW_TOKEN (a researcher's, for the project's runs).
Exit status: 0 on success, 1 on failure, 2 on a usage error.
)";

bool IsTerminal(const std::string& state) {
  for (const char* s : {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED", "PREEMPTED"}) {
    if (state == s) return true;
  }
  return false;
}

int Usage(const std::string& msg) {
  std::fprintf(stderr, "safeflow wes: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "safeflow wes: %s\n", msg.c_str());
  return 1;
}

// The options of each command: those that take a value (--tag and --engine-param repeat), and
// the bare ones.
struct Options {
  std::set<std::string> with_value, bare;
};

// nullopt for an unknown command.
std::optional<Options> OptionsOf(const std::string& cmd) {
  if (cmd == "submit") {
    return Options{{"--type", "--type-version", "--params", "--tag", "--engine-param", "--attach",
                    "--timeout"},
                   {"--wait"}};
  }
  if (cmd == "list") return Options{{"--page-size"}, {}};
  if (cmd == "logs") return Options{{}, {"--stderr"}};
  if (cmd == "status" || cmd == "show" || cmd == "cancel" || cmd == "tasks") return Options{};
  return std::nullopt;
}

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> flags;  // bare flags hold one "true"

  bool Has(const std::string& f) const { return flags.contains(f); }
  const std::string& One(const std::string& f) const { return flags.at(f).back(); }
  std::vector<std::string> All(const std::string& f) const {
    return Has(f) ? flags.at(f) : std::vector<std::string>{};
  }
};

absl::StatusOr<Args> ParseArgs(const std::vector<std::string>& args, const Options& options) {
  Args out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      out.positional.push_back(a);
    } else if (options.bare.contains(a)) {
      out.flags[a] = {"true"};
    } else if (!options.with_value.contains(a)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option ", a));
    } else if (i + 1 >= args.size()) {
      return absl::InvalidArgumentError(absl::StrCat(a, " needs a value"));
    } else {
      if (a != "--tag" && a != "--engine-param" && out.Has(a)) {
        return absl::InvalidArgumentError(absl::StrCat(a, " given twice"));
      }
      out.flags[a].push_back(args[++i]);
    }
  }
  return out;
}

// "K=V"... -> {"K": "V", ...}; a missing '=', an empty key or a key given twice is an error.
absl::StatusOr<json> KeyValues(const std::string& flag, const std::vector<std::string>& items) {
  json out = json::object();
  for (const std::string& item : items) {
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " ", item, ": expected KEY=VALUE"));
    }
    const std::string key = item.substr(0, eq);
    if (out.contains(key)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " ", key, " given twice"));
    }
    out[key] = item.substr(eq + 1);
  }
  return out;
}

// The content of FILE, or of standard input for "-".
absl::StatusOr<std::string> ReadParams(const std::string& file) {
  if (file == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--params ", file, ": cannot open"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// GET `url`; the JSON object of a 200 answer, else a failure message in `error`.
std::optional<json> GetObject(const std::string& url, const std::string& token,
                              std::string& error) {
  Response r = Call("GET", url, token);
  if (r.status != 200) {
    error = ErrorOf(r);
    return std::nullopt;
  }
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object()) {
    error = absl::StrCat("the server's answer is not a JSON object: ", r.body.substr(0, 200));
    return std::nullopt;
  }
  return j;
}

std::string StringOr(const json& j, const std::string& key, const std::string& fallback = "-") {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : fallback;
}

// Polls the run's state every 500 ms until it ends or `timeout` (0: none) passes.
int Wait(const std::string& run_url, const std::string& token, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string state;
  while (true) {
    std::string error;
    std::optional<json> s = GetObject(run_url + "/status", token, error);
    if (!s) return Fail(absl::StrCat("status: ", error));
    state = StringOr(*s, "state", "");
    if (IsTerminal(state)) break;
    if (timeout.count() > 0 && std::chrono::steady_clock::now() >= deadline) {
      std::printf("%s\n", state.c_str());
      return Fail(absl::StrCat("timed out after ", timeout.count(), " s (state ", state, ")"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::printf("%s\n", state.c_str());
  return state == "COMPLETE" ? 0 : 1;
}

int Submit(const std::string& base, const std::string& token, const Args& a) {
  if (a.positional.size() != 1) return Usage("submit needs exactly one WORKFLOW_URL");
  if (!a.Has("--type") || a.One("--type").empty()) return Usage("submit needs --type");
  if (!a.Has("--type-version") || a.One("--type-version").empty()) {
    return Usage("submit needs --type-version");
  }
  if (a.Has("--timeout") && !a.Has("--wait")) return Usage("--timeout needs --wait");
  int timeout = 0;
  if (a.Has("--timeout") && (!absl::SimpleAtoi(a.One("--timeout"), &timeout) || timeout <= 0)) {
    return Usage("--timeout: a positive number of seconds");
  }
  std::string params = "{}";
  if (a.Has("--params")) {
    absl::StatusOr<std::string> text = ReadParams(a.One("--params"));
    if (!text.ok()) return Fail(std::string(text.status().message()));
    const json j = json::parse(*text, nullptr, false);
    if (j.is_discarded()) return Usage(absl::StrCat("--params ", a.One("--params"), ": not JSON"));
    if (!j.is_object()) {
      return Usage(absl::StrCat("--params ", a.One("--params"), ": must be a JSON object, not ",
                                j.type_name()));
    }
    params = j.dump();
  }
  absl::StatusOr<json> tags = KeyValues("--tag", a.All("--tag"));
  if (!tags.ok()) return Usage(std::string(tags.status().message()));
  absl::StatusOr<json> engine = KeyValues("--engine-param", a.All("--engine-param"));
  if (!engine.ok()) return Usage(std::string(engine.status().message()));

  std::vector<FormPart> parts = {{"workflow_url", a.positional[0], std::nullopt},
                                 {"workflow_type", a.One("--type"), std::nullopt},
                                 {"workflow_type_version", a.One("--type-version"), std::nullopt},
                                 {"workflow_params", params, std::nullopt},
                                 {"tags", tags->dump(), std::nullopt},
                                 {"workflow_engine_parameters", engine->dump(), std::nullopt}};
  if (a.Has("--attach")) {
    absl::StatusOr<std::vector<registry::BundleFile>> files = ReadBundleDir(a.One("--attach"));
    if (!files.ok()) return Fail(std::string(files.status().message()));
    if (files->empty()) return Fail(absl::StrCat(a.One("--attach"), ": no files"));
    for (registry::BundleFile& f : *files) {
      parts.push_back(FormPart{"workflow_attachment", std::move(f.content), f.path});
    }
  }
  absl::StatusOr<Form> form = MultipartForm(parts);
  if (!form.ok()) return Fail(std::string(form.status().message()));
  Response r = Call("POST", base, token, form->content_type, form->body);
  if (r.status != 200) return Fail(absl::StrCat("submitting ", a.positional[0], ": ", ErrorOf(r)));
  const json j = json::parse(r.body, nullptr, false);
  const std::string id = j.is_object() ? StringOr(j, "run_id", "") : "";
  if (id.empty()) return Fail("the server's answer has no run_id");
  std::printf("%s\n", id.c_str());
  std::fflush(stdout);
  if (!a.Has("--wait")) return 0;
  return Wait(base + "/" + EscapeSegment(id), token, std::chrono::seconds(timeout));
}

// Every item of the paged list `key` at `url` (following next_page_token).
std::optional<std::vector<json>> ListAll(const std::string& url, const std::string& key,
                                         const std::string& token, std::string& error) {
  std::vector<json> items;
  std::string page_token;
  const char sep = url.find('?') == std::string::npos ? '?' : '&';
  for (int pages = 0; pages < 10000; ++pages) {
    const std::string page_url =
        page_token.empty()
            ? url
            : absl::StrCat(url, std::string(1, sep), "page_token=", EscapeSegment(page_token));
    std::optional<json> page = GetObject(page_url, token, error);
    if (!page) return std::nullopt;
    if (!page->contains(key) || !(*page)[key].is_array()) {
      error = absl::StrCat("the server's answer has no ", key);
      return std::nullopt;
    }
    for (json& item : (*page)[key]) items.push_back(std::move(item));
    page_token = StringOr(*page, "next_page_token", "");
    if (page_token.empty()) return items;
  }
  error = "too many pages";
  return std::nullopt;
}

int List(const std::string& base, const std::string& token, const Args& a) {
  if (!a.positional.empty()) return Usage("list takes no arguments");
  std::string url = base;
  if (a.Has("--page-size")) {
    int size = 0;
    if (!absl::SimpleAtoi(a.One("--page-size"), &size) || size <= 0) {
      return Usage("--page-size: a positive integer");
    }
    url += absl::StrCat("?page_size=", size);
  }
  std::string error;
  std::optional<std::vector<json>> runs = ListAll(url, "runs", token, error);
  if (!runs) return Fail(error);
  for (const json& run : *runs) {
    std::string tags;
    if (run.contains("tags") && run["tags"].is_object()) {
      for (const auto& [k, v] : run["tags"].items()) {
        absl::StrAppend(&tags, tags.empty() ? "" : ",", k, "=",
                        v.is_string() ? v.get<std::string>() : v.dump());
      }
    }
    std::printf("%s  %s  %s  %s\n", StringOr(run, "run_id").c_str(), StringOr(run, "state").c_str(),
                StringOr(run, "start_time").c_str(), tags.empty() ? "-" : tags.c_str());
  }
  return 0;
}

int Tasks(const std::string& run_url, const std::string& token) {
  std::string error;
  std::optional<std::vector<json>> tasks = ListAll(run_url + "/tasks", "task_logs", token, error);
  if (!tasks) return Fail(error);
  for (const json& t : *tasks) {
    const std::string exit_code = t.contains("exit_code") && t["exit_code"].is_number_integer()
                                      ? std::to_string(t["exit_code"].get<long long>())
                                      : "-";
    std::printf("%s  %s  %s\n", StringOr(t, "name").c_str(), StringOr(t, "end_time").c_str(),
                exit_code.c_str());
  }
  return 0;
}

}  // namespace

int WesCommand(const std::string& server, const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string& cmd = args[0];
  const std::optional<Options> options = OptionsOf(cmd);
  if (!options) return Usage("unknown command " + cmd);
  absl::StatusOr<Args> a =
      ParseArgs(std::vector<std::string>(args.begin() + 1, args.end()), *options);
  if (!a.ok()) return Usage(absl::StrCat(cmd, ": ", a.status().message()));
  const char* token_env = std::getenv("SAFEFLOW_TOKEN");
  if (token_env == nullptr || *token_env == '\0') return Usage("set SAFEFLOW_TOKEN to a token");
  const std::string token = token_env;
  const std::string base = server + "/ga4gh/wes/v1/runs";

  if (cmd == "submit") return Submit(base, token, *a);
  if (cmd == "list") return List(base, token, *a);
  if (a->positional.size() != 1) return Usage(absl::StrCat(cmd, " needs exactly one RUN_ID"));
  const std::string& id = a->positional[0];
  const std::string run_url = base + "/" + EscapeSegment(id);
  if (cmd == "tasks") return Tasks(run_url, token);
  if (cmd == "logs") {
    Response r =
        Call("GET", run_url + (a->Has("--stderr") ? "/logs/stderr" : "/logs/stdout"), token);
    if (r.status != 200) return Fail(absl::StrCat("logs ", id, ": ", ErrorOf(r)));
    std::fwrite(r.body.data(), 1, r.body.size(), stdout);
    return 0;
  }
  if (cmd == "cancel") {
    Response r = Call("POST", run_url + "/cancel", token, "application/json", "");
    if (r.status != 200) return Fail(absl::StrCat("cancel ", id, ": ", ErrorOf(r)));
    std::printf("cancel requested: %s\n", id.c_str());
    return 0;
  }
  std::string error;
  std::optional<json> j = GetObject(cmd == "status" ? run_url + "/status" : run_url, token, error);
  if (!j) return Fail(absl::StrCat(cmd, " ", id, ": ", error));
  if (cmd == "status") {
    std::printf("%s\n", StringOr(*j, "state").c_str());
  } else {  // show
    std::printf("%s\n", j->dump(2).c_str());
  }
  return 0;
}

}  // namespace safeflow::cli
