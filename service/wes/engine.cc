#include "service/wes/engine.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <deque>
#include <iterator>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace safeflow::service::wes {
namespace {

using nlohmann::json;

struct KnownEngine {
  absl::string_view engine;
  absl::string_view workflow_type;
  // For "--version". Nextflow's full banner is "-version"; it has no "--version".
  absl::string_view version_flag;
};
constexpr std::array<KnownEngine, 3> kKnownEngines = {{
    {"snakemake", "SMK", "--version"},
    {"cwltool", "CWL", "--version"},
    {"nextflow", "NFL", "-version"},
}};

constexpr int kMaxCores = 1024;

// A version-looking word: a digit, then digits, letters, '.', '+' or '-', with at least one
// '.' ("7.21.0", "3.1.20230209161050", "23.04.1"). A leading 'v' is dropped.
std::optional<std::string> VersionWord(absl::string_view word) {
  if (word.size() > 1 && (word[0] == 'v' || word[0] == 'V') &&
      absl::ascii_isdigit(static_cast<unsigned char>(word[1]))) {
    word.remove_prefix(1);
  }
  if (word.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(word[0]))) {
    return std::nullopt;
  }
  const bool chars_ok = std::all_of(word.begin(), word.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '+' || c == '-';
  });
  if (!chars_ok || word.find('.') == absl::string_view::npos || word.size() > 64) {
    return std::nullopt;
  }
  return std::string(word);
}

// "7.21.0" -> "7.21".
std::string MajorMinor(absl::string_view version) {
  std::vector<absl::string_view> parts = absl::StrSplit(version, '.');
  if (parts.size() < 2) return std::string(version);
  return absl::StrCat(parts[0], ".", parts[1]);
}

std::vector<std::string> TypeVersions(absl::string_view engine, absl::string_view version) {
  if (engine == "snakemake") return {MajorMinor(version)};
  // cwltool 3.1 runs CWL v1.0, v1.1 and v1.2 ("cwltool --print-supported-versions").
  if (engine == "cwltool") return {"v1.0", "v1.1", "v1.2"};
  if (engine == "nextflow") return {"DSL2"};
  return {};
}

absl::Status UnknownParameter(absl::string_view engine, absl::string_view name,
                              absl::string_view known) {
  return absl::InvalidArgumentError(absl::StrCat("engine parameter '", name, "': ", engine,
                                                 " has no such parameter (known: ", known, ")"));
}

absl::StatusOr<bool> BoolParameter(absl::string_view name, absl::string_view value) {
  if (value == "true") return true;
  if (value == "false") return false;
  return absl::InvalidArgumentError(
      absl::StrCat("engine parameter '", name, "': want \"true\" or \"false\""));
}

// --- log parsing ---------------------------------------------------------------------------

std::vector<absl::string_view> Lines(absl::string_view log) {
  std::vector<absl::string_view> lines = absl::StrSplit(log, '\n');
  for (absl::string_view& l : lines) absl::ConsumeSuffix(&l, "\r");
  return lines;
}

// Drops ANSI escape sequences (cwltool colours its log level by default).
std::string StripAnsi(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
      i += 2;
      while (i < s.size() && !(s[i] >= '@' && s[i] <= '~')) ++i;
      continue;
    }
    out.push_back(s[i]);
  }
  return out;
}

bool StartsWithSpace(absl::string_view line) {
  return !line.empty() && (line[0] == ' ' || line[0] == '\t');
}

// Steps in the order they were first seen, found by id.
class StepList {
 public:
  EngineStep& Get(const std::string& id, absl::string_view name) {
    for (EngineStep& s : steps_) {
      if (s.id == id) return s;
    }
    EngineStep s;
    s.id = id;
    s.name = std::string(name);
    s.state = "RUNNING";
    steps_.push_back(std::move(s));
    return steps_.back();
  }
  EngineStep* Find(absl::string_view id) {
    for (EngineStep& s : steps_) {
      if (s.id == id) return &s;
    }
    return nullptr;
  }
  std::vector<EngineStep> Take() {
    return {std::make_move_iterator(steps_.begin()), std::make_move_iterator(steps_.end())};
  }

 private:
  std::deque<EngineStep> steps_;  // a deque: Get's references stay valid as it grows
};

// Snakemake prints time.asctime() in brackets: "[Sat Nov 21 16:38:48 2026]" (day padded with
// a space when < 10). Local time without a zone; the sandbox runs engines with TZ=UTC (or
// unset, which glibc takes as UTC), so we read it as UTC.
std::optional<std::string> SnakemakeTime(absl::string_view line) {
  if (line.size() < 2 || line.front() != '[' || line.back() != ']') return std::nullopt;
  std::vector<absl::string_view> w =
      absl::StrSplit(line.substr(1, line.size() - 2), ' ', absl::SkipEmpty());
  if (w.size() != 5) return std::nullopt;
  static constexpr std::array<absl::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto month = std::find(kMonths.begin(), kMonths.end(), w[1]);
  int day = 0, year = 0;
  if (month == kMonths.end() || !absl::SimpleAtoi(w[2], &day) || day < 1 || day > 31 ||
      !absl::SimpleAtoi(w[4], &year) || year < 1970 || year > 9999) {
    return std::nullopt;
  }
  std::vector<absl::string_view> hms = absl::StrSplit(w[3], ':');
  int h = 0, m = 0, s = 0;
  if (hms.size() != 3 || hms[0].size() != 2 || hms[1].size() != 2 || hms[2].size() != 2 ||
      !absl::SimpleAtoi(hms[0], &h) || !absl::SimpleAtoi(hms[1], &m) ||
      !absl::SimpleAtoi(hms[2], &s) || h > 23 || m > 59 || s > 60) {
    return std::nullopt;
  }
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02dZ", year,
                         static_cast<int>(month - kMonths.begin()) + 1, day, h, m, s);
}

// "rule NAME:", "localrule NAME:", "checkpoint NAME:", "localcheckpoint NAME:" at column 0.
std::optional<absl::string_view> SnakemakeRuleStart(absl::string_view line) {
  for (absl::string_view prefix : {"rule ", "localrule ", "checkpoint ", "localcheckpoint "}) {
    if (absl::StartsWith(line, prefix) && absl::EndsWith(line, ":")) {
      absl::string_view name = line.substr(prefix.size(), line.size() - prefix.size() - 1);
      if (!name.empty() && name.find(' ') == absl::string_view::npos) return name;
    }
  }
  return std::nullopt;
}

// "    jobid: 3" -> "3".
std::optional<std::string> SnakemakeJobId(absl::string_view line) {
  absl::string_view rest = absl::StripLeadingAsciiWhitespace(line);
  if (!absl::ConsumePrefix(&rest, "jobid:")) return std::nullopt;
  rest = absl::StripAsciiWhitespace(rest);
  int id = 0;
  if (!absl::SimpleAtoi(rest, &id) || id < 0) return std::nullopt;
  return std::string(rest);
}

// Snakemake 7.21 on stderr, per job:
//   [Sat Nov 21 16:38:48 2026]
//   rule select_cohort:            (or "localrule all:"; "Error in rule NAME:" on failure)
//       input: ...
//       jobid: 2
//       ...
//   <blank>
//   python3 ... (the shell command, with --printshellcmds; then the job's own output)
//   [Sat Nov 21 16:38:48 2026]
//   Finished job 2.
// On failure "Error in rule NAME:" follows the timestamp, with "    jobid: N" and a
// "    shell:" section holding the command (8 spaces). 7.21 does not print the exit code.
std::vector<EngineStep> ParseSnakemake(absl::string_view log) {
  StepList steps;
  std::optional<std::string> last_time;
  std::string shell = "bash";
  enum class Block { kNone, kRule, kError };
  Block block = Block::kNone;
  std::string block_name;
  std::optional<std::string> block_time;
  EngineStep* block_step = nullptr;  // the step the block belongs to, once its jobid is seen
  bool in_error_shell = false;
  EngineStep* await_cmd = nullptr;  // the line after a rule block's blank line is its command

  for (absl::string_view line : Lines(log)) {
    if (await_cmd != nullptr) {
      EngineStep* s = std::exchange(await_cmd, nullptr);
      if (!line.empty() && line.front() != '[' && s->cmd.empty() &&
          !absl::StartsWith(line, "Select jobs to execute") &&
          !absl::StartsWith(line, "Removing temporary output") &&
          !absl::StartsWith(line, "Finished job ") && !absl::StartsWith(line, "Error in rule ")) {
        s->cmd = {shell, "-c", std::string(line)};
        continue;
      }
    }
    if (block != Block::kNone) {
      if (StartsWithSpace(line)) {
        if (std::optional<std::string> id = SnakemakeJobId(line); id && block_step == nullptr) {
          block_step = &steps.Get(*id, block_name);
          if (block == Block::kRule) {
            block_step->start_time = block_time;
          } else {
            block_step->state = "EXECUTOR_ERROR";
            block_step->end_time = block_time;
          }
          continue;
        }
        absl::string_view stripped = absl::StripLeadingAsciiWhitespace(line);
        if (block == Block::kError) {
          if (stripped == "shell:") {
            in_error_shell = true;
          } else if (in_error_shell && block_step != nullptr && block_step->cmd.empty() &&
                     absl::StartsWith(line, "        ") && !absl::StartsWith(stripped, "(")) {
            block_step->cmd = {shell, "-c", std::string(stripped)};
          } else if (!absl::StartsWith(line, "        ")) {
            in_error_shell = false;
          }
        }
        continue;
      }
      const Block ended = std::exchange(block, Block::kNone);
      in_error_shell = false;
      if (ended == Block::kRule && line.empty() && block_step != nullptr) {
        await_cmd = block_step;
        continue;
      }
    }
    if (std::optional<std::string> t = SnakemakeTime(line)) {
      last_time = std::move(t);
      continue;
    }
    if (absl::string_view rest = line; absl::ConsumePrefix(&rest, "Using shell: ")) {
      if (!rest.empty()) shell = std::string(rest);
      continue;
    }
    if (std::optional<absl::string_view> name = SnakemakeRuleStart(line)) {
      block = Block::kRule;
      block_name = std::string(*name);
      block_time = last_time;
      block_step = nullptr;
      continue;
    }
    if (absl::string_view rest = line;
        absl::ConsumePrefix(&rest, "Error in rule ") && absl::ConsumeSuffix(&rest, ":")) {
      block = Block::kError;
      block_name = std::string(rest);
      block_time = last_time;
      block_step = nullptr;
      continue;
    }
    if (absl::string_view rest = line;
        absl::ConsumePrefix(&rest, "Finished job ") && absl::ConsumeSuffix(&rest, ".")) {
      int id = 0;
      if (!absl::SimpleAtoi(rest, &id) || id < 0) continue;
      EngineStep& s = steps.Get(std::string(rest), "");
      s.state = "COMPLETE";
      s.exit_code = 0;
      s.end_time = last_time;
    }
  }
  return steps.Take();
}

// cwltool's "--timestamps" prefix "[2026-11-21 16:38:53] " (local time; TZ=UTC in the
// sandbox) -> RFC 3339; the rest of the line in `rest`.
std::optional<std::string> CwltoolTime(absl::string_view& rest) {
  if (rest.size() < 22 || rest[0] != '[' || rest[20] != ']' || rest[21] != ' ') {
    return std::nullopt;
  }
  absl::string_view ts = rest.substr(1, 19);  // YYYY-MM-DD HH:MM:SS
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const bool digit = absl::ascii_isdigit(static_cast<unsigned char>(ts[i]));
    const char want = i == 4 || i == 7 ? '-' : i == 10 ? ' ' : i == 13 || i == 16 ? ':' : '0';
    if (want == '0' ? !digit : ts[i] != want) return std::nullopt;
  }
  rest.remove_prefix(22);
  return absl::StrCat(ts.substr(0, 10), "T", ts.substr(11), "Z");
}

// One word of a command line as cwltool prints it (shellescape.quote: '...' with '"'"' for a
// quote); backslashes and double quotes handled as a POSIX shell would. Splits on unquoted
// blanks.
std::vector<std::string> ShellWords(absl::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::exchange(cur, {}));
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      const std::size_t end = s.find('\'', i + 1);
      if (end == absl::string_view::npos) {
        cur.append(std::string(s.substr(i + 1)));
        break;
      }
      cur.append(std::string(s.substr(i + 1, end - i - 1)));
      i = end;
    } else if (c == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size() &&
            (s[i + 1] == '"' || s[i + 1] == '\\' || s[i + 1] == '$' || s[i + 1] == '`')) {
          ++i;
        }
        cur.push_back(s[i]);
      }
    } else if (c == '\\' && i + 1 < s.size()) {
      cur.push_back(s[++i]);
    } else {
      cur.push_back(c);
    }
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

// "[kind NAME] rest" -> kind, NAME and rest. Kinds: "job", "step", "workflow".
struct CwlTag {
  absl::string_view kind, name, rest;
};
std::optional<CwlTag> ParseCwlTag(absl::string_view msg) {
  if (msg.empty() || msg.front() != '[') return std::nullopt;
  const std::size_t close = msg.find("] ");
  if (close == absl::string_view::npos) return std::nullopt;
  absl::string_view inner = msg.substr(1, close - 1);
  const std::size_t space = inner.find(' ');
  if (space == absl::string_view::npos) return std::nullopt;
  CwlTag tag{inner.substr(0, space), inner.substr(space + 1), msg.substr(close + 2)};
  if (tag.kind != "job" && tag.kind != "step" && tag.kind != "workflow") return std::nullopt;
  return tag;
}

void FinishCwl(EngineStep& s, absl::string_view status, const std::optional<std::string>& t) {
  s.end_time = t;
  if (status == "success" || status == "skipped") {
    s.state = "COMPLETE";
    if (status == "success" && !s.exit_code) s.exit_code = 0;
  } else {
    s.state = "EXECUTOR_ERROR";  // permanentFail, temporaryFail
  }
}

// cwltool 3.1 on stderr ("LEVEL message", optionally after a "--timestamps" prefix and with
// ANSI colours unless --disable-color):
//   INFO [workflow ] start
//   INFO [step select] start
//   INFO [job select] /tmp/cwl-out/x55ul69b$ python3 \   (one argument per line, each but
//       /tmp/.../select_rows.py \                        the last ending in " \")
//       selected.csv
//   WARNING [job regress] exited with status: 1
//   INFO [job select] completed success                  (or WARNING ... completed permanentFail)
//   INFO [step select] completed success
// A step of a workflow is reported as "[step NAME]"; its jobs ("[job NAME]", "NAME_2" when
// scattered) give its command and exit code. A job with no step of that name (a
// CommandLineTool run on its own, or a job of a scatter) is its own step.
std::vector<EngineStep> ParseCwltool(absl::string_view log) {
  StepList steps;
  std::map<std::string, std::string> job_step;  // job name -> step id it belongs to
  std::vector<absl::string_view> lines = Lines(log);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string clean = StripAnsi(lines[i]);
    absl::string_view msg = clean;
    const std::optional<std::string> t = CwltoolTime(msg);
    bool leveled = false;
    for (absl::string_view level : {"INFO ", "WARNING ", "ERROR ", "DEBUG "}) {
      if (absl::ConsumePrefix(&msg, level)) {
        leveled = true;
        break;
      }
    }
    if (!leveled) continue;
    std::optional<CwlTag> tag = ParseCwlTag(msg);
    if (!tag || tag->name.empty() || tag->kind == "workflow") continue;
    const std::string name(tag->name);

    if (tag->kind == "step") {
      if (tag->rest == "start") {
        EngineStep& s = steps.Get(name, name);
        s.start_time = t;
      } else if (absl::string_view st = tag->rest; absl::ConsumePrefix(&st, "completed ")) {
        FinishCwl(steps.Get(name, name), st, t);
      }
      continue;
    }
    // A job. Its step: the step of the same name, else the step it is a scatter job of
    // ("select_2" of "select"), else its own.
    auto it = job_step.find(name);
    if (it == job_step.end()) {
      std::string step_id = name;
      if (steps.Find(name) == nullptr) {
        const std::size_t us = name.rfind('_');
        int n = 0;
        if (us != std::string::npos && absl::SimpleAtoi(name.substr(us + 1), &n) &&
            steps.Find(name.substr(0, us)) != nullptr) {
          step_id = name.substr(0, us);
        }
      }
      it = job_step.emplace(name, step_id).first;
    }
    const bool own = it->second == name;
    EngineStep& s = steps.Get(it->second, it->second);
    const std::size_t dollar = tag->rest.find("$ ");
    if (dollar != absl::string_view::npos && !absl::StartsWith(tag->rest, "completed ")) {
      // The command: continued over the following lines while a line ends in " \".
      std::vector<std::string> argv;
      absl::string_view part = tag->rest.substr(dollar + 2);
      while (true) {
        const bool more = absl::EndsWith(part, " \\");
        if (more) part.remove_suffix(2);
        for (std::string& w : ShellWords(part)) {
          if (!more && (w == "<" || w == ">" || w == "2>")) break;  // redirections, last line
          argv.push_back(std::move(w));
        }
        if (!more || i + 1 >= lines.size()) break;
        part = lines[++i];
      }
      if (s.cmd.empty()) s.cmd = std::move(argv);
      if (own && !s.start_time) s.start_time = t;
    } else if (absl::string_view code = tag->rest;
               absl::ConsumePrefix(&code, "exited with status: ")) {
      int c = 0;
      if (absl::SimpleAtoi(code, &c)) s.exit_code = c;
    } else if (absl::string_view st = tag->rest; absl::ConsumePrefix(&st, "completed ")) {
      if (own) {
        FinishCwl(s, st, t);
      } else if (st == "success" && !s.exit_code) {
        s.exit_code = 0;
      }
    }
  }
  return steps.Take();
}

}  // namespace

std::optional<std::string> ParseEngineVersion(std::string_view engine_sv,
                                              std::string_view output_sv) {
  const absl::string_view engine(engine_sv.data(), engine_sv.size());
  const absl::string_view output(output_sv.data(), output_sv.size());
  std::vector<absl::string_view> words =
      absl::StrSplit(output, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty());
  if (engine == "nextflow") {
    // The banner: "N E X T F L O W / version 23.04.1 build 5866 / ..."; "-v" prints
    // "nextflow version 23.04.1.5866".
    for (std::size_t i = 0; i + 1 < words.size(); ++i) {
      if (absl::AsciiStrToLower(words[i]) == "version") {
        if (std::optional<std::string> v = VersionWord(words[i + 1])) return v;
      }
    }
    return std::nullopt;
  }
  // snakemake: "7.21.0"; cwltool: "/usr/bin/cwltool 3.1.20230209161050" (the program path
  // comes first and is no version word).
  for (absl::string_view w : words) {
    if (std::optional<std::string> v = VersionWord(w)) return v;
  }
  return std::nullopt;
}

std::vector<EngineInfo> DetectEngines(executor::Env& env, const std::string& path,
                                      std::chrono::milliseconds timeout) {
  std::vector<EngineInfo> found;
  const std::vector<std::string> dirs = absl::StrSplit(path, ':', absl::SkipEmpty());
  for (const KnownEngine& k : kKnownEngines) {
    for (const std::string& dir : dirs) {
      if (dir.front() != '/') continue;  // relative PATH entries depend on our cwd
      executor::Command cmd;
      cmd.argv = {absl::StrCat(absl::StripSuffix(dir, "/"), "/", k.engine),
                  std::string(k.version_flag)};
      cmd.timeout = timeout;
      absl::StatusOr<executor::CommandResult> r = env.Run(cmd);
      if (!r.ok()) continue;  // not in this directory (NotFound) or not executable
      // The first program found is the one PATH would run, working or not.
      std::optional<std::string> version;
      if (r->ok()) version = ParseEngineVersion(std::string(k.engine), r->out + "\n" + r->err);
      if (version) {
        found.push_back(EngineInfo{.engine = std::string(k.engine),
                                   .workflow_type = std::string(k.workflow_type),
                                   .version = *version,
                                   .program = cmd.argv[0],
                                   .workflow_type_versions = TypeVersions(k.engine, *version)});
      }
      break;
    }
  }
  return found;
}

absl::StatusOr<std::vector<std::string>> EngineCommand(
    const registry::WorkflowManifest& manifest, const EngineInfo& engine,
    const std::map<std::string, std::string>& engine_parameters) {
  const std::string entry = absl::StrCat(kBundleDir, "/", manifest.entry_point);
  if (engine.engine == "snakemake") {
    std::string cores = "1";
    bool keep_going = false;
    for (const auto& [name, value] : engine_parameters) {
      if (name == "cores") {
        int n = 0;
        if (!absl::SimpleAtoi(value, &n) || n < 1 || n > kMaxCores) {
          return absl::InvalidArgumentError(
              absl::StrCat("engine parameter 'cores': want a whole number from 1 to ", kMaxCores));
        }
        cores = absl::StrCat(n);
      } else if (name == "keep-going") {
        absl::StatusOr<bool> b = BoolParameter(name, value);
        if (!b.ok()) return b.status();
        keep_going = *b;
      } else {
        return UnknownParameter(engine.engine, name, "cores, keep-going");
      }
    }
    // Snakemake keeps its state in <directory>/.snakemake and a source cache in
    // $HOME/.cache/snakemake: both writable tmpfs in the sandbox, so no --nolock is needed.
    std::vector<std::string> argv = {"snakemake",
                                     "--snakefile",
                                     entry,
                                     "--directory",
                                     std::string(kOutputDir),
                                     "--configfile",
                                     std::string(kParamsFile),
                                     "--cores",
                                     cores,
                                     "--nocolor",
                                     "--printshellcmds"};
    if (keep_going) argv.push_back("--keep-going");
    return argv;
  }
  if (engine.engine == "cwltool") {
    bool parallel = false;
    for (const auto& [name, value] : engine_parameters) {
      if (name == "parallel") {
        absl::StatusOr<bool> b = BoolParameter(name, value);
        if (!b.ok()) return b.status();
        parallel = *b;
      } else {
        return UnknownParameter(engine.engine, name, "parallel");
      }
    }
    // --disable-color and --timestamps make the log parseable with times (ParseEngineSteps).
    std::vector<std::string> argv = {"cwltool",         "--disable-color", "--timestamps",
                                     "--no-container",  "--outdir",        std::string(kOutputDir),
                                     "--tmpdir-prefix", "/tmp/cwl-tmp/",   "--tmp-outdir-prefix",
                                     "/tmp/cwl-out/"};
    if (parallel) argv.push_back("--parallel");
    argv.push_back(entry);
    argv.push_back(std::string(kParamsFile));
    return argv;
  }
  if (engine.engine == "nextflow") {
    if (!engine_parameters.empty()) {
      return UnknownParameter(engine.engine, engine_parameters.begin()->first, "none");
    }
    // Not tried against a real Nextflow (none installed here). The workflow publishes its
    // outputs relative to the working directory, /wes/out.
    return std::vector<std::string>{"nextflow",
                                    "-log",
                                    "/tmp/nextflow.log",
                                    "run",
                                    entry,
                                    "-params-file",
                                    std::string(kParamsFile),
                                    "-work-dir",
                                    "/tmp/nf-work",
                                    "-ansi-log",
                                    "false"};
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown workflow engine '", engine.engine, "'"));
}

json EngineParams(const registry::WorkflowManifest& manifest, const json& workflow_params) {
  json out = workflow_params.is_object() ? workflow_params : json::object();
  const bool cwl = manifest.engine == "cwltool" || manifest.workflow_type == "CWL";
  for (const registry::DataInput& d : manifest.inputs) {
    const std::string staged = absl::StrCat(kDataDir, "/", d.path);
    if (cwl) {
      out[d.param] = json{{"class", "File"}, {"path", staged}};
    } else {
      out[d.param] = staged;
    }
  }
  return out;
}

std::vector<EngineStep> ParseEngineSteps(std::string_view engine, std::string_view log_sv) {
  const absl::string_view log(log_sv.data(), log_sv.size());
  if (engine == "snakemake") return ParseSnakemake(log);
  if (engine == "cwltool") return ParseCwltool(log);
  return {};
}

}  // namespace safeflow::service::wes
