// service/auth/principal.h. Who is calling: the identity every handler sees after
// authentication, with the roles and projects that decide what it may do.
#ifndef SAFEFLOW_SERVICE_AUTH_PRINCIPAL_H_
#define SAFEFLOW_SERVICE_AUTH_PRINCIPAL_H_

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace safeflow::service {

// kDataOwner registers datasets and their key-release policies (the key broker's clients).
enum class Role { kResearcher, kWorkflowAdmin, kOutputChecker, kAuditor, kDataOwner };

std::string_view RoleName(Role role);  // "researcher", "workflow-admin", ...
std::optional<Role> ParseRole(std::string_view name);
const std::vector<Role>& AllRoles();

struct Principal {
  std::string subject;        // the caller's stable name (OIDC sub, certificate or key owner)
  std::string auth_method;    // "oidc", "mtls", "access-key", "none"
  std::string credential_id;  // key id, certificate fingerprint or token jti: for the audit
  std::set<Role> roles;
  std::vector<std::string> projects;  // member of; the first is the default project
  bool all_projects = false;          // only with auth.mode none (local development)
  bool read_only = false;             // may only read (GET)

  bool Has(Role r) const { return roles.contains(r); }
  bool InProject(const std::string& project) const;
  std::string DefaultProject() const;
  // "researcher,auditor": for logs and the audit record.
  std::string RolesString() const;
};

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_AUTH_PRINCIPAL_H_
