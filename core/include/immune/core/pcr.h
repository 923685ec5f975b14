// PCR values per bank: what a replay computes, what a TPM reports and what a
// reference manifest expects, in one type so they compare directly.
#ifndef IMMUNE_CORE_PCR_H_
#define IMMUNE_CORE_PCR_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"

namespace immune {

// Platform PCRs of a PC Client TPM are 0..23.
inline constexpr std::uint32_t kNumPcrs = 24;

// bank -> PCR index -> value. Ordered maps: output is stable and sorted.
using PcrBank = std::map<std::uint32_t, Bytes>;
using PcrValues = std::map<HashAlg, PcrBank>;

// Which PCRs of which banks (for reads and quotes).
using PcrSelection = std::map<HashAlg, std::vector<std::uint32_t>>;

struct PcrMismatch {
  HashAlg bank;
  std::uint32_t pcr;
  Bytes expected;
  Bytes actual;  // empty when the PCR is absent from `actual`
};

// Every (bank, PCR) of `expected` whose value in `actual` differs or is
// missing. `expected` may be a subset of `actual`.
std::vector<PcrMismatch> ComparePcrs(const PcrValues& expected, const PcrValues& actual);

// JSON text {"banks":{"sha256":{"0":"hex",...},...}} with lower-case hex.
std::string PcrValuesToJson(const PcrValues& values, int indent = -1);

// Parses the shape above. Extra top-level members ("source", "log",
// "expected_efi_app_digests") are ignored, so the testdata
// *.expected_pcrs.json files are accepted as they are. PCR keys may be
// decimal strings; values hex with or without "0x". Errors name the member.
Result<PcrValues> PcrValuesFromJson(std::string_view json_text);

}  // namespace immune

#endif  // IMMUNE_CORE_PCR_H_
