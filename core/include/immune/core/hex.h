// Hex and base64 encodings (lower-case hex, as tpm2-tools and IMA print).
#ifndef IMMUNE_CORE_HEX_H_
#define IMMUNE_CORE_HEX_H_

#include <string>
#include <string_view>

#include "immune/core/bytes.h"
#include "immune/core/error.h"

namespace immune {

std::string ToHex(ByteSpan bytes);

// Accepts upper or lower case and an optional "0x" prefix; an odd length or a
// non-hex character is an InvalidArgument error naming the position.
Result<Bytes> FromHex(std::string_view hex);

std::string ToBase64(ByteSpan bytes);
Result<Bytes> FromBase64(std::string_view b64);

}  // namespace immune

#endif  // IMMUNE_CORE_HEX_H_
