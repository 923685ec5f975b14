#include "immune/chain/index.h"

#include <algorithm>

#include "immune/core/digest.h"

namespace immune::chain {

Hash256 BaselineIndex::DigestKey(HashAlg alg, ByteSpan value) {
  if (alg == HashAlg::kSha256 && value.size() == kHashSize) {
    Hash256 k;
    std::copy(value.begin(), value.end(), k.begin());
    return k;
  }
  Hasher h(HashAlg::kSha256);
  const std::uint8_t id[2] = {static_cast<std::uint8_t>(TpmId(alg) >> 8),
                              static_cast<std::uint8_t>(TpmId(alg))};
  h.Update(id).Update(value);
  Hash256 k{};
  (void)h.FinalTo(k);
  return k;
}

Hash256 BaselineIndex::PathKey(std::string_view image, std::string_view path) {
  Hasher h(HashAlg::kSha256);
  const std::uint8_t sep[1] = {0};
  h.Update(AsBytes(image)).Update(sep).Update(AsBytes(path));
  Hash256 k{};
  (void)h.FinalTo(k);
  return k;
}

void BaselineIndex::Add(Record record, const Hash256& record_id, RecordLocation where) {
  IdValue value{where, kNone};
  if (auto* f = std::get_if<FileBaseline>(&record)) {
    const auto e = static_cast<std::uint32_t>(entries_.size());
    value.entry = e;
    const Hash256 dkey = DigestKey(f->digest.alg, f->digest.value);
    const Hash256 pkey = PathKey(f->image, f->path);
    entries_.push_back({std::move(*f), where, record_id, kNone, false});
    auto [it, fresh] = by_digest_.try_emplace(dkey, e);
    if (!fresh) {
      entries_[e].prev_same_digest = it->second;
      it->second = e;
    }
    by_path_.insert_or_assign(pkey, e);
  } else if (const auto* v = std::get_if<Revocation>(&record)) {
    auto it = by_id_.find(v->target);
    if (it != by_id_.end() && it->second.entry != kNone) {
      Entry& target = entries_[it->second.entry];
      target.revoked = true;
      auto p = by_path_.find(PathKey(target.baseline.image, target.baseline.path));
      if (p != by_path_.end() && p->second == it->second.entry) by_path_.erase(p);
    }
  }
  by_id_.try_emplace(record_id, value);
}

void BaselineIndex::MarkBroken(std::uint64_t height, std::string reason) {
  broken_at_ = height;
  broken_reason_ = std::move(reason);
}

Error BaselineIndex::Missing(const std::string& what) const {
  if (broken_at_)
    return Corruption(what + " is not in the verified chain, which breaks at block " +
                      std::to_string(*broken_at_) + " (" + broken_reason_ + "); baselines from block " +
                      std::to_string(*broken_at_) + " on are not served");
  return NotFound(what + " is not in the chain");
}

std::size_t BaselineIndex::CountByDigest(ByteSpan digest_value, HashAlg alg) const {
  auto it = by_digest_.find(DigestKey(alg, digest_value));
  if (it == by_digest_.end()) return 0;
  std::size_t n = 0;
  for (std::uint32_t e = it->second; e != kNone; e = entries_[e].prev_same_digest) {
    const Entry& en = entries_[e];
    if (!en.revoked && en.baseline.digest.alg == alg &&
        std::equal(en.baseline.digest.value.begin(), en.baseline.digest.value.end(), digest_value.begin(),
                   digest_value.end()))
      ++n;
  }
  return n;
}

Result<std::vector<BaselineHit>> BaselineIndex::FindByDigest(const TaggedDigest& digest) const {
  std::vector<BaselineHit> out;
  auto it = by_digest_.find(DigestKey(digest.alg, digest.value));
  if (it != by_digest_.end()) {
    for (std::uint32_t e = it->second; e != kNone; e = entries_[e].prev_same_digest) {
      const Entry& en = entries_[e];
      if (en.revoked || en.baseline.digest != digest) continue;
      out.push_back({en.baseline.image, en.baseline.path, en.baseline.digest, en.location, en.id});
    }
  }
  if (out.empty()) return Missing("a file baseline with digest " + TaggedDigestText(digest));
  std::reverse(out.begin(), out.end());  // chain order
  return out;
}

Result<BaselineHit> BaselineIndex::FindByImagePath(std::string_view image, std::string_view path) const {
  auto it = by_path_.find(PathKey(image, path));
  if (it == by_path_.end() || entries_[it->second].baseline.image != image ||
      entries_[it->second].baseline.path != path)
    return Missing("a file baseline for image \"" + std::string(image) + "\" path \"" + std::string(path) +
                   "\"");
  const Entry& en = entries_[it->second];
  return BaselineHit{en.baseline.image, en.baseline.path, en.baseline.digest, en.location, en.id};
}

Result<RecordLocation> BaselineIndex::FindRecord(const Hash256& record_id) const {
  auto it = by_id_.find(record_id);
  if (it == by_id_.end()) return Missing("record " + HashHex(record_id));
  return it->second.location;
}

}  // namespace immune::chain
