#include "immune/tsb/measurement_entry.h"

#include <string>

namespace immune::tsb {
namespace {

void PutU32Le(Bytes& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// Appends a u32-LE-length-prefixed field whose value is built by `fill`.
template <typename F>
void AppendField(Bytes& out, F&& fill) {
  const std::size_t at = out.size();
  PutU32Le(out, 0);
  fill(out);
  const auto len = static_cast<std::uint32_t>(out.size() - at - 4);
  for (int i = 0; i < 4; ++i)
    out[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(len >> (8 * i));
}

void AppendStr(Bytes& out, std::string_view s) {
  const auto b = AsBytes(s);
  out.insert(out.end(), b.begin(), b.end());
}

void AppendCStr(Bytes& out, std::string_view s) {
  AppendStr(out, s);
  out.push_back(0);
}

Status NoNul(std::string_view field, std::string_view s) {
  if (s.find('\0') != std::string_view::npos)
    return InvalidArgument("entry field '" + std::string(field) + "' contains a NUL byte");
  return OkStatus();
}

}  // namespace

std::string_view DecisionName(Decision d) {
  switch (d) {
    case Decision::kAllow: return "allow";
    case Decision::kDeny: return "deny";
    case Decision::kAudit: return "audit";
  }
  return "?";
}

std::optional<Decision> DecisionFromName(std::string_view name) {
  if (name == "allow") return Decision::kAllow;
  if (name == "deny") return Decision::kDeny;
  if (name == "audit") return Decision::kAudit;
  return std::nullopt;
}

std::string_view TemplateName(TemplateKind t) {
  switch (t) {
    case TemplateKind::kImaNg: return "ima-ng";
    case TemplateKind::kImaSig: return "ima-sig";
    case TemplateKind::kImmuneCt: return "immune-ct";
  }
  return "?";
}

std::optional<TemplateKind> TemplateFromName(std::string_view name) {
  if (name == "ima-ng") return TemplateKind::kImaNg;
  if (name == "ima-sig") return TemplateKind::kImaSig;
  if (name == "immune-ct") return TemplateKind::kImmuneCt;
  return std::nullopt;
}

std::string_view ImaHashName(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSm3_256: return "sm3";
    case HashAlg::kSha3_256: return "sha3-256";
    case HashAlg::kSha3_384: return "sha3-384";
    case HashAlg::kSha3_512: return "sha3-512";
    default: return HashAlgName(alg);
  }
}

Status ValidateEntry(const MeasurementEntry& e) {
  if (!e.is_host() && e.template_kind != TemplateKind::kImmuneCt) {
    return InvalidArgument("entry of container '" + e.container_id +
                           "' must use the immune-ct template (ima-ng/ima-sig cannot name the container)");
  }
  if (e.file_digest.size() != DigestSize(e.file_hash_alg)) {
    return InvalidArgument("entry file digest has " + std::to_string(e.file_digest.size()) + " bytes; " +
                           std::string(HashAlgName(e.file_hash_alg)) + " needs " +
                           std::to_string(DigestSize(e.file_hash_alg)));
  }
  if (!e.signature.empty() && e.template_kind != TemplateKind::kImaSig) {
    return InvalidArgument("entry has a signature but template " +
                           std::string(TemplateName(e.template_kind)) + " has no sig field");
  }
  IMMUNE_RETURN_IF_ERROR(NoNul("path", e.path));
  IMMUNE_RETURN_IF_ERROR(NoNul("container_id", e.container_id));
  IMMUNE_RETURN_IF_ERROR(NoNul("image", e.image));
  IMMUNE_RETURN_IF_ERROR(NoNul("exe", e.exe));
  IMMUNE_RETURN_IF_ERROR(NoNul("rule", e.rule));
  return OkStatus();
}

Result<Bytes> BuildTemplateData(const MeasurementEntry& e) {
  IMMUNE_RETURN_IF_ERROR(ValidateEntry(e));
  Bytes out;
  out.reserve(64 + e.path.size() + e.file_digest.size() + e.signature.size() + e.exe.size() + e.rule.size() +
              e.container_id.size() + e.image.size());
  AppendField(out, [&](Bytes& o) {
    AppendStr(o, ImaHashName(e.file_hash_alg));
    o.push_back(':');
    o.push_back(0);
    o.insert(o.end(), e.file_digest.begin(), e.file_digest.end());
  });
  AppendField(out, [&](Bytes& o) { AppendCStr(o, e.path); });
  switch (e.template_kind) {
    case TemplateKind::kImaNg: break;
    case TemplateKind::kImaSig:
      AppendField(out, [&](Bytes& o) { o.insert(o.end(), e.signature.begin(), e.signature.end()); });
      break;
    case TemplateKind::kImmuneCt:
      AppendField(out, [&](Bytes& o) { AppendCStr(o, e.container_id); });
      AppendField(out, [&](Bytes& o) { AppendCStr(o, e.image); });
      AppendField(out, [&](Bytes& o) {
        PutU32Le(o, e.pid);
        AppendCStr(o, e.exe);
      });
      AppendField(out, [&](Bytes& o) {
        AppendStr(o, DecisionName(e.decision));
        o.push_back(':');
        AppendCStr(o, e.rule);
      });
      break;
  }
  return out;
}

Result<Bytes> TemplateHash(HashAlg bank, ByteSpan template_data) { return Hash(bank, template_data); }

}  // namespace immune::tsb
