// Replays an event log into PCR values, one reusable digest context per bank. See replay.h for the rules.
#include "immune/boot/replay.h"

#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

namespace immune::boot {
namespace {

constexpr char kStartupLocalitySig[] = "StartupLocality";  // + NUL = 16 bytes

bool Replayable(const Event& ev) { return ev.type != EV_NO_ACTION && ev.pcr < kNumPcrs; }

// Locality from a StartupLocality event's data, if it is one.
std::optional<std::uint8_t> StartupLocalityOf(const Event& ev) {
  if (ev.type != EV_NO_ACTION || ev.data.size() < sizeof(kStartupLocalitySig) + 1) return std::nullopt;
  if (std::memcmp(ev.data.data(), kStartupLocalitySig, sizeof(kStartupLocalitySig)) != 0) return std::nullopt;
  return ev.data[sizeof(kStartupLocalitySig)];
}

// PCR values of one bank as fixed arrays while replaying; extends with one
// core Hasher reused for every event (core hashes SHA-1/SHA-2 without
// OpenSSL's provider start-up: docs/performance.md).
class BankReplayer {
 public:
  explicit BankReplayer(HashAlg alg) : alg_(alg), size_(DigestSize(alg)), hasher_(alg) {
    for (auto& v : pcrs_) v.fill(0);
  }

  Status Extend(std::uint32_t pcr, const Bytes& digest, std::uint32_t index) {
    if (digest.size() != size_) {
      return Corruption("event " + std::to_string(index) + ": " + std::string(HashAlgName(alg_)) +
                        " digest has " + std::to_string(digest.size()) + " bytes, expected " +
                        std::to_string(size_));
    }
    std::uint8_t* value = pcrs_[pcr].data();
    hasher_.Reset();
    hasher_.Update(ByteSpan(value, size_)).Update(digest);
    return hasher_.FinalTo(std::span<std::uint8_t>(value, size_));
  }

  void SetInitial(std::uint32_t pcr, std::uint8_t last_byte) {
    pcrs_[pcr].fill(0);
    pcrs_[pcr][size_ - 1] = last_byte;
  }

  PcrBank Values(const std::array<bool, kNumPcrs>& used) const {
    PcrBank bank;
    for (std::uint32_t i = 0; i < kNumPcrs; ++i) {
      if (used[i])
        bank.emplace(i, Bytes(pcrs_[i].begin(), pcrs_[i].begin() + static_cast<std::ptrdiff_t>(size_)));
    }
    return bank;
  }

 private:
  HashAlg alg_;
  std::size_t size_;
  Hasher hasher_;
  std::array<std::array<std::uint8_t, kMaxDigestSize>, kNumPcrs> pcrs_;
};

}  // namespace

std::uint8_t StartupLocality(const EventLog& log) {
  std::uint8_t locality = 0;
  for (const Event& ev : log.events) {
    if (ev.type == EV_EFI_HCRTM_EVENT) return 4;
    if (auto l = StartupLocalityOf(ev)) locality = *l;
  }
  return locality;
}

Result<PcrValues> ReplayEventLog(const EventLog& log) {
  std::vector<BankReplayer> banks;
  banks.reserve(log.banks.size());
  for (HashAlg alg : log.banks) banks.emplace_back(alg);

  const std::uint8_t locality = StartupLocality(log);
  if (locality != 0) {
    for (BankReplayer& b : banks) b.SetInitial(0, locality);
  }

  std::array<bool, kNumPcrs> used{};
  for (const Event& ev : log.events) {
    if (!Replayable(ev)) continue;
    used[ev.pcr] = true;
    for (const EventDigest& d : ev.digests) {
      for (std::size_t i = 0; i < banks.size(); ++i) {
        if (log.banks[i] == d.alg) {
          IMMUNE_RETURN_IF_ERROR(banks[i].Extend(ev.pcr, d.value, ev.index));
          break;
        }
      }
    }
  }

  PcrValues out;
  for (std::size_t i = 0; i < banks.size(); ++i) out.emplace(log.banks[i], banks[i].Values(used));
  return out;
}

}  // namespace immune::boot
