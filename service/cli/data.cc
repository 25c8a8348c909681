#include "service/cli/data.h"

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include <curl/curl.h>

#include "executor/crypto/sealed_file.h"
#include "executor/crypto/secure_memory.h"
#include "executor/crypto/x25519.h"
#include "service/auth/jwks.h"

namespace safeflow::cli {
namespace {

namespace crypto = executor::crypto;
using nlohmann::json;

constexpr const char* kUsage = R"(usage: safeflow data COMMAND
  keygen KEYFILE
      write a new X25519 key pair as a JWK (kty OKP, crv X25519, d, x; mode 0600)
  seal (--key-file KEYFILE | --public-key B64URL) --key-id ID [--chunk-bytes N] IN OUT
      seal IN to OUT (format: executor/crypto/README.md); only the public key is needed
  unseal --key-file KEYFILE IN OUT
      check and decrypt a sealed file (any tampering, truncation or reordering fails)
  import --project P --name N --key-file KEYFILE --dest DIR [--allow-plain]
         [--location URL] [--policy JSON] [--description TEXT] FILE...
      register dataset N of project P with the key broker (POST /data/v1/datasets; the private
      key is handed to the broker, which releases it only to attested workers; KEYFILE is
      created when missing and kept by the data owner) and seal each FILE into
      DIR/<name>.sealed. Needs a data-owner token in $SAFEFLOW_TOKEN.
Exit status: 0 on success, 1 on failure, 2 on a usage error.
)";

int Usage(const std::string& msg) {
  std::fprintf(stderr, "safeflow data: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "safeflow data: %s\n", msg.c_str());
  return 1;
}

struct KeyFile {
  crypto::SecretBytes private_key;
  std::string public_key;
};

absl::StatusOr<KeyFile> ReadKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (!j.is_object() || j.value("kty", "") != "OKP" || j.value("crv", "") != "X25519" ||
      !j.contains("x") || !j["x"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not an X25519 JWK"));
  }
  KeyFile k;
  absl::StatusOr<std::string> x = service::auth::Base64UrlDecode(j["x"].get<std::string>());
  if (!x.ok() || x->size() != 32) return absl::InvalidArgumentError(absl::StrCat(path, ": bad x"));
  k.public_key = *x;
  if (j.contains("d") && j["d"].is_string()) {
    absl::StatusOr<std::string> d = service::auth::Base64UrlDecode(j["d"].get<std::string>());
    if (!d.ok() || d->size() != 32)
      return absl::InvalidArgumentError(absl::StrCat(path, ": bad d"));
    k.private_key = crypto::SecretBytes::Copy(*d);
  }
  return k;
}

absl::Status WriteKeyFile(const std::string& path, const crypto::X25519KeyPair& pair) {
  const json j = {{"kty", "OKP"},
                  {"crv", "X25519"},
                  {"x", service::auth::Base64UrlEncode(pair.public_key)},
                  {"d", service::auth::Base64UrlEncode(pair.private_key.view())}};
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return absl::AlreadyExistsError(absl::StrCat(path, ": ", std::strerror(errno)));
  const std::string text = j.dump() + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("write ", path, " failed"));
  return absl::OkStatus();
}

// Flags "--name value" and bare "--flag" (those in `bare`); the rest are positional.
bool ParseFlags(const std::vector<std::string>& args, const std::set<std::string>& with_value,
                const std::set<std::string>& bare, std::map<std::string, std::string>& flags,
                std::vector<std::string>& positional, std::string& error) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      positional.push_back(a);
    } else if (bare.contains(a)) {
      flags[a] = "true";
    } else if (with_value.contains(a) && i + 1 < args.size()) {
      flags[a] = args[++i];
    } else {
      error = absl::StrCat("unknown or incomplete option ", a);
      return false;
    }
  }
  return true;
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

long PostJson(const std::string& url, const std::string& token, const std::string& body,
              std::string& response, std::string& error) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    error = "curl_easy_init failed";
    return 0;
  }
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  const std::string auth = "Authorization: Bearer " + token;
  if (!token.empty()) headers = curl_slist_append(headers, auth.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (const char* ca = std::getenv("SAFEFLOW_CA_BUNDLE"))
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
  long status = 0;
  const CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  } else {
    error = curl_easy_strerror(rc);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return status;
}

int Keygen(const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("keygen needs exactly KEYFILE");
  absl::StatusOr<crypto::X25519KeyPair> pair = crypto::X25519KeyPair::Generate();
  if (!pair.ok()) return Fail(std::string(pair.status().message()));
  if (absl::Status s = WriteKeyFile(args[0], *pair); !s.ok()) return Fail(std::string(s.message()));
  std::printf("%s\n", service::auth::Base64UrlEncode(pair->public_key).c_str());
  return 0;
}

int Seal(const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  std::vector<std::string> pos;
  std::string error;
  if (!ParseFlags(args, {"--key-file", "--public-key", "--key-id", "--chunk-bytes"}, {}, f, pos,
                  error)) {
    return Usage(error);
  }
  if (pos.size() != 2) return Usage("seal needs IN and OUT");
  if (!f.contains("--key-id")) return Usage("seal needs --key-id (the dataset id)");
  std::string pub;
  if (f.contains("--key-file")) {
    absl::StatusOr<KeyFile> k = ReadKeyFile(f["--key-file"]);
    if (!k.ok()) return Fail(std::string(k.status().message()));
    pub = k->public_key;
  } else if (f.contains("--public-key")) {
    absl::StatusOr<std::string> raw = service::auth::Base64UrlDecode(f["--public-key"]);
    if (!raw.ok() || raw->size() != 32) return Usage("--public-key: 32 bytes in base64url");
    pub = *raw;
  } else {
    return Usage("seal needs --key-file or --public-key");
  }
  std::uint32_t chunk = crypto::kDefaultChunkBytes;
  if (f.contains("--chunk-bytes") && !absl::SimpleAtoi(f["--chunk-bytes"], &chunk)) {
    return Usage("--chunk-bytes: an integer");
  }
  absl::StatusOr<crypto::SealStats> st =
      crypto::SealFile(pos[0], pos[1], f["--key-id"], pub, chunk);
  if (!st.ok()) return Fail(absl::StrCat(pos[0], ": ", st.status().message()));
  std::printf("sealed %s -> %s (%llu bytes, %llu chunks, key %s)\n", pos[0].c_str(), pos[1].c_str(),
              static_cast<unsigned long long>(st->plaintext_bytes),
              static_cast<unsigned long long>(st->chunks), f["--key-id"].c_str());
  return 0;
}

int Unseal(const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  std::vector<std::string> pos;
  std::string error;
  if (!ParseFlags(args, {"--key-file"}, {}, f, pos, error)) return Usage(error);
  if (pos.size() != 2 || !f.contains("--key-file"))
    return Usage("unseal needs --key-file, IN and OUT");
  absl::StatusOr<KeyFile> k = ReadKeyFile(f["--key-file"]);
  if (!k.ok()) return Fail(std::string(k.status().message()));
  if (k->private_key.empty()) return Fail("the key file has no private key (d)");
  absl::StatusOr<crypto::SealStats> st = crypto::UnsealFile(pos[0], pos[1], k->private_key);
  if (!st.ok()) return Fail(absl::StrCat(pos[0], ": ", st.status().message()));
  std::printf("unsealed %s -> %s (%llu bytes)\n", pos[0].c_str(), pos[1].c_str(),
              static_cast<unsigned long long>(st->plaintext_bytes));
  return 0;
}

int Import(const std::string& server, const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  std::vector<std::string> files;
  std::string error;
  if (!ParseFlags(args,
                  {"--project", "--name", "--key-file", "--dest", "--location", "--policy",
                   "--description"},
                  {"--allow-plain"}, f, files, error)) {
    return Usage(error);
  }
  for (const char* req : {"--project", "--name", "--key-file", "--dest"}) {
    if (!f.contains(req)) return Usage(absl::StrCat("import needs ", req));
  }
  if (files.empty()) return Usage("import needs at least one FILE");
  const char* token = std::getenv("SAFEFLOW_TOKEN");
  if (token == nullptr || *token == '\0') return Usage("set SAFEFLOW_TOKEN to a data-owner token");
  if (::access(f["--key-file"].c_str(), F_OK) != 0) {
    absl::StatusOr<crypto::X25519KeyPair> pair = crypto::X25519KeyPair::Generate();
    if (!pair.ok()) return Fail(std::string(pair.status().message()));
    if (absl::Status s = WriteKeyFile(f["--key-file"], *pair); !s.ok()) {
      return Fail(std::string(s.message()));
    }
  }
  absl::StatusOr<KeyFile> k = ReadKeyFile(f["--key-file"]);
  if (!k.ok()) return Fail(std::string(k.status().message()));
  if (k->private_key.empty()) return Fail("the key file has no private key (d)");
  json body = {{"project", f["--project"]},
               {"name", f["--name"]},
               {"allow_plain", f.contains("--allow-plain")},
               {"private_key", service::auth::Base64UrlEncode(k->private_key.view())}};
  if (f.contains("--description")) body["description"] = f["--description"];
  if (f.contains("--location")) body["location"] = f["--location"];
  if (f.contains("--policy")) {
    body["release_policy"] = json::parse(f["--policy"], nullptr, false);
    if (body["release_policy"].is_discarded()) return Usage("--policy: not JSON");
  }
  std::string response;
  const long status = PostJson(server + "/data/v1/datasets", token, body.dump(), response, error);
  if (status != 201) {
    return Fail(absl::StrCat("registering the dataset: ", status == 0 ? error : response));
  }
  const json made = json::parse(response, nullptr, false);
  const std::string id = made.is_object() ? made.value("id", "") : "";
  if (id.empty()) return Fail("the server's answer has no dataset id");
  std::printf("dataset %s (%s/%s)\n", id.c_str(), f["--project"].c_str(), f["--name"].c_str());
  std::filesystem::create_directories(f["--dest"]);
  for (const std::string& file : files) {
    const std::string out =
        absl::StrCat(f["--dest"], "/", std::filesystem::path(file).filename().string(), ".sealed");
    absl::StatusOr<crypto::SealStats> st = crypto::SealFile(file, out, id, k->public_key);
    if (!st.ok()) return Fail(absl::StrCat(file, ": ", st.status().message()));
    ::chmod(out.c_str(), 0644);
    std::printf("sealed %s -> %s (%llu bytes)\n", file.c_str(), out.c_str(),
                static_cast<unsigned long long>(st->plaintext_bytes));
  }
  return 0;
}

}  // namespace

int DataCommand(const std::string& server, const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "keygen") return Keygen(rest);
  if (args[0] == "seal") return Seal(rest);
  if (args[0] == "unseal") return Unseal(rest);
  if (args[0] == "import") return Import(server, rest);
  return Usage(absl::StrCat("unknown command ", args[0]));
}

}  // namespace safeflow::cli
