// Comparing a replayed event log with PCR values from elsewhere (a reference
// manifest, a quote, a TPM read).
//
// Only PCRs the log extends can be verified by it: those are compared. A PCR
// present in `reference` that the log never extends is "uncovered": the log
// can neither confirm nor contradict it (PCR 10 holds IMA, 16 debug, 17-22
// DRTM, 23 applications). Uncovered PCRs are reported, and count as failures
// only in strict mode when they differ from their reset value.
#ifndef IMMUNE_BOOT_VERIFY_H_
#define IMMUNE_BOOT_VERIFY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "immune/core/pcr.h"

namespace immune::boot {

struct UncoveredPcr {
  HashAlg bank;
  std::uint32_t pcr;
  Bytes reference;
  bool at_reset_value;  // all zeros (PCRs 17..22: all 0xFF), as after TPM reset
};

struct VerifyReport {
  std::size_t compared = 0;             // (bank, PCR) pairs compared
  std::vector<PcrMismatch> mismatches;  // compared and different
  std::vector<UncoveredPcr> uncovered;  // in reference, not extended by the log
  std::vector<HashAlg> missing_banks;   // reference banks the log does not carry

  // True when at least one PCR was compared, none differed, and (in strict
  // mode) no uncovered PCR has left its reset value.
  bool Passed(bool strict) const;
};

VerifyReport VerifyReplay(const PcrValues& replayed, const PcrValues& reference);

// The value a PCR holds after TPM2_Startup(CLEAR) at locality 0.
Bytes PcrResetValue(HashAlg bank, std::uint32_t pcr);

}  // namespace immune::boot

#endif  // IMMUNE_BOOT_VERIFY_H_
