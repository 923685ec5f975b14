// Feeding an event log into a TPM: extends the digests of every event a
// replay would extend (same rules as ReplayEventLog), so that afterwards the
// TPM's PCRs equal the replay. This is how a private swtpm stands in for a
// machine's TPM when the machine has none, and how tests check the replay
// against a real TPM implementation.
#ifndef IMMUNE_BOOT_TPM_EXTEND_H_
#define IMMUNE_BOOT_TPM_EXTEND_H_

#include <cstddef>

#include "immune/boot/event_log.h"
#include "immune/core/error.h"
#include "immune/tpm/tpm.h"

namespace immune::boot {

struct ExtendSummary {
  std::size_t events_extended = 0;
  std::vector<HashAlg> banks;  // log banks the TPM has allocated (the ones extended)
};

// The TPM must be fresh (PCRs at their reset value, PCR 0 at the locality
// StartupLocality(log) reports). Banks of the log that the TPM has not
// allocated are skipped; a log none of whose banks the TPM has is an error.
Result<ExtendSummary> ExtendEventLogIntoTpm(const EventLog& log, tpm::Tpm& tpm);

}  // namespace immune::boot

#endif  // IMMUNE_BOOT_TPM_EXTEND_H_
