// BaselineIndex: fast look-up of file baselines by digest and by (image,
// path), of boot references by image, and of any record by its id (leaf
// hash). It is filled only by the verifier (verify.h) from blocks that
// verified, in chain order; revocations remove what they revoke. When the
// verifier finds a break it marks the index broken, and a look-up that
// the verified part cannot answer is refused with a Corruption error
// naming the break, never answered from blocks past it.
//
// Thread safety: fill from one thread; after that, const look-ups may run
// concurrently.
#ifndef IMMUNE_CHAIN_INDEX_H_
#define IMMUNE_CHAIN_INDEX_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "immune/chain/hash.h"
#include "immune/chain/record.h"
#include "immune/core/error.h"

namespace immune::chain {

struct RecordLocation {
  std::uint64_t height = 0;
  std::uint32_t index = 0;
  bool operator==(const RecordLocation&) const = default;
};

struct BaselineHit {
  std::string image;
  std::string path;
  TaggedDigest digest;
  RecordLocation location;
  Hash256 record_id{};
};

class BaselineIndex {
 public:
  // Called by the verifier for each record of a verified block, in order.
  void Add(Record record, const Hash256& record_id, RecordLocation where);
  // Called by the verifier: blocks up to and including `height` verified.
  void SetVerifiedThrough(std::uint64_t height) { verified_through_ = height; }
  // Called by the verifier when block `height` does not verify.
  void MarkBroken(std::uint64_t height, std::string reason);

  std::optional<std::uint64_t> verified_through() const { return verified_through_; }
  std::optional<std::uint64_t> broken_at() const { return broken_at_; }
  std::size_t size() const { return entries_.size(); }

  // Every unrevoked file baseline with this digest. NotFound when none and
  // the chain verified to its head; Corruption naming the break otherwise.
  Result<std::vector<BaselineHit>> FindByDigest(const TaggedDigest& digest) const;
  // The latest unrevoked file baseline of (image, path); errors as above.
  Result<BaselineHit> FindByImagePath(std::string_view image, std::string_view path) const;
  // Where the record with this id is (also revoked ones); errors as above.
  Result<RecordLocation> FindRecord(const Hash256& record_id) const;

  // The allocation-free core of FindByDigest for hot paths: the number of
  // unrevoked baselines with this digest (0 if none; no break check).
  std::size_t CountByDigest(ByteSpan digest_value, HashAlg alg) const;

 private:
  // Keys are SHA-256 values (or SHA-256 of the looked-up text), already
  // uniform: their first 8 bytes are the bucket hash.
  struct KeyHash {
    std::size_t operator()(const Hash256& h) const {
      std::size_t v = 0;
      for (int i = 0; i < 8; ++i) v = (v << 8) | h[static_cast<std::size_t>(i)];
      return v;
    }
  };
  static constexpr std::uint32_t kNone = 0xFFFFFFFF;
  struct Entry {
    FileBaseline baseline;
    RecordLocation location;
    Hash256 id{};
    std::uint32_t prev_same_digest = kNone;  // the previous entry with this digest key
    bool revoked = false;
  };
  struct IdValue {
    RecordLocation location;
    std::uint32_t entry = kNone;  // file baselines only
  };
  Error Missing(const std::string& what) const;
  // The digest's key: the value itself for SHA-256, else SHA-256 of
  // (algorithm id, value). Look-ups compare the entry's digest exactly.
  static Hash256 DigestKey(HashAlg alg, ByteSpan value);
  static Hash256 PathKey(std::string_view image, std::string_view path);

  std::vector<Entry> entries_;
  std::unordered_map<Hash256, std::uint32_t, KeyHash> by_digest_;  // -> latest entry with the key
  std::unordered_map<Hash256, std::uint32_t, KeyHash> by_path_;    // -> latest entry of (image, path)
  std::unordered_map<Hash256, IdValue, KeyHash> by_id_;
  std::optional<std::uint64_t> verified_through_;
  std::optional<std::uint64_t> broken_at_;
  std::string broken_reason_;
};

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_INDEX_H_
