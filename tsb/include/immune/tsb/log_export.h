// Exports of measurement log entries in the formats IMA tools and people
// read: IMA's ascii and binary runtime measurement lists, and JSON.
//
// The template-hash column / field is the entry's template hash in `bank`
// (H_bank(template data), as the kernel's ascii_runtime_measurements prints
// sha1 and binary_runtime_measurements_<bank> carries). IMA tools can check
// template hashes and parse ima-ng/ima-sig entries; they cannot replay the
// TSB PCR from these lists, because the PCR receives the blinded partition
// bindings x_e (cpcr.h), not the template hashes: replay uses partition
// views. immune-ct entries appear in the binary list as an unknown template
// (u32-length-prefixed fields, walkable by generic parsers) and in the ascii
// list with their fields printed as text: "sha256:<hex> <path> <container>
// <image> <pid>:<exe> <decision>:<rule>".
//
// Thread safety: pure functions.
#ifndef IMMUNE_TSB_LOG_EXPORT_H_
#define IMMUNE_TSB_LOG_EXPORT_H_

#include <span>
#include <string>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"
#include "immune/tsb/measurement_entry.h"

namespace immune::tsb {

// One line per entry, "PCR template-hash template-name fields...\n".
Result<std::string> ExportImaAscii(std::span<const MeasurementEntry> entries, HashAlg bank = HashAlg::kSha1);
// Little-endian binary list (x86 / ima_canonical_fmt layout).
Result<Bytes> ExportImaBinary(std::span<const MeasurementEntry> entries, HashAlg bank = HashAlg::kSha1);
// {"entries":[{...every field...,"template_hash":{"sha1":hex,...}}]}.
Result<std::string> ExportJson(std::span<const MeasurementEntry> entries, std::span<const HashAlg> banks,
                               int indent = -1);

}  // namespace immune::tsb

#endif  // IMMUNE_TSB_LOG_EXPORT_H_
