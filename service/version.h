// service/version.h. The build's version string.
#ifndef SAFEFLOW_SERVICE_VERSION_H_
#define SAFEFLOW_SERVICE_VERSION_H_

namespace safeflow {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace safeflow

#endif  // SAFEFLOW_SERVICE_VERSION_H_
