#include "immune/tsb/ima_sig.h"

#include <algorithm>

#include "ima_template.h"

namespace immune::tsb {

Result<std::size_t> ImaKeyRing::AddKeysFromLog(const ImaLog& log,
                                               std::span<const std::string_view> keyrings) {
  std::size_t added = 0;
  for (const ImaEntry& e : log.entries) {
    if (e.violation || e.buf.empty()) continue;
    if (std::find(keyrings.begin(), keyrings.end(), e.path) == keyrings.end()) continue;
    if (!AddKey(e.buf, DescribeEntry(log, e)).ok()) {
      return Corruption(DescribeEntry(log, e) + ": the '" + std::string(e.path) +
                        "' key measurement is not a DER certificate or key");
    }
    ++added;
  }
  return added;
}

Status VerifyImaSignature(const ImaEntry& entry, const immune::ImaTrustedKeys& keys) {
  if (entry.signature.empty()) return NotFound("entry has no signature");
  IMMUNE_ASSIGN_OR_RETURN(ImaSignatureHeader h, ParseImaSignature(entry.signature));
  if (!h.hash_alg) {
    const std::string_view name = internal::ImaHashAlgoName(h.ima_hash_algo);
    return Unsupported("signature hash algorithm " +
                       (name.empty() ? std::to_string(h.ima_hash_algo) : std::string(name)) +
                       " is not supported");
  }
  if (!entry.file_hash_alg || *entry.file_hash_alg != *h.hash_alg) {
    return Corruption("signature is over a " + std::string(HashAlgName(*h.hash_alg)) +
                      " digest, the file digest is " +
                      (entry.file_hash_alg_name.empty() ? "absent" : std::string(entry.file_hash_alg_name)));
  }
  return VerifyImaSignatureOver(h, entry.file_digest, keys);
}

ImaSignatureReport VerifyImaSignatures(const ImaLog& log, const immune::ImaTrustedKeys& keys) {
  ImaSignatureReport report;
  for (const ImaEntry& e : log.entries) {
    if (e.violation || e.signature.empty()) continue;
    ++report.signed_entries;
    Status s = VerifyImaSignature(e, keys);
    if (s.ok()) {
      ++report.verified;
    } else {
      report.failures.push_back(
          s.error().WithContext(DescribeEntry(log, e) + " (" + std::string(e.path.substr(0, 200)) + ")"));
    }
  }
  return report;
}

}  // namespace immune::tsb
