#include "immune/boot/verify.h"

#include <algorithm>

namespace immune::boot {

Bytes PcrResetValue(HashAlg bank, std::uint32_t pcr) {
  const bool drtm = pcr >= 17 && pcr <= 22;
  return Bytes(DigestSize(bank), drtm ? 0xFF : 0x00);
}

bool VerifyReport::Passed(bool strict) const {
  if (compared == 0 || !mismatches.empty()) return false;
  if (strict) {
    if (!missing_banks.empty()) return false;
    for (const auto& u : uncovered) {
      if (!u.at_reset_value) return false;
    }
  }
  return true;
}

VerifyReport VerifyReplay(const PcrValues& replayed, const PcrValues& reference) {
  VerifyReport r;
  for (const auto& [bank, values] : reference) {
    auto rb = replayed.find(bank);
    if (rb == replayed.end()) {
      r.missing_banks.push_back(bank);
      continue;
    }
    for (const auto& [pcr, value] : values) {
      auto it = rb->second.find(pcr);
      if (it == rb->second.end()) {
        r.uncovered.push_back({bank, pcr, value, value == PcrResetValue(bank, pcr)});
        continue;
      }
      ++r.compared;
      if (it->second != value) r.mismatches.push_back({bank, pcr, value, it->second});
    }
  }
  return r;
}

}  // namespace immune::boot
