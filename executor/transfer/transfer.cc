#include "executor/transfer/transfer.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <unistd.h>
#include <vector>

#include "fmt/format.h"

#include "executor/log.h"
#include "executor/transfer/http.h"
#include "executor/transfer/local_files.h"
#include "executor/transfer/s3.h"
#include "executor/transfer/sigv4.h"
#include "executor/transfer/url.h"

namespace safeflow::executor::transfer {
namespace {

bool ValidHostEntry(std::string_view entry) {
  std::string_view host = entry;
  std::string_view port;
  if (!entry.empty() && entry.front() == '[') {
    const size_t close = entry.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    host = entry.substr(1, close - 1);
    if (!std::all_of(host.begin(), host.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        })) {
      return false;
    }
    const std::string_view rest = entry.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
  } else {
    const size_t colon = entry.find(':');
    host = entry.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = entry.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
        })) {
      return false;
    }
  }
  if (!port.empty()) {
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    int p = 0;
    std::from_chars(port.data(), port.data() + port.size(), p);
    if (p < 1 || p > 65535) return false;
  }
  return true;
}

void ValidateRoots(const std::vector<std::string>& roots, std::string_view name,
                   std::vector<std::string>& errors) {
  for (size_t i = 0; i < roots.size(); ++i) {
    absl::StatusOr<std::string> n = NormalizeAbsolutePath(roots[i]);
    if (!n.ok()) {
      errors.push_back(fmt::format("{}[{}]: must be an absolute path without '..'", name, i));
    }
  }
}

void ValidateS3(const S3Config& s3, std::vector<std::string>& errors) {
  absl::StatusOr<TransferUrl> endpoint = ParseTransferUrl(s3.endpoint);
  if (!endpoint.ok() || (endpoint->scheme != Scheme::kHttp && endpoint->scheme != Scheme::kHttps)) {
    errors.push_back("s3.endpoint: must be an http:// or https:// URL");
  } else {
    const std::string_view rest = std::string_view(s3.endpoint).substr(s3.endpoint.find("://") + 3);
    const size_t slash = rest.find_first_of("/?#");
    if (slash != std::string_view::npos && rest.substr(slash) != "/") {
      errors.push_back("s3.endpoint: must not have a path, query or fragment");
    }
  }
  if (s3.region.empty() || !std::all_of(s3.region.begin(), s3.region.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      })) {
    errors.push_back("s3.region: must be non-empty, of a-z 0-9 -");
  }
  if (s3.access_key_id.empty()) errors.push_back("s3.access_key_id: required");
  if (s3.secret_access_key.empty()) errors.push_back("s3.secret_access_key: required");
  if (s3.list_page_size < 1 || s3.list_page_size > 1000) {
    errors.push_back("s3.list_page_size: must be 1..1000");
  }
}

}  // namespace

absl::Status ValidateTransferConfig(const TransferConfig& config) {
  std::vector<std::string> errors;
  ValidateRoots(config.input_roots, "input_roots", errors);
  ValidateRoots(config.output_roots, "output_roots", errors);
  for (size_t i = 0; i < config.http_allow_hosts.size(); ++i) {
    if (!ValidHostEntry(config.http_allow_hosts[i])) {
      errors.push_back(fmt::format("http_allow_hosts[{}]: must be 'host' or 'host:port'", i));
    }
  }
  if (config.s3) ValidateS3(*config.s3, errors);
  if (config.max_input_bytes == 0) errors.push_back("max_input_bytes: must be positive");
  if (config.timeout.count() <= 0) errors.push_back("timeout: must be positive");
  if (!config.ca_bundle.empty() && ::access(config.ca_bundle.c_str(), R_OK) != 0) {
    errors.push_back("ca_bundle: cannot be read");
  }
  if (errors.empty()) return absl::OkStatus();
  std::string msg;
  for (const std::string& e : errors) {
    if (!msg.empty()) msg += "; ";
    msg += e;
  }
  return absl::InvalidArgumentError(msg);
}

absl::Status CheckInputUrl(const TransferConfig& config, std::string_view url) {
  absl::StatusOr<TransferUrl> u = ParseTransferUrl(url);
  if (!u.ok()) return u.status();
  switch (u->scheme) {
    case Scheme::kFile: {
      absl::StatusOr<std::string> real = detail::ResolveInputPath(config, u->path);
      if (real.ok() || absl::IsNotFound(real.status())) return absl::OkStatus();
      return real.status();
    }
    case Scheme::kHttp:
    case Scheme::kHttps:
      if (!detail::HostAllowed(config, *u)) {
        return absl::PermissionDeniedError(
            fmt::format("host {} is not in the http allow-list ({})", u->host, RedactUrl(url)));
      }
      return absl::OkStatus();
    case Scheme::kS3:
      if (!config.s3) {
        return absl::PermissionDeniedError("s3:// URLs are disabled (no s3 endpoint configured)");
      }
      return absl::OkStatus();
  }
  return absl::InternalError("unknown scheme");
}

absl::Status CheckOutputUrl(const TransferConfig& config, std::string_view url) {
  absl::StatusOr<TransferUrl> u = ParseTransferUrl(url);
  if (!u.ok()) return u.status();
  switch (u->scheme) {
    case Scheme::kFile:
      return detail::CheckOutputPath(config, u->path);
    case Scheme::kHttp:
    case Scheme::kHttps:
      return absl::InvalidArgumentError(
          fmt::format("http(s) outputs are not supported: {}", RedactUrl(url)));
    case Scheme::kS3:
      if (!config.s3) {
        return absl::PermissionDeniedError("s3:// URLs are disabled (no s3 endpoint configured)");
      }
      if (u->key.empty() || u->key.back() == '/') {
        return absl::InvalidArgumentError(
            fmt::format("s3 output {} must name an object", RedactUrl(url)));
      }
      return absl::OkStatus();
  }
  return absl::InternalError("unknown scheme");
}

absl::StatusOr<std::uint64_t> FetchInput(const TransferConfig& config, std::string_view url,
                                         const std::string& dest, bool is_directory) {
  if (absl::Status s = CheckInputUrl(config, url); !s.ok()) return s;
  absl::StatusOr<TransferUrl> u = ParseTransferUrl(url);
  if (!u.ok()) return u.status();
  const detail::Deadline deadline(config.timeout);
  absl::StatusOr<std::uint64_t> bytes;
  switch (u->scheme) {
    case Scheme::kFile:
      bytes = detail::FetchLocal(config, u->path, dest, is_directory, deadline);
      break;
    case Scheme::kHttp:
    case Scheme::kHttps:
      if (is_directory) {
        return absl::InvalidArgumentError(
            fmt::format("http(s) inputs cannot be directories: {}", RedactUrl(url)));
      }
      bytes = detail::FetchHttp(config, *u, dest, deadline);
      break;
    case Scheme::kS3:
      bytes = detail::FetchS3(config, *u, dest, is_directory, deadline);
      break;
  }
  if (bytes.ok()) {
    Log().debug("transfer: fetched {} bytes from {} into {}", *bytes, RedactUrl(url), dest);
  } else {
    Log().debug("transfer: fetching {} failed: {}", RedactUrl(url), bytes.status());
  }
  return bytes;
}

absl::StatusOr<std::uint64_t> PutOutput(const TransferConfig& config, const std::string& src,
                                        std::string_view url) {
  if (absl::Status s = CheckOutputUrl(config, url); !s.ok()) return s;
  absl::StatusOr<TransferUrl> u = ParseTransferUrl(url);
  if (!u.ok()) return u.status();
  const detail::Deadline deadline(config.timeout);
  absl::StatusOr<std::uint64_t> bytes;
  switch (u->scheme) {
    case Scheme::kFile:
      bytes = detail::PutLocal(config, src, u->path, deadline);
      break;
    case Scheme::kS3:
      bytes = detail::PutS3(config, src, *u, deadline);
      break;
    case Scheme::kHttp:
    case Scheme::kHttps:
      return absl::InvalidArgumentError("http(s) outputs are not supported");
  }
  if (bytes.ok()) {
    Log().debug("transfer: wrote {} bytes from {} to {}", *bytes, src, RedactUrl(url));
  } else {
    Log().debug("transfer: writing {} failed: {}", RedactUrl(url), bytes.status());
  }
  return bytes;
}

std::string JoinUrl(std::string_view base, std::string_view relative) {
  std::string out(base);
  const size_t sep = out.find("://");
  const size_t min_size = sep == std::string::npos ? 0 : sep + 3;
  while (out.size() > min_size && out.back() == '/') out.pop_back();
  while (!relative.empty() && relative.front() == '/') relative.remove_prefix(1);
  std::string scheme = sep == std::string::npos ? std::string() : out.substr(0, sep);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  out.push_back('/');
  out += scheme == "s3" ? std::string(relative) : sigv4::UriEncode(relative, false);
  return out;
}

}  // namespace safeflow::executor::transfer
