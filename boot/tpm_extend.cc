#include "immune/boot/tpm_extend.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "immune/boot/replay.h"

namespace immune::boot {

namespace {
// Mirrors ReplayEventLog's choice of events (replay.h).
bool IsReplayed(const Event& e) { return e.type != EV_NO_ACTION && e.pcr < kNumPcrs; }
}  // namespace

Result<ExtendSummary> ExtendEventLogIntoTpm(const EventLog& log, tpm::Tpm& tpm) {
  IMMUNE_ASSIGN_OR_RETURN(std::vector<HashAlg> allocated, tpm.AllocatedBanks());
  ExtendSummary summary;
  for (HashAlg b : log.banks) {
    if (std::find(allocated.begin(), allocated.end(), b) != allocated.end()) summary.banks.push_back(b);
  }
  if (summary.banks.empty()) {
    return Unsupported("the TPM has none of the log's PCR banks allocated");
  }
  std::vector<std::pair<HashAlg, Bytes>> digests;
  for (const Event& e : log.events) {
    if (!IsReplayed(e)) continue;
    digests.clear();
    for (const EventDigest& d : e.digests) {
      if (std::find(summary.banks.begin(), summary.banks.end(), d.alg) != summary.banks.end()) {
        digests.emplace_back(d.alg, d.value);
      }
    }
    if (digests.empty()) continue;
    Status s = tpm.Extend(e.pcr, digests);
    if (!s.ok())
      return s.error().WithContext("event " + std::to_string(e.index) + " (PCR " + std::to_string(e.pcr) +
                                   ")");
    ++summary.events_extended;
  }
  return summary;
}

}  // namespace immune::boot
