#include "entry_json.h"

#include <limits>
#include <string>

#include "immune/core/hex.h"
#include "immune/core/json_bytes.h"

namespace immune::tsb::internal {
namespace {

using nlohmann::json;

Result<std::string> GetString(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string())
    return Corruption(std::string("entry member '") + key + "' is missing or not a string");
  return it->get<std::string>();
}

// A path member: a string, or an array of byte values (json_bytes.h).
Result<std::string> GetBytes(const json& j, const char* key) {
  auto it = j.find(key);
  std::optional<std::string> s = it == j.end() ? std::nullopt : BytesFromJson(*it);
  if (!s) return Corruption(std::string("entry member '") + key + "' is missing or not a string or byte array");
  return *s;
}

template <typename T>
Result<T> GetUnsigned(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) {
    return Corruption(std::string("entry member '") + key + "' is missing or not an unsigned number");
  }
  const auto v = it->get<std::uint64_t>();
  if (v > std::numeric_limits<T>::max())
    return Corruption(std::string("entry member '") + key + "' is out of range");
  return static_cast<T>(v);
}

Result<Bytes> GetHex(const json& j, const char* key) {
  IMMUNE_ASSIGN_OR_RETURN(std::string s, GetString(j, key));
  auto b = FromHex(s);
  if (!b.ok()) return Corruption(std::string("entry member '") + key + "': " + b.error().message());
  return std::move(b).value();
}

}  // namespace

nlohmann::json EntryToJson(const MeasurementEntry& e) {
  json j;
  j["seq"] = e.seq;
  j["epoch"] = e.epoch;
  j["pcr"] = e.pcr;
  j["time_ns"] = e.time_ns;
  j["template"] = std::string(TemplateName(e.template_kind));
  j["container_id"] = e.container_id;
  j["image"] = e.image;
  j["pid"] = e.pid;
  j["exe"] = BytesToJson(e.exe);  // a path: a string when UTF-8, else its bytes (json_bytes.h)
  j["path"] = BytesToJson(e.path);
  j["file_hash_alg"] = std::string(HashAlgName(e.file_hash_alg));
  j["file_digest"] = ToHex(e.file_digest);
  j["signature"] = ToHex(e.signature);
  j["decision"] = std::string(DecisionName(e.decision));
  j["rule"] = e.rule;
  return j;
}

Result<MeasurementEntry> EntryFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Corruption("entry is not a JSON object");
  MeasurementEntry e;
  IMMUNE_ASSIGN_OR_RETURN(e.seq, GetUnsigned<std::uint64_t>(j, "seq"));
  IMMUNE_ASSIGN_OR_RETURN(e.epoch, GetUnsigned<std::uint64_t>(j, "epoch"));
  IMMUNE_ASSIGN_OR_RETURN(e.pcr, GetUnsigned<std::uint32_t>(j, "pcr"));
  auto t = j.find("time_ns");
  if (t == j.end() || !t->is_number_integer())
    return Corruption("entry member 'time_ns' is missing or not an integer");
  e.time_ns = t->get<std::int64_t>();
  IMMUNE_ASSIGN_OR_RETURN(std::string tmpl, GetString(j, "template"));
  auto kind = TemplateFromName(tmpl);
  if (!kind) return Corruption("entry member 'template': unknown template '" + tmpl + "'");
  e.template_kind = *kind;
  IMMUNE_ASSIGN_OR_RETURN(e.container_id, GetString(j, "container_id"));
  IMMUNE_ASSIGN_OR_RETURN(e.image, GetString(j, "image"));
  IMMUNE_ASSIGN_OR_RETURN(e.pid, GetUnsigned<std::uint32_t>(j, "pid"));
  IMMUNE_ASSIGN_OR_RETURN(e.exe, GetBytes(j, "exe"));
  IMMUNE_ASSIGN_OR_RETURN(e.path, GetBytes(j, "path"));
  IMMUNE_ASSIGN_OR_RETURN(std::string alg, GetString(j, "file_hash_alg"));
  auto halg = HashAlgFromName(alg);
  if (!halg) return Corruption("entry member 'file_hash_alg': unknown algorithm '" + alg + "'");
  e.file_hash_alg = *halg;
  IMMUNE_ASSIGN_OR_RETURN(e.file_digest, GetHex(j, "file_digest"));
  IMMUNE_ASSIGN_OR_RETURN(e.signature, GetHex(j, "signature"));
  IMMUNE_ASSIGN_OR_RETURN(std::string dec, GetString(j, "decision"));
  auto d = DecisionFromName(dec);
  if (!d) return Corruption("entry member 'decision': unknown decision '" + dec + "'");
  e.decision = *d;
  IMMUNE_ASSIGN_OR_RETURN(e.rule, GetString(j, "rule"));
  auto valid = ValidateEntry(e);
  if (!valid.ok()) return Corruption("entry seq " + std::to_string(e.seq) + ": " + valid.error().message());
  return e;
}

}  // namespace immune::tsb::internal
