#include "immune/chain/keys.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "immune/core/file.h"

namespace immune::chain {

namespace {

std::shared_ptr<void> Own(EVP_PKEY* k) {
  return std::shared_ptr<void>(k, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
}
EVP_PKEY* Raw(const std::shared_ptr<void>& p) { return static_cast<EVP_PKEY*>(p.get()); }

std::string OpensslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no detail from OpenSSL";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Result<KeyType> TypeOfKey(EVP_PKEY* k) {
  if (EVP_PKEY_is_a(k, "ED25519")) return KeyType::kEd25519;
  if (EVP_PKEY_is_a(k, "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof group, &len) == 1 &&
        (std::string_view(group) == "prime256v1" || std::string_view(group) == "P-256"))
      return KeyType::kEcdsaP256;
    return Unsupported("EC key on curve \"" + std::string(group) + "\": only P-256 is supported");
  }
  return Unsupported("key type " +
                     std::string(EVP_PKEY_get0_type_name(k) ? EVP_PKEY_get0_type_name(k) : "?") +
                     ": only Ed25519 and ECDSA P-256 are supported");
}

Result<Bytes> SpkiDer(EVP_PKEY* k) {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(k, &der);
  if (n <= 0) return Internal("encoding a public key: " + OpensslError());
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return out;
}

}  // namespace

Result<PublicKey> PublicKey::FromDer(ByteSpan spki_der) {
  const unsigned char* p = spki_der.data();
  EVP_PKEY* k = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size()));
  if (k == nullptr) return InvalidArgument("not a DER SubjectPublicKeyInfo: " + OpensslError());
  PublicKey out;
  out.pkey_ = Own(k);
  if (p != spki_der.data() + spki_der.size()) return InvalidArgument("trailing bytes after the public key");
  IMMUNE_ASSIGN_OR_RETURN(out.type_, TypeOfKey(k));
  IMMUNE_ASSIGN_OR_RETURN(out.der_, SpkiDer(k));
  out.id_ = Sha256(out.der_);
  return out;
}

Result<PublicKey> PublicKey::FromPem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return Internal("BIO_new_mem_buf failed");
  EVP_PKEY* k = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (k == nullptr) return InvalidArgument("not a PEM public key (\"BEGIN PUBLIC KEY\"): " + OpensslError());
  PublicKey out;
  out.pkey_ = Own(k);
  IMMUNE_ASSIGN_OR_RETURN(out.type_, TypeOfKey(k));
  IMMUNE_ASSIGN_OR_RETURN(out.der_, SpkiDer(k));
  out.id_ = Sha256(out.der_);
  return out;
}

std::string PublicKey::ToPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, Raw(pkey_));
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

bool PublicKey::Verify(ByteSpan message, ByteSpan signature) const {
  if (!pkey_) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return false;
  const char* md = type_ == KeyType::kEd25519 ? nullptr : "SHA256";
  bool ok = EVP_DigestVerifyInit_ex(ctx, nullptr, md, nullptr, nullptr, Raw(pkey_), nullptr) == 1 &&
            EVP_DigestVerify(ctx, signature.data(), signature.size(), message.data(), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

Result<PrivateKey> PrivateKey::Generate(KeyType type) {
  EVP_PKEY* k = type == KeyType::kEd25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                          : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (k == nullptr) return Internal("generating a key: " + OpensslError());
  PrivateKey out;
  out.pkey_ = Own(k);
  IMMUNE_ASSIGN_OR_RETURN(Bytes der, SpkiDer(k));
  IMMUNE_ASSIGN_OR_RETURN(out.public_, PublicKey::FromDer(der));
  return out;
}

Result<PrivateKey> PrivateKey::FromPem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return Internal("BIO_new_mem_buf failed");
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (k == nullptr) return InvalidArgument("not an unencrypted PEM private key: " + OpensslError());
  PrivateKey out;
  out.pkey_ = Own(k);
  IMMUNE_RETURN_IF_ERROR(TypeOfKey(k));
  IMMUNE_ASSIGN_OR_RETURN(Bytes der, SpkiDer(k));
  IMMUNE_ASSIGN_OR_RETURN(out.public_, PublicKey::FromDer(der));
  return out;
}

Result<PrivateKey> PrivateKey::FromPemFile(const std::string& path) {
  IMMUNE_ASSIGN_OR_RETURN(std::string pem, ReadTextFile(path));
  auto k = FromPem(pem);
  if (!k.ok()) return k.error().WithContext(path);
  return k;
}

std::string PrivateKey::ToPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, Raw(pkey_), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

Result<Bytes> PrivateKey::Sign(ByteSpan message) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return Internal("EVP_MD_CTX_new failed");
  const char* md = public_.type() == KeyType::kEd25519 ? nullptr : "SHA256";
  std::size_t len = 0;
  Bytes sig;
  bool ok = EVP_DigestSignInit_ex(ctx, nullptr, md, nullptr, nullptr, Raw(pkey_), nullptr) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, message.data(), message.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, sig.data(), &len, message.data(), message.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return Internal("signing: " + OpensslError());
  return sig;
}

}  // namespace immune::chain
