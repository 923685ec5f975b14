#include "immune/chain/proof.h"

#include <nlohmann/json.hpp>

#include "immune/chain/merkle.h"
#include "immune/chain/record.h"
#include "immune/core/hex.h"

namespace immune::chain {

namespace {
constexpr const char* kFormat = "immune-chain-proof/1";

Result<std::string> Str(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string())
    return InvalidArgument(where + "\"" + key + "\" is missing or not a string");
  return it->get<std::string>();
}
Result<std::uint64_t> Num(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned())
    return InvalidArgument(where + "\"" + key + "\" is missing or not a non-negative integer");
  return it->get<std::uint64_t>();
}
}  // namespace

Result<InclusionProof> BuildProof(const Block& block, std::uint32_t index) {
  if (index >= block.records.size())
    return InvalidArgument("record " + std::to_string(index) + " is outside block " +
                           std::to_string(block.header.height) + " of " +
                           std::to_string(block.records.size()) + " records");
  std::vector<Hash256> leaves;
  leaves.reserve(block.records.size());
  for (const auto& r : block.records) leaves.push_back(LeafHash(r));
  InclusionProof p;
  p.header = block.header;
  p.signatures = block.signatures;
  p.leaf_index = index;
  p.record = block.records[index];
  IMMUNE_ASSIGN_OR_RETURN(p.audit_path, AuditPath(leaves, index));
  return p;
}

std::string ProofToJson(const InclusionProof& p) {
  nlohmann::ordered_json j;
  j["format"] = kFormat;
  auto rec = DecodeRecord(p.record);
  if (rec.ok()) j["record"] = RecordToJson(*rec);
  j["record_hex"] = ToHex(p.record);
  j["record_id"] = HashHex(LeafHash(p.record));
  j["leaf_index"] = p.leaf_index;
  j["tree_size"] = p.header.record_count;
  j["audit_path"] = nlohmann::ordered_json::array();
  for (const auto& h : p.audit_path) j["audit_path"].push_back(HashHex(h));
  nlohmann::ordered_json b;
  b["height"] = p.header.height;
  b["hash"] = HashHex(BlockHash(p.header));
  b["header_hex"] = ToHex(EncodeHeader(p.header));
  b["signatures"] = nlohmann::ordered_json::array();
  for (const auto& s : p.signatures)
    b["signatures"].push_back({{"key_id", HashHex(s.key_id)}, {"signature_base64", ToBase64(s.signature)}});
  j["block"] = std::move(b);
  return j.dump(2) + "\n";
}

Result<InclusionProof> ProofFromJson(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("proof: not a JSON object");
  IMMUNE_ASSIGN_OR_RETURN(std::string format, Str(j, "format", "proof: "));
  if (format != kFormat) return InvalidArgument("proof: format \"" + format + "\" is not " + kFormat);
  InclusionProof p;
  IMMUNE_ASSIGN_OR_RETURN(std::string rec_hex, Str(j, "record_hex", "proof: "));
  auto rec = FromHex(rec_hex);
  if (!rec.ok()) return rec.error().WithContext("proof: \"record_hex\"");
  p.record = std::move(rec).value();
  if (auto shown = j.find("record"); shown != j.end()) {
    auto parsed = RecordFromJson(*shown);
    if (!parsed.ok() || EncodeRecord(*parsed) != p.record)
      return Corruption("proof: \"record\" does not describe the record in \"record_hex\"");
  }
  if (auto id = j.find("record_id");
      id != j.end() && (!id->is_string() || *id != HashHex(LeafHash(p.record))))
    return Corruption("proof: \"record_id\" is not the leaf hash of \"record_hex\"");
  IMMUNE_ASSIGN_OR_RETURN(std::uint64_t leaf, Num(j, "leaf_index", "proof: "));
  if (leaf > 0xFFFFFFFFu) return InvalidArgument("proof: \"leaf_index\" is too large");
  p.leaf_index = static_cast<std::uint32_t>(leaf);
  auto path = j.find("audit_path");
  if (path == j.end() || !path->is_array())
    return InvalidArgument("proof: \"audit_path\" is missing or not an array");
  if (path->size() > 64) return InvalidArgument("proof: \"audit_path\" has more than 64 hashes");
  for (std::size_t i = 0; i < path->size(); ++i) {
    const std::string where = "proof: audit_path[" + std::to_string(i) + "]";
    if (!(*path)[i].is_string()) return InvalidArgument(where + ": not a string");
    IMMUNE_ASSIGN_OR_RETURN(Hash256 h, HashFromHex((*path)[i].get<std::string>(), where));
    p.audit_path.push_back(h);
  }
  auto block = j.find("block");
  if (block == j.end() || !block->is_object())
    return InvalidArgument("proof: \"block\" is missing or not an object");
  IMMUNE_ASSIGN_OR_RETURN(std::string header_hex, Str(*block, "header_hex", "proof: block: "));
  auto header = FromHex(header_hex);
  if (!header.ok()) return header.error().WithContext("proof: block: \"header_hex\"");
  auto decoded = DecodeHeader(*header);
  if (!decoded.ok()) return InvalidArgument("proof: block: " + decoded.error().message());
  p.header = *decoded;
  if (auto h = block->find("height");
      h != block->end() && (!h->is_number_unsigned() || h->get<std::uint64_t>() != p.header.height))
    return InvalidArgument("proof: block: \"height\" disagrees with the header");
  if (auto t = j.find("tree_size");
      t != j.end() && (!t->is_number_unsigned() || t->get<std::uint64_t>() != p.header.record_count))
    return InvalidArgument("proof: \"tree_size\" disagrees with the header's record count");
  auto sigs = block->find("signatures");
  if (sigs == block->end() || !sigs->is_array())
    return InvalidArgument("proof: block: \"signatures\" is not an array");
  if (sigs->size() > kMaxSignatures) return InvalidArgument("proof: block: more than 256 signatures");
  for (std::size_t i = 0; i < sigs->size(); ++i) {
    const std::string where = "proof: block: signatures[" + std::to_string(i) + "]: ";
    const auto& s = (*sigs)[i];
    if (!s.is_object()) return InvalidArgument(where + "not an object");
    IMMUNE_ASSIGN_OR_RETURN(std::string id, Str(s, "key_id", where));
    IMMUNE_ASSIGN_OR_RETURN(std::string b64, Str(s, "signature_base64", where));
    BlockSignature bs;
    IMMUNE_ASSIGN_OR_RETURN(bs.key_id, HashFromHex(id, where + "\"key_id\""));
    auto sig = FromBase64(b64);
    if (!sig.ok()) return sig.error().WithContext(where + "\"signature_base64\"");
    bs.signature = std::move(sig).value();
    p.signatures.push_back(std::move(bs));
  }
  return p;
}

Status VerifyProof(const InclusionProof& p, const TrustConfig& trust) {
  const std::string block = "block " + std::to_string(p.header.height);
  if (p.header.trust_digest != trust.digest())
    return Corruption(block + ": signed under trust configuration " + HashHex(p.header.trust_digest) +
                      ", not the one given (" + HashHex(trust.digest()) + ")");
  if (Status s = trust.CheckSignatures(p.header, p.signatures); !s.ok())
    return Corruption(block + ": " + s.error().message());
  if (auto rec = DecodeRecord(p.record); !rec.ok())
    return Corruption(block + ", record " + std::to_string(p.leaf_index) + ": " + rec.error().message());
  if (Status s = VerifyInclusion(LeafHash(p.record), p.leaf_index, p.header.record_count, p.audit_path,
                                 p.header.merkle_root);
      !s.ok())
    return Corruption(block + ", record " + std::to_string(p.leaf_index) + ": " + s.error().message());
  return OkStatus();
}

}  // namespace immune::chain
