// executor/disclosure/file_type.cc. The "file_type" rule: an allowed extension, and content
// that is what the extension says: no data file or archive in disguise, text that is UTF-8,
// images and PDFs with their signatures, JSON that parses, and SVG/HTML without active content
// or external references (a figure that loads a URL when opened can leak who opened it, and
// one that runs script can be anything).
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

#include "executor/disclosure/filter.h"
#include "executor/disclosure/identifiers.h"

namespace safeflow::executor::disclosure {
namespace {

char ToLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string LowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ToLower(c);
  return out;
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// 1-based line numbers of byte offsets, counted from the previous offset asked for (either
// way): linear in the text for the mostly increasing offsets of the scans below.
class LineCounter {
 public:
  explicit LineCounter(std::string_view text) : text_(text) {}
  std::size_t LineOf(std::size_t at) {
    at = std::min(at, text_.size());
    const auto newlines = [&](std::size_t from, std::size_t to) {
      return static_cast<std::size_t>(std::count(text_.begin() + static_cast<std::ptrdiff_t>(from),
                                                 text_.begin() + static_cast<std::ptrdiff_t>(to),
                                                 '\n'));
    };
    if (at >= offset_) {
      line_ += newlines(offset_, at);
    } else {
      line_ -= newlines(at, offset_);
    }
    offset_ = at;
    return line_;
  }

 private:
  const std::string_view text_;
  std::size_t offset_ = 0;
  std::size_t line_ = 1;
};

bool IsTextFormat(std::string_view extension) {
  static constexpr std::array<std::string_view, 11> kText = {
      ".csv", ".tsv", ".txt", ".json", ".md", ".html", ".htm", ".log", ".svg", ".xml", ".xhtml"};
  return std::find(kText.begin(), kText.end(), extension) != kText.end();
}

bool IsMarkup(std::string_view extension) {
  return extension == ".svg" || extension == ".html" || extension == ".htm" ||
         extension == ".xhtml";
}

// What a file that starts with `content` really is, when it is a data file or an archive.
std::optional<std::string_view> DisguisedFormat(std::string_view content) {
  struct Magic {
    std::string_view prefix;
    std::string_view what;
  };
  using namespace std::string_view_literals;
  static constexpr std::array<Magic, 18> kMagic = {{
      {"\x89SFSEAL\n"sv, "a SafeFlow sealed file"},
      {"PK\x03\x04"sv, "a ZIP archive (or xlsx/docx/jar)"},
      {"PK\x05\x06"sv, "a ZIP archive"},
      {"PK\x07\x08"sv, "a ZIP archive"},
      {"\x1f\x8b"sv, "gzip-compressed data"},
      {"\xfd"
       "7zXZ\x00"sv,
       "xz-compressed data"},
      {"7z\xbc\xaf\x27\x1c"sv, "a 7-Zip archive"},
      {"\x28\xb5\x2f\xfd"sv, "zstd-compressed data"},
      {"SQLite format 3\x00"sv, "an SQLite database"},
      {"ARROW1\x00\x00"sv, "an Arrow/Feather file"},
      {"\x89HDF\r\n\x1a\n"sv, "an HDF5 file"},
      {"\x7f"
       "ELF"sv,
       "an ELF executable"},
      {"RDX2\n"sv, "R saved workspace data (.RData)"},
      {"RDX3\n"sv, "R saved workspace data (.RData)"},
      {"<stata_dta>"sv, "a Stata dataset (.dta)"},
      {"$FL2"sv, "an SPSS dataset (.sav)"},
      {"$FL3"sv, "an SPSS dataset (.sav)"},
      {"\x93NUMPY"sv, "a NumPy array (.npy)"},
  }};
  for (const Magic& magic : kMagic) {
    if (StartsWith(content, magic.prefix)) return magic.what;
  }
  const auto byte = [&](std::size_t i) {
    return i < content.size() ? static_cast<unsigned char>(content[i]) : 0x100u;
  };
  // bzip2: "BZh", the block size 1-9, then the block magic (pi's digits in BCD).
  if (StartsWith(content, "BZh") && byte(3) >= '1' && byte(3) <= '9' &&
      content.substr(4, 6) == "1AY&SY") {
    return "bzip2-compressed data";
  }
  // Parquet opens and closes with "PAR1" (a CSV may well start with a column PAR1).
  if (content.size() >= 12 && StartsWith(content, "PAR1") &&
      content.substr(content.size() - 4) == "PAR1") {
    return "a Parquet file";
  }
  // R serialisation (saveRDS, serialize): a format letter, a newline, then the version
  // (2 or 3) as a big-endian (XDR), little-endian (native) or decimal ASCII integer.
  if (StartsWith(content, "X\n\x00\x00\x00"sv) && (byte(5) == 2 || byte(5) == 3)) {
    return "R serialised data (.rds)";
  }
  if (StartsWith(content, "B\n") && (byte(2) == 2 || byte(2) == 3) &&
      content.substr(3, 3) == "\x00\x00\x00"sv) {
    return "R serialised data (.rds)";
  }
  if ((StartsWith(content, "A\n2\n") || StartsWith(content, "A\n3\n")) && byte(4) >= '0' &&
      byte(4) <= '9') {
    return "R serialised data (.rds, ASCII)";
  }
  // Stata datasets before format 117: release byte, byte order, file type 1, a zero byte.
  if ((byte(0) >= 0x6e && byte(0) <= 0x73) && (byte(1) == 1 || byte(1) == 2) && byte(2) == 1 &&
      byte(3) == 0) {
    return "a Stata dataset (.dta)";
  }
  // SAS datasets open with a fixed 32-byte signature.
  static constexpr std::string_view kSas =
      "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xc2\xea\x81\x60"
      "\xb3\x14\x11\xcf\xbd\x92\x08\x00\x09\xc7\x31\x8c\x18\x1f\x10\x11"sv;
  if (StartsWith(content, kSas)) return "a SAS dataset (.sas7bdat)";
  // Python pickles (protocol 2 and later) start with PROTO n.
  if (content.size() >= 2 && content[0] == '\x80' && content[1] >= 2 && content[1] <= 5) {
    return "a Python pickle";
  }
  return std::nullopt;
}

// An attribute value with character references decoded and ASCII whitespace and control
// characters dropped, lower-cased: what a browser compares a URL scheme against
// ("&#106;ava&#x09;script:" -> "javascript:").
std::string NormaliseUrl(std::string_view value) {
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '&') {
      const std::size_t semi = value.find(';', i);
      if (semi != std::string_view::npos && semi - i <= 10) {
        const std::string entity = LowerAscii(value.substr(i + 1, semi - i - 1));
        long code = -1;
        if (entity.size() > 1 && entity[0] == '#') {
          const bool hex = entity[1] == 'x';
          const std::string digits = entity.substr(hex ? 2 : 1);
          if (!digits.empty() && digits.size() <= 6 &&
              digits.find_first_not_of(hex ? "0123456789abcdef" : "0123456789") ==
                  std::string::npos) {
            std::from_chars(digits.data(), digits.data() + digits.size(), code, hex ? 16 : 10);
          }
        } else if (entity == "colon") {
          code = ':';
        } else if (entity == "tab" || entity == "newline") {
          code = ' ';
        } else if (entity == "sol") {
          code = '/';
        }
        if (code >= 0) {
          if (code < 0x80)
            c = static_cast<char>(code);
          else
            c = '?';
          i = semi;
        }
      }
    }
    if (static_cast<unsigned char>(c) <= 0x20) continue;
    out.push_back(ToLower(c));
  }
  return out;
}

// Why a URL in an attribute or CSS is not allowed: a script scheme or an external reference.
std::string_view ProblemWithUrl(std::string_view raw) {
  const std::string url = NormaliseUrl(raw);
  if (StartsWith(url, "javascript:") || StartsWith(url, "vbscript:")) return "a script URL";
  for (std::string_view scheme : {"http:", "https:", "file:", "ftp:", "//", "\\\\"}) {
    if (StartsWith(url, scheme)) return "an external reference";
  }
  return {};
}

bool IsUrlAttribute(std::string_view name) {
  static constexpr std::array<std::string_view, 18> kUrlAttributes = {
      "href",     "xlink:href", "src",        "srcset", "action",   "formaction",
      "data",     "poster",     "background", "ping",   "codebase", "archive",
      "manifest", "cite",       "longdesc",   "lowsrc", "dynsrc",   "icon"};
  return std::find(kUrlAttributes.begin(), kUrlAttributes.end(), name) != kUrlAttributes.end();
}

// What is wrong with a file: one sentence per kind of problem, one cell per occurrence
// (row: the line of `offset`).
class Problems {
 public:
  explicit Problems(std::string_view content) : lines_(content) {}
  void Add(const std::string& sentence, std::size_t offset, std::string value) {
    if (std::find(sentences_.begin(), sentences_.end(), sentence) == sentences_.end()) {
      sentences_.push_back(sentence);
    }
    cells_.push_back(
        {.row = lines_.LineOf(offset), .column = "", .value = std::move(value), .note = sentence});
  }
  const std::vector<std::string>& sentences() const { return sentences_; }
  std::vector<Cell>& cells() { return cells_; }

 private:
  LineCounter lines_;
  std::vector<std::string> sentences_;
  std::vector<Cell> cells_;
};

// CSS url(...) and @import anywhere in the document (style elements and attributes).
void CheckCss(std::string_view content, const std::string& lower, Problems& problems) {
  for (std::size_t at = lower.find("url("); at != std::string::npos;
       at = lower.find("url(", at + 4)) {
    std::size_t start = at + 4;
    while (start < content.size() &&
           (content[start] == ' ' || content[start] == '"' || content[start] == '\'')) {
      ++start;
    }
    // A URL ends at ')' or a quote; look no further than 2 KiB (linear on hostile input).
    const std::string_view rest = content.substr(std::min(start, content.size()), 2048);
    const std::string_view url = rest.substr(0, rest.find_first_of(")\"'"));
    if (std::string_view what = ProblemWithUrl(url.substr(0, 200)); !what.empty()) {
      problems.Add(absl::StrCat("CSS url() with ", std::string(what)), at,
                   std::string(url.substr(0, 80)));
    }
  }
  for (std::size_t at = lower.find("@import"); at != std::string::npos;
       at = lower.find("@import", at + 7)) {
    problems.Add("a CSS @import (loads another file)", at, "@import");
  }
}

// Tags and their attributes: script elements, event handlers (on...=) and URL attributes.
void CheckMarkup(std::string_view content, Problems& problems) {
  const std::string lower = LowerAscii(content);
  CheckCss(content, lower, problems);
  std::size_t i = 0;
  while ((i = lower.find('<', i)) != std::string::npos) {
    if (lower.compare(i, 4, "<!--") == 0) {
      const std::size_t end = lower.find("-->", i + 4);
      i = end == std::string::npos ? lower.size() : end + 3;
      continue;
    }
    if (lower.compare(i, 9, "<![cdata[") == 0) {
      const std::size_t end = lower.find("]]>", i + 9);
      i = end == std::string::npos ? lower.size() : end + 3;
      continue;
    }
    if (i + 1 < lower.size() &&
        (lower[i + 1] == '!' || lower[i + 1] == '?' || lower[i + 1] == '/')) {
      // <!DOCTYPE ...> and <?xml ...?> hold identifiers, not references that are loaded;
      // closing tags hold nothing.
      const std::size_t end = lower.find('>', i + 1);
      i = end == std::string::npos ? lower.size() : end + 1;
      continue;
    }
    if (i + 1 >= lower.size() || !std::isalpha(static_cast<unsigned char>(lower[i + 1]))) {
      ++i;  // "a < b" in text
      continue;
    }
    std::size_t j = i + 1;
    while (j < lower.size() && (std::isalnum(static_cast<unsigned char>(lower[j])) ||
                                lower[j] == ':' || lower[j] == '-' || lower[j] == '_')) {
      ++j;
    }
    const std::string tag = lower.substr(i + 1, j - i - 1);
    const std::size_t tag_start = i;
    const std::string local_tag =
        tag.substr(tag.find(':') == std::string::npos ? 0 : tag.find(':') + 1);
    if (local_tag == "script") problems.Add("a <script> element", tag_start, "<script");
    if (local_tag == "iframe" || local_tag == "object" || local_tag == "embed" ||
        local_tag == "foreignobject") {
      problems.Add(absl::StrCat("an embedded <", tag, "> element"), tag_start,
                   absl::StrCat("<", tag));
    }
    bool refresh = false;
    // Attributes up to the closing '>', quoted values skipped as a whole.
    while (j < lower.size() && lower[j] != '>') {
      if (std::isspace(static_cast<unsigned char>(lower[j])) || lower[j] == '/') {
        ++j;
        continue;
      }
      const std::size_t name_start = j;
      while (j < lower.size() && !std::isspace(static_cast<unsigned char>(lower[j])) &&
             lower[j] != '=' && lower[j] != '>' && lower[j] != '/') {
        ++j;
      }
      const std::string name = lower.substr(name_start, j - name_start);
      while (j < lower.size() && std::isspace(static_cast<unsigned char>(lower[j]))) ++j;
      std::string_view value;
      if (j < lower.size() && lower[j] == '=') {
        ++j;
        while (j < lower.size() && std::isspace(static_cast<unsigned char>(lower[j]))) ++j;
        if (j < lower.size() && (lower[j] == '"' || lower[j] == '\'')) {
          const char quote = lower[j];
          const std::size_t end = lower.find(quote, j + 1);
          const std::size_t stop = end == std::string::npos ? lower.size() : end;
          value = content.substr(j + 1, stop - j - 1);
          j = end == std::string::npos ? lower.size() : end + 1;
        } else {
          const std::size_t start = j;
          while (j < lower.size() && !std::isspace(static_cast<unsigned char>(lower[j])) &&
                 lower[j] != '>') {
            ++j;
          }
          value = content.substr(start, j - start);
        }
      }
      if (name.empty()) {
        ++j;
        continue;
      }
      const std::string local_name =
          name.find(':') == std::string::npos || name.rfind("xlink:", 0) == 0
              ? name
              : name.substr(name.find(':') + 1);
      if (local_name.size() > 2 && local_name.compare(0, 2, "on") == 0) {
        problems.Add("an event handler attribute (on...=)", name_start, name);
      } else if (IsUrlAttribute(local_name)) {
        if (std::string_view what = ProblemWithUrl(value.substr(0, 200)); !what.empty()) {
          problems.Add(absl::StrCat("a ", name, " attribute with ", std::string(what)), name_start,
                       std::string(value.substr(0, 80)));
        }
      } else if (local_name == "http-equiv" && LowerAscii(value) == "refresh") {
        refresh = true;
      }
    }
    if (local_tag == "meta" && refresh) {
      problems.Add("a <meta http-equiv=refresh> redirect", tag_start, "<meta");
    }
    i = j;
  }
}

class FileTypeFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "file_type"; }

  std::optional<Finding> Apply(const FileContext& file) const override {
    Finding finding;
    finding.rule = std::string(Name());
    nlohmann::json allowed = nlohmann::json::array();
    std::vector<std::string> normalised_allowed;
    for (const std::string& extension : file.profile.allowed_extensions) {
      allowed.push_back(extension);
      std::string lower = LowerAscii(extension);
      if (!lower.empty() && lower[0] != '.') lower.insert(0, ".");
      normalised_allowed.push_back(std::move(lower));
    }
    finding.parameters = {{"allowed_extensions", allowed}};

    const std::string extension = LowerCaseExtension(file.input.path);
    const bool allowed_extension =
        !extension.empty() && std::find(normalised_allowed.begin(), normalised_allowed.end(),
                                        extension) != normalised_allowed.end();
    if (!allowed_extension) {
      finding.outcome = Verdict::kFail;
      finding.message =
          extension.empty()
              ? "The file has no extension; only these are allowed: " +
                    absl::StrJoin(file.profile.allowed_extensions, ", ") + "."
              : absl::StrCat("Extension ", extension, " is not allowed; only these are: ",
                             absl::StrJoin(file.profile.allowed_extensions, ", "), ".");
      return finding;
    }
    const std::string_view content = file.input.content;
    if (content.empty() && file.input.size_bytes > 0) {
      finding.outcome = Verdict::kPass;
      finding.message = absl::StrCat("Extension ", extension,
                                     " is allowed; the content was not read (too large).");
      return finding;
    }

    Problems problems(content);
    if (std::optional<std::string_view> what = DisguisedFormat(content)) {
      problems.Add(absl::StrCat("The content is ", std::string(*what), ", not ", extension,
                                ": a data file or archive in disguise"),
                   0, "");
    } else if (IsTextFormat(extension)) {
      if (std::size_t nul = content.find('\0'); nul != std::string_view::npos) {
        problems.Add("A text file with NUL bytes (binary, or UTF-16 text)", nul, "");
      } else if (std::optional<std::size_t> bad = FirstInvalidUtf8(content)) {
        problems.Add(absl::StrCat("A text file that is not valid UTF-8 (byte ", *bad, ")"), *bad,
                     "");
      } else if (extension == ".json") {
        bool parses = false;
        try {
          parses = nlohmann::json::accept(content);
        } catch (...) {  // accept() reports errors by its result; never let anything escape
          parses = false;
        }
        if (!parses) problems.Add("A .json file that does not parse as JSON", 0, "");
      } else if (IsMarkup(extension)) {
        CheckMarkup(content, problems);
      }
    } else if (extension == ".png") {
      if (!StartsWith(content, std::string_view("\x89PNG\r\n\x1a\n", 8))) {
        problems.Add("A .png file without the PNG signature", 0, "");
      }
    } else if (extension == ".pdf") {
      if (!StartsWith(content, "%PDF-")) {
        problems.Add("A .pdf file that does not start with %PDF-", 0, "");
      }
    }

    if (problems.sentences().empty()) {
      finding.outcome = Verdict::kPass;
      finding.message =
          absl::StrCat("Extension ", extension, " is allowed and the content is ", extension, ".");
      return finding;
    }
    finding.outcome = Verdict::kFail;
    finding.message = absl::StrCat(absl::StrJoin(problems.sentences(), "; "), ".");
    for (Cell& cell : problems.cells()) finding.AddCell(std::move(cell));
    return finding;
  }
};

}  // namespace

std::unique_ptr<OutputFilter> NewFileTypeFilter() { return std::make_unique<FileTypeFilter>(); }

}  // namespace safeflow::executor::disclosure
