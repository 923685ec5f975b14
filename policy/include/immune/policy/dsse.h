// DSSE envelopes (https://github.com/secure-systems-lab/dsse, protocol v1):
// signed policy bundles, signed digest lists, and Keylime's signed runtime
// policies.
//
//   {"payloadType": "...", "payload": BASE64, "signatures": [{"keyid": "...", "sig": BASE64}]}
//
// A signature is over PAE(type, payload) = "DSSEv1" SP LEN(type) SP type SP
// LEN(payload) SP payload (lengths as ASCII decimal). Keys: Ed25519 (pure
// EdDSA), ECDSA P-256/P-384 with SHA-256/SHA-384 (DER signatures; raw r||s
// is accepted too), RSA (PKCS#1 v1.5, SHA-256). The key id written and
// matched is Keylime's: the lower-case hex SHA-256 of the public key's
// SubjectPublicKeyInfo PEM text; key ids are hints (DSSE leaves them
// unauthenticated), every trusted key is tried.
//
// Envelopes are untrusted: nothing in the payload is parsed before one
// signature verifies with a trusted key.
//
// Thread safety: DsseSigner and DsseTrustedKeys are immutable after loading;
// const methods may be called from any thread.
#ifndef IMMUNE_POLICY_DSSE_H_
#define IMMUNE_POLICY_DSSE_H_

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/error.h"

namespace immune::policy {

inline constexpr std::string_view kPolicyYamlPayloadType = "application/vnd.immune.policy+yaml";
inline constexpr std::string_view kPolicyJsonPayloadType = "application/vnd.immune.policy+json";
inline constexpr std::string_view kDigestListPayloadType = "application/vnd.immune.digest-list+json";
inline constexpr std::string_view kKeylimePayloadType = "application/vnd.keylime+json";

struct DsseSignature {
  std::string keyid;
  Bytes sig;
};

struct DsseEnvelope {
  std::string payload_type;
  Bytes payload;
  std::vector<DsseSignature> signatures;
};

// The DSSE v1 pre-authentication encoding.
Bytes Pae(std::string_view payload_type, ByteSpan payload);

// Untrusted JSON; errors are kInvalidArgument naming `source` (and
// line:column for JSON syntax errors).
Result<DsseEnvelope> ParseDsseEnvelope(std::string_view json, std::string_view source);
std::string SerializeDsseEnvelope(const DsseEnvelope& env);

// A private key that signs envelopes. Move-only; owns the OpenSSL key.
class DsseSigner {
 public:
  // An unencrypted PEM private key (PKCS#8 or traditional): Ed25519,
  // ECDSA P-256/P-384 or RSA. Errors name `source`.
  static Result<DsseSigner> FromPem(std::string_view pem, std::string_view source);
  static Result<DsseSigner> FromPemFile(const std::string& path);

  DsseSigner(DsseSigner&&) noexcept;
  DsseSigner& operator=(DsseSigner&&) noexcept;
  ~DsseSigner();

  const std::string& keyid() const { return keyid_; }
  // The SubjectPublicKeyInfo PEM of the public half (to give verifiers).
  Result<std::string> PublicKeyPem() const;

  // Signs PAE(payload_type, payload) and returns the envelope.
  Result<DsseEnvelope> Sign(std::string_view payload_type, ByteSpan payload) const;

 private:
  struct Impl;
  explicit DsseSigner(std::unique_ptr<Impl> impl, std::string keyid);
  std::unique_ptr<Impl> impl_;
  std::string keyid_;
};

// Public keys an envelope must verify with.
class DsseTrustedKeys {
 public:
  DsseTrustedKeys();
  DsseTrustedKeys(DsseTrustedKeys&&) noexcept;
  DsseTrustedKeys& operator=(DsseTrustedKeys&&) noexcept;
  ~DsseTrustedKeys();

  // Every PUBLIC KEY / CERTIFICATE block of a PEM text (or one DER
  // SubjectPublicKeyInfo). Errors name `source`.
  Status AddPem(std::string_view pem, std::string_view source);
  Status AddPemFile(const std::string& path);
  std::size_t size() const;

  // OK when at least one signature verifies over PAE with a trusted key;
  // returns the key id of that key. kPermissionDenied otherwise ("no
  // signature of ENVELOPE verifies with a trusted key"), naming `source`.
  Result<std::string> Verify(const DsseEnvelope& env, std::string_view source) const;

 private:
  struct Key;
  std::vector<Key> keys_;
};

// Parses, verifies, and checks the payload type is one of `accepted`
// (empty: any). The returned envelope's payload is then authentic.
Result<DsseEnvelope> OpenDsse(std::string_view json, std::string_view source, const DsseTrustedKeys& keys,
                              std::span<const std::string_view> accepted = {});

}  // namespace immune::policy

#endif  // IMMUNE_POLICY_DSSE_H_
