// Linux IMA runtime measurement lists: parsing, template-hash verification
// and PCR replay.
//
// Two formats are read:
//  - binary, as in /sys/kernel/security/ima/binary_runtime_measurements
//    (and the per-bank binary_runtime_measurements_<alg>): per entry a u32
//    PCR index, the template digest (the size of the list's bank), a u32
//    template-name length, the name, and then, for every template except the
//    legacy "ima", a u32 template-data length and the template data. The
//    legacy "ima" template carries a 20-byte SHA-1 file digest, a u32 name
//    length and the name (no NUL). Integers are in the writer's byte order
//    (little-endian on x86 and with ima_canonical_fmt);
//  - ascii, as in ascii_runtime_measurements: one entry per line,
//    "PCR template-hash template-name field field ..." separated by single
//    spaces. The parser rebuilds each entry's binary template data from the
//    ascii fields, so ascii and binary lists are checked the same way.
//
// Templates: ima, ima-ng, ima-ngv2, ima-sig, ima-sigv2, ima-buf, ima-modsig,
// evm-sig, custom format strings ("d-ng|n-ng|sig") and unknown template
// names (binary only: parsed as a sequence of u32-length-prefixed fields,
// not decoded). File hash algorithms: sha1, sha256, sha384, sha512, sm3
// (also spelled sm3_256), sha3-256/384/512; others (md5, sha224, unknown
// names) are rejected with kUnsupported unless ImaParseOptions says
// otherwise.
//
// Untrusted input: every length is checked; an error is a kCorruption (or
// kUnsupported) Error naming the entry and its place: "entry 6 at byte 558:
// ..." for binary lists, "line 12 (entry 11): ..." for ascii lists, and the
// file via ParseImaFile. Nothing aborts.
//
// Memory: an ImaLog owns one immutable byte buffer (shared between copies);
// every span and string_view of its entries points into it. A copy of an
// ImaEntry is valid only while some ImaLog sharing that buffer is alive.
// Parsing allocates the buffer and the entry vectors, nothing per entry
// (ParseImaFile keeps the file buffer of a binary list without a copy).
//
// Thread safety: an ImaLog is an immutable value after parsing; concurrent
// readers are safe. All functions are reentrant.
#ifndef IMMUNE_TSB_IMA_LOG_H_
#define IMMUNE_TSB_IMA_LOG_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"
#include "immune/core/pcr.h"

namespace immune::tsb {

enum class ImaFormat { kBinary, kAscii };

struct ImaEntry {
  std::size_t index = 0;     // 0-based position in the list
  std::size_t position = 0;  // binary: byte offset of the entry; ascii: 1-based line number
  std::uint32_t pcr = 0;
  ByteSpan template_digest;  // as recorded; DigestSize(ImaLog::bank) bytes
  std::string_view template_name;
  // The template data exactly as the binary list carries it (for "ima": the
  // 20-byte digest, a u32 name length and the name).
  ByteSpan template_data;
  bool violation = false;  // template digest all zeros; extended as all 0xFF

  // Decoded from the first digest field (d, d-ng, d-ngv2). file_hash_alg is
  // empty when the algorithm is not one Immune supports (only possible with
  // ImaParseOptions::allow_unsupported_file_hash) or the template has none.
  std::optional<HashAlg> file_hash_alg;
  std::string_view file_hash_alg_name;  // IMA's spelling: "sha256", "sm3", "md5"; "sha1" for "d"
  std::string_view digest_type;         // d-ngv2 only: "ima" or "verity"
  ByteSpan file_digest;
  std::string_view path;   // n / n-ng, without the NUL (for ima-buf: the event name)
  ByteSpan signature;      // sig field (empty when absent)
  ByteSpan buf;            // ima-buf data
  ByteSpan modsig;         // ima-modsig appended signature (PKCS#7)
  ByteSpan evm_signature;  // evm-sig evmsig field
  bool decoded = false;    // false for unknown templates (fields not interpreted)
};

struct ImaParseOptions {
  // The bank of the template digests. Unset: inferred from the digest size
  // (20 sha1, 32 sha256 or sm3_256 by trial hashing, 48 sha384, 64 sha512).
  std::optional<HashAlg> bank = std::nullopt;
  // The writer's byte order. Binary lists: unset means inferred from the
  // first entry's PCR index. Ascii lists: the order in which template data
  // is rebuilt (unset: little-endian, as on x86 or with ima_canonical_fmt);
  // template hashes of a big-endian host's ascii list need true here.
  std::optional<bool> big_endian = std::nullopt;
  // When the input ends inside an entry (a truncated copy, or stray bytes
  // such as a newline after the last entry), parse what is complete and
  // record the tail in ImaLog::truncated_tail_* instead of failing. Structural
  // errors anywhere else are always errors.
  bool allow_truncated_tail = false;
  // Accept file digests in algorithms Immune cannot compute (md5, sha224,
  // unknown names): file_hash_alg stays empty. Template hashes and replay do
  // not depend on it.
  bool allow_unsupported_file_hash = false;
};

struct ImaLog {
  ImaFormat format = ImaFormat::kBinary;
  HashAlg bank = HashAlg::kSha1;  // of the recorded template digests
  bool big_endian = false;        // binary lists only
  std::vector<ImaEntry> entries;
  // Set only with allow_truncated_tail: where the incomplete tail starts
  // (binary: its byte offset; ascii: the line number of the incomplete last
  // line) and how many bytes it has (0 when the input ended cleanly).
  std::size_t truncated_tail_offset = 0;
  std::size_t truncated_tail_bytes = 0;

  // Internal: the buffer entries point into. Shared (immutable) by copies.
  std::shared_ptr<const Bytes> storage;
};

// Parses a binary list. Errors name "entry N at byte OFFSET".
Result<ImaLog> ParseImaBinary(ByteSpan data, const ImaParseOptions& options = {});

// Parses an ascii list. Empty lines are skipped; a trailing '\r' is ignored.
// Errors name "line L (entry N)".
Result<ImaLog> ParseImaAscii(std::string_view text, const ImaParseOptions& options = {});

// Parses either format (ascii when the first byte is a decimal digit).
Result<ImaLog> ParseIma(ByteSpan data, const ImaParseOptions& options = {});

// Reads and parses a file; errors are prefixed with the path.
Result<ImaLog> ParseImaFile(const std::string& path, const ImaParseOptions& options = {});

// The digest the kernel extends into `bank` for this entry: all 0xFF for a
// violation, else the bank's hash of the template data (for "ima": over the
// 20-byte digest and the name NUL-padded to 256 bytes). Writes
// DigestSize(bank) bytes to out (which must be at least that large).
Status ComputeTemplateDigest(const ImaEntry& entry, HashAlg bank, std::span<std::uint8_t> out);

// Checks every non-violation entry's recorded template digest against the
// hash of its template data in the list's bank. Returns the first failure,
// e.g. "line 12 (entry 11): template hash ... does not match ... computed".
Status VerifyTemplateHashes(const ImaLog& log);
// Every failure, one Error per bad entry, in list order.
std::vector<Error> FindTemplateHashMismatches(const ImaLog& log);

// For ima-buf entries: checks that the file digest is the hash of buf in
// the entry's algorithm. First failure, naming the entry.
Status VerifyBufDigests(const ImaLog& log);

// Replays every PCR the entries name, in each requested bank, from the
// template data (violations as all 0xFF), starting from zeros: this works
// from any list, ascii or binary, for any bank, and a replay that matches
// the TPM also proves the template data. Banks must be supported by
// OpenSSL (sm3_256 may be missing in FIPS builds -> kUnsupported).
Result<PcrValues> ReplayImaLog(const ImaLog& log, std::span<const HashAlg> banks);

// Replays the recorded template digests in the list's own bank (what
// evmctl ima_measurement does); cheaper, but does not check template data.
Result<PcrValues> ReplayImaLogRecorded(const ImaLog& log);

// Formats an entry's place for messages: "entry 6 at byte 558" (binary) or
// "line 12 (entry 11)" (ascii).
std::string DescribeEntry(const ImaLog& log, const ImaEntry& entry);

}  // namespace immune::tsb

#endif  // IMMUNE_TSB_IMA_LOG_H_
