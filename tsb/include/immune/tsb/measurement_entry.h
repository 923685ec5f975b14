// Entries of Immune's runtime measurement log and their template data.
//
// An entry records one measurement decision: what was measured (the object:
// a path and its file digest), by whom (the subject: pid and executable), in
// which container (or the host), what the policy decided and by which rule,
// and where it went in the log (sequence number, epoch, time, PCR).
//
// Template data is what is hashed and extended, exactly as IMA does it:
//  - "ima-ng"  (d-ng|n-ng) and "ima-sig" (d-ng|n-ng|sig) for host entries,
//    byte-identical to the kernel's (u32 little-endian length prefixes, as on
//    x86 or with ima_canonical_fmt), so IMA tools read them;
//  - "immune-ct" for container entries, Immune's own template:
//      d-ng      "algo:" NUL file-digest            (as IMA's d-ng)
//      n-ng      path NUL                            (as IMA's n-ng)
//      ct-id     container id NUL
//      ct-image  image reference NUL
//      ct-proc   u32 LE pid, executable path NUL
//      verdict   "allow"|"deny"|"audit" ":" rule NUL
//    every field u32-LE-length-prefixed like the kernel's custom templates,
//    so generic IMA parsers walk it as an unknown template. The container id
//    is inside the hashed data: the same path in two containers gives two
//    different template hashes.
// The template hash of an entry in a bank is that bank's hash of the
// template data (as IMA's template hash).
//
// Decision and rule of host (ima-ng/ima-sig) entries are journal metadata:
// the kernel's templates have no field for them, so the PCR does not bind
// them. immune-ct binds them (verdict field).
//
// Thread safety: values and pure functions.
#ifndef IMMUNE_TSB_MEASUREMENT_ENTRY_H_
#define IMMUNE_TSB_MEASUREMENT_ENTRY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"

namespace immune::tsb {

enum class Decision : std::uint8_t { kAllow, kDeny, kAudit };
enum class TemplateKind : std::uint8_t { kImaNg, kImaSig, kImmuneCt };

std::string_view DecisionName(Decision d);  // "allow", "deny", "audit"
std::optional<Decision> DecisionFromName(std::string_view name);
std::string_view TemplateName(TemplateKind t);  // "ima-ng", "ima-sig", "immune-ct"
std::optional<TemplateKind> TemplateFromName(std::string_view name);
// IMA's spelling of a file hash algorithm ("sha256", "sm3", "sha3-256").
std::string_view ImaHashName(HashAlg alg);

struct MeasurementEntry {
  // Assigned by the log on append (values given by the caller are replaced).
  std::uint64_t seq = 0;    // global sequence number, from 0, over all epochs
  std::uint64_t epoch = 0;  // the epoch the entry belongs to
  std::uint32_t pcr = 0;    // the TPM PCR it was extended into
  // Unix time in nanoseconds; set by the log when 0.
  std::int64_t time_ns = 0;

  TemplateKind template_kind = TemplateKind::kImaNg;
  std::string container_id;  // empty: the host
  std::string image;         // container image reference (immune-ct only)
  std::uint32_t pid = 0;     // subject
  std::string exe;           // subject's executable
  std::string path;          // object
  HashAlg file_hash_alg = HashAlg::kSha256;
  Bytes file_digest;  // DigestSize(file_hash_alg) bytes
  Bytes signature;    // ima-sig: the security.ima signature (may be empty)
  Decision decision = Decision::kAllow;
  std::string rule;  // the policy rule that decided

  bool is_host() const { return container_id.empty(); }
};

// Checks what an entry must satisfy to be logged: container entries use
// immune-ct, the digest has its algorithm's size, strings have no NUL, only
// ima-sig carries a signature. kInvalidArgument naming the field.
Status ValidateEntry(const MeasurementEntry& e);

// The template data of a (valid) entry, as described above.
Result<Bytes> BuildTemplateData(const MeasurementEntry& e);

// H_bank(template data).
Result<Bytes> TemplateHash(HashAlg bank, ByteSpan template_data);

}  // namespace immune::tsb

#endif  // IMMUNE_TSB_MEASUREMENT_ENTRY_H_
