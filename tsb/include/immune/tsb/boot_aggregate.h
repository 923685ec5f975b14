// IMA's boot_aggregate: the first entry of a measurement list, whose file
// digest is a hash over the boot PCRs as the TPM held them when IMA started.
//
// The kernel (ima_crypto.c, ima_calc_boot_aggregate) picks the PCR bank
// whose algorithm is IMA's hash algorithm, else sha256, else sha1, and
// records the digest in that bank's algorithm (so the entry's "algo:"
// prefix names the bank). It hashes the concatenated PCR values:
//   - PCR 0-7 for the sha1 bank (TPM 1.2, and sha1 on TPM 2.0), and for
//     every bank on kernels before 5.8;
//   - PCR 0-9 for non-sha1 banks on kernel 5.8 and later.
// An all-zero boot_aggregate means IMA found no TPM.
//
// Thread safety: pure functions over values.
#ifndef IMMUNE_TSB_BOOT_AGGREGATE_H_
#define IMMUNE_TSB_BOOT_AGGREGATE_H_

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"
#include "immune/core/pcr.h"
#include "immune/tsb/ima_log.h"

namespace immune::tsb {

enum class BootAggregateRange {
  kPcr0To7,  // TPM 1.2, the sha1 bank, kernels before 5.8
  kPcr0To9,  // TPM 2.0 non-sha1 banks, kernel 5.8+
};

struct BootAggregateMatch {
  HashAlg bank;  // the PCR bank, also the digest algorithm
  BootAggregateRange range;
};

// H_bank(PCR0 || ... || PCR7 [|| PCR8 || PCR9]) over `pcrs[bank]`. A PCR
// missing from the bank counts as all zeros (a PCR no boot event touched).
// Errors: kNotFound when `pcrs` has no such bank, kInvalidArgument for a PCR
// value of the wrong size.
Result<Bytes> ComputeBootAggregate(const PcrValues& pcrs, HashAlg bank, BootAggregateRange range);

// Checks the list's first entry, which must be "boot_aggregate", against
// the boot PCRs (e.g. a replay of the firmware event log, or a TPM quote).
// Returns which definition matched. Errors name the entry: kCorruption on
// a mismatch (the message carries both expected values), kNotFound when the
// boot_aggregate is all zeros (no TPM) or the bank is absent, kUnsupported
// for an algorithm Immune cannot compute.
Result<BootAggregateMatch> CheckBootAggregate(const ImaLog& log, const PcrValues& boot_pcrs);

// The same for one entry; `where` prefixes error messages.
Result<BootAggregateMatch> CheckBootAggregateEntry(const ImaEntry& entry, const PcrValues& boot_pcrs,
                                                   std::string_view where = "boot_aggregate");

}  // namespace immune::tsb

#endif  // IMMUNE_TSB_BOOT_AGGREGATE_H_
