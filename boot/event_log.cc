// Single-pass parser for TCG PC Client event logs (legacy SHA1 and
// crypto-agile). See event_log.h for the contract.
#include "immune/boot/event_log.h"

#include <string>
#include <utility>

#include "immune/boot/spec_id.h"

namespace immune::boot {
namespace {

constexpr std::size_t kSha1Size = 20;
// TCG_PCR_EVENT: pcrIndex, eventType, digest[20], eventSize.
constexpr std::size_t kLegacyHeaderSize = 4 + 4 + kSha1Size + 4;
// Trailing bytes shorter than this are never taken for padding: a log cut
// inside the PCR index of its next event (00 00 00 or FF FF FF) must stay an
// error. No event header is shorter than 12 bytes (agile, zero digests).
constexpr std::size_t kMinPadding = 12;

std::string Where(std::uint32_t index, std::size_t offset) {
  return "event " + std::to_string(index) + " at byte " + std::to_string(offset) + ": ";
}

Error Truncated(std::uint32_t index, std::size_t event_offset, const char* field, std::size_t field_offset,
                std::size_t need, std::size_t left) {
  return Corruption(Where(index, event_offset) + field + " at byte " + std::to_string(field_offset) +
                    " needs " + std::to_string(need) + " bytes but the log ends (" + std::to_string(left) +
                    " bytes left)");
}

// Where the trailing run of 0x00 (or of 0xFF) bytes begins, or bytes.size()
// when the log does not end in such a run. Computed once, so that checking
// for padding before each event costs O(1).
std::size_t PaddingStart(ByteSpan bytes) {
  std::size_t start = bytes.size();
  if (start == 0 || (bytes[start - 1] != 0x00 && bytes[start - 1] != 0xFF)) return start;
  const std::uint8_t fill = bytes[start - 1];
  while (start > 0 && bytes[start - 1] == fill) --start;
  return start;
}

// Reads the event data size and the data of an event whose fixed fields have
// been read.
Status ReadEventData(ByteReader& r, std::uint32_t index, std::size_t event_offset, Event& ev) {
  const std::size_t size_offset = r.offset();
  auto size = r.U32Le();
  if (!size) return Truncated(index, event_offset, "event data size", size_offset, 4, r.remaining());
  if (*size > r.remaining()) {
    return Corruption(Where(index, event_offset) + "event data size " + std::to_string(*size) + " at byte " +
                      std::to_string(size_offset) + " runs past the end of the log (" +
                      std::to_string(r.remaining()) + " bytes left)");
  }
  ByteSpan data = *r.Take(*size);
  ev.data.assign(data.begin(), data.end());
  return OkStatus();
}

Result<Event> ReadLegacyEvent(ByteReader& r, std::uint32_t index) {
  Event ev;
  ev.index = index;
  ev.offset = r.offset();
  if (r.remaining() < kLegacyHeaderSize) {
    return Truncated(index, ev.offset, "TCG_PCR_EVENT header", ev.offset, kLegacyHeaderSize, r.remaining());
  }
  ev.pcr = *r.U32Le();
  ev.type = *r.U32Le();
  ByteSpan digest = *r.Take(kSha1Size);
  ev.digests.push_back({HashAlg::kSha1, Bytes(digest.begin(), digest.end())});
  IMMUNE_RETURN_IF_ERROR(ReadEventData(r, index, ev.offset, ev));
  return ev;
}

struct BankSlot {
  std::uint16_t alg_id;
  HashAlg alg;
  std::uint16_t size;
};

Result<Event> ReadAgileEvent(ByteReader& r, std::uint32_t index, const std::vector<BankSlot>& slots) {
  Event ev;
  ev.index = index;
  ev.offset = r.offset();
  if (r.remaining() < 12) {
    return Truncated(index, ev.offset, "TCG_PCR_EVENT2 header", ev.offset, 12, r.remaining());
  }
  ev.pcr = *r.U32Le();
  ev.type = *r.U32Le();
  const std::size_t count_offset = r.offset();
  const std::uint32_t count = *r.U32Le();
  // Each digest takes at least its 2-byte algorithm id; a count that cannot
  // fit is rejected before anything is reserved for it.
  if (count > r.remaining() / 2) {
    return Corruption(Where(index, ev.offset) + "digest count " + std::to_string(count) + " at byte " +
                      std::to_string(count_offset) + " runs past the end of the log (" +
                      std::to_string(r.remaining()) + " bytes left)");
  }
  // TCG PC Client PFP: one digest per bank the header lists. Fewer is
  // tolerated (some firmware skips a bank), none or more is not.
  if (count == 0 || count > slots.size()) {
    return Corruption(Where(index, ev.offset) + "digest count " + std::to_string(count) + " at byte " +
                      std::to_string(count_offset) + " is not between 1 and the " +
                      std::to_string(slots.size()) + " banks of the Spec ID header");
  }
  ev.digests.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::size_t alg_offset = r.offset();
    auto alg_id = r.U16Le();
    if (!alg_id) return Truncated(index, ev.offset, "digest algorithm id", alg_offset, 2, r.remaining());
    const BankSlot* slot = nullptr;
    for (const BankSlot& s : slots) {
      if (s.alg_id == *alg_id) {
        slot = &s;
        break;
      }
    }
    if (slot == nullptr) {
      char hex[8];
      static constexpr char kDigits[] = "0123456789abcdef";
      hex[0] = '0';
      hex[1] = 'x';
      for (int k = 0; k < 4; ++k) hex[2 + k] = kDigits[(*alg_id >> (12 - 4 * k)) & 0xF];
      hex[6] = '\0';
      return Unsupported(Where(index, ev.offset) + "digest " + std::to_string(i) + " at byte " +
                         std::to_string(alg_offset) + " uses algorithm " + hex +
                         " which the Spec ID header does not list");
    }
    for (const EventDigest& d : ev.digests) {
      if (d.alg == slot->alg) {
        return Corruption(Where(index, ev.offset) + "digest " + std::to_string(i) + " at byte " +
                          std::to_string(alg_offset) + " repeats algorithm " +
                          std::string(HashAlgName(slot->alg)));
      }
    }
    auto digest = r.Take(slot->size);
    if (!digest) {
      return Truncated(index, ev.offset, (std::string(HashAlgName(slot->alg)) + " digest").c_str(),
                       r.offset(), slot->size, r.remaining());
    }
    ev.digests.push_back({slot->alg, Bytes(digest->begin(), digest->end())});
  }
  IMMUNE_RETURN_IF_ERROR(ReadEventData(r, index, ev.offset, ev));
  return ev;
}

}  // namespace

const Bytes* Event::DigestFor(HashAlg alg) const {
  for (const EventDigest& d : digests) {
    if (d.alg == alg) return &d.value;
  }
  return nullptr;
}

Result<EventLog> ParseEventLog(ByteSpan bytes) {
  EventLog log;
  ByteReader r(bytes);
  if (bytes.empty()) return Corruption("event 0 at byte 0: the event log is empty");

  // The first event is always a TCG_PCR_EVENT; in a crypto-agile log it is
  // the EV_NO_ACTION "Spec ID Event03" header.
  IMMUNE_ASSIGN_OR_RETURN(Event first, ReadLegacyEvent(r, 0));
  std::vector<BankSlot> slots;
  if (first.type == EV_NO_ACTION && LooksLikeSpecIdEvent03(first.data)) {
    const std::size_t data_offset = first.offset + kLegacyHeaderSize;
    auto parsed = ParseSpecIdEvent(first.data, data_offset);
    if (!parsed.ok() && parsed.error().code() == ErrorCode::kCorruption) {
      // Quirk (tpm2-tools' specid-vendordata.bin fixture): an EventSize that
      // leaves out vendorInfo, whose bytes follow the event. Accept it only
      // when the structure then parses completely from the bytes that follow.
      auto extended = ParseSpecIdEvent(bytes.subspan(data_offset), data_offset);
      if (extended.ok()) {
        const std::size_t full = SpecIdStructSize(*extended);
        if (full > first.data.size() && r.Skip(full - first.data.size())) {
          ByteSpan whole = bytes.subspan(data_offset, full);
          first.data.assign(whole.begin(), whole.end());
          parsed = std::move(extended);
        }
      }
    }
    if (!parsed.ok()) return parsed.error();
    SpecId spec = std::move(parsed).value();
    for (const SpecIdAlgorithm& a : spec.algorithms) {
      const auto alg = HashAlgFromTpmId(a.alg_id);  // ParseSpecIdEvent checked it.
      if (!alg) return Internal("Spec ID algorithm vanished");
      slots.push_back({a.alg_id, *alg, a.digest_size});
      log.banks.push_back(*alg);
    }
    log.format = LogFormat::kCryptoAgile;
    log.spec_id = std::move(spec);
  } else {
    log.format = LogFormat::kSha1Legacy;
    log.banks.push_back(HashAlg::kSha1);
  }
  // Events are at least ~50 bytes in practice; a rough reservation avoids
  // most regrowth without trusting anything in the input.
  log.events.reserve(bytes.size() / 64 + 1);
  log.events.push_back(std::move(first));

  // Trailing bytes that are all 0x00 or all 0xFF end the log, if there are
  // enough of them to not be the start of a cut-off event.
  const std::size_t padding_start = PaddingStart(bytes);
  std::uint32_t index = 1;
  while (!r.empty()) {
    if (r.offset() >= padding_start && r.remaining() >= kMinPadding) break;
    if (log.format == LogFormat::kCryptoAgile) {
      IMMUNE_ASSIGN_OR_RETURN(Event ev, ReadAgileEvent(r, index, slots));
      log.events.push_back(std::move(ev));
    } else {
      IMMUNE_ASSIGN_OR_RETURN(Event ev, ReadLegacyEvent(r, index));
      log.events.push_back(std::move(ev));
    }
    ++index;
  }
  return log;
}

}  // namespace immune::boot
