// tests/integration/transfer/dir_listing.h. Directory listings for the transfer tests.
#ifndef SAFEFLOW_TESTS_INTEGRATION_TRANSFER_DIR_LISTING_H_
#define SAFEFLOW_TESTS_INTEGRATION_TRANSFER_DIR_LISTING_H_

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace safeflow::testing {

// Every entry below `dir`, relative and sorted; real directories end with "/" (a symlink to a
// directory does not, and is not descended into).
inline std::vector<std::string> Tree(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::string rel = fs::relative(it->path(), dir).string();
    if (it->is_directory() && !it->is_symlink()) rel += "/";
    out.push_back(rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The names directly in `dir`, sorted.
inline std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    out.push_back(e.path().filename());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace safeflow::testing

#endif  // SAFEFLOW_TESTS_INTEGRATION_TRANSFER_DIR_LISTING_H_
