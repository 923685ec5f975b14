#include "immune/tsb/boot_aggregate.h"

#include <algorithm>
#include <string>

#include "immune/core/hex.h"

namespace immune::tsb {

Result<Bytes> ComputeBootAggregate(const PcrValues& pcrs, HashAlg bank, BootAggregateRange range) {
  const std::size_t size = DigestSize(bank);
  if (size == 0) return InvalidArgument("unknown PCR bank for the boot_aggregate");
  const auto it = pcrs.find(bank);
  if (it == pcrs.end()) {
    return NotFound("the boot PCRs have no " + std::string(HashAlgName(bank)) + " bank");
  }
  const Bytes zeros(size, 0);
  const std::uint32_t last = range == BootAggregateRange::kPcr0To7 ? 7 : 9;
  Hasher h(bank);
  for (std::uint32_t i = 0; i <= last; ++i) {
    const auto pcr = it->second.find(i);
    if (pcr == it->second.end()) {
      h.Update(zeros);
      continue;
    }
    if (pcr->second.size() != size) {
      return InvalidArgument(std::string(HashAlgName(bank)) + " PCR " + std::to_string(i) + " has " +
                             std::to_string(pcr->second.size()) + " bytes, not " + std::to_string(size));
    }
    h.Update(pcr->second);
  }
  return h.Final();
}

Result<BootAggregateMatch> CheckBootAggregateEntry(const ImaEntry& entry, const PcrValues& boot_pcrs,
                                                   std::string_view where) {
  const std::string at(where);
  if (entry.path != "boot_aggregate") {
    return NotFound(at + ": the entry is '" + std::string(entry.path.substr(0, 100)) +
                    "', not boot_aggregate");
  }
  if (!entry.file_hash_alg) {
    return Unsupported(at + ": boot_aggregate algorithm '" + std::string(entry.file_hash_alg_name) +
                       "' is not supported");
  }
  const HashAlg bank = *entry.file_hash_alg;
  if (std::all_of(entry.file_digest.begin(), entry.file_digest.end(),
                  [](std::uint8_t b) { return b == 0; })) {
    return NotFound(at + ": boot_aggregate is all zeros: IMA found no TPM when it started");
  }
  // sha1 aggregates never include PCR 8-9 (the kernel avoids the ambiguity).
  std::string tried;
  int tries = 0;
  for (BootAggregateRange range : {BootAggregateRange::kPcr0To9, BootAggregateRange::kPcr0To7}) {
    if (bank == HashAlg::kSha1 && range == BootAggregateRange::kPcr0To9) continue;
    auto expected = ComputeBootAggregate(boot_pcrs, bank, range);
    if (!expected.ok()) return expected.error().WithContext(at);
    if (std::equal(expected->begin(), expected->end(), entry.file_digest.begin(), entry.file_digest.end())) {
      return BootAggregateMatch{bank, range};
    }
    if (tries++ > 0) tried += " nor ";
    tried += (range == BootAggregateRange::kPcr0To7 ? "H(PCR0-7) " : "H(PCR0-9) ") + ToHex(*expected);
  }
  return Corruption(at + ": boot_aggregate " + std::string(HashAlgName(bank)) + ":" +
                    ToHex(entry.file_digest) + (tries > 1 ? " matches neither " : " does not match ") +
                    tried + " of the " + std::string(HashAlgName(bank)) + " boot PCRs");
}

Result<BootAggregateMatch> CheckBootAggregate(const ImaLog& log, const PcrValues& boot_pcrs) {
  if (log.entries.empty()) return NotFound("the IMA list is empty: no boot_aggregate");
  const ImaEntry& first = log.entries.front();
  return CheckBootAggregateEntry(first, boot_pcrs, DescribeEntry(log, first));
}

}  // namespace immune::tsb
