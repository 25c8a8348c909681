#include "executor/attestation/config_id.h"

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include <openssl/evp.h>

namespace safeflow::executor::attestation {

std::string TaskConfigId(const std::string& task_id, const schemas::tes::Task& task) {
  nlohmann::json j = schemas::tes::ToJson(task, schemas::tes::View::kFull);
  for (const char* k : {"id", "state", "logs", "creation_time"}) j.erase(k);
  std::string text = "safeflow-task-v1";
  text.push_back('\0');
  text += task_id;
  text.push_back('\0');
  text += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), static_cast<size_t>(len)));
}

}  // namespace safeflow::executor::attestation
