// Internal to immune_tsb: IMA template descriptors, template field kinds,
// IMA's hash algorithm names and numbering, and the step shared by the ascii
// and binary parsers that decodes template data into ImaEntry fields.
#ifndef IMMUNE_TSB_IMA_TEMPLATE_H_
#define IMMUNE_TSB_IMA_TEMPLATE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"
#include "immune/tsb/ima_log.h"

namespace immune::tsb::internal {

// The template field identifiers of the kernel (ima_template.c).
enum class FieldKind : std::uint8_t {
  kDigest,        // "d": SHA-1 (or MD5) digest, no algorithm prefix
  kDigestNg,      // "d-ng": "algo:" NUL digest
  kDigestNgV2,    // "d-ngv2": "type:algo:" NUL digest
  kDigestModsig,  // "d-modsig": like d-ng
  kName,          // "n": NUL-terminated string
  kNameNg,        // "n-ng": NUL-terminated string
  kSig,           // "sig": hex
  kBuf,           // "buf": hex
  kModsig,        // "modsig": hex
  kEvmSig,        // "evmsig": hex
  kXattrNames,    // "xattrnames": NUL-terminated string
  kXattrLengths,  // "xattrlengths": hex
  kXattrValues,   // "xattrvalues": hex
  kUid,           // "iuid": u32, decimal in ascii
  kGid,           // "igid": u32, decimal in ascii
  kMode,          // "imode": u16, decimal in ascii
};

// The kernel allows at most 15 fields per template (IMA_TEMPLATE_NUM_FIELDS_MAX).
inline constexpr std::size_t kMaxTemplateFields = 15;

struct TemplateDesc {
  bool legacy_ima = false;  // the "ima" template: no length prefixes in the binary list
  bool known = false;       // false: unknown name, fields not interpreted
  std::size_t num_fields = 0;
  std::array<FieldKind, kMaxTemplateFields> fields{};
};

// Built-in template names, or a custom format string ("d-ng|n-ng|sig");
// anything else gives known == false.
TemplateDesc LookupTemplate(std::string_view name);

// A hash algorithm by IMA's name ("sha256", "sm3", "sha3-256"; also the TCG
// spellings "sm3_256", "sha3_256"). nullopt: not one Immune can compute.
std::optional<HashAlg> HashAlgFromImaName(std::string_view name);
// True when IMA knows the name (it is in the kernel's hash_algo_name[]) or
// Immune supports it.
bool IsKnownImaHashName(std::string_view name);
// IMA's enum hash_algo (include/uapi/linux/hash_info.h): 0 md4, 1 md5,
// 2 sha1, 4 sha256, 5 sha384, 6 sha512, 7 sha224, 17 sm3, 20 sha3-256 ...
std::optional<HashAlg> HashAlgFromImaId(std::uint8_t id);
std::string_view ImaHashAlgoName(std::uint8_t id);  // "" when out of range

// Reads a u32 in the given byte order.
inline std::optional<std::uint32_t> ReadU32(ByteReader& r, bool big_endian) {
  return big_endian ? r.U32Be() : r.U32Le();
}
inline void AppendU32(Bytes& out, std::uint32_t v, bool big_endian) {
  for (int i = 0; i < 4; ++i) {
    const int shift = big_endian ? 8 * (3 - i) : 8 * i;
    out.push_back(static_cast<std::uint8_t>(v >> shift));
  }
}

// Decodes e.template_data (binary layout) into the decoded fields of e.
// Error messages carry no place; the caller prefixes DescribeEntry().
Status DecodeTemplateData(const TemplateDesc& desc, bool big_endian, const ImaParseOptions& options,
                          ImaEntry& e);

// Completes a parsed log: sets violation flags, decodes every entry, and
// resolves an unset bank for 32-byte digests (sha256 or sm3_256, by trial
// hashing the first non-violation entry). `log.entries` must already point
// into `log.storage`.
Status FinishImaLog(ImaLog& log, const ImaParseOptions& options, std::size_t digest_size);

// ParseImaBinary over a buffer the log then shares (no copy).
Result<ImaLog> ParseImaBinaryStorage(std::shared_ptr<const Bytes> storage, const ImaParseOptions& options);

// Printable ASCII for messages: at most 40 characters, others as '?'.
std::string PrintableForMessage(std::string_view s);

// The bank for a template digest size when the caller gave none.
std::optional<HashAlg> BankForDigestSize(std::size_t size);

}  // namespace immune::tsb::internal

#endif  // IMMUNE_TSB_IMA_TEMPLATE_H_
