#include "service/cli/client.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include <curl/curl.h>
#include <openssl/rand.h>

#include "executor/crypto/hkdf.h"

namespace safeflow::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
namespace registry = service::registry;

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::string RandomBoundary() {
  unsigned char raw[12];
  if (RAND_bytes(raw, sizeof raw) != 1) std::abort();
  std::string b = "safeflow-";
  for (unsigned char c : raw) b += absl::StrCat(absl::Hex(c, absl::kZeroPad2));
  return b;
}

bool SafeHeaderValue(const std::string& s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  });
}

}  // namespace

Response Call(const std::string& method, const std::string& url, const std::string& token,
              const std::string& content_type, const std::string& body) {
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

namespace {

// Where a download's bytes go: the part file while the status is 200, a bounded error body
// otherwise.
struct DownloadSink {
  CURL* curl = nullptr;
  std::FILE* file = nullptr;
  executor::crypto::Sha256Hasher hasher;
  std::uint64_t bytes = 0;
  std::string error_body;
  bool write_failed = false;
};

size_t WriteDownload(char* data, size_t size, size_t n, void* p) {
  auto* d = static_cast<DownloadSink*>(p);
  const size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    d->error_body.append(data,
                         std::min(len, (std::size_t{64} << 10) -
                                           std::min(d->error_body.size(), std::size_t{64} << 10)));
    return len;
  }
  if (std::fwrite(data, 1, len, d->file) != len) {
    d->write_failed = true;
    return 0;  // curl stops with CURLE_WRITE_ERROR
  }
  d->hasher.Update(std::string_view(data, len));
  d->bytes += len;
  return len;
}

}  // namespace

Response Download(const std::string& url, const std::string& token, const std::string& out_path,
                  const std::string& expect_sha256, std::uint64_t& got_bytes,
                  std::string& got_sha256) {
  Response r;
  const std::string part = out_path + ".part";
  const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    r.error = absl::StrCat("cannot create ", part, ": ", std::strerror(errno));
    return r;
  }
  DownloadSink sink;
  sink.file = ::fdopen(fd, "wb");
  if (sink.file == nullptr) {
    ::close(fd);
    ::unlink(part.c_str());
    r.error = absl::StrCat("fdopen ", part, ": ", std::strerror(errno));
    return r;
  }
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    std::fclose(sink.file);
    ::unlink(part.c_str());
    r.error = "curl_easy_init failed";
    return r;
  }
  sink.curl = curl;
  curl_slist* headers = nullptr;
  const std::string auth = "Authorization: Bearer " + token;
  if (!token.empty()) headers = curl_slist_append(headers, auth.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteDownload);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (const char* ca = std::getenv("SAFEFLOW_CA_BUNDLE"))
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  const bool closed = std::fclose(sink.file) == 0;
  if (rc != CURLE_OK || r.status != 200 || !closed) {
    ::unlink(part.c_str());
    r.body = std::move(sink.error_body);
    if (rc != CURLE_OK) {
      r.status = 0;
      r.error = sink.write_failed ? absl::StrCat("cannot write ", part, ": ", std::strerror(errno))
                                  : curl_easy_strerror(rc);
    } else if (!closed) {
      r.status = 0;
      r.error = absl::StrCat("cannot write ", part);
    }
    return r;
  }
  const std::string sha = executor::crypto::HexEncode(sink.hasher.Final());
  if (sha != expect_sha256) {
    ::unlink(part.c_str());
    r.status = 0;
    r.error = absl::StrCat("the SHA-256 of what arrived (", sha, ") is not the released one (",
                           expect_sha256, ")");
    return r;
  }
  if (::rename(part.c_str(), out_path.c_str()) != 0) {
    r.status = 0;
    r.error = absl::StrCat("cannot rename ", part, " to ", out_path, ": ", std::strerror(errno));
    ::unlink(part.c_str());
    return r;
  }
  got_bytes = sink.bytes;
  got_sha256 = sha;
  return r;
}

std::string ErrorOf(const Response& r) {
  if (r.status == 0) return r.error;
  const json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("msg") && j["msg"].is_string()) {
    return absl::StrCat("HTTP ", r.status, ": ", j["msg"].get<std::string>());
  }
  return absl::StrCat("HTTP ", r.status, ": ", r.body);
}

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

void PrintJson(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  std::printf("%s\n", j.is_discarded() ? body.c_str() : j.dump(2).c_str());
}

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
  if (ec) return absl::InvalidArgumentError(absl::StrCat(dir, ": ", ec.message()));
  std::sort(
      files.begin(), files.end(),
      [](const registry::BundleFile& a, const registry::BundleFile& b) { return a.path < b.path; });
  return files;
}

absl::StatusOr<Form> MultipartForm(const std::vector<FormPart>& parts) {
  for (const FormPart& p : parts) {
    if (!SafeHeaderValue(p.name) || (p.filename && !SafeHeaderValue(*p.filename))) {
      return absl::InvalidArgumentError(absl::StrCat(
          p.filename.value_or(p.name), ": a quote, backslash or control character in the name"));
    }
  }
  // A boundary that occurs in the content would cut it short: draw another (2^-96 odds).
  for (int attempt = 0; attempt < 4; ++attempt) {
    const std::string boundary = RandomBoundary();
    const bool clash = std::any_of(parts.begin(), parts.end(), [&](const FormPart& p) {
      return p.content.find(boundary) != std::string::npos;
    });
    if (clash) continue;
    Form form{"multipart/form-data; boundary=" + boundary, ""};
    for (const FormPart& p : parts) {
      absl::StrAppend(&form.body, "--", boundary, "\r\nContent-Disposition: form-data; name=\"",
                      p.name, "\"");
      if (p.filename) {
        absl::StrAppend(&form.body, "; filename=\"", *p.filename,
                        "\"\r\nContent-Type: application/octet-stream");
      }
      absl::StrAppend(&form.body, "\r\n\r\n", p.content, "\r\n");
    }
    absl::StrAppend(&form.body, "--", boundary, "--\r\n");
    return form;
  }
  return absl::InternalError("the multipart boundary occurs in the content; try again");
}

}  // namespace safeflow::cli
