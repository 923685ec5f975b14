// libFuzzer target for the decoder of partition views (immune_tsb_log):
// untrusted JSON from a TSB to a verifier.
//
// The input is the view's JSON text. When it parses, the view is verified
// against a fixed set of PCR values (PCR 13, sha1 and sha256, all zeros) and
// serialised again: none of that may crash, whatever the bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "immune/tsb/cpcr.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace immune;
  using namespace immune::tsb;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<PartitionView> view = PartitionViewFromJson(text);
  if (!view.ok()) return 0;
  PcrValues pcrs;
  pcrs[HashAlg::kSha1][13] = Bytes(20, 0);
  pcrs[HashAlg::kSha256][13] = Bytes(32, 0);
  (void)VerifyPartitionView(*view, pcrs);
  (void)PartitionViewToJson(*view);
  return 0;
}
