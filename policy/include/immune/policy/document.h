// Operator policy documents (docs/policy.md): the parsed, validated but not
// yet compiled form of one `apiVersion: immune/v1, kind: Policy` document.
//
// Documents are untrusted text. Parsing never throws; every error is
// kInvalidArgument with the message "FILE:LINE:COLUMN: what is wrong", and
// unknown keys are errors, so a typo cannot silently widen a policy.
//
// Thread safety: plain values.
#ifndef IMMUNE_POLICY_DOCUMENT_H_
#define IMMUNE_POLICY_DOCUMENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"

namespace immune::policy {

inline constexpr std::string_view kApiVersion = "immune/v1";
inline constexpr std::string_view kKind = "Policy";

// Where something was written; line and column count from 1 (0: unknown).
struct Location {
  std::string file;
  int line = 0;
  int column = 0;

  // "host.yaml:12:3" (or "host.yaml" when the line is unknown).
  std::string ToString() const;
  // "host.yaml:12": the stable rule id a decision reports.
  std::string RuleId() const;
};

enum class ScopeKind : std::uint8_t {
  kHost,           // scope: host
  kImage,          // scope: {image: REFERENCE}
  kContainer,      // scope: {container: ID}
  kAllContainers,  // scope: {containers: all}, the default for containers
};

struct Scope {
  ScopeKind kind = ScopeKind::kHost;
  std::string value;  // the image reference or container id; empty otherwise

  friend bool operator==(const Scope&, const Scope&) = default;
  // "host", "image:busybox:1.36", "container:3f2a...", "containers:all".
  std::string ToString() const;
};

enum class Mode : std::uint8_t { kEnforce, kPermissive, kLearn };
std::string_view ModeName(Mode m);

// What to do on a violation; a bit set.
enum class Action : std::uint8_t {
  kDeny = 1 << 0,
  kKill = 1 << 1,
  kFreeze = 1 << 2,
  kStop = 1 << 3,
  kAlarm = 1 << 4,
};
using ActionSet = std::uint8_t;
inline constexpr ActionSet kDefaultActions =
    static_cast<ActionSet>(Action::kDeny) | static_cast<ActionSet>(Action::kAlarm);
inline bool Has(ActionSet set, Action a) { return (set & static_cast<ActionSet>(a)) != 0; }
// "deny,alarm".
std::string ActionSetToString(ActionSet set);

struct DigestRef {
  HashAlg alg = HashAlg::kSha256;
  Bytes digest;

  friend bool operator==(const DigestRef&, const DigestRef&) = default;
  std::string ToString() const;  // "sha256:ab12..."
};

// "sha256:HEX" (any algorithm core knows: sha1, sha256, sha384, sha512,
// sm3/sm3_256, sha3_*); the hex length must match the algorithm.
Result<DigestRef> ParseDigestRef(std::string_view text);

enum class RuleKind : std::uint8_t {
  kDigest,         // `- sha256:...`: that content anywhere
  kPathDigest,     // `{path: P, digest: D}` or `digests: [...]`: that content at P
  kPathGlob,       // `{path: GLOB, unsafe-path-only: true}`: anything at a matching path (weak)
  kPathRegex,      // a Keylime `excludes` regex (imported, weak like kPathGlob)
  kSignedLists,    // `signed-lists: ...`: digests from DSSE-signed digest lists
  kImaSignatures,  // `ima-signatures: {keys: [...]}`: files whose security.ima verifies
  kBaselineOf,     // `{baseline-of: IMAGE}`: the ledger's file baselines of that image (path in `path`);
                   // resolved by whoever loads the ledger (immuned) before Compile, which refuses it unresolved
};

struct Rule {
  RuleKind kind = RuleKind::kDigest;
  std::vector<DigestRef> digests;  // kDigest (one), kPathDigest (one or more)
  std::string path;                // kPathDigest path, kPathGlob glob, kPathRegex regex, kBaselineOf image
  std::vector<std::string> files;  // kSignedLists lists, resolved against the document's directory
  std::vector<std::string> keys;   // kSignedLists / kImaSignatures key files, resolved likewise
  Location where;
};

struct Document {
  Location where;  // the document's start
  Scope scope;
  std::optional<Mode> mode;  // unset: inherit (default enforce)
  std::vector<Rule> allow;
  std::vector<Rule> deny;
  std::optional<std::vector<std::string>> interpreters;  // unset: inherit (default list)
  std::optional<ActionSet> actions;                      // unset: inherit (default deny, alarm)
  // `critical-files: [PATH...]`: configuration files immuned measures when
  // named and on every change (the integrity agent); absolute paths.
  std::vector<std::string> critical_files;
  // Keylime runtime-policy members Immune does not enforce, kept verbatim
  // (JSON text by member name) so an export gives them back.
  std::vector<std::pair<std::string, std::string>> keylime_extra;
};

// The built-in interpreter names (globs): sh, ash, bash, dash, zsh, ksh,
// python*, perl, ruby, php, node, lua, tclsh.
const std::vector<std::string>& DefaultInterpreters();

// Parses every document in `text` (YAML, possibly several separated by
// "---"; or one JSON object, detected by a leading '{'). `source` names the
// input in errors and rule ids; relative file references (signed lists,
// keys) are resolved against its directory.
Result<std::vector<Document>> ParseDocuments(std::string_view text, std::string_view source);
Result<std::vector<Document>> ParseDocumentFile(const std::string& path);

}  // namespace immune::policy

#endif  // IMMUNE_POLICY_DOCUMENT_H_
