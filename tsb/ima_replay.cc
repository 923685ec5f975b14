// Template hashes, PCR replay and the format-detecting entry points.
#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "ima_template.h"
#include "immune/core/file.h"
#include "immune/core/hex.h"
#include "immune/tsb/ima_log.h"

namespace immune::tsb {
namespace {

// The "ima" template hashes its file name NUL-padded to
// IMA_EVENT_NAME_LEN_MAX + 1 bytes.
constexpr std::size_t kImaNamePad = 256;
constexpr std::array<std::uint8_t, kImaNamePad> kZeros{};

Status CopyDigest(Hasher& h, std::span<std::uint8_t> out) {
  IMMUNE_ASSIGN_OR_RETURN(Bytes d, h.Final());
  if (out.size() < d.size()) return Internal("template digest buffer too small");
  std::memcpy(out.data(), d.data(), d.size());
  return OkStatus();
}

}  // namespace

std::string DescribeEntry(const ImaLog& log, const ImaEntry& entry) {
  if (log.format == ImaFormat::kAscii) {
    return "line " + std::to_string(entry.position) + " (entry " + std::to_string(entry.index) + ")";
  }
  return "entry " + std::to_string(entry.index) + " at byte " + std::to_string(entry.position);
}

Status ComputeTemplateDigest(const ImaEntry& entry, HashAlg bank, std::span<std::uint8_t> out) {
  const std::size_t size = DigestSize(bank);
  if (size == 0 || out.size() < size) return InvalidArgument("bad bank or output size for a template digest");
  if (entry.violation) {
    std::fill_n(out.begin(), size, std::uint8_t{0xFF});
    return OkStatus();
  }
  Hasher h(bank);
  if (entry.template_name == "ima") {
    // template_data: 20-byte digest, u32 length, name (checked by the parser).
    if (entry.template_data.size() < 24 || entry.template_data.size() - 24 > kImaNamePad) {
      return Corruption("\"ima\" template data has a bad size");
    }
    const ByteSpan name = entry.template_data.subspan(24);
    h.Update(entry.template_data.first(20))
        .Update(name)
        .Update(ByteSpan(kZeros).first(kImaNamePad - name.size()));
  } else {
    h.Update(entry.template_data);
  }
  return CopyDigest(h, out);
}

std::vector<Error> FindTemplateHashMismatches(const ImaLog& log) {
  std::vector<Error> errors;
  std::array<std::uint8_t, kMaxDigestSize> d{};
  const std::size_t size = DigestSize(log.bank);
  for (const ImaEntry& e : log.entries) {
    if (e.violation) continue;
    Status s = ComputeTemplateDigest(e, log.bank, d);
    if (!s.ok()) {
      errors.push_back(s.error().WithContext(DescribeEntry(log, e)));
      continue;
    }
    if (e.template_digest.size() != size ||
        !std::equal(e.template_digest.begin(), e.template_digest.end(), d.begin())) {
      errors.push_back(Corruption(DescribeEntry(log, e) + ": " + std::string(HashAlgName(log.bank)) +
                                  " template hash " + ToHex(e.template_digest) + " does not match " +
                                  ToHex(ByteSpan(d).first(size)) + " computed from the template data (" +
                                  std::string(e.template_name) + " " + std::string(e.path.substr(0, 200)) +
                                  ")"));
    }
  }
  return errors;
}

Status VerifyTemplateHashes(const ImaLog& log) {
  std::vector<Error> errors = FindTemplateHashMismatches(log);
  if (errors.empty()) return OkStatus();
  if (errors.size() == 1) return errors.front();
  return Error(errors.front().code(),
               errors.front().message() + " (and " + std::to_string(errors.size() - 1) + " more entries)");
}

Status VerifyBufDigests(const ImaLog& log) {
  for (const ImaEntry& e : log.entries) {
    if (e.violation || !e.decoded) continue;
    const internal::TemplateDesc desc = internal::LookupTemplate(e.template_name);
    const auto fields_end = desc.fields.begin() + desc.num_fields;
    if (std::find(desc.fields.begin(), fields_end, internal::FieldKind::kBuf) == fields_end) continue;
    if (!e.file_hash_alg) {
      return Unsupported(DescribeEntry(log, e) + ": buffer digest algorithm '" +
                         std::string(e.file_hash_alg_name) + "' is not supported");
    }
    IMMUNE_ASSIGN_OR_RETURN(Bytes d, Hash(*e.file_hash_alg, e.buf));
    if (!std::equal(d.begin(), d.end(), e.file_digest.begin(), e.file_digest.end())) {
      return Corruption(DescribeEntry(log, e) + ": " + std::string(HashAlgName(*e.file_hash_alg)) +
                        " of the " + std::to_string(e.buf.size()) + "-byte buffer '" +
                        std::string(e.path.substr(0, 200)) + "' is " + ToHex(d) + ", the entry records " +
                        ToHex(e.file_digest));
    }
  }
  return OkStatus();
}

Result<PcrValues> ReplayImaLog(const ImaLog& log, std::span<const HashAlg> banks) {
  PcrValues out;
  std::array<std::uint8_t, kMaxDigestSize> d{};
  for (HashAlg bank : banks) {
    const std::size_t size = DigestSize(bank);
    if (size == 0) return InvalidArgument("unknown bank for IMA replay");
    if (!Hasher(bank).ok()) {
      return Unsupported("IMA replay: hash algorithm " + std::string(HashAlgName(bank)) +
                         " is not available");
    }
    PcrBank& pcrs = out[bank];
    for (const ImaEntry& e : log.entries) {
      Status s = ComputeTemplateDigest(e, bank, d);
      if (!s.ok()) return s.error().WithContext(DescribeEntry(log, e));
      Bytes& pcr = pcrs[e.pcr];
      if (pcr.empty()) pcr.assign(size, 0);
      IMMUNE_ASSIGN_OR_RETURN(pcr, ExtendDigest(bank, pcr, ByteSpan(d).first(size)));
    }
  }
  return out;
}

Result<PcrValues> ReplayImaLogRecorded(const ImaLog& log) {
  PcrValues out;
  const std::size_t size = DigestSize(log.bank);
  static constexpr std::array<std::uint8_t, kMaxDigestSize> kOnes = [] {
    std::array<std::uint8_t, kMaxDigestSize> a{};
    a.fill(0xFF);
    return a;
  }();
  PcrBank& pcrs = out[log.bank];
  for (const ImaEntry& e : log.entries) {
    Bytes& pcr = pcrs[e.pcr];
    if (pcr.empty()) pcr.assign(size, 0);
    const ByteSpan digest = e.violation ? ByteSpan(kOnes).first(size) : e.template_digest;
    auto next = ExtendDigest(log.bank, pcr, digest);
    if (!next.ok()) return next.error().WithContext(DescribeEntry(log, e));
    pcr = std::move(*next);
  }
  return out;
}

Result<ImaLog> ParseIma(ByteSpan data, const ImaParseOptions& options) {
  if (!data.empty() && data[0] >= '0' && data[0] <= '9') return ParseImaAscii(AsString(data), options);
  return ParseImaBinary(data, options);
}

Result<ImaLog> ParseImaFile(const std::string& path, const ImaParseOptions& options) {
  IMMUNE_ASSIGN_OR_RETURN(Bytes data, ReadFile(path));
  const bool ascii = !data.empty() && data[0] >= '0' && data[0] <= '9';
  // A binary list keeps the file buffer itself; an ascii one is rebuilt.
  auto log = ascii ? ParseImaAscii(AsString(data), options)
                   : internal::ParseImaBinaryStorage(std::make_shared<const Bytes>(std::move(data)), options);
  if (!log.ok()) return log.error().WithContext(path);
  return log;
}

}  // namespace immune::tsb
