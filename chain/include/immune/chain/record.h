// Ledger records: what the chain stores, in a canonical, versioned binary
// encoding (what is hashed and signed) and a JSON form (what people and
// tools read and write). docs/chain-format.md defines both.
//
// Decoding is strict: every byte string has exactly one decoding and every
// record exactly one encoding (no trailing bytes, PCRs sorted and unique,
// digests of their algorithm's size), so a record's leaf hash identifies it.
// Untrusted input is never asserted on: errors name the field and the
// byte offset (binary) or the member (JSON).
//
// Thread safety: values and pure functions.
#ifndef IMMUNE_CHAIN_RECORD_H_
#define IMMUNE_CHAIN_RECORD_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "immune/chain/hash.h"
#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"

namespace immune::chain {

inline constexpr std::uint8_t kRecordVersion = 1;

enum class RecordType : std::uint8_t {
  kBootReference = 1,
  kFileBaseline = 2,
  kPolicyBundle = 3,
  kRevocation = 4,
  kLogCheckpoint = 5,
};

// "file_baseline", ...; the JSON "type" member.
std::string_view RecordTypeName(RecordType t);

// A digest with its algorithm; JSON "sha256:hex".
struct TaggedDigest {
  HashAlg alg = HashAlg::kSha256;
  Bytes value;
  bool operator==(const TaggedDigest&) const = default;
};
std::string TaggedDigestText(const TaggedDigest& d);
// "alg:hex", or bare hex whose length names SHA-1/256/384/512.
Result<TaggedDigest> ParseTaggedDigest(std::string_view text);

struct PcrReference {
  HashAlg bank = HashAlg::kSha256;
  std::uint8_t index = 0;  // 0..23
  Bytes value;             // DigestSize(bank) bytes
  bool operator==(const PcrReference&) const = default;
};

// The expected PCR values of an image's boot and the digests its boot chain
// (shim, GRUB, kernel, ...) may have.
struct BootReference {
  std::string image;
  std::vector<PcrReference> pcrs;        // sorted by (bank id, index), unique
  std::vector<TaggedDigest> boot_chain;  // in boot order
  bool operator==(const BootReference&) const = default;
};

// A file of an image and the digest it must have.
struct FileBaseline {
  std::string image;
  std::string path;
  TaggedDigest digest;
  bool operator==(const FileBaseline&) const = default;
};

// A policy bundle by name and version: its digest, and optionally its bytes.
struct PolicyBundle {
  std::string name;
  std::uint64_t version = 0;
  TaggedDigest digest;
  Bytes content;  // may be empty (the bundle lives elsewhere)
  bool operator==(const PolicyBundle&) const = default;
};

// Withdraws an earlier record, named by its leaf hash.
struct Revocation {
  Hash256 target{};
  std::string reason;
  bool operator==(const Revocation&) const = default;
};

// A TSB measurement log's state at a point: entry count and aggregate.
struct LogCheckpoint {
  std::string host;
  std::string log;
  std::uint64_t entries = 0;
  TaggedDigest aggregate;
  bool operator==(const LogCheckpoint&) const = default;
};

using Record = std::variant<BootReference, FileBaseline, PolicyBundle, Revocation, LogCheckpoint>;

RecordType TypeOf(const Record& r);

// Canonical bytes. The record must be valid (ValidateRecord); Encode does
// not check.
Bytes EncodeRecord(const Record& r);
// Strict decoding; Corruption errors name the field and the offset.
Result<Record> DecodeRecord(ByteSpan bytes);
// The limits and orderings that make an encoding canonical; InvalidArgument.
Status ValidateRecord(const Record& r);

nlohmann::ordered_json RecordToJson(const Record& r);
// InvalidArgument errors name the member.
Result<Record> RecordFromJson(const nlohmann::json& j);

// A records file: {"records": [...]} or a bare array. Errors name the
// record's position ("record 3: ...").
Result<std::vector<Record>> RecordsFromJsonText(std::string_view text);

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_RECORD_H_
