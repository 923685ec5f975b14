// GUID, UTF-16 and ASCII text helpers for event data.
#include "immune/boot/efi_text.h"

#include <string>

#include "immune/core/hex.h"

namespace immune::boot {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

void AppendHexByte(std::string& out, std::uint8_t b) {
  out += kHexDigits[b >> 4];
  out += kHexDigits[b & 0xF];
}

void AppendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::size_t TrimmedSize(ByteSpan bytes) {
  std::size_t n = bytes.size();
  while (n > 0 && bytes[n - 1] == 0) --n;
  return n;
}

bool Printable(std::uint8_t c) { return (c >= 0x20 && c < 0x7F) || c == '\n' || c == '\r' || c == '\t'; }

// Length of the valid multi-byte UTF-8 sequence at the start of `b`, or 0.
std::size_t Utf8SequenceLength(ByteSpan b) {
  const std::uint8_t c = b[0];
  std::size_t len = 0;
  std::uint32_t cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (b.size() < len) return 0;
  for (std::size_t i = 1; i < len; ++i) {
    if ((b[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b[i] & 0x3F);
  }
  // Reject overlong forms, surrogates and values past U+10FFFF.
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp < 0xE000)) {
    return 0;
  }
  return len;
}

}  // namespace

std::string GuidToString(ByteSpan b) {
  if (b.size() != 16) return ToHex(b);
  std::string s;
  s.reserve(36);
  // Data1 (LE u32), Data2 (LE u16), Data3 (LE u16), Data4[8] as stored.
  static constexpr int kOrder[] = {3, 2, 1, 0, -1, 5, 4, -1, 7, 6, -1, 8, 9, -1, 10, 11, 12, 13, 14, 15};
  for (int i : kOrder) {
    if (i < 0) {
      s += '-';
    } else {
      AppendHexByte(s, b[static_cast<std::size_t>(i)]);
    }
  }
  return s;
}

std::string Utf16ToUtf8(ByteSpan bytes) {
  std::string out;
  out.reserve(bytes.size() / 2);
  const std::size_t units = bytes.size() / 2;
  for (std::size_t i = 0; i < units; ++i) {
    std::uint32_t u = bytes[2 * i] | (static_cast<std::uint32_t>(bytes[2 * i + 1]) << 8);
    if (u == 0) break;
    if (u >= 0xD800 && u < 0xDC00 && i + 1 < units) {
      std::uint32_t lo = bytes[2 * i + 2] | (static_cast<std::uint32_t>(bytes[2 * i + 3]) << 8);
      if (lo >= 0xDC00 && lo < 0xE000) {
        AppendUtf8(out, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
        ++i;
        continue;
      }
    }
    if (u >= 0xD800 && u < 0xE000) u = 0xFFFD;
    AppendUtf8(out, u);
  }
  return out;
}

std::string AsciiToText(ByteSpan bytes) {
  const std::size_t n = TrimmedSize(bytes);
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n;) {
    const std::uint8_t c = bytes[i];
    if (Printable(c)) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (const std::size_t len = Utf8SequenceLength(bytes.subspan(i, n - i)); len > 0) {
      out.append(reinterpret_cast<const char*>(bytes.data() + i), len);
      i += len;
      continue;
    }
    out += "\\x";
    AppendHexByte(out, c);
    ++i;
  }
  return out;
}

bool IsPrintableAscii(ByteSpan bytes) {
  const std::size_t n = TrimmedSize(bytes);
  if (n == 0) return false;
  for (std::size_t i = 0; i < n;) {
    if (Printable(bytes[i])) {
      ++i;
    } else if (const std::size_t len = Utf8SequenceLength(bytes.subspan(i, n - i)); len > 0) {
      i += len;
    } else {
      return false;
    }
  }
  return true;
}

bool LooksLikeUtf16(ByteSpan bytes) {
  // An odd trailing NUL byte is tolerated (seen in a systemd-boot EV_IPL).
  std::size_t n = bytes.size();
  if (n % 2 == 1 && n > 1 && bytes[n - 1] == 0) --n;
  if (n < 2 || n % 2 != 0) return false;
  std::size_t chars = 0;
  for (std::size_t i = 0; i + 1 < n; i += 2) {
    if (bytes[i] == 0 && bytes[i + 1] == 0) {
      // Everything after the terminator must be NUL too.
      for (std::size_t j = i; j < n; ++j) {
        if (bytes[j] != 0) return false;
      }
      break;
    }
    if (bytes[i + 1] != 0 || !Printable(bytes[i])) return false;
    ++chars;
  }
  return chars > 0;
}

}  // namespace immune::boot
