// Big-endian writing and reading helpers for the chain's canonical encodings
// (docs/chain-format.md). Private to chain/.
//
// Reader never reads past its input: every read returns false or nullopt and
// the caller names what was being read and where (offset()).
#ifndef IMMUNE_CHAIN_CODEC_H_
#define IMMUNE_CHAIN_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "immune/chain/hash.h"
#include "immune/core/bytes.h"

namespace immune::chain::codec {

inline void PutU8(Bytes& out, std::uint8_t v) { out.push_back(v); }
inline void PutU16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
inline void PutU32(Bytes& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}
inline void PutU64(Bytes& out, std::uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}
inline void PutRaw(Bytes& out, ByteSpan b) { out.insert(out.end(), b.begin(), b.end()); }
inline void PutHash(Bytes& out, const Hash256& h) { out.insert(out.end(), h.begin(), h.end()); }

class Reader {
 public:
  explicit Reader(ByteSpan data) : r_(data) {}
  std::size_t offset() const { return r_.offset(); }
  bool empty() const { return r_.empty(); }
  std::size_t remaining() const { return r_.remaining(); }

  std::optional<std::uint8_t> U8() { return r_.U8(); }
  std::optional<std::uint16_t> U16() { return r_.U16Be(); }
  std::optional<std::uint32_t> U32() { return r_.U32Be(); }
  std::optional<std::uint64_t> U64() {
    auto hi = r_.U32Be();
    if (!hi) return std::nullopt;
    auto lo = r_.U32Be();
    if (!lo) return std::nullopt;
    return (static_cast<std::uint64_t>(*hi) << 32) | *lo;
  }
  std::optional<ByteSpan> Take(std::size_t n) { return r_.Take(n); }
  std::optional<Hash256> Hash() {
    auto s = r_.Take(kHashSize);
    if (!s) return std::nullopt;
    Hash256 h;
    std::copy(s->begin(), s->end(), h.begin());
    return h;
  }

 private:
  ByteReader r_;
};

}  // namespace immune::chain::codec

#endif  // IMMUNE_CHAIN_CODEC_H_
