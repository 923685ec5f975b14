// Blocks: a header (height, previous block hash, time, trust configuration
// digest, Merkle root and count of the records), publisher signatures over
// the header, and the records' canonical bytes. docs/chain-format.md
// defines the encoding; all integers are big-endian.
//
// A block's hash is SHA-256 of its encoded header. Signatures sign
// kSignatureDomain || block hash.
//
// Decoding is strict and never asserts on its input: errors name the field
// and the byte offset. Decoding checks shape only; verify.h checks meaning.
//
// Thread safety: values and pure functions.
#ifndef IMMUNE_CHAIN_BLOCK_H_
#define IMMUNE_CHAIN_BLOCK_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "immune/chain/hash.h"
#include "immune/core/bytes.h"
#include "immune/core/error.h"

namespace immune::chain {

inline constexpr std::uint8_t kBlockVersion = 1;
inline constexpr std::size_t kHeaderSize = 121;
inline constexpr std::uint32_t kMaxRecordsPerBlock = 1u << 20;
inline constexpr std::size_t kMaxRecordSize = 17u << 20;
inline constexpr std::size_t kMaxSignatures = 256;
// Prefix of what publishers sign (22 bytes, then the 32-byte block hash).
inline constexpr std::string_view kSignatureDomain{"immune.chain.block.v1\0", 22};

struct BlockHeader {
  std::uint8_t version = kBlockVersion;
  std::uint64_t height = 0;
  std::uint64_t time_ms = 0;  // publisher's clock, milliseconds since the Unix epoch
  std::uint32_t record_count = 0;
  Hash256 prev_hash{};  // all zero at height 0
  Hash256 trust_digest{};
  Hash256 merkle_root{};
  bool operator==(const BlockHeader&) const = default;
};

struct BlockSignature {
  Hash256 key_id{};
  Bytes signature;
  bool operator==(const BlockSignature&) const = default;
};

struct Block {
  BlockHeader header;
  std::vector<BlockSignature> signatures;
  std::vector<Bytes> records;  // canonical record encodings
};

Bytes EncodeHeader(const BlockHeader& h);
Result<BlockHeader> DecodeHeader(ByteSpan bytes);
Hash256 BlockHash(const BlockHeader& h);
// kSignatureDomain || BlockHash(h).
Bytes SigningMessage(const BlockHeader& h);

// The signature section alone (count, then key id, length, bytes each), as
// the SQLite backend stores it.
Bytes EncodeSignatures(const std::vector<BlockSignature>& sigs);
Result<std::vector<BlockSignature>> DecodeSignatures(ByteSpan bytes);

Bytes EncodeBlock(const Block& b);
Result<Block> DecodeBlock(ByteSpan bytes);

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_BLOCK_H_
