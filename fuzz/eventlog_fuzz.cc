// libFuzzer target: the event log parser, replay and event data decoding on
// arbitrary bytes. Every path must return (an Error is fine), never crash,
// read out of bounds or allocate without bound, and all JSON must dump
// (valid UTF-8).
#include <cstddef>
#include <cstdint>
#include <string>

#include "immune/boot/event_data.h"
#include "immune/boot/event_log.h"
#include "immune/boot/replay.h"

namespace {

using immune::boot::Event;

// Event types with a decoder; the fuzzer also feeds them raw bytes directly,
// since few mutated logs still parse far enough to reach every decoder.
constexpr std::uint32_t kDecodedTypes[] = {
    immune::boot::EV_EFI_VARIABLE_DRIVER_CONFIG,
    immune::boot::EV_EFI_VARIABLE_BOOT,
    immune::boot::EV_EFI_VARIABLE_AUTHORITY,
    immune::boot::EV_EFI_BOOT_SERVICES_APPLICATION,
    immune::boot::EV_IPL,
    immune::boot::EV_EFI_ACTION,
    immune::boot::EV_SEPARATOR,
    immune::boot::EV_NO_ACTION,
    immune::boot::EV_POST_CODE,
    immune::boot::EV_EFI_PLATFORM_FIRMWARE_BLOB,
    immune::boot::EV_EFI_PLATFORM_FIRMWARE_BLOB2,
    immune::boot::EV_S_CRTM_VERSION,
    immune::boot::EV_EFI_GPT_EVENT,
    immune::boot::EV_EFI_HANDOFF_TABLES,
    immune::boot::EV_EFI_HANDOFF_TABLES2,
    immune::boot::EV_EVENT_TAG,
};

void CheckDecodes(const Event& ev) {
  const std::string json = immune::boot::EventToJson(ev).dump();
  const std::string text = immune::boot::EventToText(ev);
  if (json.empty() || text.empty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto log = immune::boot::ParseEventLog(immune::ByteSpan(data, size));
  if (log.ok()) {
    auto pcrs = immune::boot::ReplayEventLog(*log);
    (void)pcrs;
    (void)immune::boot::StartupLocality(*log);
    for (const Event& ev : log->events) CheckDecodes(ev);
    return 0;
  }
  if (size == 0) return 0;
  Event ev;
  ev.type = kDecodedTypes[data[0] % std::size(kDecodedTypes)];
  ev.data.assign(data + 1, data + size);
  CheckDecodes(ev);
  return 0;
}
