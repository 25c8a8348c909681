#include "executor/transfer/url.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "fmt/format.h"
#include <curl/curl.h>

#include "executor/paths.h"

namespace safeflow::executor::transfer {
namespace {

constexpr size_t kMaxUrlLength = size_t{16} * 1024;
constexpr size_t kMaxS3KeyLength = 1024;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes the valid %XX escapes and keeps everything else: for spotting disguised segments.
std::string LenientDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// "." or "..", written out or percent-encoded (possibly twice: "%252e").
bool IsDotSegment(std::string_view raw) {
  std::string decoded(raw);
  for (int i = 0; i < 3; ++i) {
    if (decoded == "." || decoded == "..") return true;
    std::string next = LenientDecode(decoded);
    if (next == decoded) break;
    decoded = std::move(next);
  }
  return decoded == "." || decoded == "..";
}

absl::Status CheckNoDotSegments(std::string_view path, std::string_view url) {
  for (std::string_view segment : SplitSlash(path)) {
    if (IsDotSegment(segment)) {
      return absl::InvalidArgumentError(
          fmt::format("'.' and '..' path segments are not allowed: {}", RedactUrl(url)));
    }
  }
  return absl::OkStatus();
}

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

absl::StatusOr<TransferUrl> ParseFileUrl(std::string_view url, std::string_view rest) {
  if (rest.substr(0, 10) == "localhost/") rest.remove_prefix(9);
  if (rest.empty() || rest.front() != '/') {
    return absl::InvalidArgumentError(fmt::format(
        "file URLs need an absolute path and no host (file:///path): {}", RedactUrl(url)));
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return absl::InvalidArgumentError(
        fmt::format("file URLs cannot have a query or fragment (write '?' as %3F, '#' as %23): {}",
                    RedactUrl(url)));
  }
  if (absl::Status s = CheckNoDotSegments(rest, url); !s.ok()) return s;
  std::string decoded;
  decoded.reserve(rest.size());
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] != '%') {
      decoded.push_back(rest[i]);
      continue;
    }
    if (i + 2 >= rest.size() || HexValue(rest[i + 1]) < 0 || HexValue(rest[i + 2]) < 0) {
      return absl::InvalidArgumentError(
          fmt::format("malformed percent escape in {}", RedactUrl(url)));
    }
    const char c = static_cast<char>(HexValue(rest[i + 1]) * 16 + HexValue(rest[i + 2]));
    if (c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          fmt::format("file URLs cannot encode '/' or control characters: {}", RedactUrl(url)));
    }
    decoded.push_back(c);
    i += 2;
  }
  absl::StatusOr<std::string> path = NormalizeAbsolutePath(decoded);
  if (!path.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {}", RedactUrl(url), std::string(path.status().message())));
  }
  TransferUrl out;
  out.scheme = Scheme::kFile;
  out.path = *std::move(path);
  return out;
}

struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

// Reads one part of a parsed URL; empty when absent.
std::string GetPart(CURLU* u, CURLUPart part, unsigned int flags = 0) {
  char* value = nullptr;
  if (curl_url_get(u, part, &value, flags) != CURLUE_OK || value == nullptr) return {};
  std::string out(value);
  curl_free(value);
  return out;
}

absl::StatusOr<TransferUrl> ParseHttpUrl(std::string_view url, std::string_view rest,
                                         Scheme scheme) {
  // libcurl's parser removes dot segments itself, so look at the path as written first.
  const size_t path_start = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, path_start);
  if (authority.empty()) {
    return absl::InvalidArgumentError(fmt::format("URL without a host: {}", RedactUrl(url)));
  }
  if (authority.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        fmt::format("credentials in URLs are not allowed: {}", RedactUrl(url)));
  }
  if (path_start != std::string_view::npos) {
    std::string_view path = rest.substr(path_start);
    path = path.substr(0, path.find_first_of("?#"));
    if (absl::Status s = CheckNoDotSegments(path, url); !s.ok()) return s;
  }
  std::unique_ptr<CURLU, CurlUrlDeleter> u(curl_url());
  if (u == nullptr) return absl::ResourceExhaustedError("curl_url: out of memory");
  const std::string copy(url);
  const CURLUcode rc = curl_url_set(u.get(), CURLUPART_URL, copy.c_str(), 0);
  if (rc != CURLUE_OK) {
    return absl::InvalidArgumentError(
        fmt::format("malformed URL ({}): {}", curl_url_strerror(rc), RedactUrl(url)));
  }
  if (!GetPart(u.get(), CURLUPART_USER).empty() || !GetPart(u.get(), CURLUPART_PASSWORD).empty()) {
    return absl::InvalidArgumentError(
        fmt::format("credentials in URLs are not allowed: {}", RedactUrl(url)));
  }
  TransferUrl out;
  out.scheme = scheme;
  out.host = LowerAscii(GetPart(u.get(), CURLUPART_HOST));
  if (out.host.empty()) {
    return absl::InvalidArgumentError(fmt::format("URL without a host: {}", RedactUrl(url)));
  }
  const std::string port = GetPart(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  out.port = port.empty() ? 0 : std::atoi(port.c_str());
  if (out.port <= 0 || out.port > 65535) {
    return absl::InvalidArgumentError(fmt::format("bad port in {}", RedactUrl(url)));
  }
  curl_url_set(u.get(), CURLUPART_FRAGMENT, nullptr, 0);
  out.url = GetPart(u.get(), CURLUPART_URL);
  if (out.url.empty()) {
    return absl::InvalidArgumentError(fmt::format("malformed URL: {}", RedactUrl(url)));
  }
  return out;
}

absl::StatusOr<TransferUrl> ParseS3Url(std::string_view url, std::string_view rest) {
  const size_t slash = rest.find('/');
  const std::string_view bucket = rest.substr(0, slash);
  if (!IsValidBucketName(bucket)) {
    return absl::InvalidArgumentError(fmt::format(
        "s3 URLs look like s3://bucket/key with a valid bucket name: {}", RedactUrl(url)));
  }
  const std::string_view key =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  if (key.size() > kMaxS3KeyLength) {
    return absl::InvalidArgumentError(
        fmt::format("s3 keys are at most {} bytes: {}", kMaxS3KeyLength, RedactUrl(url)));
  }
  if (absl::Status s = CheckNoDotSegments(key, url); !s.ok()) return s;
  TransferUrl out;
  out.scheme = Scheme::kS3;
  out.bucket = std::string(bucket);
  out.key = std::string(key);
  return out;
}

}  // namespace

absl::StatusOr<TransferUrl> ParseTransferUrl(std::string_view url) {
  if (url.empty()) return absl::InvalidArgumentError("empty URL");
  if (url.size() > kMaxUrlLength) {
    return absl::InvalidArgumentError(fmt::format("URL longer than {} bytes", kMaxUrlLength));
  }
  if (std::any_of(url.begin(), url.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return absl::InvalidArgumentError("URL contains control characters");
  }
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    return absl::InvalidArgumentError(
        fmt::format("not an absolute URL (file://, http(s)://, s3://): {}", RedactUrl(url)));
  }
  const std::string scheme = LowerAscii(url.substr(0, sep));
  const std::string_view rest = url.substr(sep + 3);
  if (scheme == "file") return ParseFileUrl(url, rest);
  if (scheme == "http") return ParseHttpUrl(url, rest, Scheme::kHttp);
  if (scheme == "https") return ParseHttpUrl(url, rest, Scheme::kHttps);
  if (scheme == "s3") return ParseS3Url(url, rest);
  return absl::InvalidArgumentError(
      fmt::format("unsupported URL scheme '{}' (file, http, https and s3 are supported)", scheme));
}

std::string RedactUrl(std::string_view url) {
  std::string_view out = url.substr(0, url.find_first_of("?#"));
  const size_t sep = out.find("://");
  if (sep == std::string_view::npos) return std::string(out);
  const size_t authority_end = out.find('/', sep + 3);
  const std::string_view authority =
      out.substr(sep + 3, authority_end == std::string_view::npos ? std::string_view::npos
                                                                  : authority_end - sep - 3);
  const size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(out);
  return fmt::format("{}{}", out.substr(0, sep + 3), out.substr(sep + 3 + at + 1));
}

bool PathIsUnder(std::string_view path, std::string_view root) {
  if (root == "/") return !path.empty() && path.front() == '/';
  if (path.size() < root.size() || path.substr(0, root.size()) != root) return false;
  return path.size() == root.size() || path[root.size()] == '/';
}

absl::StatusOr<std::string> NormalizeAbsolutePath(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return absl::InvalidArgumentError(fmt::format("not an absolute path: '{}'", path));
  }
  std::string out;
  for (std::string_view segment : SplitSlash(path)) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      return absl::InvalidArgumentError(fmt::format("'..' in path '{}'", path));
    }
    out.push_back('/');
    out.append(segment.data(), segment.size());
  }
  // (Not `out = "/"`: GCC 12 -O3 reports a bogus -Wrestrict overlap for that assignment.)
  if (out.empty()) out.push_back('/');
  return out;
}

bool IsValidBucketName(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(bucket.front()) || !alnum(bucket.back())) return false;
  return std::all_of(bucket.begin(), bucket.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '-'; });
}

}  // namespace safeflow::executor::transfer
