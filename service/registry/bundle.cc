#include "service/registry/bundle.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include <openssl/evp.h>

#include "service/api/multipart.h"
#include "service/registry/json_schema.h"

namespace safeflow::service::registry {
namespace {

namespace disclosure = executor::disclosure;
using nlohmann::json;

constexpr std::size_t kMaxDescription = 4096;
constexpr std::size_t kMaxOutputs = 256;
constexpr std::size_t kMaxInputs = 256;

const std::regex& NameRe() {
  static const std::regex re("^[a-z0-9][a-z0-9._-]{0,63}$");
  return re;
}
const std::regex& VersionRe() {
  static const std::regex re("^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$");
  return re;
}
const std::regex& ImageRe() {  // a TES image name
  static const std::regex re("^[A-Za-z0-9][A-Za-z0-9._/:-]{0,127}$");
  return re;
}
const std::regex& TypeVersionRe() {
  static const std::regex re("^[A-Za-z0-9][A-Za-z0-9._+-]{0,31}$");
  return re;
}

// Collects "manifest.<where>: why" problems.
class Problems {
 public:
  void Add(const std::string& where, const std::string& why) {
    list_.push_back(absl::StrCat("manifest.", where, ": ", why));
  }
  bool empty() const { return list_.empty(); }
  absl::Status Status() const { return absl::InvalidArgumentError(absl::StrJoin(list_, "; ")); }

 private:
  std::vector<std::string> list_;
};

// A required (or optional, when `required` is false) string member matching `re`.
std::optional<std::string> StringField(const json& m, const char* key, bool required,
                                       const std::regex* re, const std::string& what,
                                       Problems& problems) {
  auto it = m.find(key);
  if (it == m.end() || it->is_null()) {
    if (required) problems.Add(key, absl::StrCat("required (", what, ")"));
    return std::nullopt;
  }
  if (!it->is_string()) {
    problems.Add(key, absl::StrCat("must be a string (", what, ")"));
    return std::nullopt;
  }
  std::string v = it->get<std::string>();
  if (re != nullptr && !std::regex_match(v, *re)) {
    problems.Add(key, absl::StrCat("'", v.substr(0, 80), "' is not ", what));
    return std::nullopt;
  }
  return v;
}

// name (matching `name_re`), version and description: what identifies a registry item.
void ParseIdentity(const json& manifest, const std::regex& name_re, const std::string& name_what,
                   std::string& name, std::string& version, std::string& description,
                   Problems& problems) {
  if (auto v = StringField(manifest, "name", true, &name_re, name_what, problems)) name = *v;
  if (auto v = StringField(manifest, "version", true, &VersionRe(),
                           "a version of 1 to 64 characters [A-Za-z0-9._+-]", problems)) {
    version = *v;
  }
  if (auto v = StringField(manifest, "description", false, nullptr, "text", problems)) {
    if (v->size() > kMaxDescription) {
      problems.Add("description", absl::StrCat("longer than ", kMaxDescription, " bytes"));
    } else {
      description = *v;
    }
  }
}

void CheckKeys(const json& m, std::initializer_list<std::string_view> known,
               const std::string& where, Problems& problems) {
  for (const auto& [k, v] : m.items()) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      problems.Add(absl::StrCat(where, where.empty() ? "" : ".", k), "unknown field");
    }
  }
}

// "why" when `path` is not a safe relative path.
std::optional<std::string> PathProblem(std::string_view path) {
  absl::StatusOr<std::string> p = SafeRelativePath(path);
  if (!p.ok()) return std::string(p.status().message());
  return std::nullopt;
}

// The string form of an engine parameter value, or nullopt (with a problem) when it does not
// fit the parameter's type.
std::optional<std::string> EngineValue(const json& v, const EngineParameter& p,
                                       const std::string& where, Problems& problems) {
  std::string s;
  if (v.is_string()) {
    s = v.get<std::string>();
  } else if (v.is_number_integer() || v.is_boolean()) {
    s = v.dump();
  } else {
    problems.Add(where, absl::StrCat("must be a ", p.type, " (as a string)"));
    return std::nullopt;
  }
  if (p.type == "int") {
    static const std::regex kInt("^-?[0-9]{1,9}$");
    if (!std::regex_match(s, kInt)) {
      problems.Add(where, absl::StrCat("'", s.substr(0, 40), "' is not an integer"));
      return std::nullopt;
    }
  } else if (p.type == "bool") {
    if (s != "true" && s != "false") {
      problems.Add(where, absl::StrCat("'", s.substr(0, 40), "' is not true or false"));
      return std::nullopt;
    }
  }
  return s;
}

const EngineParameter* FindEngineParameter(std::string_view engine, std::string_view name) {
  for (const EngineParameter& p : EngineParameters(engine)) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string KnownParameterNames(std::string_view engine) {
  std::vector<std::string> names;
  for (const EngineParameter& p : EngineParameters(engine)) names.push_back(p.name);
  if (names.empty())
    return absl::StrCat(engine.empty() ? std::string("this engine") : std::string(engine),
                        " has none");
  return absl::StrCat("known: ", absl::StrJoin(names, ", "));
}

// ParseDeclaration's problems ("<member>: why", one per line) as "manifest.<where>.<member>".
void AddDeclarationProblems(const std::string& where, const absl::Status& status,
                            Problems& problems) {
  for (absl::string_view line : absl::StrSplit(status.message(), '\n')) {
    const std::size_t colon = line.find(": ");
    if (colon == absl::string_view::npos) {
      problems.Add(where, std::string(line));
    } else if (line.substr(0, colon) == "declaration") {  // the entry itself
      problems.Add(where, std::string(line.substr(colon + 2)));
    } else {
      problems.Add(absl::StrCat(where, ".", line.substr(0, colon)),
                   std::string(line.substr(colon + 2)));
    }
  }
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) std::abort();
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

std::string BundleDigest(const std::vector<BundleFile>& files) {
  std::vector<const BundleFile*> sorted;
  sorted.reserve(files.size());
  for (const BundleFile& f : files) sorted.push_back(&f);
  std::sort(sorted.begin(), sorted.end(),
            [](const BundleFile* a, const BundleFile* b) { return a->path < b->path; });
  std::string canonical = "safeflow-bundle-v1\n";
  for (const BundleFile* f : sorted) {
    canonical += f->path;
    canonical.push_back('\0');
    canonical += std::to_string(f->content.size());
    canonical.push_back('\0');
    canonical += Sha256Hex(f->content);
    canonical.push_back('\n');
  }
  return absl::StrCat("sha256:", Sha256Hex(canonical));
}

const std::vector<EngineParameter>& EngineParameters(std::string_view engine) {
  static const std::vector<EngineParameter> kSnakemake = {
      {"cores", "int", "1", "CPU cores snakemake may use (--cores)"},
      {"keep-going", "bool", "false", "go on with independent jobs when a job fails"},
  };
  static const std::vector<EngineParameter> kCwltool = {
      {"parallel", "bool", "false", "run independent steps in parallel (--parallel)"},
  };
  static const std::vector<EngineParameter> kNone;
  if (engine == "snakemake") return kSnakemake;
  if (engine == "cwltool") return kCwltool;
  return kNone;
}

std::string EngineOfType(std::string_view workflow_type) {
  if (workflow_type == "SMK") return "snakemake";
  if (workflow_type == "CWL") return "cwltool";
  if (workflow_type == "NFL") return "nextflow";
  return "";
}

absl::StatusOr<WorkflowManifest> ParseWorkflowManifest(
    const json& manifest, const std::vector<std::string>& bundle_paths) {
  if (!manifest.is_object()) return absl::InvalidArgumentError("manifest: must be a JSON object");
  Problems problems;
  WorkflowManifest m;
  CheckKeys(
      manifest,
      {"name", "version", "description", "workflow_type", "workflow_type_version", "engine",
       "entry_point", "environment", "engine_parameters", "caller_engine_parameters",
       "params_schema", "inputs", "outputs", "cpu_cores", "ram_gb", "disk_gb", "max_run_minutes"},
      "", problems);

  ParseIdentity(manifest, NameRe(), "a name of 1 to 64 characters [a-z0-9._-], starting [a-z0-9]",
                m.name, m.version, m.description, problems);
  if (auto v = StringField(manifest, "workflow_type", true, nullptr, "SMK, CWL or NFL", problems)) {
    if (EngineOfType(*v).empty()) {
      problems.Add("workflow_type",
                   absl::StrCat("'", v->substr(0, 40), "' is not SMK, CWL or NFL"));
    } else {
      m.workflow_type = *v;
      m.engine = EngineOfType(*v);
    }
  }
  if (auto v = StringField(manifest, "workflow_type_version", true, &TypeVersionRe(),
                           "a version such as 7.21 or v1.2", problems)) {
    m.workflow_type_version = *v;
  }
  if (auto v = StringField(manifest, "engine", false, nullptr, "an engine name", problems)) {
    if (!m.engine.empty() && *v != m.engine) {
      problems.Add("engine", absl::StrCat("'", v->substr(0, 40), "' does not match workflow_type ",
                                          m.workflow_type, " (", m.engine, ")"));
    }
  }
  if (auto v =
          StringField(manifest, "entry_point", true, nullptr, "a file of the bundle", problems)) {
    if (std::optional<std::string> why = PathProblem(*v)) {
      problems.Add("entry_point", *why);
    } else if (std::find(bundle_paths.begin(), bundle_paths.end(), *v) == bundle_paths.end()) {
      problems.Add("entry_point", absl::StrCat("'", *v, "' is not a file of the bundle"));
    } else if (*v == kManifestPath) {
      problems.Add("entry_point", "cannot be the manifest");
    } else {
      m.entry_point = *v;
    }
  }
  if (auto v = StringField(manifest, "environment", false, &ImageRe(),
                           "an execution environment name (a TES image name)", problems)) {
    m.environment = *v;
  }

  // Engine parameters: fixed by the admin, or settable by callers (never both).
  if (auto it = manifest.find("engine_parameters"); it != manifest.end() && !it->is_null()) {
    if (!it->is_object()) {
      problems.Add("engine_parameters", "must be an object of parameter name to value");
    } else {
      for (const auto& [k, v] : it->items()) {
        const std::string where = absl::StrCat("engine_parameters.", k);
        const EngineParameter* p = FindEngineParameter(m.engine, k);
        if (p == nullptr) {
          if (!m.engine.empty()) {
            problems.Add(where, absl::StrCat("unknown ", m.engine, " parameter (",
                                             KnownParameterNames(m.engine), ")"));
          }
          continue;
        }
        if (std::optional<std::string> s = EngineValue(v, *p, where, problems)) {
          m.engine_parameters[k] = *s;
        }
      }
    }
  }
  if (auto it = manifest.find("caller_engine_parameters"); it != manifest.end() && !it->is_null()) {
    if (!it->is_object()) {
      problems.Add("caller_engine_parameters",
                   "must be an object of parameter name to the JSON Schema of its value");
    } else {
      for (const auto& [k, v] : it->items()) {
        const std::string where = absl::StrCat("caller_engine_parameters.", k);
        if (FindEngineParameter(m.engine, k) == nullptr) {
          if (!m.engine.empty()) {
            problems.Add(where, absl::StrCat("unknown ", m.engine, " parameter (",
                                             KnownParameterNames(m.engine), ")"));
          }
          continue;
        }
        if (manifest.contains("engine_parameters") && manifest["engine_parameters"].is_object() &&
            manifest["engine_parameters"].contains(k)) {
          problems.Add(where,
                       "is also fixed in engine_parameters: a parameter is either fixed "
                       "or caller-settable");
          continue;
        }
        if (!v.is_object() && !v.is_boolean()) {
          problems.Add(where, "must be a JSON Schema (an object)");
          continue;
        }
        absl::StatusOr<std::shared_ptr<const CompiledSchema>> s = CompiledSchema::Compile(v);
        if (!s.ok()) {
          problems.Add(where, std::string(s.status().message()));
          continue;
        }
        m.caller_engine_parameters[k] = v;
      }
    }
  }

  // params_schema, then the data inputs that name its properties.
  bool schema_ok = false;
  if (auto it = manifest.find("params_schema"); it != manifest.end() && !it->is_null()) {
    if (!it->is_object()) {
      problems.Add("params_schema", "must be a JSON Schema (an object)");
    } else if (absl::StatusOr<std::shared_ptr<const CompiledSchema>> s =
                   CompiledSchema::Compile(*it);
               !s.ok()) {
      problems.Add("params_schema", std::string(s.status().message()));
    } else {
      m.params_schema = *it;
      schema_ok = true;
    }
  } else {
    schema_ok = true;  // the empty schema: anything goes
  }
  if (auto it = manifest.find("inputs"); it != manifest.end() && !it->is_null()) {
    if (!it->is_array()) {
      problems.Add("inputs", "must be an array of {param, path}");
    } else if (it->size() > kMaxInputs) {
      problems.Add("inputs", absl::StrCat("more than ", kMaxInputs));
    } else {
      std::set<std::string> params, paths;
      for (std::size_t i = 0; i < it->size(); ++i) {
        const json& in = (*it)[i];
        const std::string where = absl::StrCat("inputs[", i, "]");
        if (!in.is_object()) {
          problems.Add(where, "must be an object {param, path}");
          continue;
        }
        CheckKeys(in, {"param", "path"}, where, problems);
        DataInput d;
        bool good = true;
        if (!in.contains("param") || !in["param"].is_string() ||
            in["param"].get<std::string>().empty()) {
          problems.Add(where + ".param", "required (the name of a workflow parameter)");
          good = false;
        } else {
          d.param = in["param"].get<std::string>();
          const json& props = m.params_schema.is_object() && m.params_schema.contains("properties")
                                  ? m.params_schema["properties"]
                                  : json();
          if (!params.insert(d.param).second) {
            problems.Add(where + ".param", absl::StrCat("'", d.param, "' is declared twice"));
            good = false;
          } else if (schema_ok &&
                     (!props.is_object() || !props.contains(d.param) ||
                      !props[d.param].is_object() || !props[d.param].contains("type") ||
                      props[d.param]["type"] != "string")) {
            problems.Add(where + ".param",
                         absl::StrCat("'", d.param,
                                      "' must be a property of params_schema with type string"));
            good = false;
          }
        }
        if (!in.contains("path") || !in["path"].is_string()) {
          problems.Add(where + ".path", "required (a relative file name under /data)");
          good = false;
        } else {
          d.path = in["path"].get<std::string>();
          if (std::optional<std::string> why = PathProblem(d.path)) {
            problems.Add(where + ".path", *why);
            good = false;
          } else if (!paths.insert(d.path).second) {
            problems.Add(where + ".path", absl::StrCat("'", d.path, "' is used twice"));
            good = false;
          }
        }
        if (good) m.inputs.push_back(std::move(d));
      }
    }
  }
  if (auto it = manifest.find("outputs"); it != manifest.end() && !it->is_null()) {
    if (!it->is_array()) {
      problems.Add("outputs", "must be an array of output declarations {name, path, type, ...}");
    } else if (it->size() > kMaxOutputs) {
      problems.Add("outputs", absl::StrCat("more than ", kMaxOutputs));
    } else {
      std::set<std::string> names, paths;
      std::vector<std::size_t> index;  // of each entry of m.outputs in "outputs"
      for (std::size_t i = 0; i < it->size(); ++i) {
        const std::string where = absl::StrCat("outputs[", i, "]");
        absl::StatusOr<disclosure::Declaration> d = disclosure::ParseDeclaration((*it)[i]);
        if (!d.ok()) {
          AddDeclarationProblems(where, d.status(), problems);
          continue;
        }
        bool good = true;
        if (!names.insert(d->name).second) {
          problems.Add(where + ".name", absl::StrCat("'", d->name, "' is declared twice"));
          good = false;
        }
        if (!paths.insert(d->path).second) {
          problems.Add(where + ".path", absl::StrCat("'", d->path, "' is declared twice"));
          good = false;
        }
        if (good) {
          m.outputs.push_back(*std::move(d));
          index.push_back(i);
        }
      }
      // A sidecar is neither an output nor another output's sidecar: the airlock would read one
      // file as two things, or release evidence as an output.
      std::set<std::string> evidence;
      for (std::size_t i = 0; i < m.outputs.size(); ++i) {
        const disclosure::Declaration& d = m.outputs[i];
        if (d.evidence.empty()) continue;
        const std::string where = absl::StrCat("outputs[", index[i], "].evidence");
        if (paths.contains(d.evidence)) {
          problems.Add(where, absl::StrCat("'", d.evidence, "' is the path of an output"));
        } else if (!evidence.insert(d.evidence).second) {
          problems.Add(where,
                       absl::StrCat("'", d.evidence, "' is the evidence of another output too"));
        }
        // The sidecar's TES output is named "<name>.evidence" (service/wes/run_task.h).
        if (names.contains(absl::StrCat(d.name, ".evidence"))) {
          problems.Add(where, absl::StrCat("output '", d.name,
                                           ".evidence' exists: it would be mistaken for this "
                                           "output's sidecar"));
        }
      }
    }
  }

  // Resources.
  if (auto it = manifest.find("cpu_cores"); it != manifest.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > 64) {
      problems.Add("cpu_cores", "must be an integer from 1 to 64");
    } else {
      m.cpu_cores = it->get<int>();
    }
  }
  for (auto [key, into] : {std::pair{"ram_gb", &m.ram_gb}, std::pair{"disk_gb", &m.disk_gb}}) {
    if (auto it = manifest.find(key); it != manifest.end() && !it->is_null()) {
      if (!it->is_number() || !(it->get<double>() > 0) || !std::isfinite(it->get<double>()) ||
          it->get<double>() > 1e6) {
        problems.Add(key, "must be a number greater than 0");
      } else {
        *into = it->get<double>();
      }
    }
  }
  if (auto it = manifest.find("max_run_minutes"); it != manifest.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > 10080) {
      problems.Add("max_run_minutes", "must be an integer from 1 to 10080 (a week)");
    } else {
      m.max_run_minutes = it->get<int>();
    }
  }

  if (!problems.empty()) return problems.Status();
  return m;
}

json ToJson(const WorkflowManifest& m) {
  json j = {{"name", m.name},
            {"version", m.version},
            {"description", m.description},
            {"workflow_type", m.workflow_type},
            {"workflow_type_version", m.workflow_type_version},
            {"engine", m.engine},
            {"entry_point", m.entry_point},
            {"environment", m.environment},
            {"engine_parameters", json::object()},
            {"caller_engine_parameters", json::object()},
            {"params_schema", m.params_schema},
            {"inputs", json::array()},
            {"outputs", json::array()},
            {"max_run_minutes", m.max_run_minutes}};
  for (const auto& [k, v] : m.engine_parameters) j["engine_parameters"][k] = v;
  for (const auto& [k, v] : m.caller_engine_parameters) j["caller_engine_parameters"][k] = v;
  for (const DataInput& d : m.inputs) j["inputs"].push_back({{"param", d.param}, {"path", d.path}});
  for (const disclosure::Declaration& o : m.outputs) j["outputs"].push_back(disclosure::ToJson(o));
  if (m.cpu_cores) j["cpu_cores"] = *m.cpu_cores;
  if (m.ram_gb) j["ram_gb"] = *m.ram_gb;
  if (m.disk_gb) j["disk_gb"] = *m.disk_gb;
  return j;
}

absl::StatusOr<EnvironmentManifest> ParseEnvironmentManifest(const json& manifest) {
  if (!manifest.is_object()) return absl::InvalidArgumentError("manifest: must be a JSON object");
  Problems problems;
  EnvironmentManifest m;
  CheckKeys(manifest, {"name", "version", "description", "root", "aliases"}, "", problems);
  ParseIdentity(manifest, ImageRe(), "a TES image name of 1 to 128 characters [A-Za-z0-9._/:-]",
                m.name, m.version, m.description, problems);
  if (auto v = StringField(manifest, "root", false, nullptr, "an absolute directory", problems)) {
    bool good = !v->empty() && v->front() == '/' && v->size() <= 4096;
    for (absl::string_view comp : absl::StrSplit(*v, '/')) {
      if (comp == ".." || comp == ".") good = false;
    }
    for (char c : *v) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) good = false;
    }
    if (!good) {
      problems.Add("root", "must be an absolute directory without '.' or '..' components");
    } else {
      m.root = *v;
    }
  }
  if (auto it = manifest.find("aliases"); it != manifest.end() && !it->is_null()) {
    if (!it->is_array() || it->size() > 64) {
      problems.Add("aliases", "must be an array of at most 64 image names");
    } else {
      std::set<std::string> seen;
      for (std::size_t i = 0; i < it->size(); ++i) {
        const json& a = (*it)[i];
        const std::string where = absl::StrCat("aliases[", i, "]");
        if (!a.is_string() || !std::regex_match(a.get<std::string>(), ImageRe())) {
          problems.Add(where, "must be a TES image name of 1 to 128 characters [A-Za-z0-9._/:-]");
        } else if (a.get<std::string>() == m.name || !seen.insert(a.get<std::string>()).second) {
          problems.Add(where, absl::StrCat("'", a.get<std::string>(), "' is named twice"));
        } else {
          m.aliases.push_back(a.get<std::string>());
        }
      }
    }
  }
  if (!problems.empty()) return problems.Status();
  return m;
}

json ToJson(const EnvironmentManifest& m) {
  return {{"name", m.name},
          {"version", m.version},
          {"description", m.description},
          {"root", m.root},
          {"aliases", m.aliases}};
}

std::string EnvironmentDigest(const EnvironmentManifest& m) {
  return BundleDigest({BundleFile{"environment.json", ToJson(m).dump()}});
}

}  // namespace safeflow::service::registry
