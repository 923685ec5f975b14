#include "immune/chain/block.h"

#include <string>

#include "codec.h"

namespace immune::chain {

namespace {

constexpr std::uint8_t kMagic[4] = {'I', 'M', 'C', 'B'};

Status ReadSignatures(codec::Reader& r, std::vector<BlockSignature>& out) {
  const std::size_t at = r.offset();
  auto n = r.U16();
  if (!n) return Corruption("signature count at byte " + std::to_string(at) + ": truncated");
  if (*n > kMaxSignatures)
    return Corruption("signature count at byte " + std::to_string(at) + ": " + std::to_string(*n) +
                      " is above the limit of 256");
  out.reserve(*n);
  for (std::uint16_t i = 0; i < *n; ++i) {
    const std::size_t sat = r.offset();
    const std::string where = "signature " + std::to_string(i) + " at byte " + std::to_string(sat);
    auto id = r.Hash();
    auto len = r.U16();
    if (!id || !len) return Corruption(where + ": truncated");
    auto sig = r.Take(*len);
    if (!sig) return Corruption(where + ": " + std::to_string(*len) + " bytes run past the end");
    out.push_back({*id, Bytes(sig->begin(), sig->end())});
  }
  return OkStatus();
}

}  // namespace

Bytes EncodeHeader(const BlockHeader& h) {
  Bytes out;
  out.reserve(kHeaderSize);
  codec::PutRaw(out, kMagic);
  codec::PutU8(out, h.version);
  codec::PutU64(out, h.height);
  codec::PutU64(out, h.time_ms);
  codec::PutU32(out, h.record_count);
  codec::PutHash(out, h.prev_hash);
  codec::PutHash(out, h.trust_digest);
  codec::PutHash(out, h.merkle_root);
  return out;
}

Result<BlockHeader> DecodeHeader(ByteSpan bytes) {
  if (bytes.size() != kHeaderSize)
    return Corruption("block header is " + std::to_string(bytes.size()) + " bytes, not " +
                      std::to_string(kHeaderSize));
  codec::Reader r(bytes);
  auto magic = r.Take(4);
  if (!std::equal(magic->begin(), magic->end(), kMagic))
    return Corruption("block header at byte 0: magic is not \"IMCB\"");
  BlockHeader h;
  h.version = *r.U8();
  if (h.version != kBlockVersion)
    return Corruption("block header version " + std::to_string(h.version) + " at byte 4: only 1 is known");
  h.height = *r.U64();
  h.time_ms = *r.U64();
  h.record_count = *r.U32();
  if (h.record_count > kMaxRecordsPerBlock)
    return Corruption("block header record count " + std::to_string(h.record_count) +
                      " at byte 21: above the limit of 1048576");
  h.prev_hash = *r.Hash();
  h.trust_digest = *r.Hash();
  h.merkle_root = *r.Hash();
  return h;
}

Hash256 BlockHash(const BlockHeader& h) { return Sha256(EncodeHeader(h)); }

Bytes SigningMessage(const BlockHeader& h) {
  Bytes m(kSignatureDomain.begin(), kSignatureDomain.end());
  codec::PutHash(m, BlockHash(h));
  return m;
}

Bytes EncodeSignatures(const std::vector<BlockSignature>& sigs) {
  Bytes out;
  codec::PutU16(out, static_cast<std::uint16_t>(sigs.size()));
  for (const auto& s : sigs) {
    codec::PutHash(out, s.key_id);
    codec::PutU16(out, static_cast<std::uint16_t>(s.signature.size()));
    codec::PutRaw(out, s.signature);
  }
  return out;
}

Result<std::vector<BlockSignature>> DecodeSignatures(ByteSpan bytes) {
  codec::Reader r(bytes);
  std::vector<BlockSignature> out;
  IMMUNE_RETURN_IF_ERROR(ReadSignatures(r, out));
  if (!r.empty())
    return Corruption(std::to_string(r.remaining()) + " trailing bytes after the signatures at byte " +
                      std::to_string(r.offset()));
  return out;
}

Bytes EncodeBlock(const Block& b) {
  Bytes out = EncodeHeader(b.header);
  const Bytes sigs = EncodeSignatures(b.signatures);
  codec::PutRaw(out, sigs);
  for (const auto& rec : b.records) {
    codec::PutU32(out, static_cast<std::uint32_t>(rec.size()));
    codec::PutRaw(out, rec);
  }
  return out;
}

Result<Block> DecodeBlock(ByteSpan bytes) {
  if (bytes.size() < kHeaderSize)
    return Corruption("block is " + std::to_string(bytes.size()) + " bytes, shorter than its " +
                      std::to_string(kHeaderSize) + "-byte header");
  Block b;
  IMMUNE_ASSIGN_OR_RETURN(b.header, DecodeHeader(bytes.first(kHeaderSize)));
  codec::Reader r(bytes.subspan(kHeaderSize));
  auto offset = [&r] { return kHeaderSize + r.offset(); };
  {
    auto s = ReadSignatures(r, b.signatures);
    if (!s.ok())
      return Corruption("block " + std::to_string(b.header.height) + ": " + s.error().message() +
                        " (counted from byte " + std::to_string(kHeaderSize) + ")");
  }
  // Each record needs at least its 4-byte length: bound the reservation.
  if (b.header.record_count > r.remaining() / 4)
    return Corruption("block " + std::to_string(b.header.height) + ": header counts " +
                      std::to_string(b.header.record_count) + " records but only " +
                      std::to_string(r.remaining()) + " bytes follow the signatures");
  b.records.reserve(b.header.record_count);
  for (std::uint32_t i = 0; i < b.header.record_count; ++i) {
    const std::size_t at = offset();
    auto len = r.U32();
    if (!len)
      return Corruption("record " + std::to_string(i) + " at byte " + std::to_string(at) +
                        ": truncated length");
    if (*len > kMaxRecordSize)
      return Corruption("record " + std::to_string(i) + " at byte " + std::to_string(at) + ": length " +
                        std::to_string(*len) + " above the limit");
    auto rec = r.Take(*len);
    if (!rec)
      return Corruption("record " + std::to_string(i) + " at byte " + std::to_string(at) + ": " +
                        std::to_string(*len) + " bytes run past the end");
    b.records.emplace_back(rec->begin(), rec->end());
  }
  if (!r.empty())
    return Corruption(std::to_string(r.remaining()) + " trailing bytes after the last record at byte " +
                      std::to_string(offset()));
  return b;
}

}  // namespace immune::chain
