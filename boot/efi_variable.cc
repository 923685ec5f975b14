// Decoding of UEFI_VARIABLE_DATA (EV_EFI_VARIABLE_*) and of the variables a
// verifier looks at: SecureBoot and other booleans, Boot####, BootOrder and
// the signature databases.
#include <cctype>
#include <string>
#include <string_view>

#include "event_data_internal.h"
#include "immune/boot/efi_text.h"
#include "immune/boot/event_log.h"
#include "immune/core/hex.h"

namespace immune::boot::internal {
namespace {

using nlohmann::json;

constexpr std::string_view kEfiGlobalVariable = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
constexpr std::string_view kEfiImageSecurityDatabase = "d719b2cb-3d3a-4596-a3bc-dad00e67656f";
constexpr std::string_view kCertSha256 = "c1c41626-504c-4092-aca9-41f936934328";
constexpr std::string_view kCertX509 = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072";
constexpr std::string_view kCertSha1 = "826ca512-cf10-4ac9-b187-be01496631bd";

std::string Hex4(std::uint16_t v) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string s(4, '0');
  for (int k = 0; k < 4; ++k) s[static_cast<std::size_t>(k)] = kDigits[(v >> (12 - 4 * k)) & 0xF];
  return s;
}

bool IsBootOption(std::string_view name) {
  if (name.size() != 8 || name.substr(0, 4) != "Boot") return false;
  for (char c : name.substr(4)) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

json DecodeLoadOption(ByteSpan data) {
  ByteReader r(data);
  auto attributes = r.U32Le();
  auto path_len = r.U16Le();
  if (!attributes || !path_len) return Undecodable(data, "EFI_LOAD_OPTION header is cut short");
  // Description: NUL-terminated UTF-16.
  const std::size_t desc_start = r.offset();
  std::size_t desc_end = desc_start;
  bool terminated = false;
  while (desc_end + 1 < data.size()) {
    const bool nul = data[desc_end] == 0 && data[desc_end + 1] == 0;
    desc_end += 2;
    if (nul) {
      terminated = true;
      break;
    }
  }
  if (!terminated) return Undecodable(data, "EFI_LOAD_OPTION description is not NUL-terminated");
  r.Skip(desc_end - desc_start);
  auto path = r.Take(*path_len);
  if (!path) {
    return Undecodable(data,
                       "FilePathListLength " + std::to_string(*path_len) + " runs past the end of the data");
  }
  json j;
  j["attributes"] = *attributes;
  j["active"] = (*attributes & 1) != 0;
  j["description"] = Utf16ToUtf8(data.subspan(desc_start, desc_end - desc_start));
  j["device_path"] = DevicePathToText(*path);
  if (!r.empty()) j["optional_data"] = ToHex(r.rest());
  return j;
}

json DecodeBootOrder(ByteSpan data) {
  if (data.size() % 2 != 0) return Undecodable(data, "BootOrder has an odd number of bytes");
  json list = json::array();
  ByteReader r(data);
  while (!r.empty()) list.push_back(Hex4(*r.U16Le()));
  return list;
}

json DecodeSignatureData(std::string_view type, ByteSpan sig) {
  json s;
  s["owner"] = GuidToString(sig.first(16));
  ByteSpan body = sig.subspan(16);
  if (type == kCertSha256 && body.size() == 32) {
    s["sha256"] = ToHex(body);
  } else if (type == kCertSha1 && body.size() == 20) {
    s["sha1"] = ToHex(body);
  } else if (type == kCertX509) {
    s["x509"] = ToBase64(body);
    s["size"] = body.size();
  } else {
    s["data"] = ToHex(body);
  }
  return s;
}

std::string SignatureTypeName(std::string_view guid) {
  if (guid == kCertSha256) return "EFI_CERT_SHA256_GUID";
  if (guid == kCertX509) return "EFI_CERT_X509_GUID";
  if (guid == kCertSha1) return "EFI_CERT_SHA1_GUID";
  return "";
}

bool IsSignatureDatabase(std::string_view guid, std::string_view name) {
  if (guid == kEfiGlobalVariable && (name == "PK" || name == "KEK" || name == "PKDefault" ||
                                     name == "KEKDefault" || name == "dbDefault" || name == "dbxDefault")) {
    return true;
  }
  if (guid == kEfiImageSecurityDatabase)
    return name == "db" || name == "dbx" || name == "dbt" || name == "dbr";
  return name == "MokList" || name == "MokListX" || name == "MokListRT" || name == "MokListXRT";
}

bool IsBooleanVariable(std::string_view name) {
  return name == "SecureBoot" || name == "SetupMode" || name == "AuditMode" || name == "DeployedMode" ||
         name == "MokSBState" || name == "MokListTrusted";
}

}  // namespace

json DecodeSignatureLists(ByteSpan data) {
  json lists = json::array();
  ByteReader r(data);
  while (!r.empty()) {
    const std::size_t at = r.offset();
    auto type = r.Take(16);
    auto list_size = r.U32Le();
    auto header_size = r.U32Le();
    auto sig_size = r.U32Le();
    if (!type || !list_size || !header_size || !sig_size) {
      lists.push_back(Undecodable(
          data.subspan(at), "EFI_SIGNATURE_LIST header at byte " + std::to_string(at) + " is cut short"));
      break;
    }
    const std::uint64_t body = static_cast<std::uint64_t>(*list_size);
    if (body < 28 || body - 28 > r.remaining() || *header_size > body - 28 || *sig_size < 16 ||
        (body - 28 - *header_size) % *sig_size != 0) {
      lists.push_back(Undecodable(data.subspan(at), "EFI_SIGNATURE_LIST at byte " + std::to_string(at) +
                                                        " has inconsistent sizes (list " +
                                                        std::to_string(*list_size) + ", header " +
                                                        std::to_string(*header_size) + ", signature " +
                                                        std::to_string(*sig_size) + ")"));
      break;
    }
    const std::string type_guid = GuidToString(*type);
    json list;
    list["signature_type"] = type_guid;
    if (auto name = SignatureTypeName(type_guid); !name.empty()) list["signature_type_name"] = name;
    r.Skip(*header_size);
    const std::size_t count = (body - 28 - *header_size) / *sig_size;
    json sigs = json::array();
    for (std::size_t i = 0; i < count; ++i)
      sigs.push_back(DecodeSignatureData(type_guid, *r.Take(*sig_size)));
    list["signatures"] = std::move(sigs);
    lists.push_back(std::move(list));
  }
  return lists;
}

json DecodeEfiVariable(ByteSpan data, std::uint32_t event_type) {
  ByteReader r(data);
  auto guid = r.Take(16);
  auto name_len = r.U64Le();
  auto data_len = r.U64Le();
  if (!guid || !name_len || !data_len) return Undecodable(data, "UEFI_VARIABLE_DATA header is cut short");
  if (*name_len > r.remaining() / 2) {
    return Undecodable(data,
                       "UnicodeNameLength " + std::to_string(*name_len) + " runs past the end of the data");
  }
  ByteSpan name_bytes = *r.Take(*name_len * 2);
  json j;
  const std::string guid_text = GuidToString(*guid);
  const std::string name = Utf16ToUtf8(name_bytes);
  j["variable_guid"] = guid_text;
  j["variable_name"] = name;
  j["variable_data_length"] = *data_len;
  // Some firmware logs VariableDataLength larger than what follows (or
  // smaller); decode what is there and say so.
  ByteSpan value = r.rest();
  if (*data_len < value.size()) {
    value = value.first(*data_len);
  } else if (*data_len > value.size()) {
    j["error"] = "VariableDataLength " + std::to_string(*data_len) + " exceeds the " +
                 std::to_string(value.size()) + " bytes that follow";
  }

  json decoded;
  if (event_type == EV_EFI_VARIABLE_AUTHORITY) {
    // One EFI_SIGNATURE_DATA (owner + certificate), or a text (shim's SbatLevel).
    if (value.size() > 16 && value[16] == 0x30) {
      decoded = DecodeSignatureData(kCertX509, value);
    } else if (IsPrintableAscii(value)) {
      decoded = AsciiToText(value);
    }
  } else if (IsBooleanVariable(name) && value.size() == 1) {
    decoded = value[0];
  } else if (guid_text == kEfiGlobalVariable && IsBootOption(name)) {
    decoded = DecodeLoadOption(value);
  } else if (guid_text == kEfiGlobalVariable && name == "BootOrder") {
    decoded = DecodeBootOrder(value);
  } else if (IsSignatureDatabase(guid_text, name) && !value.empty()) {
    decoded = DecodeSignatureLists(value);
  } else if ((name == "BootCurrent" || name == "BootNext") && value.size() == 2) {
    decoded = Hex4(static_cast<std::uint16_t>(value[0] | (value[1] << 8)));
  } else if (name == "SbatLevel" && IsPrintableAscii(value)) {
    decoded = AsciiToText(value);
  }
  if (!decoded.is_null()) j["value"] = std::move(decoded);
  j["variable_data"] = ToHex(value);
  return j;
}

}  // namespace immune::boot::internal
