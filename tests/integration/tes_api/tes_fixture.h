// A safeflowd with its embedded PostgreSQL, an input root and an output root, shared by the tests
// of one suite. Tests create tasks over real HTTP; tasks run in real bubblewrap sandboxes.
#ifndef SAFEFLOW_TESTS_INTEGRATION_TES_API_TES_FIXTURE_H_
#define SAFEFLOW_TESTS_INTEGRATION_TES_API_TES_FIXTURE_H_

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <sys/stat.h>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "tests/testing/integration.h"
#include "tests/testing/process.h"
#include "tests/testing/tes_client.h"

namespace safeflow::testing {

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteAll(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::trunc) << content;
}

struct TesServer {
  std::unique_ptr<TempDir> tmp;
  std::string in_root, out_root, data_dir, config_path;
  std::unique_ptr<SafeflowdProcess> process;
  std::unique_ptr<TesClient> client;
  // Set before Start(): more storage roots beside in_root and out_root.
  std::vector<std::string> more_input_roots, more_output_roots;
  // Set before Start(): more lines of the storage: section (indented by two spaces).
  std::string storage_yaml;

  // `extra_yaml` is appended to the generated configuration.
  bool Start(const std::string& extra_yaml = "", const std::vector<std::string>& env = {}) {
    tmp = std::make_unique<TempDir>();
    in_root = tmp->path() + "/in";
    out_root = tmp->path() + "/out";
    data_dir = tmp->path() + "/data";
    std::filesystem::create_directories(in_root);
    std::filesystem::create_directories(out_root);
    config_path = tmp->path() + "/safeflowd.yaml";
    const bool own_scheduler = extra_yaml.find("scheduler:") != std::string::npos;
    // These suites read their outputs back: keep outputs in the clear unless a test says
    // otherwise (workers are still attested).
    const bool own_enclave = extra_yaml.find("enclave:") != std::string::npos;
    WriteAll(config_path, std::string(own_scheduler ? ""
                                                    : "scheduler:\n  max_concurrent_tasks: 4\n"
                                                      "  poll_interval_ms: 200\n") +
                              "environments:\n  - name: host\n    root: /\n    aliases: [alpine, "
                              "ubuntu, \"debian:bookworm\", \"snakemake/snakemake:v7.21.0\", "
                              "\"quay.io/nextflow/bash\"]\n"
                              "storage:\n  input_roots: [" +
                              Roots(in_root, more_input_roots) + "]\n  output_roots: [" +
                              Roots(out_root, more_output_roots) + "]\n" + storage_yaml +
                              (own_enclave ? "" : "enclave:\n  seal_outputs: false\n") +
                              extra_yaml);
    return Restart(env);
  }

  static std::string Roots(const std::string& first, const std::vector<std::string>& more) {
    std::string out = first;
    for (const std::string& r : more) out += ", " + r;
    return out;
  }

  bool Restart(const std::vector<std::string>& env = {}) {
    process = std::make_unique<SafeflowdProcess>(
        data_dir, std::vector<std::string>{"--config", config_path}, env);
    if (!process->WaitReady()) return false;
    client = std::make_unique<TesClient>(process->url() + "/ga4gh/tes/v1");
    return true;
  }
};

// A task of one executor running `script` under bash in the host environment.
inline nlohmann::json BashTask(const std::string& script, const std::string& name = "") {
  nlohmann::json t = {{"executors", {{{"image", "ubuntu"}, {"command", {"bash", "-c", script}}}}}};
  if (!name.empty()) t["name"] = name;
  return t;
}

}  // namespace safeflow::testing

#endif  // SAFEFLOW_TESTS_INTEGRATION_TES_API_TES_FIXTURE_H_
