#include "immune/policy/dsse.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "immune/core/digest.h"
#include "immune/core/file.h"
#include "immune/core/hex.h"
#include "text_position.h"

namespace immune::policy {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// The digest each key type signs PAE with; nullptr for Ed25519 (pure EdDSA
// hashes internally). nullopt: a key type DSSE envelopes here do not use.
std::optional<const EVP_MD*> MdForKey(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_ED25519: return nullptr;
    case EVP_PKEY_EC: return EVP_PKEY_get_bits(key) > 256 ? EVP_sha384() : EVP_sha256();
    case EVP_PKEY_RSA: return EVP_sha256();
    default: return std::nullopt;
  }
}

// Keylime's key id: sha256 over the SubjectPublicKeyInfo PEM text.
Result<std::string> PublicPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) return Internal("cannot encode a public key as PEM");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

Result<std::string> KeyIdOf(EVP_PKEY* key) {
  IMMUNE_ASSIGN_OR_RETURN(std::string pem, PublicPem(key));
  IMMUNE_ASSIGN_OR_RETURN(Bytes d, Hash(HashAlg::kSha256, AsBytes(pem)));
  return ToHex(d);
}

bool VerifyWith(EVP_PKEY* key, ByteSpan msg, ByteSpan sig) {
  auto md = MdForKey(key);
  if (!md) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, *md, nullptr, key) != 1) return false;
  return EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), msg.data(), msg.size()) == 1;
}

// Some DSSE signers write ECDSA signatures as raw r||s (IEEE P1363) rather
// than DER; converts the former so OpenSSL can check it.
std::optional<Bytes> RawEcdsaToDer(ByteSpan raw) {
  if (raw.empty() || raw.size() % 2 != 0 || raw.size() > 132) return std::nullopt;
  const std::size_t half = raw.size() / 2;
  ECDSA_SIG* s = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(raw.data(), static_cast<int>(half), nullptr);
  BIGNUM* ss = BN_bin2bn(raw.data() + half, static_cast<int>(half), nullptr);
  std::optional<Bytes> out;
  if (s != nullptr && r != nullptr && ss != nullptr && ECDSA_SIG_set0(s, r, ss) == 1) {
    r = ss = nullptr;  // owned by s now
    unsigned char* der = nullptr;
    const int len = i2d_ECDSA_SIG(s, &der);
    if (len > 0) out = Bytes(der, der + len);
    OPENSSL_free(der);
  }
  BN_free(r);
  BN_free(ss);
  ECDSA_SIG_free(s);
  return out;
}

Error JsonError(std::string_view json, std::string_view source) {
  return InvalidArgument(std::string(source) + ":" + internal::JsonSyntaxError(json) + " (invalid JSON)");
}

}  // namespace

Bytes Pae(std::string_view payload_type, ByteSpan payload) {
  const std::string head = "DSSEv1 " + std::to_string(payload_type.size()) + " " + std::string(payload_type) +
                           " " + std::to_string(payload.size()) + " ";
  Bytes out(head.begin(), head.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Result<DsseEnvelope> ParseDsseEnvelope(std::string_view json, std::string_view source) {
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return JsonError(json, source);
  const std::string src(source);
  if (!j.is_object()) return InvalidArgument(src + ": a DSSE envelope must be a JSON object");
  DsseEnvelope env;
  auto type = j.find("payloadType");
  if (type == j.end() || !type->is_string()) return InvalidArgument(src + ": 'payloadType' is missing");
  env.payload_type = type->get<std::string>();
  auto payload = j.find("payload");
  if (payload == j.end() || !payload->is_string()) return InvalidArgument(src + ": 'payload' is missing");
  auto bytes = FromBase64(payload->get_ref<const std::string&>());
  if (!bytes.ok()) return InvalidArgument(src + ": 'payload' is not base64: " + bytes.error().message());
  env.payload = std::move(bytes).value();
  auto sigs = j.find("signatures");
  if (sigs == j.end() || !sigs->is_array() || sigs->empty()) {
    return InvalidArgument(src + ": 'signatures' is missing or empty");
  }
  for (std::size_t i = 0; i < sigs->size(); ++i) {
    const nlohmann::json& s = (*sigs)[i];
    const std::string where = src + ": signatures[" + std::to_string(i) + "]";
    if (!s.is_object()) return InvalidArgument(where + " is not an object");
    DsseSignature sig;
    auto keyid = s.find("keyid");
    if (keyid != s.end()) {
      if (!keyid->is_string()) return InvalidArgument(where + ".keyid is not a string");
      sig.keyid = keyid->get<std::string>();
    }
    auto b64 = s.find("sig");
    if (b64 == s.end() || !b64->is_string()) return InvalidArgument(where + ".sig is missing");
    auto raw = FromBase64(b64->get_ref<const std::string&>());
    // A signature that is not even base64 cannot verify; keep it empty so
    // the verdict is "does not verify" rather than a parse failure.
    if (raw.ok()) sig.sig = std::move(raw).value();
    env.signatures.push_back(std::move(sig));
  }
  return env;
}

std::string SerializeDsseEnvelope(const DsseEnvelope& env) {
  nlohmann::json j;
  j["payloadType"] = env.payload_type;
  j["payload"] = ToBase64(env.payload);
  j["signatures"] = nlohmann::json::array();
  for (const DsseSignature& s : env.signatures) {
    j["signatures"].push_back({{"keyid", s.keyid}, {"sig", ToBase64(s.sig)}});
  }
  return j.dump(2) + "\n";
}

struct DsseSigner::Impl {
  PkeyPtr key;
};

DsseSigner::DsseSigner(std::unique_ptr<Impl> impl, std::string keyid)
    : impl_(std::move(impl)), keyid_(std::move(keyid)) {}
DsseSigner::DsseSigner(DsseSigner&&) noexcept = default;
DsseSigner& DsseSigner::operator=(DsseSigner&&) noexcept = default;
DsseSigner::~DsseSigner() = default;

Result<DsseSigner> DsseSigner::FromPem(std::string_view pem, std::string_view source) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Internal("out of memory reading a key");
  // An empty pass phrase callback: encrypted keys fail instead of prompting.
  PkeyPtr key(PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (!key) return InvalidArgument(std::string(source) + ": no unencrypted PEM private key");
  if (!MdForKey(key.get())) {
    return Unsupported(std::string(source) + ": key type is not Ed25519, ECDSA or RSA");
  }
  IMMUNE_ASSIGN_OR_RETURN(std::string keyid, KeyIdOf(key.get()));
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  return DsseSigner(std::move(impl), std::move(keyid));
}

Result<DsseSigner> DsseSigner::FromPemFile(const std::string& path) {
  IMMUNE_ASSIGN_OR_RETURN(std::string pem, ReadTextFile(path));
  return FromPem(pem, path);
}

Result<std::string> DsseSigner::PublicKeyPem() const { return PublicPem(impl_->key.get()); }

Result<DsseEnvelope> DsseSigner::Sign(std::string_view payload_type, ByteSpan payload) const {
  const Bytes pae = Pae(payload_type, payload);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const auto md = MdForKey(impl_->key.get());
  std::size_t len = 0;
  if (!ctx || !md || EVP_DigestSignInit(ctx.get(), nullptr, *md, nullptr, impl_->key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, pae.data(), pae.size()) != 1) {
    return Internal("signing failed to start");
  }
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, pae.data(), pae.size()) != 1)
    return Internal("signing failed");
  sig.resize(len);
  DsseEnvelope env;
  env.payload_type = std::string(payload_type);
  env.payload.assign(payload.begin(), payload.end());
  env.signatures.push_back(DsseSignature{keyid_, std::move(sig)});
  return env;
}

struct DsseTrustedKeys::Key {
  PkeyPtr key;
  std::string keyid;
  std::string source;
};

DsseTrustedKeys::DsseTrustedKeys() = default;
DsseTrustedKeys::DsseTrustedKeys(DsseTrustedKeys&&) noexcept = default;
DsseTrustedKeys& DsseTrustedKeys::operator=(DsseTrustedKeys&&) noexcept = default;
DsseTrustedKeys::~DsseTrustedKeys() = default;
std::size_t DsseTrustedKeys::size() const { return keys_.size(); }

Status DsseTrustedKeys::AddPem(std::string_view pem, std::string_view source) {
  std::vector<PkeyPtr> found;
  if (pem.find("-----BEGIN ") != std::string_view::npos) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return Internal("out of memory reading keys");
    while (true) {
      char* name = nullptr;
      char* header = nullptr;
      unsigned char* data = nullptr;
      long len = 0;
      if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) break;
      const unsigned char* p = data;
      const std::string_view label = name;
      if (label == "PUBLIC KEY") {
        found.emplace_back(d2i_PUBKEY(nullptr, &p, len));
      } else if (label == "CERTIFICATE") {
        X509* x = d2i_X509(nullptr, &p, len);
        if (x != nullptr) found.emplace_back(X509_get_pubkey(x));
        X509_free(x);
      }
      if (!found.empty() && !found.back()) found.pop_back();
      OPENSSL_free(name);
      OPENSSL_free(header);
      OPENSSL_free(data);
    }
  } else {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(pem.data());
    PkeyPtr k(d2i_PUBKEY(nullptr, &p, static_cast<long>(pem.size())));
    if (k) found.push_back(std::move(k));
  }
  if (found.empty()) return InvalidArgument(std::string(source) + ": no public key or certificate");
  for (PkeyPtr& k : found) {
    if (!MdForKey(k.get()))
      return Unsupported(std::string(source) + ": key type is not Ed25519, ECDSA or RSA");
    IMMUNE_ASSIGN_OR_RETURN(std::string id, KeyIdOf(k.get()));
    keys_.push_back(Key{std::move(k), std::move(id), std::string(source)});
  }
  return OkStatus();
}

Status DsseTrustedKeys::AddPemFile(const std::string& path) {
  IMMUNE_ASSIGN_OR_RETURN(std::string pem, ReadTextFile(path));
  return AddPem(pem, path);
}

Result<std::string> DsseTrustedKeys::Verify(const DsseEnvelope& env, std::string_view source) const {
  const Bytes pae = Pae(env.payload_type, env.payload);
  for (const DsseSignature& s : env.signatures) {
    if (s.sig.empty()) continue;
    for (const Key& k : keys_) {
      if (VerifyWith(k.key.get(), pae, s.sig)) return k.keyid;
      if (EVP_PKEY_get_base_id(k.key.get()) == EVP_PKEY_EC) {
        auto der = RawEcdsaToDer(s.sig);
        if (der && VerifyWith(k.key.get(), pae, *der)) return k.keyid;
      }
    }
  }
  return Error(ErrorCode::kPermissionDenied,
               std::string(source) + ": no signature of the envelope verifies with a trusted key (" +
                   std::to_string(env.signatures.size()) + " signature(s), " + std::to_string(keys_.size()) +
                   " trusted key(s))");
}

Result<DsseEnvelope> OpenDsse(std::string_view json, std::string_view source, const DsseTrustedKeys& keys,
                              std::span<const std::string_view> accepted) {
  IMMUNE_ASSIGN_OR_RETURN(DsseEnvelope env, ParseDsseEnvelope(json, source));
  IMMUNE_RETURN_IF_ERROR(keys.Verify(env, source));
  if (!accepted.empty() && std::find(accepted.begin(), accepted.end(), env.payload_type) == accepted.end()) {
    return InvalidArgument(std::string(source) + ": payloadType '" + env.payload_type.substr(0, 100) +
                           "' is not accepted here");
  }
  return env;
}

}  // namespace immune::policy
