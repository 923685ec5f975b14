// Replaying an event log: the PCR values a TPM holds after it has extended
// every event of the log, per bank.
//
// Rules (TCG PC Client PFP; each exercised by a log in shared/testdata):
// - EV_NO_ACTION events are never extended.
// - A StartupLocality EV_NO_ACTION event ("StartupLocality\0" + locality L)
//   makes PCR 0 start at 00..0L in every bank instead of all zeros.
// - An EV_EFI_HCRTM_EVENT makes PCR 0 start at 00..04; its digest is then
//   extended like any other event's.
// - Events on PCR 0xFFFFFFFF (Windows trailers) and any PCR >= 24 are parsed
//   but not replayed.
// - Digests of one event may come in any order: each goes to its own bank.
#ifndef IMMUNE_BOOT_REPLAY_H_
#define IMMUNE_BOOT_REPLAY_H_

#include "immune/boot/event_log.h"
#include "immune/core/error.h"
#include "immune/core/pcr.h"

namespace immune::boot {

// Every PCR that at least one replayed event extends, in every bank the log
// carries. A legacy log yields only a "sha1" bank.
Result<PcrValues> ReplayEventLog(const EventLog& log);

// The locality PCR 0 started at according to the log (0 when the log has no
// StartupLocality or H-CRTM event); a TPM fed the log must start the same way.
std::uint8_t StartupLocality(const EventLog& log);

}  // namespace immune::boot

#endif  // IMMUNE_BOOT_REPLAY_H_
