// Publisher keys: Ed25519 or ECDSA P-256 (SHA-256), as PEM files, through
// OpenSSL 3's EVP interface. A key's identifier is SHA-256 of its
// SubjectPublicKeyInfo DER.
//
// Thread safety: PublicKey::Verify and PrivateKey::Sign may be called from
// several threads on the same object (each call uses its own EVP context).
// Objects share the underlying EVP_PKEY; copies are cheap.
#ifndef IMMUNE_CHAIN_KEYS_H_
#define IMMUNE_CHAIN_KEYS_H_

#include <memory>
#include <string>
#include <string_view>

#include "immune/chain/hash.h"
#include "immune/core/bytes.h"
#include "immune/core/error.h"

namespace immune::chain {

enum class KeyType { kEd25519, kEcdsaP256 };

class PublicKey {
 public:
  // A "PUBLIC KEY" PEM (SubjectPublicKeyInfo); a private-key PEM is refused.
  static Result<PublicKey> FromPem(std::string_view pem);
  static Result<PublicKey> FromDer(ByteSpan spki_der);

  KeyType type() const { return type_; }
  const Bytes& spki_der() const { return der_; }
  const Hash256& id() const { return id_; }
  std::string ToPem() const;
  // true when `sig` is a valid signature of `message` by this key.
  bool Verify(ByteSpan message, ByteSpan signature) const;

 private:
  std::shared_ptr<void> pkey_;  // EVP_PKEY
  KeyType type_ = KeyType::kEd25519;
  Bytes der_;
  Hash256 id_{};
};

class PrivateKey {
 public:
  static Result<PrivateKey> Generate(KeyType type);
  static Result<PrivateKey> FromPem(std::string_view pem);
  // Errors name the path.
  static Result<PrivateKey> FromPemFile(const std::string& path);

  const PublicKey& public_key() const { return public_; }
  std::string ToPem() const;  // PKCS#8, unencrypted
  Result<Bytes> Sign(ByteSpan message) const;

 private:
  std::shared_ptr<void> pkey_;
  PublicKey public_;
};

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_KEYS_H_
