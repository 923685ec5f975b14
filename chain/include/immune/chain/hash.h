// SHA-256 values as the chain uses them: block hashes, Merkle nodes, record
// identifiers (leaf hashes) and publisher key identifiers.
//
// Thread safety: values and pure functions.
#ifndef IMMUNE_CHAIN_HASH_H_
#define IMMUNE_CHAIN_HASH_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "immune/core/bytes.h"
#include "immune/core/error.h"

namespace immune::chain {

inline constexpr std::size_t kHashSize = 32;
using Hash256 = std::array<std::uint8_t, kHashSize>;

// SHA-256 of data.
Hash256 Sha256(ByteSpan data);

std::string HashHex(const Hash256& h);
// Exactly 64 hex digits; errors name `what`.
Result<Hash256> HashFromHex(std::string_view hex, std::string_view what);

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_HASH_H_
