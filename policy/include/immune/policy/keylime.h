// Keylime runtime policies (keylime/policy/runtime_policy: the JSON a
// Keylime verifier enforces against the IMA log) to and from Immune
// documents. Mapping (docs/policy.md#keylime):
//   digests {PATH: [DIGEST...]}  -> allow {path: PATH, digests: [...]}
//                                   (bare hex: 40 chars sha1, 64 sha256,
//                                   96 sha384, 128 sha512; or "alg:hex")
//   excludes [REGEX...]          -> allow {path-regex: REGEX, unsafe-path-only}
//   meta, release, keyrings, ima, ima-buf, verification-keys
//                                -> kept verbatim in Document::keylime_extra
//                                   (Immune does not enforce them) and
//                                   written back on export.
//
// Thread safety: free functions over values.
#ifndef IMMUNE_POLICY_KEYLIME_H_
#define IMMUNE_POLICY_KEYLIME_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/error.h"
#include "immune/policy/document.h"

namespace immune::policy {

// Untrusted JSON. The document has scope host and no mode (enforce); its
// rules are located at `source` (no line: the JSON has one rule per path).
// Unknown top-level members and malformed digests are kInvalidArgument
// errors naming `source` and the member.
Result<Document> ImportKeylimeRuntimePolicy(std::string_view json, std::string_view source);

struct KeylimeExport {
  std::string json;
  // Rules a Keylime runtime policy cannot express (deny entries, digests
  // without a path, signed lists, IMA signature keys), one line each
  // naming the rule's place.
  std::vector<std::string> dropped;
};

// Writes the allow rules of `docs` (all scopes merged) as one runtime
// policy. Globs become anchored regexes in `excludes`.
Result<KeylimeExport> ExportKeylimeRuntimePolicy(std::span<const Document> docs);

}  // namespace immune::policy

#endif  // IMMUNE_POLICY_KEYLIME_H_
