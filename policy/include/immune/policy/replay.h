// `immunectl policy test`: what a policy would have decided for a recorded
// measurement log, entry by entry, with totals, before it is loaded; and the
// reader of such logs that `policy learn --log` shares.
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

#include "immune/core/bytes.h"
#include "immune/core/error.h"
#include "immune/core/pcr.h"
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

// One entry of a recorded log, its members checked: strings where strings
// belong, a known algorithm, a digest of that algorithm's size, hex.
struct LoggedEntry {
  std::size_t index = 0;  // 0-based entry number in the input
  std::string path;
  HashAlg alg = HashAlg::kSha256;
  Bytes digest;
  Bytes signature;  // security.ima, empty if none
  std::string container_id, image, exe;
  std::uint32_t pid = 0;
  std::string decision;  // what was decided when recorded, if given
};

// The entries of a recorded log, in order. Errors (kInvalidArgument) name
// `source` and the entry ("log.jsonl:3: ..." for JSON lines, "log.json: entry
// 3: ..." for arrays); a JSON-lines input with no entry is an error.
Result<std::vector<LoggedEntry>> ReadRecordedLog(std::string_view log_text, std::string_view source);

// ReadRecordedLog, then the snapshot's decision for each entry. Errors as
// ReadRecordedLog's.
Result<ReplayReport> ReplayLog(const Snapshot& snapshot, std::string_view log_text, std::string_view source);

}  // namespace immune::policy

#endif  // IMMUNE_POLICY_REPLAY_H_
