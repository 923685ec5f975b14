// IMA file signatures in the TSB: the log-independent parts (header
// parsing, the key ring ImaTrustedKeys, key ids) live in immune/core/ima_signature.h and are
// re-exported here, so tsb code keeps using immune::tsb:: names. This header
// adds what needs an ImaLog: keys loaded from ima-buf keyring measurements
// and per-entry verification reports.
//
// Thread safety: as for immune::ImaTrustedKeys; concurrent verification through
// a const ImaKeyRing is safe once loaded.
#ifndef IMMUNE_TSB_IMA_SIG_H_
#define IMMUNE_TSB_IMA_SIG_H_

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
#include "immune/core/ima_signature.h"
#include "immune/tsb/ima_log.h"

namespace immune::tsb {

using immune::FormatKeyId;
using immune::ImaSignatureHeader;
using immune::kImaSigTypeDigsig;
using immune::kImaSigTypeEvmPortable;
using immune::kImaSigTypeVerity;
using immune::ParseImaSignature;

// immune::ImaTrustedKeys plus loading keys from an IMA log. Adds no state,
// so a tsb::ImaKeyRing can be passed wherever a const immune::ImaTrustedKeys&
// is expected. (The core class has another name so that code with both
// `using namespace immune;` and `using namespace immune::tsb;` still sees
// one ImaKeyRing.)
class ImaKeyRing : public immune::ImaTrustedKeys {
 public:
  using immune::ImaTrustedKeys::ImaTrustedKeys;

  // Adds the X.509 certificates that ima-buf entries measured into the
  // given keyrings (KEY_CHECK measurements, e.g. ".ima"). Returns how many.
  Result<std::size_t> AddKeysFromLog(const ImaLog& log, std::span<const std::string_view> keyrings);
};

// Verifies one entry's sig field against its file digest. kNotFound when
// the entry has no signature or no key has its id; kCorruption when the
// header is malformed, its hash algorithm differs from the file digest's,
// or the signature does not verify ("signature does not verify with key
// f3452d23"). Messages carry no place; see VerifyImaSignatures.
Status VerifyImaSignature(const ImaEntry& entry, const immune::ImaTrustedKeys& keys);

struct ImaSignatureReport {
  std::size_t signed_entries = 0;  // entries with a non-empty sig field
  std::size_t verified = 0;
  std::vector<Error> failures;  // one per signed entry that did not verify, naming it
};

// Checks every signed entry (violations skipped).
ImaSignatureReport VerifyImaSignatures(const ImaLog& log, const immune::ImaTrustedKeys& keys);

}  // namespace immune::tsb

#endif  // IMMUNE_TSB_IMA_SIG_H_
