// libFuzzer target for the IMA measurement list parsers (immune_tsb).
//
// The first byte picks the parser and options; the rest is the list:
//   bit 0: 0 = binary, 1 = ascii
//   bit 1: allow a truncated tail
//   bit 2: accept unsupported file hash algorithms
//   bits 3-4 (binary): 0 = detect the bank, 1 = sha1, 2 = sha256, 3 = sha512
// On success the list goes through template-hash verification, both
// replays, the ima-buf check, boot_aggregate and signature checks: none of
// them may crash, whatever the bytes.
#include <cstddef>
#include <cstdint>

#include "immune/tsb/boot_aggregate.h"
#include "immune/tsb/ima_log.h"
#include "immune/tsb/ima_sig.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace immune;
  using namespace immune::tsb;
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  const ByteSpan input(data + 1, size - 1);
  ImaParseOptions options;
  options.allow_truncated_tail = (mode & 2) != 0;
  options.allow_unsupported_file_hash = (mode & 4) != 0;
  static constexpr HashAlg kFixedBanks[] = {HashAlg::kSha1, HashAlg::kSha256, HashAlg::kSha512};
  const unsigned bank_sel = (mode >> 3) & 3;
  if (bank_sel != 0) options.bank = kFixedBanks[bank_sel - 1];
  Result<ImaLog> log =
      (mode & 1) != 0 ? ParseImaAscii(AsString(input), options) : ParseImaBinary(input, options);
  if (!log.ok()) return 0;

  (void)VerifyTemplateHashes(*log);
  (void)VerifyBufDigests(*log);
  static constexpr HashAlg kReplayBanks[] = {HashAlg::kSha1, HashAlg::kSha256};
  (void)ReplayImaLog(*log, kReplayBanks);
  (void)ReplayImaLogRecorded(*log);

  PcrValues boot;
  boot[HashAlg::kSha256][0] = Bytes(32, 1);
  boot[HashAlg::kSha1][0] = Bytes(20, 1);
  (void)CheckBootAggregate(*log, boot);

  static const ImaKeyRing* const kNoKeys = new ImaKeyRing();
  const ImaSignatureReport report = VerifyImaSignatures(*log, *kNoKeys);
  (void)report;
  for (const ImaEntry& e : log->entries) {
    if (!e.signature.empty()) (void)ParseImaSignature(e.signature);
  }
  return 0;
}
