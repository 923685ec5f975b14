#include "ima_template.h"

#include <algorithm>
#include <string>

#include "immune/core/ima_signature.h"

namespace immune::tsb::internal {
namespace {

struct NamedField {
  std::string_view id;
  FieldKind kind;
};

constexpr NamedField kFields[] = {
    {"d", FieldKind::kDigest},
    {"d-ng", FieldKind::kDigestNg},
    {"d-ngv2", FieldKind::kDigestNgV2},
    {"d-modsig", FieldKind::kDigestModsig},
    {"n", FieldKind::kName},
    {"n-ng", FieldKind::kNameNg},
    {"sig", FieldKind::kSig},
    {"buf", FieldKind::kBuf},
    {"modsig", FieldKind::kModsig},
    {"evmsig", FieldKind::kEvmSig},
    {"xattrnames", FieldKind::kXattrNames},
    {"xattrlengths", FieldKind::kXattrLengths},
    {"xattrvalues", FieldKind::kXattrValues},
    {"iuid", FieldKind::kUid},
    {"igid", FieldKind::kGid},
    {"imode", FieldKind::kMode},
};

struct BuiltinTemplate {
  std::string_view name;
  std::string_view format;
};

// ima_template.c: builtin_templates[].
constexpr BuiltinTemplate kBuiltins[] = {
    {"ima", "d|n"},
    {"ima-ng", "d-ng|n-ng"},
    {"ima-ngv2", "d-ngv2|n-ng"},
    {"ima-sig", "d-ng|n-ng|sig"},
    {"ima-sigv2", "d-ngv2|n-ng|sig"},
    {"ima-buf", "d-ng|n-ng|buf"},
    {"ima-modsig", "d-ng|n-ng|sig|d-modsig|modsig"},
    {"evm-sig", "d-ng|n-ng|evmsig|xattrnames|xattrlengths|xattrvalues|iuid|igid|imode"},
};

std::optional<FieldKind> FieldFromId(std::string_view id) {
  for (const auto& f : kFields) {
    if (f.id == id) return f.kind;
  }
  return std::nullopt;
}

// Parses "a|b|c"; known == false if any id is unknown or there are too many.
TemplateDesc ParseFormat(std::string_view format) {
  TemplateDesc d;
  while (true) {
    const std::size_t bar = format.find('|');
    const std::string_view id = format.substr(0, bar);
    const auto kind = FieldFromId(id);
    if (!kind || d.num_fields == kMaxTemplateFields) return TemplateDesc{};
    d.fields[d.num_fields++] = *kind;
    if (bar == std::string_view::npos) break;
    format.remove_prefix(bar + 1);
  }
  d.known = true;
  return d;
}

bool IsAlgNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// Decodes a digest field: "algo:" NUL digest, "type:algo:" NUL digest (v2),
// or a bare SHA-1/MD5 digest (kind d, or d-ng of kernels before 3.13 for
// sha1/md5).
Status DecodeDigestField(ByteSpan data, FieldKind kind, const ImaParseOptions& options, ImaEntry& e) {
  std::string_view type;
  std::string_view alg_name;
  ByteSpan digest = data;
  bool prefixed = false;
  if (kind != FieldKind::kDigest) {
    const auto nul = std::find(data.begin(), data.end(), std::uint8_t{0});
    if (nul != data.end() && nul != data.begin() && *(nul - 1) == ':') {
      std::string_view prefix = AsString(data.first(static_cast<std::size_t>(nul - data.begin()) - 1));
      if (kind == FieldKind::kDigestNgV2) {
        const std::size_t colon = prefix.find(':');
        if (colon != std::string_view::npos) {
          type = prefix.substr(0, colon);
          prefix.remove_prefix(colon + 1);
        }
      }
      prefixed = !prefix.empty() && std::all_of(prefix.begin(), prefix.end(), IsAlgNameChar) &&
                 std::all_of(type.begin(), type.end(), IsAlgNameChar);
      if (prefixed) {
        alg_name = prefix;
        digest = data.subspan(static_cast<std::size_t>(nul - data.begin()) + 1);
      }
    }
    if (kind == FieldKind::kDigestNgV2 && prefixed && type.empty()) {
      return Corruption("d-ngv2 field has no digest type (\"ima:\" or \"verity:\")");
    }
  }
  if (!prefixed) {
    if (data.size() == 20) {
      alg_name = "sha1";
    } else if (data.size() == 16) {
      alg_name = "md5";
    } else {
      return Corruption("digest field of " + std::to_string(data.size()) +
                        " bytes has no \"algorithm:\" prefix and is not a SHA-1 or MD5 digest");
    }
  }
  const std::optional<HashAlg> alg = HashAlgFromImaName(alg_name);
  if (!alg) {
    if (!options.allow_unsupported_file_hash) {
      return Unsupported(std::string(IsKnownImaHashName(alg_name) ? "unsupported" : "unknown") +
                         " file hash algorithm '" + PrintableForMessage(alg_name) + "'");
    }
  } else if (digest.size() != DigestSize(*alg)) {
    return Corruption("file digest of " + std::to_string(digest.size()) + " bytes does not fit " +
                      std::string(alg_name) + " (" + std::to_string(DigestSize(*alg)) + " bytes)");
  }
  e.digest_type = type;
  e.file_hash_alg_name = alg_name;
  e.file_hash_alg = alg;
  e.file_digest = digest;
  return OkStatus();
}

Result<std::string_view> DecodeString(ByteSpan data) {
  if (data.empty()) return std::string_view{};
  if (data.back() != 0) return Corruption("name field is not NUL-terminated");
  return AsString(data.first(data.size() - 1));
}

}  // namespace

std::string PrintableForMessage(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (s.size() > 40) out += "...";
  return out;
}

TemplateDesc LookupTemplate(std::string_view name) {
  for (const auto& b : kBuiltins) {
    if (b.name == name) {
      TemplateDesc d = ParseFormat(b.format);
      d.legacy_ima = name == "ima";
      return d;
    }
  }
  return ParseFormat(name);
}

// The kernel's hash_algo table lives in core (core/ima_signature.h): walked
// by id until the names run out.
std::optional<HashAlg> HashAlgFromImaName(std::string_view name) {
  for (unsigned id = 0; id < 256 && !immune::ImaHashAlgoName(static_cast<std::uint8_t>(id)).empty(); ++id) {
    if (immune::ImaHashAlgoName(static_cast<std::uint8_t>(id)) == name)
      return immune::HashAlgFromImaHashAlgo(static_cast<std::uint8_t>(id));
  }
  if (name == "sm3_256" || name == "sm3-256") return HashAlg::kSm3_256;
  if (name == "sha3_256") return HashAlg::kSha3_256;
  if (name == "sha3_384") return HashAlg::kSha3_384;
  if (name == "sha3_512") return HashAlg::kSha3_512;
  return std::nullopt;
}

bool IsKnownImaHashName(std::string_view name) {
  for (unsigned id = 0; id < 256 && !immune::ImaHashAlgoName(static_cast<std::uint8_t>(id)).empty(); ++id) {
    if (immune::ImaHashAlgoName(static_cast<std::uint8_t>(id)) == name) return true;
  }
  return HashAlgFromImaName(name).has_value();
}

std::optional<HashAlg> HashAlgFromImaId(std::uint8_t id) { return immune::HashAlgFromImaHashAlgo(id); }

std::string_view ImaHashAlgoName(std::uint8_t id) { return immune::ImaHashAlgoName(id); }

std::optional<HashAlg> BankForDigestSize(std::size_t size) {
  switch (size) {
    case 20: return HashAlg::kSha1;
    case 32: return HashAlg::kSha256;
    case 48: return HashAlg::kSha384;
    case 64: return HashAlg::kSha512;
    default: return std::nullopt;
  }
}

Status DecodeTemplateData(const TemplateDesc& desc, bool big_endian, const ImaParseOptions& options,
                          ImaEntry& e) {
  if (desc.legacy_ima) {
    // 20-byte SHA-1 digest, u32 name length, name (no NUL).
    ByteReader r(e.template_data);
    auto digest = r.Take(20);
    auto len = ReadU32(r, big_endian);
    if (!digest || !len) return Corruption("\"ima\" template data is shorter than 24 bytes");
    if (*len > 255)
      return Corruption("\"ima\" template name length " + std::to_string(*len) + " exceeds 255");
    auto name = r.Take(*len);
    if (!name || !r.empty())
      return Corruption("\"ima\" template name length " + std::to_string(*len) +
                        " does not fit the template data");
    e.file_hash_alg = HashAlg::kSha1;
    e.file_hash_alg_name = "sha1";
    e.file_digest = *digest;
    e.path = AsString(*name);
    e.decoded = true;
    return OkStatus();
  }
  ByteReader r(e.template_data);
  std::size_t field = 0;
  bool have_digest = false;
  while (!r.empty()) {
    const std::size_t at = r.offset();
    auto len = ReadU32(r, big_endian);
    if (!len) return Corruption("template data ends inside the length of field " + std::to_string(field));
    auto data = r.Take(*len);
    if (!data) {
      return Corruption("field " + std::to_string(field) + " length " + std::to_string(*len) +
                        " at data byte " + std::to_string(at) + " runs past the template data (" +
                        std::to_string(e.template_data.size()) + " bytes)");
    }
    if (desc.known) {
      if (field >= desc.num_fields) {
        return Corruption("template data has more than the " + std::to_string(desc.num_fields) +
                          " fields of template '" + PrintableForMessage(e.template_name) + "'");
      }
      switch (desc.fields[field]) {
        case FieldKind::kDigest:
        case FieldKind::kDigestNg:
        case FieldKind::kDigestNgV2:
          if (!have_digest) {
            IMMUNE_RETURN_IF_ERROR(DecodeDigestField(*data, desc.fields[field], options, e));
            have_digest = true;
          }
          break;
        case FieldKind::kName:
        case FieldKind::kNameNg: {
          IMMUNE_ASSIGN_OR_RETURN(e.path, DecodeString(*data));
          break;
        }
        case FieldKind::kSig: e.signature = *data; break;
        case FieldKind::kBuf: e.buf = *data; break;
        case FieldKind::kModsig: e.modsig = *data; break;
        case FieldKind::kEvmSig: e.evm_signature = *data; break;
        default: break;
      }
    }
    ++field;
  }
  if (desc.known && field != desc.num_fields) {
    return Corruption("template data has " + std::to_string(field) + " fields, template '" +
                      PrintableForMessage(e.template_name) + "' has " + std::to_string(desc.num_fields));
  }
  e.decoded = desc.known;
  return OkStatus();
}

Status FinishImaLog(ImaLog& log, const ImaParseOptions& options, std::size_t digest_size) {
  // Lists mostly repeat one template: look each name up once in a row.
  std::string_view last_name;
  TemplateDesc desc;
  for (ImaEntry& e : log.entries) {
    e.violation = std::all_of(e.template_digest.begin(), e.template_digest.end(),
                              [](std::uint8_t b) { return b == 0; });
    if (e.template_name != last_name || last_name.empty()) {
      desc = LookupTemplate(e.template_name);
      last_name = e.template_name;
    }
    Status s = DecodeTemplateData(desc, log.big_endian, options, e);
    if (!s.ok()) return s.error().WithContext(DescribeEntry(log, e));
  }
  if (options.bank) {
    log.bank = *options.bank;
    return OkStatus();
  }
  const auto bank = BankForDigestSize(digest_size);
  if (!bank) {
    return Corruption("template digests of " + std::to_string(digest_size) +
                      " bytes match no hash algorithm");
  }
  log.bank = *bank;
  if (digest_size == DigestSize(HashAlg::kSm3_256)) {
    // sha256 and sm3_256 digests have the same size: keep sha256 unless the
    // first real entry hashes to its recorded digest only with sm3_256.
    for (const ImaEntry& e : log.entries) {
      if (e.violation) continue;
      std::array<std::uint8_t, kMaxDigestSize> d{};
      if (ComputeTemplateDigest(e, HashAlg::kSha256, d).ok() &&
          std::equal(e.template_digest.begin(), e.template_digest.end(), d.begin())) {
        break;
      }
      if (ComputeTemplateDigest(e, HashAlg::kSm3_256, d).ok() &&
          std::equal(e.template_digest.begin(), e.template_digest.end(), d.begin())) {
        log.bank = HashAlg::kSm3_256;
      }
      break;
    }
  }
  return OkStatus();
}

}  // namespace immune::tsb::internal
