#include "service/cli/workflow.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

#include "service/cli/client.h"
#include "service/registry/bundle.h"

namespace safeflow::cli {
namespace {

using nlohmann::json;
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

int Register(const std::string& server, const std::string& token,
             const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("register needs exactly one DIR");
  absl::StatusOr<std::vector<registry::BundleFile>> files = ReadBundleDir(args[0]);
  if (!files.ok()) return Fail(std::string(files.status().message()));
  if (files->empty()) return Fail(absl::StrCat(args[0], ": no files"));
  std::vector<FormPart> parts;
  for (registry::BundleFile& f : *files) {
    parts.push_back(FormPart{"workflow_attachment", std::move(f.content), f.path});
  }
  absl::StatusOr<Form> form = MultipartForm(parts);
  if (!form.ok()) return Fail(std::string(form.status().message()));
  Response r = Call("POST", server + "/admin/v1/workflows", token, form->content_type, form->body);
  if (r.status != 201) return Fail(absl::StrCat("registering ", args[0], ": ", ErrorOf(r)));
  const json j = json::parse(r.body, nullptr, false);
  if (j.is_object()) {
    std::printf("registered %s@%s as %s (%zu files, state %s)\n", j.value("name", "").c_str(),
                j.value("version", "").c_str(), j.value("id", "").c_str(), files->size(),
                j.value("state", "").c_str());
  } else {
    PrintJson(r.body);
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
  PrintJson(r.body);
  return 0;
}

}  // namespace safeflow::cli
