// The "Spec ID Event03" header event of a crypto-agile log
// (TCG_EfiSpecIDEventStruct, TCG PC Client PFP section 10.4.5.1).
#ifndef IMMUNE_BOOT_SPEC_ID_H_
#define IMMUNE_BOOT_SPEC_ID_H_

#include <cstddef>

#include "immune/boot/event_log.h"
#include "immune/core/bytes.h"
#include "immune/core/error.h"

namespace immune::boot {

// True if `data` starts with the 16-byte signature "Spec ID Event03\0".
bool LooksLikeSpecIdEvent03(ByteSpan data);

// Parses the event data of the header event. `base_offset` is the byte offset
// of data[0] in the log, for messages. Errors: kCorruption for a truncated or
// inconsistent structure (a digest size that disagrees with the algorithm),
// kUnsupported naming the algorithm id for an algorithm Immune does not know.
// Both name event 0 and a byte offset.
// Bytes beyond the structure are ignored.
Result<SpecId> ParseSpecIdEvent(ByteSpan data, std::size_t base_offset);

// The size in bytes of the TCG_EfiSpecIDEventStruct `spec` was parsed from.
std::size_t SpecIdStructSize(const SpecId& spec);

}  // namespace immune::boot

#endif  // IMMUNE_BOOT_SPEC_ID_H_
