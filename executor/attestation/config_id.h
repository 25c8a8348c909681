// executor/attestation/config_id.h. The config_id a quote carries: which task the measured
// worker is about to run. Computed by the host when it launches the worker and again by the
// verifier from the stored task, so a quote cannot be moved to another task.
#ifndef SAFEFLOW_EXECUTOR_ATTESTATION_CONFIG_ID_H_
#define SAFEFLOW_EXECUTOR_ATTESTATION_CONFIG_ID_H_

#include <string>

#include "schemas/tes/task.h"

namespace safeflow::executor::attestation {

// Lower-case hex SHA-256 over "safeflow-task-v1\0" || task_id || "\0" || the task's definition as
// compact JSON with sorted keys (the FULL view without id, which is hashed apart, and without
// state, logs and creation_time, which change while it runs).
std::string TaskConfigId(const std::string& task_id, const schemas::tes::Task& task);

}  // namespace safeflow::executor::attestation

#endif  // SAFEFLOW_EXECUTOR_ATTESTATION_CONFIG_ID_H_
