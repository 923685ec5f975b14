// Decoding the data of an event into structured JSON: what a verifier needs
// to appraise it (EFI variables with GUID and UTF-16 name, image loads with
// device paths, GRUB/shim/systemd-boot EV_IPL strings, EV_EFI_ACTION text,
// separators, StartupLocality and SP800-155 EV_NO_ACTION events, POST codes,
// firmware blobs, H-CRTM, GPT tables, handoff tables, signature lists).
//
// Decoding never fails: data that does not parse as its type says is shown
// as {"raw": "hex", "error": "why"}, because a log with odd event data is
// still a log whose digests replay. Event data is untrusted: every length is
// bounds-checked.
#ifndef IMMUNE_BOOT_EVENT_DATA_H_
#define IMMUNE_BOOT_EVENT_DATA_H_

#include <nlohmann/json.hpp>

#include "immune/boot/event_log.h"

namespace immune::boot {

nlohmann::json DecodeEventData(const Event& event);

// {"index":N,"pcr":N,"type":"EV_...","digests":{"sha256":"hex",...},"data":{...}}
// with the members in that order and the digests in the order logged.
nlohmann::ordered_json EventToJson(const Event& event);

// One line per event for people: "12 PCR7 EV_EFI_VARIABLE_DRIVER_CONFIG
// sha256:ab12.. SecureBoot=1"; a short summary of the decoded data.
std::string EventToText(const Event& event);

}  // namespace immune::boot

#endif  // IMMUNE_BOOT_EVENT_DATA_H_
