#include "executor/transfer/s3.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <optional>
#include <unistd.h>

#include "fmt/format.h"
#include <openssl/evp.h>

#include "executor/log_format.h"
#include "executor/transfer/http.h"
#include "executor/transfer/sigv4.h"

namespace safeflow::executor::transfer::detail {
namespace {

constexpr std::uint64_t kMaxSinglePut = 5ull << 30;      // S3's limit for one PUT
constexpr std::uint64_t kMaxListingBytes = 16ull << 20;  // one ListObjectsV2 page
constexpr std::uint64_t kMaxErrorDocument = 64ull * 1024;
constexpr size_t kMaxObjectsPerInput = 1'000'000;

bool IsXmlSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view TrimXml(std::string_view s) {
  while (!s.empty() && IsXmlSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsXmlSpace(s.back())) s.remove_suffix(1);
  return s;
}

struct Element {
  std::string_view text;  // raw content between the tags
  size_t begin = 0;       // the '<' of the opening tag
  size_t end = 0;         // just after the closing tag
};

// The first <name ...>text</name> (or <name/>) at or after `from`.
std::optional<Element> FindElement(std::string_view xml, std::string_view name, size_t from) {
  size_t pos = from;
  while (pos < xml.size()) {
    pos = xml.find('<', pos);
    if (pos == std::string_view::npos) return std::nullopt;
    const size_t after = pos + 1 + name.size();
    if (after >= xml.size() || xml.substr(pos + 1, name.size()) != name ||
        !(xml[after] == '>' || xml[after] == '/' || IsXmlSpace(xml[after]))) {
      ++pos;
      continue;
    }
    const size_t gt = xml.find('>', after);
    if (gt == std::string_view::npos) return std::nullopt;
    if (xml[gt - 1] == '/') return Element{.text = {}, .begin = pos, .end = gt + 1};
    const std::string close = fmt::format("</{}", name);
    size_t search = gt + 1;
    while (true) {
      const size_t cpos = xml.find(close, search);
      if (cpos == std::string_view::npos) return std::nullopt;
      size_t k = cpos + close.size();
      while (k < xml.size() && IsXmlSpace(xml[k])) ++k;
      if (k < xml.size() && xml[k] == '>') {
        return Element{.text = xml.substr(gt + 1, cpos - gt - 1), .begin = pos, .end = k + 1};
      }
      search = cpos + 1;
    }
  }
  return std::nullopt;
}

void AppendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes one entity body ("amp", "#38", "#x26"); false when unknown or malformed.
bool DecodeEntity(std::string_view name, std::string& out) {
  static constexpr std::pair<std::string_view, char> kNamed[] = {
      {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
  for (const auto& [entity, c] : kNamed) {
    if (name == entity) {
      out.push_back(c);
      return true;
    }
  }
  if (name.size() < 2 || name[0] != '#') return false;
  int base = 10;
  std::string_view digits = name.substr(1);
  if (digits[0] == 'x' || digits[0] == 'X') {
    base = 16;
    digits.remove_prefix(1);
  }
  if (digits.empty() || digits.size() > 8) return false;
  std::uint32_t cp = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, base);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return false;
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  AppendUtf8(out, cp);
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding ('+' is a space), as S3's encoding-type=url.
absl::StatusOr<std::string> FormDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] != '%') {
      out.push_back(s[i]);
    } else if (i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      return absl::InvalidArgumentError("malformed percent escape in a url-encoded key");
    }
  }
  return out;
}

std::string EndpointBase(const S3Config& s3) {
  std::string base = s3.endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

// scheme://bucket.host[:port] for virtual-hosted style.
std::string VirtualHostBase(const S3Config& s3, std::string_view bucket) {
  const std::string base = EndpointBase(s3);
  const size_t sep = base.find("://");
  if (sep == std::string::npos) return fmt::format("{}.{}", bucket, base);
  return fmt::format("{}{}.{}", base.substr(0, sep + 3), bucket, base.substr(sep + 3));
}

HttpRequest SignedRequest(const TransferConfig& config, std::string url,
                          std::string_view payload_hash) {
  const S3Config& s3 = *config.s3;
  return HttpRequest{
      .url = std::move(url),
      .headers = {fmt::format("x-amz-content-sha256: {}", payload_hash)},
      .aws_sigv4 = fmt::format("aws:amz:{}:s3", s3.region),
      .username = s3.access_key_id,
      .password = s3.secret_access_key,
      .ca_bundle = config.ca_bundle,
  };
}

absl::Status S3HttpError(const HttpResponse& response, std::string_view what) {
  return HttpErrorStatus(response.status, what, S3ErrorSummary(response.error_body));
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

absl::StatusOr<std::string> Sha256OfFd(int fd, const Deadline& deadline, std::string_view what) {
  struct CtxDeleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256 initialisation failed");
  }
  std::vector<char> buf(1 << 20);
  while (true) {
    if (deadline.Expired()) {
      return absl::DeadlineExceededError(
          fmt::format("hashing {} took longer than the timeout", what));
    }
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InternalError(fmt::format("reading {}: {}", what, std::strerror(errno)));
    }
    if (n == 0) break;
    if (EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n)) != 1) {
      return absl::InternalError("SHA-256 update failed");
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1) {
    return absl::InternalError("SHA-256 finalisation failed");
  }
  if (::lseek(fd, 0, SEEK_SET) != 0) {
    return absl::InternalError(fmt::format("rewinding {}: {}", what, std::strerror(errno)));
  }
  return sigv4::HexEncode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

}  // namespace

std::string S3ObjectUrl(const S3Config& s3, std::string_view bucket, std::string_view key) {
  const std::string encoded = sigv4::UriEncode(key, false);
  if (s3.path_style) return fmt::format("{}/{}/{}", EndpointBase(s3), bucket, encoded);
  return fmt::format("{}/{}", VirtualHostBase(s3, bucket), encoded);
}

std::string S3ListUrl(const S3Config& s3, std::string_view bucket, std::string_view prefix,
                      std::string_view continuation_token, int max_keys) {
  sigv4::Params params = {{"encoding-type", "url"},
                          {"list-type", "2"},
                          {"max-keys", std::to_string(max_keys)},
                          {"prefix", std::string(prefix)}};
  if (!continuation_token.empty()) {
    params.emplace_back("continuation-token", std::string(continuation_token));
  }
  // libcurl 7.88 signs the query as written: write it in canonical (sorted, encoded) form.
  const std::string query = sigv4::CanonicalQueryString(params);
  if (s3.path_style) return fmt::format("{}/{}?{}", EndpointBase(s3), bucket, query);
  return fmt::format("{}/?{}", VirtualHostBase(s3, bucket), query);
}

std::string DecodeXmlText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (StartsWith(text.substr(i), "<![CDATA[")) {
      const size_t end = text.find("]]>", i + 9);
      const size_t stop = end == std::string_view::npos ? text.size() : end;
      out.append(text.substr(i + 9, stop - i - 9));
      i = end == std::string_view::npos ? text.size() : end + 3;
      continue;
    }
    if (text[i] == '&') {
      const size_t semi = text.find(';', i + 1);
      if (semi != std::string_view::npos && semi - i <= 12 &&
          DecodeEntity(text.substr(i + 1, semi - i - 1), out)) {
        i = semi + 1;
        continue;
      }
    }
    out.push_back(text[i]);
    ++i;
  }
  return out;
}

std::string S3ErrorSummary(std::string_view xml) {
  const std::optional<Element> code = FindElement(xml, "Code", 0);
  if (!code) return {};
  const std::optional<Element> message = FindElement(xml, "Message", 0);
  std::string c = DecodeXmlText(TrimXml(code->text));
  if (!message) return c;
  return fmt::format("{}: {}", c, DecodeXmlText(TrimXml(message->text)));
}

absl::StatusOr<S3ListPage> ParseListObjectsV2(std::string_view xml) {
  if (xml.find("<ListBucketResult") == std::string_view::npos) {
    return absl::InvalidArgumentError("not a ListObjectsV2 response (no <ListBucketResult>)");
  }
  S3ListPage page;
  std::string outside;  // the document without its <Contents> elements
  size_t pos = 0;
  while (std::optional<Element> contents = FindElement(xml, "Contents", pos)) {
    outside.append(xml.substr(pos, contents->begin - pos));
    const std::optional<Element> key = FindElement(contents->text, "Key", 0);
    const std::optional<Element> size = FindElement(contents->text, "Size", 0);
    if (!key || !size) {
      return absl::InvalidArgumentError("ListObjectsV2: <Contents> without <Key> or <Size>");
    }
    const std::string_view digits = TrimXml(size->text);
    S3Object object{.key = DecodeXmlText(key->text)};
    const auto [ptr, ec] =
        std::from_chars(digits.data(), digits.data() + digits.size(), object.size);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
      return absl::InvalidArgumentError(
          fmt::format("ListObjectsV2: bad <Size> '{}'", std::string(digits)));
    }
    page.objects.push_back(std::move(object));
    pos = contents->end;
  }
  outside.append(xml.substr(pos));
  if (const std::optional<Element> t = FindElement(outside, "IsTruncated", 0)) {
    page.truncated = TrimXml(t->text) == "true";
  }
  if (const std::optional<Element> t = FindElement(outside, "NextContinuationToken", 0)) {
    page.next_continuation_token = DecodeXmlText(TrimXml(t->text));
  }
  if (const std::optional<Element> e = FindElement(outside, "EncodingType", 0);
      e && TrimXml(e->text) == "url") {
    for (S3Object& object : page.objects) {
      absl::StatusOr<std::string> decoded = FormDecode(object.key);
      if (!decoded.ok()) return decoded.status();
      object.key = *std::move(decoded);
    }
  }
  if (page.truncated && page.next_continuation_token.empty()) {
    return absl::InvalidArgumentError(
        "ListObjectsV2: truncated listing without <NextContinuationToken>");
  }
  return page;
}

absl::StatusOr<std::uint64_t> FetchS3(const TransferConfig& config, const TransferUrl& url,
                                      const std::string& dest, bool is_directory,
                                      const Deadline& deadline) {
  if (!config.s3) {
    return absl::PermissionDeniedError("s3:// URLs are disabled (no s3 endpoint configured)");
  }
  const S3Config& s3 = *config.s3;
  const std::string what = fmt::format("s3://{}/{}", url.bucket, url.key);
  if (!is_directory) {
    if (url.key.empty() || url.key.back() == '/') {
      return absl::InvalidArgumentError(
          fmt::format("{} names no object (declare it as DIRECTORY?)", what));
    }
    absl::StatusOr<StagedDest> staged = StagedDest::Create(dest, false);
    if (!staged.ok()) return staged.status();
    HttpRequest request =
        SignedRequest(config, S3ObjectUrl(s3, url.bucket, url.key), sigv4::kEmptyPayloadSha256);
    request.body_fd = staged->fd();
    request.body_limit = config.max_input_bytes;
    absl::StatusOr<HttpResponse> response = PerformHttp(request, deadline, what);
    if (!response.ok()) return response.status();
    if (response->status < 200 || response->status > 299) return S3HttpError(*response, what);
    if (absl::Status s = staged->Commit(); !s.ok()) return s;
    return response->body_bytes;
  }

  std::string prefix = url.key;
  if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
  const std::string dir_what = fmt::format("s3://{}/{}", url.bucket, prefix);
  std::vector<S3Object> objects;
  bool any = false;
  std::uint64_t total = 0;
  std::string token;
  while (true) {
    std::string body;
    HttpRequest request =
        SignedRequest(config, S3ListUrl(s3, url.bucket, prefix, token, s3.list_page_size),
                      sigv4::kEmptyPayloadSha256);
    request.body_string = &body;
    request.body_limit = kMaxListingBytes;
    absl::StatusOr<HttpResponse> response =
        PerformHttp(request, deadline, fmt::format("listing {}", dir_what));
    if (!response.ok()) return response.status();
    if (response->status < 200 || response->status > 299) {
      return S3HttpError(*response, fmt::format("listing {}", dir_what));
    }
    absl::StatusOr<S3ListPage> page = ParseListObjectsV2(body);
    if (!page.ok()) {
      return absl::UnavailableError(
          fmt::format("listing {}: {}", dir_what, page.status().message()));
    }
    for (S3Object& object : page->objects) {
      if (!StartsWith(object.key, prefix)) {
        return absl::UnavailableError(
            fmt::format("listing {} returned a key outside the prefix", dir_what));
      }
      any = true;
      const std::string_view relative = std::string_view(object.key).substr(prefix.size());
      if (relative.empty()) continue;  // the "folder" marker object itself
      if (absl::Status s = CheckCleanRelativePath(relative, true); !s.ok()) {
        return absl::InvalidArgumentError(fmt::format("{}: key '{}' cannot be stored locally: {}",
                                                      dir_what, object.key, s.message()));
      }
      total += object.size;
      if (total > config.max_input_bytes) {
        return absl::ResourceExhaustedError(fmt::format(
            "input {} is larger than the limit of {} bytes", dir_what, config.max_input_bytes));
      }
      objects.push_back(std::move(object));
      if (objects.size() > kMaxObjectsPerInput) {
        return absl::ResourceExhaustedError(
            fmt::format("input {} has more than {} objects", dir_what, kMaxObjectsPerInput));
      }
    }
    if (!page->truncated) break;
    if (page->next_continuation_token == token) {
      return absl::UnavailableError(fmt::format("listing {} does not advance", dir_what));
    }
    token = page->next_continuation_token;
  }
  if (!any) return absl::NotFoundError(fmt::format("no objects under {}", dir_what));

  absl::StatusOr<StagedDest> staged = StagedDest::Create(dest, true);
  if (!staged.ok()) return staged.status();
  std::uint64_t copied = 0;
  for (const S3Object& object : objects) {
    const std::string_view relative = std::string_view(object.key).substr(prefix.size());
    if (relative.back() == '/') {
      if (absl::Status s = CreateDirBelow(staged->path(), relative); !s.ok()) return s;
      continue;
    }
    absl::StatusOr<UniqueFd> fd = CreateFileBelow(staged->path(), relative);
    if (!fd.ok()) return fd.status();
    const std::string object_what = fmt::format("s3://{}/{}", url.bucket, object.key);
    HttpRequest request =
        SignedRequest(config, S3ObjectUrl(s3, url.bucket, object.key), sigv4::kEmptyPayloadSha256);
    request.body_fd = fd->get();
    request.body_limit = config.max_input_bytes - copied;
    absl::StatusOr<HttpResponse> response = PerformHttp(request, deadline, object_what);
    if (!response.ok()) {
      if (absl::IsResourceExhausted(response.status())) {
        return absl::ResourceExhaustedError(fmt::format(
            "input {} is larger than the limit of {} bytes", dir_what, config.max_input_bytes));
      }
      return response.status();
    }
    if (response->status < 200 || response->status > 299) {
      return S3HttpError(*response, object_what);
    }
    copied += response->body_bytes;
  }
  if (absl::Status s = staged->Commit(); !s.ok()) return s;
  return copied;
}

absl::StatusOr<std::uint64_t> PutS3(const TransferConfig& config, const std::string& src,
                                    const TransferUrl& url, const Deadline& deadline) {
  if (!config.s3) {
    return absl::PermissionDeniedError("s3:// URLs are disabled (no s3 endpoint configured)");
  }
  const std::string what = fmt::format("s3://{}/{}", url.bucket, url.key);
  if (url.key.empty() || url.key.back() == '/') {
    return absl::InvalidArgumentError(fmt::format("output {} names no object", what));
  }
  std::uint64_t size = 0;
  absl::StatusOr<UniqueFd> in = OpenOutputSource(src, size);
  if (!in.ok()) return in.status();
  if (size > kMaxSinglePut) {
    return absl::UnimplementedError(fmt::format(
        "output {} is over 5 GiB, which needs a multipart upload (not implemented)", src));
  }
  std::string payload_hash(sigv4::kUnsignedPayload);
  if (!StartsWith(config.s3->endpoint, "https://")) {
    absl::StatusOr<std::string> hash = Sha256OfFd(in->get(), deadline, src);
    if (!hash.ok()) return hash.status();
    payload_hash = *std::move(hash);
  }
  std::string body;
  HttpRequest request =
      SignedRequest(config, S3ObjectUrl(*config.s3, url.bucket, url.key), payload_hash);
  request.method = "PUT";
  request.upload_fd = in->get();
  request.upload_size = size;
  request.body_string = &body;
  request.body_limit = kMaxErrorDocument;
  absl::StatusOr<HttpResponse> response = PerformHttp(request, deadline, what);
  if (!response.ok()) return response.status();
  if (response->status < 200 || response->status > 299) return S3HttpError(*response, what);
  return size;
}

}  // namespace safeflow::executor::transfer::detail
