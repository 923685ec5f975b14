// `immunectl policy test`: what a policy would have decided for a recorded
// measurement log, entry by entry, with totals, before it is loaded.
//
// Input (untrusted): the TSB JSON export ({"entries": [...]}, tsb/log_export.h),
// a bare JSON array of entries, or JSON lines (one entry object per line).
// Entry members read: path, file_hash_alg, file_digest (hex) - required;
// container_id, image, exe, pid, signature (hex security.ima), decision
// (what was decided when recorded) - optional. Other members are ignored.
//
// Thread safety: free functions; the snapshot is only read.
#ifndef IMMUNE_POLICY_REPLAY_H_
#define IMMUNE_POLICY_REPLAY_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/error.h"
#include "immune/policy/snapshot.h"

namespace immune::policy {

struct ReplayedEntry {
  std::size_t index = 0;  // 0-based entry number in the input
  std::string path;
  std::string container_id;
  Verdict verdict = Verdict::kDeny;
  std::string rule;  // copied: the report may outlive the snapshot
  Mode mode = Mode::kEnforce;
  std::string recorded;  // the entry's "decision" member, if any
};

struct ReplayReport {
  std::vector<ReplayedEntry> entries;
  std::size_t allowed = 0;
  std::size_t denied = 0;
  std::size_t audit_denied = 0;
};

// Errors (kInvalidArgument) name `source` and the entry ("log.jsonl:3: ..."
// for JSON lines, "log.json: entry 3: ..." for arrays).
Result<ReplayReport> ReplayLog(const Snapshot& snapshot, std::string_view log_text, std::string_view source);

}  // namespace immune::policy

#endif  // IMMUNE_POLICY_REPLAY_H_
