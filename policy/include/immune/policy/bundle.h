// Signed policy bundles and signed digest lists, both DSSE envelopes
// (dsse.h; formats in docs/policy.md).
//
// Policy bundle: payloadType application/vnd.immune.policy+yaml (or +json),
// the payload is a policy file's text. Keylime's signed runtime policies
// (application/vnd.keylime+json) open as bundles too and are imported.
//
// Signed digest list (the "well-formed signature list" of Guo et al.,
// TrustCom 2019: a list of executable digests a user authorises, signed):
// payloadType application/vnd.immune.digest-list+json, the payload a JSON
// array of {"digest": "sha256:HEX", "path": "/abs/path"?}; an entry with a
// path allows that digest only at that path.
//
// Thread safety: free functions over values.
#ifndef IMMUNE_POLICY_BUNDLE_H_
#define IMMUNE_POLICY_BUNDLE_H_

#include <string>
#include <string_view>
#include <vector>

#include "immune/core/error.h"
#include "immune/policy/document.h"
#include "immune/policy/dsse.h"

namespace immune::policy {

// Signs a policy file's text (checked to parse first, so a broken policy is
// never signed). JSON is detected by content. Returns the envelope JSON.
Result<std::string> SignPolicyBundle(std::string_view policy_text, std::string_view source,
                                     const DsseSigner& signer);

// Verifies the envelope with `keys` before parsing anything in it, then
// parses the payload (policy YAML/JSON, or a Keylime runtime policy).
// kPermissionDenied when no trusted key verifies it.
Result<std::vector<Document>> OpenPolicyBundle(std::string_view envelope_json, std::string_view source,
                                               const DsseTrustedKeys& keys);

struct DigestListEntry {
  DigestRef digest;
  std::string path;  // empty: anywhere
};

Result<std::string> SignDigestList(const std::vector<DigestListEntry>& entries, const DsseSigner& signer);
// Verifies, then parses the list; errors name `source` and the entry index.
Result<std::vector<DigestListEntry>> OpenDigestList(std::string_view envelope_json, std::string_view source,
                                                    const DsseTrustedKeys& keys);

}  // namespace immune::policy

#endif  // IMMUNE_POLICY_BUNDLE_H_
