// Ascii IMA measurement lists (ascii_runtime_measurements[_<alg>]): each
// line is parsed and its binary template data rebuilt, exactly as the
// kernel's binary list would carry it (ima_fs.c, ima_template_lib.c).
#include <algorithm>
#include <array>
#include <charconv>
#include <memory>
#include <string>
#include <vector>

#include "ima_template.h"
#include "immune/core/pcr.h"
#include "immune/tsb/ima_log.h"

namespace immune::tsb {
namespace {

using internal::FieldKind;

// 0-15 for a hex digit, 0xFF otherwise.
constexpr std::array<std::uint8_t, 256> kHexTable = [] {
  std::array<std::uint8_t, 256> t{};
  t.fill(0xFF);
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<std::uint8_t>(i);
  for (int i = 0; i < 6; ++i) {
    t['a' + i] = static_cast<std::uint8_t>(10 + i);
    t['A' + i] = static_cast<std::uint8_t>(10 + i);
  }
  return t;
}();

// Appends the bytes of an even-length hex string; false (and `out`
// unchanged) on an odd length or a bad character.
bool AppendHex(std::string_view hex, Bytes& out) {
  if (hex.size() % 2 != 0) return false;
  const std::size_t at = out.size();
  out.resize(at + hex.size() / 2);
  std::uint8_t* dst = out.data() + at;
  std::uint8_t bad = 0;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const std::uint8_t hi = kHexTable[static_cast<unsigned char>(hex[i])];
    const std::uint8_t lo = kHexTable[static_cast<unsigned char>(hex[i + 1])];
    bad |= static_cast<std::uint8_t>(hi | lo);
    *dst++ = static_cast<std::uint8_t>(hi << 4 | (lo & 0x0F));
  }
  if ((bad & 0xF0) != 0) {
    out.resize(at);
    return false;
  }
  return true;
}

template <typename T>
bool ParseDecimal(std::string_view s, T& out) {
  if (s.empty() || s.size() > 10) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Splits a line at single spaces; empty fields (two spaces) are kept.
class Tokens {
 public:
  explicit Tokens(std::string_view line) : rest_(line) {}
  bool done() const { return done_; }
  std::string_view Next() {
    if (done_) return {};
    const std::size_t sp = rest_.find(' ');
    std::string_view t = rest_.substr(0, sp);
    if (sp == std::string_view::npos) {
      done_ = true;
    } else {
      rest_.remove_prefix(sp + 1);
    }
    return t;
  }

 private:
  std::string_view rest_;
  bool done_ = false;
};

bool IsHexKind(FieldKind k) {
  return k == FieldKind::kSig || k == FieldKind::kBuf || k == FieldKind::kModsig || k == FieldKind::kEvmSig ||
         k == FieldKind::kXattrLengths || k == FieldKind::kXattrValues;
}

const char* KindName(FieldKind k) {
  switch (k) {
    case FieldKind::kDigest: return "d";
    case FieldKind::kDigestNg: return "d-ng";
    case FieldKind::kDigestNgV2: return "d-ngv2";
    case FieldKind::kDigestModsig: return "d-modsig";
    case FieldKind::kName: return "n";
    case FieldKind::kNameNg: return "n-ng";
    case FieldKind::kSig: return "sig";
    case FieldKind::kBuf: return "buf";
    case FieldKind::kModsig: return "modsig";
    case FieldKind::kEvmSig: return "evmsig";
    case FieldKind::kXattrNames: return "xattrnames";
    case FieldKind::kXattrLengths: return "xattrlengths";
    case FieldKind::kXattrValues: return "xattrvalues";
    case FieldKind::kUid: return "iuid";
    case FieldKind::kGid: return "igid";
    case FieldKind::kMode: return "imode";
  }
  return "?";
}

// Appends one field's binary value (without its length prefix).
Status AppendField(FieldKind kind, std::string_view token, bool be, Bytes& out) {
  switch (kind) {
    case FieldKind::kDigest:
      if (!AppendHex(token, out)) return Corruption("field 'd' is not hex");
      return OkStatus();
    case FieldKind::kDigestNg:
    case FieldKind::kDigestNgV2:
    case FieldKind::kDigestModsig: {
      // "algo:hex" (or "type:algo:hex") -> "algo:" NUL digest; bare hex for
      // the unprefixed sha1/md5 digests of old kernels.
      const std::size_t colon = token.rfind(':');
      if (colon != std::string_view::npos) {
        const auto prefix = AsBytes(token.substr(0, colon + 1));
        out.insert(out.end(), prefix.begin(), prefix.end());
        out.push_back(0);
        token.remove_prefix(colon + 1);
      }
      if (!AppendHex(token, out)) {
        return Corruption(std::string("field '") + KindName(kind) + "' digest is not hex");
      }
      return OkStatus();
    }
    case FieldKind::kName:
    case FieldKind::kNameNg:
    case FieldKind::kXattrNames: {
      const auto s = AsBytes(token);
      out.insert(out.end(), s.begin(), s.end());
      out.push_back(0);
      return OkStatus();
    }
    case FieldKind::kUid:
    case FieldKind::kGid: {
      std::uint32_t v = 0;
      if (!ParseDecimal(token, v))
        return Corruption(std::string("field '") + KindName(kind) + "' is not a number");
      internal::AppendU32(out, v, be);
      return OkStatus();
    }
    case FieldKind::kMode: {
      std::uint16_t v = 0;
      if (!ParseDecimal(token, v)) return Corruption("field 'imode' is not a 16-bit number");
      out.push_back(static_cast<std::uint8_t>(be ? v >> 8 : v));
      out.push_back(static_cast<std::uint8_t>(be ? v : v >> 8));
      return OkStatus();
    }
    default:
      if (!AppendHex(token, out)) return Corruption(std::string("field '") + KindName(kind) + "' is not hex");
      return OkStatus();
  }
}

struct RawEntry {
  std::size_t digest_off, digest_len, name_off, name_len, data_off, data_len;
};

void PutU32At(Bytes& out, std::size_t at, std::uint32_t v, bool big_endian) {
  for (int i = 0; i < 4; ++i) {
    const int shift = big_endian ? 8 * (3 - i) : 8 * i;
    out[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> shift);
  }
}

// The descriptor of the last template name seen (lists repeat one name).
struct TemplateCache {
  std::string name;
  internal::TemplateDesc desc;
};

// Parses one non-empty line into arena and raw; errors carry no place.
Status ParseLine(std::string_view line, bool be, std::size_t& digest_size, Bytes& arena, ImaEntry& e,
                 RawEntry& raw, TemplateCache& cache) {
  Tokens tok(line);
  const std::string_view pcr = tok.Next();
  if (!ParseDecimal(pcr, e.pcr) || e.pcr >= kNumPcrs) {
    return Corruption("PCR index '" + internal::PrintableForMessage(pcr) + "' is not a number in 0-23");
  }
  if (tok.done()) return Corruption("line has no template hash");
  const std::string_view hash = tok.Next();
  raw.digest_off = arena.size();
  if (!AppendHex(hash, arena))
    return Corruption("template hash '" + internal::PrintableForMessage(hash) + "' is not hex");
  raw.digest_len = arena.size() - raw.digest_off;
  if (digest_size == 0) {
    if (!internal::BankForDigestSize(raw.digest_len)) {
      return Corruption("template hash of " + std::to_string(raw.digest_len) +
                        " bytes matches no hash algorithm (20, 32, 48 or 64 bytes)");
    }
    digest_size = raw.digest_len;
  } else if (raw.digest_len != digest_size) {
    return Corruption("template hash of " + std::to_string(raw.digest_len) + " bytes; the list's are " +
                      std::to_string(digest_size) + " bytes");
  }
  if (tok.done()) return Corruption("line has no template name");
  const std::string_view name = tok.Next();
  if (name.empty() || name.size() > 255 ||
      !std::all_of(name.begin(), name.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
    return Corruption("template name '" + internal::PrintableForMessage(name) +
                      "' is empty or not printable");
  }
  raw.name_off = arena.size();
  arena.insert(arena.end(), name.begin(), name.end());
  raw.name_len = name.size();

  if (name != cache.name) {
    cache.desc = internal::LookupTemplate(name);
    cache.name.assign(name);
  }
  const internal::TemplateDesc& desc = cache.desc;
  if (!desc.known) {
    return Unsupported("template '" + internal::PrintableForMessage(name) +
                       "' is unknown: its ascii fields cannot be turned into template data");
  }
  raw.data_off = arena.size();
  if (desc.legacy_ima) {
    const std::string_view digest = tok.Next();
    if (!AppendHex(digest, arena) || arena.size() - raw.data_off != 20) {
      return Corruption("\"ima\" template file digest '" + internal::PrintableForMessage(digest) +
                        "' is not 20 bytes of hex");
    }
    const std::string_view file = tok.Next();
    if (file.size() > 255) return Corruption("\"ima\" template file name is longer than 255 bytes");
    internal::AppendU32(arena, static_cast<std::uint32_t>(file.size()), be);
    arena.insert(arena.end(), file.begin(), file.end());
  } else {
    for (std::size_t i = 0; i < desc.num_fields; ++i) {
      const FieldKind kind = desc.fields[i];
      if (tok.done() && !IsHexKind(kind)) {
        return Corruption("line has " + std::to_string(i) + " template fields; template '" +
                          std::string(name) + "' has " + std::to_string(desc.num_fields));
      }
      const std::string_view value = tok.Next();
      const std::size_t len_at = arena.size();
      arena.resize(len_at + 4);
      IMMUNE_RETURN_IF_ERROR(AppendField(kind, value, be, arena));
      PutU32At(arena, len_at, static_cast<std::uint32_t>(arena.size() - len_at - 4), be);
    }
  }
  while (!tok.done()) {
    if (!tok.Next().empty()) {
      return Corruption("line has more fields than template '" + std::string(name) + "' defines");
    }
  }
  raw.data_len = arena.size() - raw.data_off;
  return OkStatus();
}

}  // namespace

Result<ImaLog> ParseImaAscii(std::string_view text, const ImaParseOptions& options) {
  ImaLog log;
  log.format = ImaFormat::kAscii;
  log.big_endian = options.big_endian.value_or(false);
  std::size_t digest_size = 0;
  if (options.bank) {
    digest_size = DigestSize(*options.bank);
    if (digest_size == 0) return InvalidArgument("unknown bank for the IMA list");
  }
  const std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  log.entries.reserve(lines);
  std::vector<RawEntry> raws;
  raws.reserve(lines);
  auto arena = std::make_shared<Bytes>();
  arena->reserve(text.size());

  TemplateCache cache;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    ImaEntry e;
    e.index = log.entries.size();
    e.position = line_no;
    RawEntry raw{};
    const std::size_t arena_before = arena->size();
    Status s = ParseLine(line, log.big_endian, digest_size, *arena, e, raw, cache);
    if (!s.ok()) {
      if (options.allow_truncated_tail && text.empty()) {
        // The last line is incomplete (a cut-off copy): keep what precedes it.
        arena->resize(arena_before);
        log.truncated_tail_offset = line_no;
        log.truncated_tail_bytes = line.size();
        break;
      }
      return s.error().WithContext(DescribeEntry(log, e));
    }
    log.entries.push_back(e);
    raws.push_back(raw);
  }

  const ByteSpan buf(*arena);
  for (std::size_t i = 0; i < log.entries.size(); ++i) {
    ImaEntry& e = log.entries[i];
    const RawEntry& r = raws[i];
    e.template_digest = buf.subspan(r.digest_off, r.digest_len);
    e.template_name = AsString(buf.subspan(r.name_off, r.name_len));
    e.template_data = buf.subspan(r.data_off, r.data_len);
  }
  log.storage = std::move(arena);
  IMMUNE_RETURN_IF_ERROR(internal::FinishImaLog(log, options, digest_size == 0 ? 20 : digest_size));
  return log;
}

}  // namespace immune::tsb
