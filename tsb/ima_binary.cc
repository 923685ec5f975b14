// Binary IMA measurement lists (binary_runtime_measurements[_<alg>]).
#include <algorithm>
#include <memory>
#include <string>

#include "ima_template.h"
#include "immune/core/pcr.h"
#include "immune/tsb/ima_log.h"

namespace immune::tsb {
namespace {

using internal::ReadU32;

// Template names the kernel writes are short printable ASCII (builtin names
// or format strings of at most 15 fields).
constexpr std::uint32_t kMaxTemplateNameLen = 255;

bool IsPrintableName(ByteSpan name) {
  return std::all_of(name.begin(), name.end(), [](std::uint8_t c) { return c > 0x20 && c < 0x7f; });
}

// True when an entry header fits at the start of `data` with this digest
// size: a plausible PCR, then a plausible template name.
bool HeaderFits(ByteSpan data, std::size_t digest_size, bool big_endian) {
  ByteReader r(data);
  auto pcr = ReadU32(r, big_endian);
  if (!pcr || *pcr >= kNumPcrs || !r.Skip(digest_size)) return false;
  auto len = ReadU32(r, big_endian);
  if (!len || *len == 0 || *len > kMaxTemplateNameLen) return false;
  auto name = r.Take(*len);
  return name && IsPrintableName(*name);
}

std::string At(std::size_t index, std::size_t offset) {
  return "entry " + std::to_string(index) + " at byte " + std::to_string(offset);
}

}  // namespace

Result<ImaLog> ParseImaBinary(ByteSpan data, const ImaParseOptions& options) {
  return internal::ParseImaBinaryStorage(std::make_shared<const Bytes>(data.begin(), data.end()), options);
}

namespace internal {

Result<ImaLog> ParseImaBinaryStorage(std::shared_ptr<const Bytes> storage, const ImaParseOptions& options) {
  const ByteSpan data(*storage);
  ImaLog log;
  log.format = ImaFormat::kBinary;
  if (data.size() >= 4) {
    if (options.big_endian) {
      log.big_endian = *options.big_endian;
    } else {
      // The PCR index (< 24) tells the byte order of the writer.
      const std::uint32_t le = ByteReader(data).U32Le().value_or(0);
      log.big_endian = le >= kNumPcrs && ByteReader(data).U32Be().value_or(kNumPcrs) < kNumPcrs;
    }
  }
  std::size_t digest_size = 0;
  if (options.bank) {
    digest_size = DigestSize(*options.bank);
    if (digest_size == 0) return InvalidArgument("unknown bank for the IMA list");
  } else if (!data.empty()) {
    for (std::size_t size : {20, 32, 48, 64}) {
      if (HeaderFits(data, size, log.big_endian)) {
        digest_size = size;
        break;
      }
    }
    if (digest_size == 0) {
      return Corruption(At(0, 0) +
                        ": no template digest size (20, 32, 48 or 64 bytes) gives a valid entry header; "
                        "not a binary IMA list, or give the bank explicitly");
    }
  } else {
    digest_size = 20;
  }

  log.storage = std::move(storage);

  // A guess: real entries are rarely under digest + 48 bytes.
  log.entries.reserve(data.size() / (digest_size + 48) + 1);
  ByteReader r(data);
  const bool be = log.big_endian;
  while (!r.empty()) {
    const std::size_t start = r.offset();
    const std::size_t index = log.entries.size();
    auto truncated = [&](const std::string& what) -> Result<bool> {
      if (options.allow_truncated_tail) {
        log.truncated_tail_offset = start;
        log.truncated_tail_bytes = data.size() - start;
        return true;
      }
      return Corruption(At(index, start) + ": " + what + " (" + std::to_string(data.size() - start) +
                        " bytes left in the " + std::to_string(data.size()) + "-byte list)");
    };
    ImaEntry e;
    e.index = index;
    e.position = start;
    auto pcr = ReadU32(r, be);
    if (!pcr) {
      IMMUNE_RETURN_IF_ERROR(truncated("input ends inside the PCR index"));
      break;
    }
    if (*pcr >= kNumPcrs) {
      return Corruption(At(index, start) + ": PCR index " + std::to_string(*pcr) + " is out of range (0-23)");
    }
    e.pcr = *pcr;
    auto digest = r.Take(digest_size);
    if (!digest) {
      IMMUNE_RETURN_IF_ERROR(
          truncated("input ends inside the " + std::to_string(digest_size) + "-byte template digest"));
      break;
    }
    e.template_digest = *digest;
    const std::size_t name_len_at = r.offset();
    auto name_len = ReadU32(r, be);
    if (!name_len) {
      IMMUNE_RETURN_IF_ERROR(truncated("input ends inside the template name length"));
      break;
    }
    if (*name_len == 0 || *name_len > kMaxTemplateNameLen) {
      return Corruption(At(index, start) + ": template name length " + std::to_string(*name_len) +
                        " at byte " + std::to_string(name_len_at) + " is not in 1-255");
    }
    auto name = r.Take(*name_len);
    if (!name) {
      IMMUNE_RETURN_IF_ERROR(
          truncated("template name of " + std::to_string(*name_len) + " bytes runs past the end"));
      break;
    }
    if (!IsPrintableName(*name)) {
      return Corruption(At(index, start) + ": template name at byte " + std::to_string(name_len_at + 4) +
                        " is not printable ASCII");
    }
    e.template_name = AsString(*name);
    const std::size_t data_at = r.offset();
    if (e.template_name == "ima") {
      // Legacy: 20-byte digest, u32 name length, name; no total length.
      ByteReader peek(r.rest(), r.offset());
      auto ima_len = peek.Skip(20) ? ReadU32(peek, be) : std::nullopt;
      if (!ima_len) {
        IMMUNE_RETURN_IF_ERROR(truncated("input ends inside the \"ima\" template data"));
        break;
      }
      if (*ima_len > kMaxTemplateNameLen) {
        return Corruption(At(index, start) + ": \"ima\" file name length " + std::to_string(*ima_len) +
                          " at byte " + std::to_string(data_at + 20) + " exceeds 255");
      }
      auto all = r.Take(24 + std::size_t{*ima_len});
      if (!all) {
        IMMUNE_RETURN_IF_ERROR(
            truncated("\"ima\" file name of " + std::to_string(*ima_len) + " bytes runs past the end"));
        break;
      }
      e.template_data = *all;
    } else {
      auto data_len = ReadU32(r, be);
      if (!data_len) {
        IMMUNE_RETURN_IF_ERROR(truncated("input ends inside the template data length"));
        break;
      }
      auto tdata = r.Take(*data_len);
      if (!tdata) {
        IMMUNE_RETURN_IF_ERROR(truncated("template data length " + std::to_string(*data_len) + " at byte " +
                                         std::to_string(data_at) + " runs past the end"));
        break;
      }
      e.template_data = *tdata;
    }
    log.entries.push_back(e);
  }
  IMMUNE_RETURN_IF_ERROR(FinishImaLog(log, options, digest_size));
  return log;
}

}  // namespace internal

}  // namespace immune::tsb
