#!/usr/bin/env bash
# Static checks run by deploy/test.sh before the tests: formatting and module direction
# (schemas <- executor <- service; no pqxx or Pistache in executor/).
set -euo pipefail
cd "$(dirname "$0")/../.."

fail=0
mapfile -t sources < <(
  { git ls-files --cached --others --exclude-standard '*.h' '*.cc' 2>/dev/null ||
    find schemas executor service tests bench -name '*.h' -o -name '*.cc'; } |
    while read -r f; do [ -f "$f" ] && echo "$f"; done)
if ! clang-format --dry-run --Werror "${sources[@]}" 2>/tmp/safeflow-format.log; then
  echo "checks: clang-format differences (run: clang-format -i \$(git ls-files '*.h' '*.cc')):" >&2
  head -40 /tmp/safeflow-format.log >&2
  fail=1
fi
if grep -rqE '#include "(executor|service)/' schemas/; then
  echo "checks: schemas/ must not include executor/ or service/:" >&2
  grep -rnE '#include "(executor|service)/' schemas/ >&2
  fail=1
fi
if grep -rqE '#include "service/|#include [<"](pqxx|pistache)/' executor/; then
  echo "checks: executor/ must not include service/, pqxx or Pistache:" >&2
  grep -rnE '#include "service/|#include [<"](pqxx|pistache)/' executor/ >&2
  fail=1
fi
if grep -rlE '#include [<"]pqxx/' service/ | grep -v '^service/store/' | grep -q .; then
  echo "checks: pqxx may only appear in service/store/:" >&2
  grep -rlE '#include [<"]pqxx/' service/ | grep -v '^service/store/' >&2
  fail=1
fi
[ "$fail" = 0 ] && echo "checks: format and module direction OK"
exit "$fail"
