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
#include <vector>

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

// Where a download's bytes go: the part file while the status is 200 or 206, a bounded error
// body otherwise. A 200 to a resumed request (the server sent the whole file) starts the part
// file again.
struct DownloadSink {
  CURL* curl = nullptr;
  int fd = -1;
  bool resumed = false;
  bool started = false;  // the first byte of the answer was seen
  executor::crypto::Sha256Hasher hasher;
  std::uint64_t bytes = 0;  // in the part file
  std::string error_body;
  int write_errno = 0;
};

size_t WriteDownload(char* data, size_t size, size_t n, void* p) {
  auto* d = static_cast<DownloadSink*>(p);
  const size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200 && status != 206) {
    const std::size_t room =
        (std::size_t{64} << 10) - std::min(d->error_body.size(), std::size_t{64} << 10);
    d->error_body.append(data, std::min(len, room));
    return len;
  }
  if (!d->started) {
    d->started = true;
    if (status == 200 && d->bytes > 0) {  // the whole file after all: start again
      if (::ftruncate(d->fd, 0) != 0 || ::lseek(d->fd, 0, SEEK_SET) != 0) {
        d->write_errno = errno;
        return 0;
      }
      d->hasher.Final();
      d->bytes = 0;
      d->resumed = false;
    }
  }
  for (size_t done = 0; done < len;) {
    const ssize_t w = ::write(d->fd, data + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      d->write_errno = errno;
      return 0;  // curl stops with CURLE_WRITE_ERROR
    }
    done += static_cast<size_t>(w);
  }
  d->hasher.Update(std::string_view(data, len));
  d->bytes += len;
  return len;
}

// Hashes what `fd` holds from the start; leaves the offset at the end.
bool HashExisting(int fd, executor::crypto::Sha256Hasher& hasher, std::uint64_t& bytes) {
  if (::lseek(fd, 0, SEEK_SET) != 0) return false;
  std::vector<char> buf(1 << 16);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    hasher.Update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    bytes += static_cast<std::uint64_t>(n);
  }
}

}  // namespace

Response Download(const std::string& url, const std::string& token, const std::string& out_path,
                  const std::string& expect_sha256, DownloadInfo& info) {
  Response r;
  const std::string part = out_path + ".part";
  DownloadSink sink;
  sink.fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (sink.fd < 0) {
    r.error = absl::StrCat("cannot open ", part, ": ", std::strerror(errno));
    return r;
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{sink.fd};
  if (!HashExisting(sink.fd, sink.hasher, sink.bytes)) {
    r.error = absl::StrCat("cannot read ", part, ": ", std::strerror(errno));
    return r;
  }
  sink.resumed = sink.bytes > 0;
  info.resumed_from = sink.bytes;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    r.error = "curl_easy_init failed";
    return r;
  }
  sink.curl = curl;
  curl_slist* headers = nullptr;
  const std::string auth = "Authorization: Bearer " + token;
  if (!token.empty()) headers = curl_slist_append(headers, auth.c_str());
  const std::string range = absl::StrCat("Range: bytes=", sink.bytes, "-");
  if (sink.resumed) headers = curl_slist_append(headers, range.c_str());
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
  // 416 to a resumed request: the part file already holds every byte (checked below).
  const bool complete_already = sink.resumed && r.status == 416;
  if (rc != CURLE_OK) {
    // A transfer cut short keeps its part file, to resume from; a failed write does not.
    if (sink.write_errno != 0 || !(r.status == 200 || r.status == 206)) ::unlink(part.c_str());
    r.status = 0;
    r.error =
        sink.write_errno != 0
            ? absl::StrCat("cannot write ", part, ": ", std::strerror(sink.write_errno))
            : absl::StrCat(curl_easy_strerror(rc), " (", part, " is kept: run again to resume)");
    return r;
  }
  if (!(r.status == 200 || r.status == 206 || complete_already)) {
    ::unlink(part.c_str());
    r.body = std::move(sink.error_body);
    return r;
  }
  if (::fsync(sink.fd) != 0) {
    r.status = 0;
    r.error = absl::StrCat("cannot write ", part, ": ", std::strerror(errno));
    return r;
  }
  const std::string sha = executor::crypto::HexEncode(sink.hasher.Final());
  if (sha != expect_sha256) {
    ::unlink(part.c_str());
    r.status = 0;
    r.error = absl::StrCat("the SHA-256 of what arrived (", sha, ") is not the released one (",
                           expect_sha256, ")",
                           sink.resumed ? "; the partial file was removed, run again" : "");
    return r;
  }
  if (::rename(part.c_str(), out_path.c_str()) != 0) {
    r.status = 0;
    r.error = absl::StrCat("cannot rename ", part, " to ", out_path, ": ", std::strerror(errno));
    return r;
  }
  r.status = 200;
  info.bytes = sink.bytes;
  info.sha256 = sha;
  if (!sink.resumed) info.resumed_from = 0;
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
