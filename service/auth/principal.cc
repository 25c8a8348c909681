#include "service/auth/principal.h"

#include <algorithm>

namespace safeflow::service {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kResearcher:
      return "researcher";
    case Role::kWorkflowAdmin:
      return "workflow-admin";
    case Role::kOutputChecker:
      return "output-checker";
    case Role::kAuditor:
      return "auditor";
    case Role::kDataOwner:
      return "data-owner";
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : AllRoles()) {
    if (RoleName(r) == name) return r;
  }
  return std::nullopt;
}

const std::vector<Role>& AllRoles() {
  static const std::vector<Role> kAll = {Role::kResearcher, Role::kWorkflowAdmin,
                                         Role::kOutputChecker, Role::kAuditor, Role::kDataOwner};
  return kAll;
}

bool Principal::InProject(const std::string& project) const {
  return all_projects || std::find(projects.begin(), projects.end(), project) != projects.end();
}

std::string Principal::DefaultProject() const {
  if (!projects.empty()) return projects.front();
  return all_projects ? "default" : "";
}

std::string Principal::RolesString() const {
  std::string out;
  for (Role r : roles) {
    if (!out.empty()) out += ",";
    out += RoleName(r);
  }
  return out;
}

}  // namespace safeflow::service
