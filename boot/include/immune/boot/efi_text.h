// Text forms of UEFI data found in event logs: GUIDs, UTF-16 strings and
// device paths (UEFI 2.10 section 10.6 "Device Path to Text").
//
// All functions take untrusted bytes, never fail and always return valid
// UTF-8: what does not parse is shown in a visible fallback form.
#ifndef IMMUNE_BOOT_EFI_TEXT_H_
#define IMMUNE_BOOT_EFI_TEXT_H_

#include <string>

#include "immune/core/bytes.h"

namespace immune::boot {

// "8be4df61-93ca-11d2-aa0d-00e098032b8c" (lower case) from the 16-byte
// mixed-endian EFI_GUID; bytes.size() must be 16 (else the hex of the bytes).
std::string GuidToString(ByteSpan bytes);

// UTF-16LE to UTF-8. Stops at the first NUL code unit; an odd trailing byte
// is ignored; an unpaired surrogate becomes U+FFFD.
std::string Utf16ToUtf8(ByteSpan bytes);

// Bytes as text: printable ASCII and valid UTF-8 sequences (GRUB menu
// entries in Chinese) kept, trailing NULs dropped, every other byte written
// as "\xNN", so the result is valid UTF-8.
std::string AsciiToText(ByteSpan bytes);

// True when the bytes (ignoring trailing NULs) are printable ASCII,
// whitespace or valid UTF-8 sequences, and there is at least one.
bool IsPrintableAscii(ByteSpan bytes);

// True when the bytes look like UTF-16LE text: even length (or one extra
// trailing NUL byte), and the high bytes are all zero (Latin-1 range) up to
// an optional NUL terminator.
bool LooksLikeUtf16(ByteSpan bytes);

// The UEFI text form of a device path, nodes joined by '/', instances by
// ','. Nodes this does not know are shown as "Path(type,subtype,hex)"; a node
// whose length is impossible ends the text with "/<invalid node at byte N>".
std::string DevicePathToText(ByteSpan bytes);

}  // namespace immune::boot

#endif  // IMMUNE_BOOT_EFI_TEXT_H_
