// TCG PC Client Platform Firmware Profile event logs: the legacy SHA1 format
// (TCG_PCR_EVENT only) and the crypto-agile format (a TCG_PCR_EVENT carrying
// the "Spec ID Event03" header, then TCG_PCR_EVENT2 records with one digest
// per bank the header lists).
//
// The parser treats its input as untrusted: every length is checked against
// the bytes that remain, and a failure is a kCorruption (or kUnsupported for
// an unknown algorithm) Error whose message names the event index and the
// byte offset, e.g. "event 12 at byte 4096: event data size 65536 runs past
// the end of the log (4120 bytes left)". It never aborts or reads out of
// bounds.
//
// Thread safety: pure functions over values.
#ifndef IMMUNE_BOOT_EVENT_LOG_H_
#define IMMUNE_BOOT_EVENT_LOG_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"

namespace immune::boot {

// Event types (TCG PC Client PFP, section 10.4.1).
enum EventType : std::uint32_t {
  EV_PREBOOT_CERT = 0x00000000,
  EV_POST_CODE = 0x00000001,
  EV_UNUSED = 0x00000002,
  EV_NO_ACTION = 0x00000003,
  EV_SEPARATOR = 0x00000004,
  EV_ACTION = 0x00000005,
  EV_EVENT_TAG = 0x00000006,
  EV_S_CRTM_CONTENTS = 0x00000007,
  EV_S_CRTM_VERSION = 0x00000008,
  EV_CPU_MICROCODE = 0x00000009,
  EV_PLATFORM_CONFIG_FLAGS = 0x0000000A,
  EV_TABLE_OF_DEVICES = 0x0000000B,
  EV_COMPACT_HASH = 0x0000000C,
  EV_IPL = 0x0000000D,
  EV_IPL_PARTITION_DATA = 0x0000000E,
  EV_NONHOST_CODE = 0x0000000F,
  EV_NONHOST_CONFIG = 0x00000010,
  EV_NONHOST_INFO = 0x00000011,
  EV_OMIT_BOOT_DEVICE_EVENTS = 0x00000012,
  EV_POST_CODE2 = 0x00000013,
  EV_EFI_EVENT_BASE = 0x80000000,
  EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001,
  EV_EFI_VARIABLE_BOOT = 0x80000002,
  EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003,
  EV_EFI_BOOT_SERVICES_DRIVER = 0x80000004,
  EV_EFI_RUNTIME_SERVICES_DRIVER = 0x80000005,
  EV_EFI_GPT_EVENT = 0x80000006,
  EV_EFI_ACTION = 0x80000007,
  EV_EFI_PLATFORM_FIRMWARE_BLOB = 0x80000008,
  EV_EFI_HANDOFF_TABLES = 0x80000009,
  EV_EFI_PLATFORM_FIRMWARE_BLOB2 = 0x8000000A,
  EV_EFI_HANDOFF_TABLES2 = 0x8000000B,
  EV_EFI_VARIABLE_BOOT2 = 0x8000000C,
  EV_EFI_GPT_EVENT2 = 0x8000000D,
  EV_EFI_HCRTM_EVENT = 0x80000010,
  EV_EFI_VARIABLE_AUTHORITY = 0x800000E0,
  EV_EFI_SPDM_FIRMWARE_BLOB = 0x800000E1,
  EV_EFI_SPDM_FIRMWARE_CONFIG = 0x800000E2,
};

// The tpm2-tools spelling ("EV_EFI_VARIABLE_DRIVER_CONFIG"); for a type this
// table does not know, the same fallback tpm2_eventlog prints.
std::string EventTypeName(std::uint32_t type);

enum class LogFormat { kSha1Legacy, kCryptoAgile };

struct EventDigest {
  HashAlg alg;
  Bytes value;
};

struct Event {
  std::uint32_t index = 0;           // 0-based position in the log (header event included)
  std::size_t offset = 0;            // byte offset of the event's first byte
  std::uint32_t pcr = 0;             // PCRIndex as logged (0xFFFFFFFF in Windows trailers)
  std::uint32_t type = 0;            // EventType
  std::vector<EventDigest> digests;  // in the order logged
  Bytes data;                        // the event data as logged

  // The digest for `alg`, or nullptr.
  const Bytes* DigestFor(HashAlg alg) const;
};

struct SpecIdAlgorithm {
  std::uint16_t alg_id = 0;
  std::uint16_t digest_size = 0;
};

// TCG_EfiSpecIDEventStruct from the first event of a crypto-agile log.
struct SpecId {
  std::string signature;  // "Spec ID Event03"
  std::uint32_t platform_class = 0;
  std::uint8_t spec_version_minor = 0;
  std::uint8_t spec_version_major = 0;
  std::uint8_t spec_errata = 0;
  std::uint8_t uintn_size = 0;
  std::vector<SpecIdAlgorithm> algorithms;
  Bytes vendor_info;
};

struct EventLog {
  LogFormat format = LogFormat::kSha1Legacy;
  std::optional<SpecId> spec_id;  // crypto-agile logs only
  std::vector<HashAlg> banks;     // banks the log carries, in header order
  std::vector<Event> events;      // every event, the header event first
};

// Parses a whole log. Trailing bytes that are all 0x00 or all 0xFF (padding
// left by firmware or by a fixed-size capture) end the log; anything else
// that does not parse as a complete event is an error.
Result<EventLog> ParseEventLog(ByteSpan bytes);

}  // namespace immune::boot

#endif  // IMMUNE_BOOT_EVENT_LOG_H_
