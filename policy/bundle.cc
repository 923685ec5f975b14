#include "immune/policy/bundle.h"

#include <nlohmann/json.hpp>

#include "immune/policy/keylime.h"

namespace immune::policy {
namespace {

bool LooksLikeJson(std::string_view text) {
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '{';
  }
  return false;
}

}  // namespace

Result<std::string> SignPolicyBundle(std::string_view policy_text, std::string_view source,
                                     const DsseSigner& signer) {
  IMMUNE_RETURN_IF_ERROR(ParseDocuments(policy_text, source));
  const std::string_view type = LooksLikeJson(policy_text) ? kPolicyJsonPayloadType : kPolicyYamlPayloadType;
  IMMUNE_ASSIGN_OR_RETURN(DsseEnvelope env, signer.Sign(type, AsBytes(policy_text)));
  return SerializeDsseEnvelope(env);
}

Result<std::vector<Document>> OpenPolicyBundle(std::string_view envelope_json, std::string_view source,
                                               const DsseTrustedKeys& keys) {
  const std::string_view accepted[] = {kPolicyYamlPayloadType, kPolicyJsonPayloadType, kKeylimePayloadType};
  IMMUNE_ASSIGN_OR_RETURN(DsseEnvelope env, OpenDsse(envelope_json, source, keys, accepted));
  const std::string inner = std::string(source) + "#payload";
  if (env.payload_type == kKeylimePayloadType) {
    IMMUNE_ASSIGN_OR_RETURN(Document d, ImportKeylimeRuntimePolicy(AsString(env.payload), inner));
    return std::vector<Document>{std::move(d)};
  }
  return ParseDocuments(AsString(env.payload), inner);
}

Result<std::string> SignDigestList(const std::vector<DigestListEntry>& entries, const DsseSigner& signer) {
  nlohmann::json list = nlohmann::json::array();
  for (const DigestListEntry& e : entries) {
    nlohmann::json j = {{"digest", e.digest.ToString()}};
    if (!e.path.empty()) j["path"] = e.path;
    list.push_back(std::move(j));
  }
  const std::string payload = list.dump();
  IMMUNE_ASSIGN_OR_RETURN(DsseEnvelope env, signer.Sign(kDigestListPayloadType, AsBytes(payload)));
  return SerializeDsseEnvelope(env);
}

Result<std::vector<DigestListEntry>> OpenDigestList(std::string_view envelope_json, std::string_view source,
                                                    const DsseTrustedKeys& keys) {
  const std::string_view accepted[] = {kDigestListPayloadType};
  IMMUNE_ASSIGN_OR_RETURN(DsseEnvelope env, OpenDsse(envelope_json, source, keys, accepted));
  const nlohmann::json j = nlohmann::json::parse(env.payload, nullptr, /*allow_exceptions=*/false);
  const std::string src(source);
  if (j.is_discarded() || !j.is_array()) {
    return InvalidArgument(src + ": the digest list payload is not a JSON array");
  }
  std::vector<DigestListEntry> out;
  out.reserve(j.size());
  for (std::size_t i = 0; i < j.size(); ++i) {
    const nlohmann::json& e = j[i];
    const std::string where = src + ": entry " + std::to_string(i);
    if (!e.is_object()) return InvalidArgument(where + " is not an object");
    for (auto it = e.begin(); it != e.end(); ++it) {
      if (it.key() != "digest" && it.key() != "path") {
        return InvalidArgument(where + ": unknown member '" + it.key().substr(0, 60) + "'");
      }
    }
    auto d = e.find("digest");
    if (d == e.end() || !d->is_string()) return InvalidArgument(where + ": 'digest' is missing");
    auto ref = ParseDigestRef(d->get_ref<const std::string&>());
    if (!ref.ok()) return InvalidArgument(where + ": " + ref.error().message());
    DigestListEntry entry{std::move(ref).value(), ""};
    auto p = e.find("path");
    if (p != e.end()) {
      if (!p->is_string() || !p->get_ref<const std::string&>().starts_with('/')) {
        return InvalidArgument(where + ": 'path' is not an absolute path");
      }
      entry.path = p->get<std::string>();
    }
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace immune::policy
