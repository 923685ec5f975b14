// `immunectl policy lint FILE`: every finding in a policy file, not just
// the first error, each placed at FILE:LINE:COLUMN.
//
// Errors: the file does not parse, or would not compile (conflicting modes,
// referenced key or list files missing). Warnings: weak or suspicious
// entries (path-only allows, duplicates, allows shadowed by a deny, an
// enforce document that allows nothing).
//
// Thread safety: free functions.
#ifndef IMMUNE_POLICY_LINT_H_
#define IMMUNE_POLICY_LINT_H_

#include <string>
#include <string_view>
#include <vector>

#include "immune/policy/document.h"

namespace immune::policy {

enum class Severity : std::uint8_t { kError, kWarning };

struct Finding {
  Severity severity = Severity::kError;
  Location where;
  std::string message;

  // "host.yaml:12:5: warning: ..."
  std::string ToString() const;
};

std::vector<Finding> LintPolicy(std::string_view text, std::string_view source);
// A file that cannot be read is one error finding.
std::vector<Finding> LintPolicyFile(const std::string& path);
bool HasErrors(const std::vector<Finding>& findings);

}  // namespace immune::policy

#endif  // IMMUNE_POLICY_LINT_H_
