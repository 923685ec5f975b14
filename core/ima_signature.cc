#include "immune/core/ima_signature.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>

#include "immune/core/file.h"

namespace immune {
namespace {

struct ImaHashName {
  std::string_view name;
  std::optional<HashAlg> alg;
};

// The kernel's hash_algo_name[], indexed by enum hash_algo.
constexpr ImaHashName kImaHashAlgos[] = {
    {"md4", std::nullopt},
    {"md5", std::nullopt},
    {"sha1", HashAlg::kSha1},
    {"rmd160", std::nullopt},
    {"sha256", HashAlg::kSha256},
    {"sha384", HashAlg::kSha384},
    {"sha512", HashAlg::kSha512},
    {"sha224", std::nullopt},
    {"rmd128", std::nullopt},
    {"rmd256", std::nullopt},
    {"rmd320", std::nullopt},
    {"wp256", std::nullopt},
    {"wp384", std::nullopt},
    {"wp512", std::nullopt},
    {"tgr128", std::nullopt},
    {"tgr160", std::nullopt},
    {"tgr192", std::nullopt},
    {"sm3", HashAlg::kSm3_256},
    {"streebog256", std::nullopt},
    {"streebog512", std::nullopt},
    {"sha3-256", HashAlg::kSha3_256},
    {"sha3-384", HashAlg::kSha3_384},
    {"sha3-512", HashAlg::kSha3_512},
};

}  // namespace

std::optional<HashAlg> HashAlgFromImaHashAlgo(std::uint8_t id) {
  if (id >= std::size(kImaHashAlgos)) return std::nullopt;
  return kImaHashAlgos[id].alg;
}

std::string_view ImaHashAlgoName(std::uint8_t id) {
  if (id >= std::size(kImaHashAlgos)) return {};
  return kImaHashAlgos[id].name;
}

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The ima-evm-utils key id: SHA-1 of the subjectPublicKey bit string
// contents, last 4 bytes, big-endian.
std::optional<std::uint32_t> KeyIdOf(EVP_PKEY* pkey) {
  X509_PUBKEY* xpk = nullptr;
  std::optional<std::uint32_t> id;
  const unsigned char* bits = nullptr;
  int len = 0;
  if (X509_PUBKEY_set(&xpk, pkey) == 1 && X509_PUBKEY_get0_param(nullptr, &bits, &len, nullptr, xpk) == 1 &&
      len > 0) {
    auto sha1 = Hash(HashAlg::kSha1, ByteSpan(bits, static_cast<std::size_t>(len)));
    if (sha1.ok()) {
      const Bytes& d = *sha1;
      id = std::uint32_t{d[16]} << 24 | std::uint32_t{d[17]} << 16 | std::uint32_t{d[18]} << 8 | d[19];
    }
  }
  X509_PUBKEY_free(xpk);
  return id;
}

const EVP_MD* MdFor(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1: return EVP_sha1();
    case HashAlg::kSha256: return EVP_sha256();
    case HashAlg::kSha384: return EVP_sha384();
    case HashAlg::kSha512: return EVP_sha512();
    case HashAlg::kSm3_256: return EVP_sm3();
    case HashAlg::kSha3_256: return EVP_sha3_256();
    case HashAlg::kSha3_384: return EVP_sha3_384();
    case HashAlg::kSha3_512: return EVP_sha3_512();
  }
  return nullptr;
}

}  // namespace

struct ImaTrustedKeys::Key {
  std::uint32_t id;
  PkeyPtr pkey;
  std::string source;
};

ImaTrustedKeys::ImaTrustedKeys() = default;
ImaTrustedKeys::~ImaTrustedKeys() = default;
ImaTrustedKeys::ImaTrustedKeys(ImaTrustedKeys&&) noexcept = default;
ImaTrustedKeys& ImaTrustedKeys::operator=(ImaTrustedKeys&&) noexcept = default;

std::size_t ImaTrustedKeys::size() const { return keys_.size(); }

std::vector<std::uint32_t> ImaTrustedKeys::KeyIds() const {
  std::vector<std::uint32_t> ids;
  for (const Key& k : keys_) ids.push_back(k.id);
  return ids;
}

std::string FormatKeyId(std::uint32_t keyid) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", keyid);
  return buf;
}

namespace {

// Decodes one DER object named by its PEM label (or by trial for raw DER).
// A certificate also yields the id of its subject key identifier when that
// differs from the computed one (the kernel's view of the key id).
struct Decoded {
  PkeyPtr pkey;
  std::optional<std::uint32_t> skid;
};

Decoded DecodeDer(std::string_view label, ByteSpan der) {
  Decoded out;
  auto try_pubkey = [&] {
    const unsigned char* p = der.data();
    out.pkey.reset(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  };
  auto try_cert = [&] {
    const unsigned char* p = der.data();
    X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
    if (x == nullptr) return;
    out.pkey.reset(X509_get_pubkey(x));
    const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(x);
    if (skid != nullptr && ASN1_STRING_length(skid) >= 4) {
      const unsigned char* s = ASN1_STRING_get0_data(skid) + ASN1_STRING_length(skid) - 4;
      out.skid = std::uint32_t{s[0]} << 24 | std::uint32_t{s[1]} << 16 | std::uint32_t{s[2]} << 8 | s[3];
    }
    X509_free(x);
  };
  auto try_private = [&] {
    const unsigned char* p = der.data();
    out.pkey.reset(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size())));
  };
  auto try_rsa_public = [&] {
    const unsigned char* p = der.data();
    out.pkey.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(der.size())));
  };
  if (label == "PUBLIC KEY") {
    try_pubkey();
  } else if (label == "CERTIFICATE" || label == "X509 CERTIFICATE") {
    try_cert();
  } else if (label == "RSA PUBLIC KEY") {
    try_rsa_public();
  } else if (label == "PRIVATE KEY" || label == "RSA PRIVATE KEY" || label == "EC PRIVATE KEY") {
    try_private();
  } else if (label.empty()) {
    try_pubkey();
    if (!out.pkey) try_cert();
    if (!out.pkey) try_private();
  }
  return out;
}

}  // namespace

Status ImaTrustedKeys::AddKey(ByteSpan pem_or_der, std::string_view source) {
  std::vector<Decoded> found;
  const std::string_view text = AsString(pem_or_der);
  if (text.find("-----BEGIN ") != std::string_view::npos) {
    BIO* bio = BIO_new_mem_buf(pem_or_der.data(), static_cast<int>(pem_or_der.size()));
    if (bio == nullptr) return Internal("out of memory reading keys");
    while (true) {
      char* name = nullptr;
      char* header = nullptr;
      unsigned char* data = nullptr;
      long len = 0;
      if (PEM_read_bio(bio, &name, &header, &data, &len) != 1) break;
      // Encrypted PEM (a Proc-Type header) is skipped: nothing prompts for a pass phrase.
      const bool encrypted = header != nullptr && std::strlen(header) > 0;
      if (!encrypted) {
        Decoded d = DecodeDer(name, ByteSpan(data, static_cast<std::size_t>(len)));
        if (d.pkey) found.push_back(std::move(d));
      }
      OPENSSL_free(name);
      OPENSSL_free(header);
      OPENSSL_free(data);
    }
    BIO_free(bio);
  } else {
    Decoded d = DecodeDer("", pem_or_der);
    if (d.pkey) found.push_back(std::move(d));
  }
  if (found.empty()) {
    return InvalidArgument(std::string(source) +
                           ": no public key, certificate or unencrypted private key could be read");
  }
  for (Decoded& d : found) {
    auto id = KeyIdOf(d.pkey.get());
    if (!id) return InvalidArgument(std::string(source) + ": cannot compute the key id of a key");
    if (d.skid && *d.skid != *id) {
      EVP_PKEY_up_ref(d.pkey.get());
      keys_.push_back(Key{*d.skid, PkeyPtr(d.pkey.get()), std::string(source)});
    }
    keys_.push_back(Key{*id, std::move(d.pkey), std::string(source)});
  }
  return OkStatus();
}

Status ImaTrustedKeys::AddKeyFile(const std::string& path) {
  IMMUNE_ASSIGN_OR_RETURN(Bytes data, ReadFile(path));
  return AddKey(data, path);
}

Status ImaTrustedKeys::Verify(std::uint32_t keyid, HashAlg alg, ByteSpan data, ByteSpan signature) const {
  const EVP_MD* md = MdFor(alg);
  if (md == nullptr) return Unsupported("no OpenSSL digest for " + std::string(HashAlgName(alg)));
  bool any = false;
  std::string sources;
  for (const Key& k : keys_) {
    if (k.id != keyid) continue;
    any = true;
    if (!sources.empty()) sources += ", ";
    sources += k.source;
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(k.pkey.get(), nullptr);
    if (ctx == nullptr) continue;
    bool ok = EVP_PKEY_verify_init(ctx) == 1;
    if (ok && EVP_PKEY_get_base_id(k.pkey.get()) == EVP_PKEY_RSA) {
      ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
    }
    ok = ok && EVP_PKEY_CTX_set_signature_md(ctx, md) == 1;
    ok = ok && EVP_PKEY_verify(ctx, signature.data(), signature.size(), data.data(), data.size()) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (ok) return OkStatus();
  }
  if (!any) return NotFound("no key with id " + FormatKeyId(keyid));
  return Corruption("signature does not verify with key " + FormatKeyId(keyid) + " (" + sources + ")");
}

Result<ImaSignatureHeader> ParseImaSignature(ByteSpan sig) {
  ByteReader r(sig);
  ImaSignatureHeader h;
  auto type = r.U8();
  auto version = r.U8();
  auto algo = r.U8();
  auto keyid = r.U32Be();
  auto size = r.U16Be();
  if (!type || !version || !algo || !keyid || !size) {
    return Corruption("signature of " + std::to_string(sig.size()) +
                      " bytes is shorter than its 9-byte header");
  }
  h.type = *type;
  h.version = *version;
  h.ima_hash_algo = *algo;
  h.keyid = *keyid;
  if (h.type == kImaSigTypeEvmPortable) {
    return Unsupported("EVM portable signature (type 5) signs file metadata, not the file digest");
  }
  if (h.type != kImaSigTypeDigsig && h.type != kImaSigTypeVerity) {
    return Corruption("signature type " + std::to_string(h.type) +
                      " is not an IMA digital signature (3 or 6)");
  }
  if (h.version == 1) return Unsupported("version 1 (digsig) signatures are not supported");
  if (h.version != 2 && h.version != 3) {
    return Corruption("signature version " + std::to_string(h.version) + " is not 2 or 3");
  }
  if (*size != r.remaining()) {
    return Corruption("signature size " + std::to_string(*size) + " in the header does not match the " +
                      std::to_string(r.remaining()) + " bytes that follow");
  }
  if (*size == 0) return Corruption("signature is empty");
  h.hash_alg = HashAlgFromImaHashAlgo(h.ima_hash_algo);
  h.signature = r.rest();
  return h;
}

Status VerifyImaSignatureOver(const ImaSignatureHeader& h, ByteSpan file_digest, const ImaTrustedKeys& keys) {
  if (!h.hash_alg) {
    const std::string_view name = ImaHashAlgoName(h.ima_hash_algo);
    return Unsupported("signature hash algorithm " +
                       (name.empty() ? std::to_string(h.ima_hash_algo) : std::string(name)) +
                       " is not supported");
  }
  if (file_digest.size() != DigestSize(*h.hash_alg)) {
    return Corruption("file digest has the wrong size for " + std::string(HashAlgName(*h.hash_alg)));
  }
  if (h.version == 2) return keys.Verify(h.keyid, *h.hash_alg, file_digest, h.signature);
  // v3: the signature is over H(struct ima_file_id), whose hash[] is cut to
  // the digest size: type, hash_algo, digest.
  Hasher hasher(*h.hash_alg);
  const std::uint8_t id_hdr[2] = {h.type, h.ima_hash_algo};
  IMMUNE_ASSIGN_OR_RETURN(Bytes file_id_hash, hasher.Update(id_hdr).Update(file_digest).Final());
  return keys.Verify(h.keyid, *h.hash_alg, file_id_hash, h.signature);
}

Status VerifyImaFileSignature(ByteSpan xattr, HashAlg alg, ByteSpan file_digest, const ImaTrustedKeys& keys) {
  if (xattr.empty()) return NotFound("no signature");
  IMMUNE_ASSIGN_OR_RETURN(ImaSignatureHeader h, ParseImaSignature(xattr));
  if (h.hash_alg && *h.hash_alg != alg) {
    return Corruption("signature is over a " + std::string(HashAlgName(*h.hash_alg)) +
                      " digest, the file digest is " + std::string(HashAlgName(alg)));
  }
  return VerifyImaSignatureOver(h, file_digest, keys);
}

}  // namespace immune
