#include "service/api/multipart.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace safeflow::service {
namespace {

constexpr std::size_t kMaxBoundary = 70;    // RFC 2046 section 5.1.1
constexpr std::size_t kMaxComponent = 255;  // bytes per path component
constexpr std::size_t kMaxPath = 4096;      // bytes per path

bool IsTchar(char c) {  // RFC 9110 token characters
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsBchar(char c) {  // RFC 2046 bcharsnospace
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '\'':
    case '(':
    case ')':
    case '+':
    case '_':
    case ',':
    case '-':
    case '.':
    case '/':
    case ':':
    case '=':
    case '?':
      return true;
    default:
      return false;
  }
}

bool IsControl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
        absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  return out;
}

bool IsPadding(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsPadding(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsPadding(s.back())) s.remove_suffix(1);
  return s;
}

struct Param {
  std::string name;  // lower case
  std::string value;
};

struct ParameterizedValue {
  std::string type;  // lower case
  std::vector<Param> params;
};

// Parses `type *( OWS ";" OWS [ name OWS "=" OWS ( token / quoted-string ) ] ) OWS` as used by
// Content-Type and Content-Disposition. `what` names the header in errors. Duplicate parameter
// names are refused (they make the meaning ambiguous).
absl::StatusOr<ParameterizedValue> ParseParameterized(std::string_view s, std::string_view what) {
  const std::string w(what);
  ParameterizedValue out;
  std::size_t i = 0;
  auto skip_ows = [&] {
    while (i < s.size() && IsPadding(s[i])) ++i;
  };
  skip_ows();
  const std::size_t type_start = i;
  while (i < s.size() && (IsTchar(s[i]) || s[i] == '/')) ++i;
  if (i == type_start) return absl::InvalidArgumentError(absl::StrCat(w, ": missing type"));
  out.type = ToLower(s.substr(type_start, i - type_start));
  while (true) {
    skip_ows();
    if (i == s.size()) break;
    if (s[i] != ';') {
      return absl::InvalidArgumentError(
          absl::StrCat(w, ": unexpected character at offset ", i, " (expected ';')"));
    }
    ++i;
    skip_ows();
    if (i == s.size() || s[i] == ';') continue;  // empty parameter, e.g. a trailing ';'
    const std::size_t name_start = i;
    while (i < s.size() && IsTchar(s[i])) ++i;
    if (i == name_start) {
      return absl::InvalidArgumentError(
          absl::StrCat(w, ": bad parameter name at offset ", name_start));
    }
    Param p;
    p.name = ToLower(s.substr(name_start, i - name_start));
    skip_ows();
    if (i == s.size() || s[i] != '=') {
      return absl::InvalidArgumentError(
          absl::StrCat(w, ": parameter '", p.name, "' has no '=' and value"));
    }
    ++i;
    skip_ows();
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char c = s[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (i == s.size()) break;
          c = s[i++];
        }
        if (IsControl(c) && c != '\t') {
          return absl::InvalidArgumentError(
              absl::StrCat(w, ": control character in parameter '", p.name, "'"));
        }
        p.value.push_back(c);
      }
      if (!closed) {
        return absl::InvalidArgumentError(
            absl::StrCat(w, ": unterminated quoted string in parameter '", p.name, "'"));
      }
    } else {
      const std::size_t value_start = i;
      while (i < s.size() && IsTchar(s[i])) ++i;
      if (i == value_start) {
        return absl::InvalidArgumentError(
            absl::StrCat(w, ": parameter '", p.name, "' has an empty or invalid value"));
      }
      p.value = std::string(s.substr(value_start, i - value_start));
    }
    for (const Param& q : out.params) {
      if (q.name == p.name) {
        return absl::InvalidArgumentError(absl::StrCat(w, ": duplicate parameter '", p.name, "'"));
      }
    }
    out.params.push_back(std::move(p));
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

absl::StatusOr<std::string> MultipartBoundary(std::string_view content_type) {
  absl::StatusOr<ParameterizedValue> v = ParseParameterized(content_type, "Content-Type");
  if (!v.ok()) return v.status();
  if (v->type != "multipart/form-data") {
    return absl::InvalidArgumentError(
        absl::StrCat("Content-Type: expected multipart/form-data, got '", v->type, "'"));
  }
  const Param* boundary = nullptr;
  for (const Param& p : v->params) {
    if (p.name == "boundary") boundary = &p;
  }
  if (boundary == nullptr) {
    return absl::InvalidArgumentError("Content-Type: missing boundary parameter");
  }
  const std::string& b = boundary->value;
  if (b.empty()) return absl::InvalidArgumentError("Content-Type: empty boundary");
  if (b.size() > kMaxBoundary) {
    return absl::InvalidArgumentError(
        absl::StrCat("Content-Type: boundary longer than ", kMaxBoundary, " characters"));
  }
  for (char c : b) {
    if (!IsBchar(c) && c != ' ') {
      return absl::InvalidArgumentError("Content-Type: invalid character in boundary");
    }
  }
  if (b.back() == ' ') {
    return absl::InvalidArgumentError("Content-Type: boundary ends with a space");
  }
  return b;
}

MultipartParser::MultipartParser(std::string_view boundary, const MultipartLimits& limits,
                                 PartCallback on_part)
    : delimiter_(absl::StrCat("\r\n--", std::string(boundary))),
      limits_(limits),
      on_part_(std::move(on_part)),
      // The first delimiter may open the body without a preceding CRLF: pretend there was one.
      buf_("\r\n") {
  if (boundary.empty()) error_ = absl::InvalidArgumentError("multipart: empty boundary");
}

absl::Status MultipartParser::Fail(absl::Status status) {
  error_ = status;
  return status;
}

absl::Status MultipartParser::Feed(std::string_view chunk) {
  if (!error_.ok()) return error_;
  if (state_ == State::kFinished) {
    return Fail(absl::InvalidArgumentError("multipart: Feed() after Finish()"));
  }
  if (chunk.size() > limits_.max_total_bytes - total_bytes_) {
    return Fail(absl::ResourceExhaustedError(
        absl::StrCat("multipart: body exceeds max_total_bytes (", limits_.max_total_bytes, ")")));
  }
  total_bytes_ += chunk.size();
  if (state_ == State::kEpilogue) return absl::OkStatus();
  buf_.append(chunk);
  return Run();
}

absl::Status MultipartParser::Finish() {
  if (!error_.ok()) return error_;
  switch (state_) {
    case State::kEpilogue:
    case State::kFinished:
      break;
    case State::kAfterClose:
      if (!buf_.empty()) {
        return Fail(absl::InvalidArgumentError(
            "multipart: truncated body: CR without LF after the close delimiter"));
      }
      break;
    case State::kPreamble:
      return Fail(absl::InvalidArgumentError("multipart: no boundary delimiter found in body"));
    case State::kAfterDelimiter:
    case State::kHeaders:
    case State::kBody:
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "multipart: truncated body: missing closing boundary (in part ", parts_ + 1, ")")));
  }
  state_ = State::kFinished;
  buf_.clear();
  return absl::OkStatus();
}

absl::Status MultipartParser::AppendData(std::string_view data) {
  const bool is_file = part_.filename.has_value();
  const std::size_t limit = is_file ? limits_.max_file_bytes : limits_.max_field_bytes;
  if (data.size() > limit - part_.data.size()) {
    return Fail(absl::ResourceExhaustedError(
        absl::StrCat("multipart: part '", part_.name, "' exceeds ",
                     is_file ? "max_file_bytes" : "max_field_bytes", " (", limit, ")")));
  }
  part_.data.append(data);
  return absl::OkStatus();
}

absl::Status MultipartParser::HeaderLine(std::string_view line) {
  if (IsPadding(line.front())) {
    return Fail(absl::InvalidArgumentError(
        "multipart: bad header line: obsolete line folding is not supported"));
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return Fail(absl::InvalidArgumentError("multipart: bad header line: no ':'"));
  }
  const std::string_view name = line.substr(0, colon);
  for (char c : name) {
    if (!IsTchar(c)) {
      return Fail(absl::InvalidArgumentError("multipart: bad header line: invalid header name"));
    }
  }
  if (name.empty()) {
    return Fail(absl::InvalidArgumentError("multipart: bad header line: empty header name"));
  }
  const std::string_view value = TrimOws(line.substr(colon + 1));
  for (char c : value) {
    if (IsControl(c) && c != '\t') {
      return Fail(
          absl::InvalidArgumentError("multipart: bad header line: control character in value"));
    }
  }
  if (EqualsIgnoreCase(name, "content-disposition")) {
    if (have_disposition_) {
      return Fail(absl::InvalidArgumentError("multipart: duplicate Content-Disposition header"));
    }
    have_disposition_ = true;
    absl::StatusOr<ParameterizedValue> v = ParseParameterized(value, "Content-Disposition");
    if (!v.ok())
      return Fail(absl::InvalidArgumentError(absl::StrCat("multipart: ", v.status().message())));
    if (v->type != "form-data") {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("multipart: Content-Disposition must be form-data, got '", v->type, "'")));
    }
    bool have_name = false;
    for (Param& p : v->params) {
      if (p.name == "name") {
        have_name = true;
        part_.name = std::move(p.value);
      } else if (p.name == "filename") {
        part_.filename = std::move(p.value);
      } else if (p.name == "filename*") {
        return Fail(absl::InvalidArgumentError(
            "multipart: Content-Disposition filename* (RFC 5987) is not supported"));
      }
    }
    if (!have_name || part_.name.empty()) {
      return Fail(absl::InvalidArgumentError(
          "multipart: Content-Disposition: form-data without a (non-empty) name"));
    }
  } else if (EqualsIgnoreCase(name, "content-type")) {
    if (have_content_type_) {
      return Fail(absl::InvalidArgumentError("multipart: duplicate Content-Type header"));
    }
    have_content_type_ = true;
    absl::StatusOr<ParameterizedValue> v = ParseParameterized(value, "part Content-Type");
    if (!v.ok())
      return Fail(absl::InvalidArgumentError(absl::StrCat("multipart: ", v.status().message())));
    if (v->type.find('/') == std::string::npos) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("multipart: part Content-Type '", v->type, "' is not type/subtype")));
    }
    part_.content_type = std::string(value);
  }
  // Other headers are ignored.
  return absl::OkStatus();
}

absl::Status MultipartParser::EndHeaders() {
  if (!have_disposition_) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "multipart: part ", parts_ + 1, " has no Content-Disposition: form-data header")));
  }
  return absl::OkStatus();
}

absl::Status MultipartParser::Run() {
  std::size_t off = 0;  // bytes of buf_ consumed; erased once at the end
  absl::Status status;
  while (status.ok()) {
    const std::string_view rest = std::string_view(buf_).substr(off);
    bool need_more = false;
    switch (state_) {
      case State::kPreamble: {
        const std::size_t pos = rest.find(delimiter_);
        if (pos == std::string_view::npos) {
          // Keep only what could still be the start of a delimiter.
          if (rest.size() >= delimiter_.size()) off += rest.size() - (delimiter_.size() - 1);
          need_more = true;
          break;
        }
        off += pos + delimiter_.size();
        state_ = State::kAfterDelimiter;
        padding_seen_ = false;
        break;
      }
      case State::kAfterDelimiter: {
        if (rest.empty()) {
          need_more = true;
          break;
        }
        const char c = rest[0];
        if (IsPadding(c)) {
          padding_seen_ = true;
          ++off;
        } else if (c == '-' && !padding_seen_) {
          if (rest.size() < 2) {
            need_more = true;
          } else if (rest[1] != '-') {
            status =
                Fail(absl::InvalidArgumentError("multipart: bad boundary line: unexpected '-'"));
          } else {
            off += 2;
            state_ = State::kAfterClose;
          }
        } else if (c == '\r') {
          if (rest.size() < 2) {
            need_more = true;
          } else if (rest[1] != '\n') {
            status =
                Fail(absl::InvalidArgumentError("multipart: bad boundary line: CR without LF"));
          } else if (parts_ >= limits_.max_parts) {
            status = Fail(absl::ResourceExhaustedError(
                absl::StrCat("multipart: more than max_parts (", limits_.max_parts, ") parts")));
          } else {
            off += 2;
            state_ = State::kHeaders;
            part_ = MultipartPart{};
            header_bytes_ = 0;
            have_disposition_ = false;
            have_content_type_ = false;
          }
        } else {
          status = Fail(absl::InvalidArgumentError(
              "multipart: bad boundary line: unexpected bytes after the boundary"));
        }
        break;
      }
      case State::kHeaders: {
        const std::size_t lf = rest.find('\n');
        if (lf == std::string_view::npos) {
          // A pending "\r" may still be the blank line that ends the headers: allow one byte.
          if (rest.size() > limits_.max_header_bytes - header_bytes_ + 1) {
            status = Fail(absl::ResourceExhaustedError(
                absl::StrCat("multipart: part headers exceed max_header_bytes (",
                             limits_.max_header_bytes, ")")));
          }
          need_more = true;
          break;
        }
        if (lf == 0 || rest[lf - 1] != '\r') {
          status = Fail(absl::InvalidArgumentError("multipart: bad header line: bare LF"));
          break;
        }
        const std::string_view line = rest.substr(0, lf - 1);
        off += lf + 1;
        if (line.empty()) {
          status = EndHeaders();
          state_ = State::kBody;
          break;
        }
        if (lf + 1 > limits_.max_header_bytes - header_bytes_) {
          status = Fail(absl::ResourceExhaustedError(absl::StrCat(
              "multipart: part headers exceed max_header_bytes (", limits_.max_header_bytes, ")")));
          break;
        }
        header_bytes_ += lf + 1;
        status = HeaderLine(line);
        break;
      }
      case State::kBody: {
        const std::size_t pos = rest.find(delimiter_);
        if (pos == std::string_view::npos) {
          if (rest.size() >= delimiter_.size()) {
            const std::size_t n = rest.size() - (delimiter_.size() - 1);
            status = AppendData(rest.substr(0, n));
            off += n;
          }
          need_more = true;
          break;
        }
        status = AppendData(rest.substr(0, pos));
        if (!status.ok()) break;
        off += pos + delimiter_.size();
        state_ = State::kAfterDelimiter;
        padding_seen_ = false;
        ++parts_;
        if (on_part_) {
          absl::Status s = on_part_(std::move(part_));
          if (!s.ok()) status = Fail(std::move(s));
        }
        part_ = MultipartPart{};
        break;
      }
      case State::kAfterClose: {
        std::size_t i = 0;
        while (i < rest.size() && IsPadding(rest[i])) ++i;
        off += i;
        if (i == rest.size()) {
          need_more = true;
        } else if (rest[i] != '\r') {
          status = Fail(absl::InvalidArgumentError(
              "multipart: unexpected bytes after the close delimiter (expected CRLF)"));
        } else if (i + 1 == rest.size()) {
          need_more = true;
        } else if (rest[i + 1] != '\n') {
          status = Fail(absl::InvalidArgumentError(
              "multipart: unexpected bytes after the close delimiter (CR without LF)"));
        } else {
          off = buf_.size();  // the epilogue is ignored
          state_ = State::kEpilogue;
          need_more = true;
        }
        break;
      }
      case State::kEpilogue:
      case State::kFinished:
        off = buf_.size();
        need_more = true;
        break;
    }
    if (need_more) break;
  }
  buf_.erase(0, off);
  return status;
}

absl::StatusOr<std::vector<MultipartPart>> ParseMultipart(std::string_view body,
                                                          std::string_view boundary,
                                                          const MultipartLimits& limits) {
  std::vector<MultipartPart> parts;
  MultipartParser parser(boundary, limits, [&parts](MultipartPart part) {
    parts.push_back(std::move(part));
    return absl::OkStatus();
  });
  if (absl::Status s = parser.Feed(body); !s.ok()) return s;
  if (absl::Status s = parser.Finish(); !s.ok()) return s;
  return parts;
}

absl::StatusOr<std::string> SafeRelativePath(std::string_view filename) {
  if (filename.empty()) return absl::InvalidArgumentError("path: empty");
  if (filename.size() > kMaxPath) {
    return absl::InvalidArgumentError(absl::StrCat("path: longer than ", kMaxPath, " bytes"));
  }
  for (std::size_t i = 0; i < filename.size(); ++i) {
    const char c = filename[i];
    if (c == '\0') return absl::InvalidArgumentError("path: contains NUL");
    if (IsControl(c)) return absl::InvalidArgumentError("path: contains a control character");
    if (c == '\\') return absl::InvalidArgumentError("path: contains a backslash");
    if (c == '%' && i + 2 < filename.size() && HexValue(filename[i + 1]) >= 0 &&
        HexValue(filename[i + 2]) >= 0) {
      const char d = static_cast<char>(HexValue(filename[i + 1]) * 16 + HexValue(filename[i + 2]));
      if (d == '.' || d == '/' || d == '\\' || d == '%' || IsControl(d)) {
        return absl::InvalidArgumentError(
            "path: contains a percent-encoded '.', '/', '\\', '%' or control character");
      }
    }
  }
  if (filename.front() == '/') return absl::InvalidArgumentError("path: absolute");
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = filename.find('/', start);
    const std::string_view comp = filename.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (comp.empty()) return absl::InvalidArgumentError("path: empty component");
    if (comp == ".") return absl::InvalidArgumentError("path: '.' component");
    if (comp == "..") return absl::InvalidArgumentError("path: '..' component");
    if (comp.size() > kMaxComponent) {
      return absl::InvalidArgumentError(
          absl::StrCat("path: component longer than ", kMaxComponent, " bytes"));
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return std::string(filename);
}

}  // namespace safeflow::service
