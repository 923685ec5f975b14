// The JSON form of records (docs/chain-format.md, "Records").
#include <limits>

#include "immune/chain/record.h"
#include "immune/core/hex.h"

namespace immune::chain {

namespace {

using Json = nlohmann::json;

Result<std::string> Str(const Json& j, const char* key, bool required = true) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (!required) return std::string();
    return InvalidArgument(std::string("member \"") + key + "\" is missing");
  }
  if (!it->is_string()) return InvalidArgument(std::string("member \"") + key + "\" is not a string");
  return it->get<std::string>();
}

Result<std::uint64_t> U64(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return InvalidArgument(std::string("member \"") + key + "\" is missing");
  if (!it->is_number_unsigned())
    return InvalidArgument(std::string("member \"") + key + "\" is not a non-negative integer");
  return it->get<std::uint64_t>();
}

Result<TaggedDigest> Digest(const Json& j, const char* key) {
  IMMUNE_ASSIGN_OR_RETURN(std::string s, Str(j, key));
  auto d = ParseTaggedDigest(s);
  if (!d.ok()) return d.error().WithContext(std::string("member \"") + key + "\"");
  return d;
}

Result<BootReference> BootFromJson(const Json& j) {
  BootReference b;
  IMMUNE_ASSIGN_OR_RETURN(b.image, Str(j, "image"));
  if (auto it = j.find("pcrs"); it != j.end()) {
    if (!it->is_object()) return InvalidArgument("member \"pcrs\" is not an object of banks");
    for (const auto& [bank_name, pcrs] : it->items()) {
      auto bank = HashAlgFromName(bank_name);
      if (!bank) return InvalidArgument("pcrs: unknown bank \"" + bank_name + "\"");
      if (!pcrs.is_object()) return InvalidArgument("pcrs." + bank_name + ": not an object");
      for (const auto& [index_text, value] : pcrs.items()) {
        unsigned idx = 0;
        if (index_text.empty() || index_text.size() > 2 ||
            index_text.find_first_not_of("0123456789") != std::string::npos ||
            (idx = static_cast<unsigned>(std::stoul(index_text))) > 23)
          return InvalidArgument("pcrs." + bank_name + ": \"" + index_text + "\" is no PCR index 0..23");
        if (!value.is_string()) return InvalidArgument("pcrs." + bank_name + "." + index_text + ": not hex");
        auto v = FromHex(value.get<std::string>());
        if (!v.ok()) return v.error().WithContext("pcrs." + bank_name + "." + index_text);
        b.pcrs.push_back({*bank, static_cast<std::uint8_t>(idx), std::move(v).value()});
      }
    }
    std::sort(b.pcrs.begin(), b.pcrs.end(), [](const PcrReference& x, const PcrReference& y) {
      return std::pair(TpmId(x.bank), x.index) < std::pair(TpmId(y.bank), y.index);
    });
  }
  if (auto it = j.find("boot_chain"); it != j.end()) {
    if (!it->is_array()) return InvalidArgument("member \"boot_chain\" is not an array");
    for (std::size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string())
        return InvalidArgument("boot_chain[" + std::to_string(i) + "]: not a string");
      auto d = ParseTaggedDigest((*it)[i].get<std::string>());
      if (!d.ok()) return d.error().WithContext("boot_chain[" + std::to_string(i) + "]");
      b.boot_chain.push_back(std::move(d).value());
    }
  }
  return b;
}

}  // namespace

nlohmann::ordered_json RecordToJson(const Record& rec) {
  nlohmann::ordered_json j;
  j["type"] = std::string(RecordTypeName(TypeOf(rec)));
  if (const auto* b = std::get_if<BootReference>(&rec)) {
    j["image"] = b->image;
    nlohmann::ordered_json banks = nlohmann::ordered_json::object();
    for (const auto& p : b->pcrs)
      banks[std::string(HashAlgName(p.bank))][std::to_string(p.index)] = ToHex(p.value);
    j["pcrs"] = std::move(banks);
    nlohmann::ordered_json chain = nlohmann::ordered_json::array();
    for (const auto& d : b->boot_chain) chain.push_back(TaggedDigestText(d));
    j["boot_chain"] = std::move(chain);
  } else if (const auto* f = std::get_if<FileBaseline>(&rec)) {
    j["image"] = f->image;
    j["path"] = f->path;
    j["digest"] = TaggedDigestText(f->digest);
  } else if (const auto* p = std::get_if<PolicyBundle>(&rec)) {
    j["name"] = p->name;
    j["version"] = p->version;
    j["digest"] = TaggedDigestText(p->digest);
    if (!p->content.empty()) j["content_base64"] = ToBase64(p->content);
  } else if (const auto* v = std::get_if<Revocation>(&rec)) {
    j["target"] = HashHex(v->target);
    j["reason"] = v->reason;
  } else if (const auto* c = std::get_if<LogCheckpoint>(&rec)) {
    j["host"] = c->host;
    j["log"] = c->log;
    j["entries"] = c->entries;
    j["aggregate"] = TaggedDigestText(c->aggregate);
  }
  return j;
}

Result<Record> RecordFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return InvalidArgument("a record is a JSON object");
  IMMUNE_ASSIGN_OR_RETURN(std::string type, Str(j, "type"));
  Record rec;
  if (type == "boot_reference") {
    IMMUNE_ASSIGN_OR_RETURN(rec, BootFromJson(j));
  } else if (type == "file_baseline") {
    FileBaseline f;
    IMMUNE_ASSIGN_OR_RETURN(f.image, Str(j, "image"));
    IMMUNE_ASSIGN_OR_RETURN(f.path, Str(j, "path"));
    IMMUNE_ASSIGN_OR_RETURN(f.digest, Digest(j, "digest"));
    rec = std::move(f);
  } else if (type == "policy_bundle") {
    PolicyBundle p;
    IMMUNE_ASSIGN_OR_RETURN(p.name, Str(j, "name"));
    IMMUNE_ASSIGN_OR_RETURN(p.version, U64(j, "version"));
    IMMUNE_ASSIGN_OR_RETURN(p.digest, Digest(j, "digest"));
    IMMUNE_ASSIGN_OR_RETURN(std::string b64, Str(j, "content_base64", false));
    auto c = FromBase64(b64);
    if (!c.ok()) return c.error().WithContext("member \"content_base64\"");
    p.content = std::move(c).value();
    rec = std::move(p);
  } else if (type == "revocation") {
    Revocation v;
    IMMUNE_ASSIGN_OR_RETURN(std::string t, Str(j, "target"));
    IMMUNE_ASSIGN_OR_RETURN(v.target, HashFromHex(t, "member \"target\" (a record id)"));
    IMMUNE_ASSIGN_OR_RETURN(v.reason, Str(j, "reason", false));
    rec = std::move(v);
  } else if (type == "log_checkpoint") {
    LogCheckpoint c;
    IMMUNE_ASSIGN_OR_RETURN(c.host, Str(j, "host"));
    IMMUNE_ASSIGN_OR_RETURN(c.log, Str(j, "log"));
    IMMUNE_ASSIGN_OR_RETURN(c.entries, U64(j, "entries"));
    IMMUNE_ASSIGN_OR_RETURN(c.aggregate, Digest(j, "aggregate"));
    rec = std::move(c);
  } else {
    return InvalidArgument("member \"type\": unknown record type \"" + type + "\"");
  }
  IMMUNE_RETURN_IF_ERROR(ValidateRecord(rec));
  return rec;
}

Result<std::vector<Record>> RecordsFromJsonText(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("not valid JSON");
  const nlohmann::json* arr = &j;
  if (j.is_object()) {
    auto it = j.find("records");
    if (it == j.end()) return InvalidArgument("expected {\"records\": [...]} or an array of records");
    arr = &*it;
  }
  if (!arr->is_array()) return InvalidArgument("\"records\" is not an array");
  std::vector<Record> out;
  out.reserve(arr->size());
  for (std::size_t i = 0; i < arr->size(); ++i) {
    auto r = RecordFromJson((*arr)[i]);
    if (!r.ok()) return r.error().WithContext("record " + std::to_string(i));
    out.push_back(std::move(r).value());
  }
  return out;
}

}  // namespace immune::chain
