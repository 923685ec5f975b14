#include "immune/chain/hash.h"

#include <algorithm>

#include "immune/core/digest.h"
#include "immune/core/hex.h"

namespace immune::chain {

Hash256 Sha256(ByteSpan data) {
  Hasher h(HashAlg::kSha256);
  h.Update(data);
  Hash256 out{};
  (void)h.FinalTo(out);  // SHA-256 is always available (core/digest.cc, direct functions)
  return out;
}

std::string HashHex(const Hash256& h) { return ToHex(h); }

Result<Hash256> HashFromHex(std::string_view hex, std::string_view what) {
  auto b = FromHex(hex);
  if (!b.ok()) return InvalidArgument(std::string(what) + ": " + b.error().message());
  if (b->size() != kHashSize)
    return InvalidArgument(std::string(what) + ": expected 32 bytes (64 hex digits), got " +
                           std::to_string(b->size()));
  Hash256 h;
  std::copy(b->begin(), b->end(), h.begin());
  return h;
}

}  // namespace immune::chain
