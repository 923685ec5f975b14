// Decoding of event data per event type, and the JSON and text forms of an
// event. Decoding never fails: see event_data.h.
#include "immune/boot/event_data.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "event_data_internal.h"
#include "immune/boot/efi_text.h"
#include "immune/boot/spec_id.h"
#include "immune/core/hex.h"

namespace immune::boot {
namespace internal {

nlohmann::json Undecodable(ByteSpan data, const std::string& why) {
  return {{"raw", ToHex(data)}, {"error", why}};
}

}  // namespace internal

namespace {

using internal::Undecodable;
using nlohmann::json;

std::string Hex64(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
  return buf;
}

bool StartsWith(ByteSpan data, std::string_view prefix) {
  return data.size() >= prefix.size() && std::memcmp(data.data(), prefix.data(), prefix.size()) == 0;
}

// A string event (EV_IPL, EV_EFI_ACTION, ...): ASCII, or UTF-16 when it
// looks like it (systemd-boot).
json DecodeString(ByteSpan data) {
  if (data.empty()) return json::object();
  json j;
  if (LooksLikeUtf16(data) && !IsPrintableAscii(data)) {
    j["string"] = Utf16ToUtf8(data);
    j["encoding"] = "utf-16";
  } else if (IsPrintableAscii(data)) {
    j["string"] = AsciiToText(data);
  } else {
    j = Undecodable(data, "not a text string");
  }
  return j;
}

json DecodeIpl(ByteSpan data) {
  json j = DecodeString(data);
  if (!j.contains("string")) return j;
  const std::string s = j["string"].get<std::string>();
  struct Prefix {
    std::string_view text;
    const char* key;
  };
  static constexpr Prefix kPrefixes[] = {{"grub_cmd: ", "grub_cmd"},
                                         {"kernel_cmdline: ", "kernel_cmdline"},
                                         {"grub_kernel_cmdline ", "kernel_cmdline"}};
  for (const Prefix& p : kPrefixes) {
    if (s.compare(0, p.text.size(), p.text) == 0) j[p.key] = s.substr(p.text.size());
  }
  return j;
}

json DecodeSeparator(ByteSpan data) {
  if (data.size() != 4)
    return Undecodable(data, "a separator has 4 bytes, this one " + std::to_string(data.size()));
  ByteReader r(data);
  const std::uint32_t v = *r.U32Le();
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08" PRIx32, v);
  return {{"value", buf}, {"error", v == 0xFFFFFFFFu}};
}

json DecodeFirmwareBlob(ByteSpan data) {
  ByteReader r(data);
  auto base = r.U64Le();
  auto length = r.U64Le();
  if (!base || !length || !r.empty()) return Undecodable(data, "UEFI_PLATFORM_FIRMWARE_BLOB has 16 bytes");
  return {{"blob_base", Hex64(*base)}, {"blob_length", Hex64(*length)}};
}

json DecodeFirmwareBlob2(ByteSpan data) {
  ByteReader r(data);
  auto desc_size = r.U8();
  if (!desc_size) return Undecodable(data, "UEFI_PLATFORM_FIRMWARE_BLOB2 is empty");
  auto desc = r.Take(*desc_size);
  auto base = r.U64Le();
  auto length = r.U64Le();
  if (!desc || !base || !length) return Undecodable(data, "UEFI_PLATFORM_FIRMWARE_BLOB2 is cut short");
  return {
      {"blob_description", AsciiToText(*desc)}, {"blob_base", Hex64(*base)}, {"blob_length", Hex64(*length)}};
}

json DecodePostCode(ByteSpan data) {
  if (data.size() == 16 && !IsPrintableAscii(data)) return DecodeFirmwareBlob(data);
  return DecodeString(data);
}

json DecodeImageLoad(ByteSpan data) {
  ByteReader r(data);
  auto location = r.U64Le();
  auto length = r.U64Le();
  auto link = r.U64Le();
  auto path_len = r.U64Le();
  if (!location || !length || !link || !path_len)
    return Undecodable(data, "UEFI_IMAGE_LOAD_EVENT is cut short");
  json j;
  j["image_location"] = Hex64(*location);
  j["image_length"] = *length;
  j["image_link_time_address"] = Hex64(*link);
  j["device_path_length"] = *path_len;
  if (*path_len > r.remaining()) {
    j["error"] = "LengthOfDevicePath " + std::to_string(*path_len) + " runs past the end of the data";
    j["device_path"] = DevicePathToText(r.rest());
  } else {
    j["device_path"] = DevicePathToText(*r.Take(*path_len));
  }
  return j;
}

json DecodeSpecIdForJson(ByteSpan data) {
  auto spec = ParseSpecIdEvent(data, 0);
  if (!spec.ok()) return Undecodable(data, spec.error().message());
  json algs = json::array();
  for (const SpecIdAlgorithm& a : spec->algorithms) {
    auto alg = HashAlgFromTpmId(a.alg_id);
    algs.push_back({{"algorithm_id", alg ? std::string(HashAlgName(*alg)) : std::to_string(a.alg_id)},
                    {"digest_size", a.digest_size}});
  }
  return {{"signature", spec->signature},
          {"platform_class", spec->platform_class},
          {"spec_version_minor", spec->spec_version_minor},
          {"spec_version_major", spec->spec_version_major},
          {"spec_errata", spec->spec_errata},
          {"uintn_size", spec->uintn_size},
          {"algorithms", std::move(algs)},
          {"vendor_info", ToHex(spec->vendor_info)}};
}

// A length-prefixed (u8) string of the SP800-155 event.
bool ReadShortString(ByteReader& r, json& j, const char* key) {
  auto n = r.U8();
  if (!n) return false;
  auto s = r.Take(*n);
  if (!s) return false;
  j[key] = AsciiToText(*s);
  return true;
}

bool ReadLocator(ByteReader& r, json& j, const char* type_key, const char* key) {
  auto type = r.U32Le();
  auto n = r.U32Le();
  if (!type || !n) return false;
  auto s = r.Take(*n);
  if (!s) return false;
  j[type_key] = *type;
  j[key] = IsPrintableAscii(*s) ? AsciiToText(*s) : ToHex(*s);
  return true;
}

json DecodeSp800155(ByteSpan data, bool event3) {
  ByteReader r(data);
  r.Skip(16);
  json j;
  j["signature"] = event3 ? "SP800-155 Event3" : "SP800-155 Event";
  auto manufacturer_id = r.U32Le();
  auto rim_guid = r.Take(16);
  if (!manufacturer_id || !rim_guid) {
    j["error"] = "cut short";
    j["raw"] = ToHex(data);
    return j;
  }
  j["platform_manufacturer_id"] = *manufacturer_id;
  j["reference_manifest_guid"] = GuidToString(*rim_guid);
  bool ok = ReadShortString(r, j, "platform_manufacturer") && ReadShortString(r, j, "platform_model") &&
            ReadShortString(r, j, "platform_version") && ReadShortString(r, j, "firmware_manufacturer");
  if (ok) {
    auto fw_id = r.U32Le();
    ok = fw_id.has_value();
    if (ok) j["firmware_manufacturer_id"] = *fw_id;
  }
  ok = ok && ReadShortString(r, j, "firmware_version");
  if (ok && event3) {
    ok = ReadLocator(r, j, "rim_locator_type", "rim_locator") &&
         ReadLocator(r, j, "platform_cert_locator_type", "platform_cert_locator");
  }
  if (!ok) {
    j["error"] = "cut short";
    j["raw"] = ToHex(data);
  }
  return j;
}

json DecodeNoAction(ByteSpan data) {
  if (LooksLikeSpecIdEvent03(data)) return DecodeSpecIdForJson(data);
  if (StartsWith(data, std::string_view("StartupLocality\0", 16))) {
    if (data.size() != 17) return Undecodable(data, "StartupLocality event has 17 bytes");
    return {{"signature", "StartupLocality"}, {"startup_locality", data[16]}};
  }
  if (StartsWith(data, std::string_view("SP800-155 Event3", 16))) return DecodeSp800155(data, true);
  if (StartsWith(data, std::string_view("SP800-155 Event\0", 16))) return DecodeSp800155(data, false);
  if (StartsWith(data, std::string_view("NvIndexInstance\0", 16))) {
    return {{"signature", "NvIndexInstance"}, {"raw", ToHex(data.subspan(16))}};
  }
  if (StartsWith(data, std::string_view("NvIndexDynamic\0", 15))) {
    return {{"signature", "NvIndexDynamic"}, {"raw", ToHex(data.subspan(15))}};
  }
  return {{"raw", ToHex(data)}};
}

json DecodeCrtmVersion(ByteSpan data) {
  if (LooksLikeUtf16(data)) return {{"string", Utf16ToUtf8(data)}, {"encoding", "utf-16"}};
  if (IsPrintableAscii(data)) return {{"string", AsciiToText(data)}};
  return {{"raw", ToHex(data)}};
}

json DecodeGpt(ByteSpan data) {
  ByteReader r(data);
  auto signature = r.Take(8);
  auto revision = r.U32Le();
  auto header_size = r.U32Le();
  auto header_crc = r.U32Le();
  r.Skip(4);
  auto my_lba = r.U64Le();
  auto alternate_lba = r.U64Le();
  auto first_usable = r.U64Le();
  auto last_usable = r.U64Le();
  auto disk_guid = r.Take(16);
  auto entries_lba = r.U64Le();
  auto entries_count = r.U32Le();
  auto entry_size = r.U32Le();
  auto entries_crc = r.U32Le();
  auto partitions = r.U64Le();
  if (!signature || !revision || !header_size || !header_crc || !my_lba || !alternate_lba || !first_usable ||
      !last_usable || !disk_guid || !entries_lba || !entries_count || !entry_size || !entries_crc ||
      !partitions) {
    return Undecodable(data, "UEFI_GPT_DATA header is cut short");
  }
  json j;
  j["signature"] = AsciiToText(*signature);
  j["revision"] = Hex64(*revision);
  j["header_size"] = *header_size;
  j["my_lba"] = *my_lba;
  j["alternate_lba"] = *alternate_lba;
  j["first_usable_lba"] = *first_usable;
  j["last_usable_lba"] = *last_usable;
  j["disk_guid"] = GuidToString(*disk_guid);
  j["partition_entry_lba"] = *entries_lba;
  j["number_of_partition_entries"] = *entries_count;
  j["size_of_partition_entry"] = *entry_size;
  j["number_of_partitions"] = *partitions;
  if (*entry_size < 128 || *partitions > r.remaining() / *entry_size) {
    j["error"] = "NumberOfPartitions " + std::to_string(*partitions) + " of " + std::to_string(*entry_size) +
                 " bytes runs past the end of the data";
    return j;
  }
  json parts = json::array();
  for (std::uint64_t i = 0; i < *partitions; ++i) {
    ByteReader p(*r.Take(*entry_size));
    ByteSpan type = *p.Take(16);
    ByteSpan unique = *p.Take(16);
    const std::uint64_t start = *p.U64Le();
    const std::uint64_t end = *p.U64Le();
    const std::uint64_t attributes = *p.U64Le();
    parts.push_back({{"partition_type_guid", GuidToString(type)},
                     {"unique_partition_guid", GuidToString(unique)},
                     {"starting_lba", start},
                     {"ending_lba", end},
                     {"attributes", Hex64(attributes)},
                     {"partition_name", Utf16ToUtf8(*p.Take(72))}});
  }
  j["partitions"] = std::move(parts);
  return j;
}

json DecodeHandoffTables(ByteSpan data, bool v2) {
  ByteReader r(data);
  json j;
  if (v2) {
    auto desc_size = r.U8();
    auto desc = desc_size ? r.Take(*desc_size) : std::nullopt;
    if (!desc) return Undecodable(data, "UEFI_HANDOFF_TABLE_POINTERS2 description is cut short");
    j["table_description"] = AsciiToText(*desc);
  }
  auto count = r.U64Le();
  if (!count) return Undecodable(data, "UEFI_HANDOFF_TABLE_POINTERS is cut short");
  if (*count > r.remaining() / 24) {
    return Undecodable(data, "NumberOfTables " + std::to_string(*count) + " runs past the end of the data");
  }
  json tables = json::array();
  for (std::uint64_t i = 0; i < *count; ++i) {
    ByteSpan guid = *r.Take(16);
    tables.push_back({{"vendor_guid", GuidToString(guid)}, {"vendor_table", Hex64(*r.U64Le())}});
  }
  j["number_of_tables"] = *count;
  j["tables"] = std::move(tables);
  return j;
}

json DecodeEventTag(ByteSpan data) {
  ByteReader r(data);
  auto id = r.U32Le();
  auto size = r.U32Le();
  if (!id || !size) return Undecodable(data, "TCG_PCClientTaggedEvent is cut short");
  auto tagged = r.Take(*size);
  if (!tagged) return Undecodable(data, "taggedEventDataSize runs past the end of the data");
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08" PRIx32, *id);
  json j = {{"tagged_event_id", buf}, {"tagged_event_data", ToHex(*tagged)}};
  if (LooksLikeUtf16(*tagged)) j["string"] = Utf16ToUtf8(*tagged);
  return j;
}

}  // namespace

json DecodeEventData(const Event& event) {
  const ByteSpan data(event.data);
  switch (event.type) {
    case EV_EFI_VARIABLE_DRIVER_CONFIG:
    case EV_EFI_VARIABLE_BOOT:
    case EV_EFI_VARIABLE_BOOT2:
    case EV_EFI_VARIABLE_AUTHORITY: return internal::DecodeEfiVariable(data, event.type);
    case EV_EFI_BOOT_SERVICES_APPLICATION:
    case EV_EFI_BOOT_SERVICES_DRIVER:
    case EV_EFI_RUNTIME_SERVICES_DRIVER: return DecodeImageLoad(data);
    case EV_IPL: return DecodeIpl(data);
    case EV_EFI_ACTION:
    case EV_ACTION:
    case EV_EFI_HCRTM_EVENT:
    case EV_OMIT_BOOT_DEVICE_EVENTS: return DecodeString(data);
    case EV_SEPARATOR: return DecodeSeparator(data);
    case EV_NO_ACTION: return DecodeNoAction(data);
    case EV_POST_CODE: return DecodePostCode(data);
    case EV_EFI_PLATFORM_FIRMWARE_BLOB: return DecodeFirmwareBlob(data);
    case EV_EFI_PLATFORM_FIRMWARE_BLOB2: return DecodeFirmwareBlob2(data);
    case EV_S_CRTM_VERSION: return DecodeCrtmVersion(data);
    case EV_EFI_GPT_EVENT:
    case EV_EFI_GPT_EVENT2: return DecodeGpt(data);
    case EV_EFI_HANDOFF_TABLES: return DecodeHandoffTables(data, false);
    case EV_EFI_HANDOFF_TABLES2: return DecodeHandoffTables(data, true);
    case EV_EVENT_TAG: return DecodeEventTag(data);
    default: return {{"raw", ToHex(data)}};
  }
}

nlohmann::ordered_json EventToJson(const Event& event) {
  nlohmann::ordered_json digests = nlohmann::ordered_json::object();
  for (const EventDigest& d : event.digests) digests[std::string(HashAlgName(d.alg))] = ToHex(d.value);
  nlohmann::ordered_json j;
  j["index"] = event.index;
  j["pcr"] = event.pcr;
  j["type"] = EventTypeName(event.type);
  j["digests"] = std::move(digests);
  j["data"] = nlohmann::ordered_json(DecodeEventData(event));
  return j;
}

namespace {

// A short, one-line summary of decoded data for EventToText.
std::string Summary(const Event& event, const json& data) {
  auto str = [&](const char* key) -> std::string {
    auto it = data.find(key);
    if (it == data.end()) return "";
    if (it->is_string()) return it->get<std::string>();
    return it->dump();
  };
  if (data.contains("error") && data.contains("raw")) return "error=" + str("error");
  switch (event.type) {
    case EV_EFI_VARIABLE_DRIVER_CONFIG:
    case EV_EFI_VARIABLE_BOOT:
    case EV_EFI_VARIABLE_BOOT2:
    case EV_EFI_VARIABLE_AUTHORITY: {
      std::string s = str("variable_name");
      if (auto it = data.find("value"); it != data.end()) {
        if (it->is_number()) {
          s += "=" + it->dump();
        } else if (it->is_object() && it->contains("description")) {
          s += "=" + (*it)["description"].get<std::string>() + " " + (*it).value("device_path", "");
        } else if (it->is_array()) {
          s += " (" + std::to_string(it->size()) + " entries)";
        }
      }
      return s;
    }
    case EV_EFI_BOOT_SERVICES_APPLICATION:
    case EV_EFI_BOOT_SERVICES_DRIVER:
    case EV_EFI_RUNTIME_SERVICES_DRIVER: return str("device_path");
    case EV_SEPARATOR: return str("value");
    case EV_EFI_PLATFORM_FIRMWARE_BLOB:
    case EV_EFI_PLATFORM_FIRMWARE_BLOB2: return "base=" + str("blob_base") + " length=" + str("blob_length");
    case EV_NO_ACTION: return str("signature");
    default: return str("string");
  }
}

}  // namespace

std::string EventToText(const Event& event) {
  std::string s =
      std::to_string(event.index) + " PCR" + std::to_string(event.pcr) + " " + EventTypeName(event.type);
  for (const EventDigest& d : event.digests) {
    s += " ";
    s += HashAlgName(d.alg);
    s += ":" + ToHex(d.value);
  }
  const std::string summary = Summary(event, DecodeEventData(event));
  if (!summary.empty()) {
    s += " ";
    // Keep the line on one line.
    for (char c : summary) s += (c == '\n' || c == '\r') ? ' ' : c;
  }
  return s;
}

}  // namespace immune::boot
