#include "immune/tsb/log_export.h"

#include <nlohmann/json.hpp>
#include <string>

#include "entry_json.h"
#include "immune/core/hex.h"

namespace immune::tsb {
namespace {

void PutU32Le(Bytes& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::string DigestField(const MeasurementEntry& e) {
  return std::string(ImaHashName(e.file_hash_alg)) + ":" + ToHex(e.file_digest);
}

}  // namespace

Result<std::string> ExportImaAscii(std::span<const MeasurementEntry> entries, HashAlg bank) {
  std::string out;
  for (const MeasurementEntry& e : entries) {
    IMMUNE_ASSIGN_OR_RETURN(Bytes data, BuildTemplateData(e));
    IMMUNE_ASSIGN_OR_RETURN(Bytes th, TemplateHash(bank, data));
    out += std::to_string(e.pcr);
    out += ' ';
    out += ToHex(th);
    out += ' ';
    out += TemplateName(e.template_kind);
    out += ' ';
    out += DigestField(e);
    out += ' ';
    out += e.path;
    switch (e.template_kind) {
      case TemplateKind::kImaNg: break;
      case TemplateKind::kImaSig:
        // The kernel prints a separator before every field, also an empty sig.
        out += ' ';
        out += ToHex(e.signature);
        break;
      case TemplateKind::kImmuneCt:
        out += ' ' + e.container_id + ' ' + e.image + ' ' + std::to_string(e.pid) + ':' + e.exe + ' ' +
               std::string(DecisionName(e.decision)) + ':' + e.rule;
        break;
    }
    out += '\n';
  }
  return out;
}

Result<Bytes> ExportImaBinary(std::span<const MeasurementEntry> entries, HashAlg bank) {
  Bytes out;
  for (const MeasurementEntry& e : entries) {
    IMMUNE_ASSIGN_OR_RETURN(Bytes data, BuildTemplateData(e));
    IMMUNE_ASSIGN_OR_RETURN(Bytes th, TemplateHash(bank, data));
    PutU32Le(out, e.pcr);
    out.insert(out.end(), th.begin(), th.end());
    const std::string_view name = TemplateName(e.template_kind);
    PutU32Le(out, static_cast<std::uint32_t>(name.size()));
    out.insert(out.end(), name.begin(), name.end());
    PutU32Le(out, static_cast<std::uint32_t>(data.size()));
    out.insert(out.end(), data.begin(), data.end());
  }
  return out;
}

Result<std::string> ExportJson(std::span<const MeasurementEntry> entries, std::span<const HashAlg> banks,
                               int indent) {
  nlohmann::json list = nlohmann::json::array();
  for (const MeasurementEntry& e : entries) {
    IMMUNE_ASSIGN_OR_RETURN(Bytes data, BuildTemplateData(e));
    nlohmann::json j = internal::EntryToJson(e);
    nlohmann::json th = nlohmann::json::object();
    for (HashAlg b : banks) {
      IMMUNE_ASSIGN_OR_RETURN(Bytes h, TemplateHash(b, data));
      th[std::string(HashAlgName(b))] = ToHex(h);
    }
    j["template_hash"] = std::move(th);
    j["template_data"] = ToHex(data);
    list.push_back(std::move(j));
  }
  nlohmann::json root;
  root["entries"] = std::move(list);
  return root.dump(indent);
}

}  // namespace immune::tsb
