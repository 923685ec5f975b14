#include "immune/chain/trust.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "codec.h"

namespace immune::chain {

Result<TrustConfig> TrustConfig::Make(std::vector<Publisher> publishers, std::uint32_t threshold) {
  if (publishers.empty()) return InvalidArgument("trust configuration: no publisher keys");
  if (publishers.size() > kMaxSignatures)
    return InvalidArgument("trust configuration: more than 256 publisher keys");
  if (threshold < 1 || threshold > publishers.size())
    return InvalidArgument("trust configuration: threshold " + std::to_string(threshold) +
                           " is not between 1 and the " + std::to_string(publishers.size()) + " keys");
  std::sort(publishers.begin(), publishers.end(),
            [](const Publisher& a, const Publisher& b) { return a.key.id() < b.key.id(); });
  for (std::size_t i = 1; i < publishers.size(); ++i) {
    if (publishers[i].key.id() == publishers[i - 1].key.id())
      return InvalidArgument("trust configuration: key " + HashHex(publishers[i].key.id()) + " (\"" +
                             publishers[i].name + "\") appears twice");
  }
  TrustConfig t;
  t.publishers_ = std::move(publishers);
  t.threshold_ = threshold;
  Bytes enc = {'I', 'M', 'C', 'T', 1};
  codec::PutU16(enc, static_cast<std::uint16_t>(threshold));
  codec::PutU16(enc, static_cast<std::uint16_t>(t.publishers_.size()));
  for (const auto& p : t.publishers_) {
    codec::PutU16(enc, static_cast<std::uint16_t>(p.key.spki_der().size()));
    codec::PutRaw(enc, p.key.spki_der());
  }
  t.digest_ = Sha256(enc);
  return t;
}

Result<TrustConfig> TrustConfig::FromJson(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("trust configuration: not a JSON object");
  auto v = j.find("version");
  if (v == j.end() || !v->is_number_unsigned() || v->get<std::uint64_t>() != 1)
    return InvalidArgument("trust configuration: \"version\" must be 1");
  auto k = j.find("threshold");
  if (k == j.end() || !k->is_number_unsigned() || k->get<std::uint64_t>() > 0xFFFF)
    return InvalidArgument("trust configuration: \"threshold\" must be a positive integer");
  auto pubs = j.find("publishers");
  if (pubs == j.end() || !pubs->is_array())
    return InvalidArgument("trust configuration: \"publishers\" must be an array");
  std::vector<Publisher> list;
  for (std::size_t i = 0; i < pubs->size(); ++i) {
    const auto& p = (*pubs)[i];
    const std::string where = "trust configuration: publishers[" + std::to_string(i) + "]";
    if (!p.is_object() || !p.contains("public_key") || !p["public_key"].is_string())
      return InvalidArgument(where + ": needs a \"public_key\" PEM string");
    auto key = PublicKey::FromPem(p["public_key"].get<std::string>());
    if (!key.ok()) return key.error().WithContext(where);
    std::string name = p.contains("name") && p["name"].is_string() ? p["name"].get<std::string>() : "";
    list.push_back({std::move(name), std::move(key).value()});
  }
  return Make(std::move(list), static_cast<std::uint32_t>(k->get<std::uint64_t>()));
}

std::string TrustConfig::ToJson() const {
  nlohmann::ordered_json j;
  j["version"] = 1;
  j["threshold"] = threshold_;
  j["publishers"] = nlohmann::ordered_json::array();
  for (const auto& p : publishers_) {
    j["publishers"].push_back(
        {{"name", p.name}, {"key_id", HashHex(p.key.id())}, {"public_key", p.key.ToPem()}});
  }
  return j.dump(2) + "\n";
}

const Publisher* TrustConfig::Find(const Hash256& key_id) const {
  auto it = std::lower_bound(publishers_.begin(), publishers_.end(), key_id,
                             [](const Publisher& p, const Hash256& id) { return p.key.id() < id; });
  return it != publishers_.end() && it->key.id() == key_id ? &*it : nullptr;
}

Status TrustConfig::CheckSignatures(const BlockHeader& header,
                                    const std::vector<BlockSignature>& sigs) const {
  const Bytes message = SigningMessage(header);
  std::vector<Hash256> seen;
  for (std::size_t i = 0; i < sigs.size(); ++i) {
    const auto& s = sigs[i];
    const std::string where = "signature " + std::to_string(i) + " (key " + HashHex(s.key_id) + ")";
    const Publisher* p = Find(s.key_id);
    if (p == nullptr) return Corruption(where + ": key is not in the trust configuration");
    if (std::find(seen.begin(), seen.end(), s.key_id) != seen.end())
      return Corruption(where + ": a second signature by the same key");
    if (!p->key.Verify(message, s.signature)) return Corruption(where + ": does not verify");
    seen.push_back(s.key_id);
  }
  if (seen.size() < threshold_)
    return Corruption("signed by " + std::to_string(seen.size()) +
                      " publisher key(s), fewer than the threshold " + std::to_string(threshold_) + " of " +
                      std::to_string(publishers_.size()));
  return OkStatus();
}

}  // namespace immune::chain
