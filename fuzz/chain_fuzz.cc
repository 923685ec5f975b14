// libFuzzer target for the ledger's decoders of untrusted bytes: blocks,
// block headers, records and proof JSON. The first input byte picks the
// decoder. Beyond "no crash, no sanitizer report", it checks that what
// decodes re-encodes to the same bytes (the encodings are canonical) and
// that proofs go through full verification without crashing.
//
//   build/fuzz/fuzz/chain_fuzz -max_total_time=60 corpus/
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "immune/chain/block.h"
#include "immune/chain/proof.h"
#include "immune/chain/record.h"
#include "immune/chain/trust.h"
#include "immune/chain/verify.h"

namespace {

const immune::chain::TrustConfig& Trust() {
  static const immune::chain::TrustConfig trust = [] {
    auto key = immune::chain::PrivateKey::Generate(immune::chain::KeyType::kEd25519);
    return *immune::chain::TrustConfig::Make({{"fuzz", key->public_key()}}, 1);
  }();
  return trust;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace immune::chain;  // NOLINT
  if (size == 0) return 0;
  const immune::ByteSpan in(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto b = DecodeBlock(in);
      if (!b.ok()) break;
      const immune::Bytes again = EncodeBlock(*b);
      if (!std::equal(again.begin(), again.end(), in.begin(), in.end())) std::abort();
      (void)VerifyBlock(*b, b->header.height, b->header.prev_hash, Trust());
      break;
    }
    case 1: {
      auto r = DecodeRecord(in);
      if (!r.ok()) break;
      if (!ValidateRecord(*r).ok()) std::abort();
      const immune::Bytes again = EncodeRecord(*r);
      if (!std::equal(again.begin(), again.end(), in.begin(), in.end())) std::abort();
      (void)RecordToJson(*r).dump();
      break;
    }
    case 2: {
      auto p = ProofFromJson(immune::AsString(in));
      if (!p.ok()) break;
      (void)VerifyProof(*p, Trust());
      (void)ProofToJson(*p);
      break;
    }
    case 3: {
      (void)RecordsFromJsonText(immune::AsString(in));
      (void)TrustConfig::FromJson(immune::AsString(in));
      break;
    }
  }
  return 0;
}
