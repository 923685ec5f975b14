// SHA-1 and SHA-2 go through OpenSSL's direct functions (SHA256_Init and
// friends), not EVP: an EVP digest fetch initialises the provider machinery,
// which costs about a millisecond per process, as much again as the whole
// start-up of a small command (measured in docs/performance.md). immunectl
// replays a boot log in less than that. The direct functions use the same
// assembly as the provider. They are deprecated in OpenSSL 3 but present in
// every 3.x; where a build hides them (OPENSSL_NO_DEPRECATED_3_0) EVP is used.
// SM3 and SHA-3 have no direct API and always use EVP.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "immune/core/digest.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <string>

namespace immune {

namespace {

struct AlgInfo {
  HashAlg alg;
  std::string_view name;
  std::size_t size;
  const char* openssl_name;
};

constexpr std::array<AlgInfo, 8> kAlgs = {{
    {HashAlg::kSha1, "sha1", 20, "SHA1"},
    {HashAlg::kSha256, "sha256", 32, "SHA2-256"},
    {HashAlg::kSha384, "sha384", 48, "SHA2-384"},
    {HashAlg::kSha512, "sha512", 64, "SHA2-512"},
    {HashAlg::kSm3_256, "sm3_256", 32, "SM3"},
    {HashAlg::kSha3_256, "sha3_256", 32, "SHA3-256"},
    {HashAlg::kSha3_384, "sha3_384", 48, "SHA3-384"},
    {HashAlg::kSha3_512, "sha3_512", 64, "SHA3-512"},
}};

constexpr std::array<HashAlg, 8> kAllAlgs = {HashAlg::kSha1,     HashAlg::kSha256,  HashAlg::kSha384,
                                             HashAlg::kSha512,   HashAlg::kSm3_256, HashAlg::kSha3_256,
                                             HashAlg::kSha3_384, HashAlg::kSha3_512};

const AlgInfo* Find(HashAlg alg) {
  for (const auto& a : kAlgs) {
    if (a.alg == alg) return &a;
  }
  return nullptr;
}

// Fetching an EVP_MD is costly (a provider look-up); do it once per
// algorithm. Function-local statics are initialised thread-safely.
const EVP_MD* FetchMd(HashAlg alg) {
  static const std::array<EVP_MD*, kAlgs.size()> mds = [] {
    std::array<EVP_MD*, kAlgs.size()> m{};
    for (std::size_t i = 0; i < kAlgs.size(); ++i)
      m[i] = EVP_MD_fetch(nullptr, kAlgs[i].openssl_name, nullptr);
    return m;
  }();
  for (std::size_t i = 0; i < kAlgs.size(); ++i) {
    if (kAlgs[i].alg == alg) return mds[i];
  }
  return nullptr;
}

}  // namespace

std::span<const HashAlg> AllHashAlgs() { return kAllAlgs; }

std::optional<HashAlg> HashAlgFromTpmId(std::uint16_t id) {
  for (const auto& a : kAlgs) {
    if (static_cast<std::uint16_t>(a.alg) == id) return a.alg;
  }
  return std::nullopt;
}

std::optional<HashAlg> HashAlgFromName(std::string_view name) {
  for (const auto& a : kAlgs) {
    if (a.name == name) return a.alg;
  }
  if (name == "sm3") return HashAlg::kSm3_256;
  return std::nullopt;
}

std::string_view HashAlgName(HashAlg alg) {
  const AlgInfo* a = Find(alg);
  return a != nullptr ? a->name : std::string_view("unknown");
}

std::size_t DigestSize(HashAlg alg) {
  const AlgInfo* a = Find(alg);
  return a != nullptr ? a->size : 0;
}

#if !defined(OPENSSL_NO_DEPRECATED_3_0)
#define IMMUNE_DIRECT_SHA 1
#endif

struct Hasher::Ctx {
  EVP_MD_CTX* md_ctx = nullptr;  // SM3, SHA-3, or everything without direct SHA
#ifdef IMMUNE_DIRECT_SHA
  union {
    SHA_CTX sha1;
    SHA256_CTX sha256;
    SHA512_CTX sha512;  // also SHA-384
  } direct;
#endif
};

namespace {
bool IsDirect(HashAlg alg) {
#ifdef IMMUNE_DIRECT_SHA
  return alg == HashAlg::kSha1 || alg == HashAlg::kSha256 || alg == HashAlg::kSha384 ||
         alg == HashAlg::kSha512;
#else
  (void)alg;
  return false;
#endif
}
}  // namespace

Hasher::Hasher(HashAlg alg) : alg_(alg) {
  if (Find(alg) == nullptr) return;
#ifdef IMMUNE_DIRECT_SHA
  if (IsDirect(alg)) {
    ctx_ = new Ctx;
    Reset();  // initialises the direct context
    return;
  }
#endif
  const EVP_MD* md = FetchMd(alg);
  if (md == nullptr) return;
  EVP_MD_CTX* c = EVP_MD_CTX_new();
  if (c == nullptr) return;
  if (EVP_DigestInit_ex2(c, md, nullptr) != 1) {
    EVP_MD_CTX_free(c);
    return;
  }
  ctx_ = new Ctx;
  ctx_->md_ctx = c;
}

Hasher::~Hasher() {
  if (ctx_ != nullptr) {
    if (ctx_->md_ctx != nullptr) EVP_MD_CTX_free(ctx_->md_ctx);
    delete ctx_;
  }
}

Hasher::Hasher(Hasher&& o) noexcept : alg_(o.alg_), ctx_(std::exchange(o.ctx_, nullptr)) {}

Hasher& Hasher::operator=(Hasher&& o) noexcept {
  if (this != &o) {
    this->~Hasher();
    alg_ = o.alg_;
    ctx_ = std::exchange(o.ctx_, nullptr);
  }
  return *this;
}

Hasher& Hasher::Update(ByteSpan data) {
  if (ctx_ == nullptr || data.empty()) return *this;
#ifdef IMMUNE_DIRECT_SHA
  if (ctx_->md_ctx == nullptr) {
    switch (alg_) {
      case HashAlg::kSha1: SHA1_Update(&ctx_->direct.sha1, data.data(), data.size()); break;
      case HashAlg::kSha256: SHA256_Update(&ctx_->direct.sha256, data.data(), data.size()); break;
      case HashAlg::kSha384: SHA384_Update(&ctx_->direct.sha512, data.data(), data.size()); break;
      default: SHA512_Update(&ctx_->direct.sha512, data.data(), data.size()); break;
    }
    return *this;
  }
#endif
  EVP_DigestUpdate(ctx_->md_ctx, data.data(), data.size());
  return *this;
}

Status Hasher::FinalTo(std::span<std::uint8_t> out) {
  if (ctx_ == nullptr) {
    return Unsupported("hash algorithm " + std::string(HashAlgName(alg_)) + " is not available in OpenSSL");
  }
  if (out.size() < DigestSize(alg_)) return Internal("digest output buffer too small");
#ifdef IMMUNE_DIRECT_SHA
  if (ctx_->md_ctx == nullptr) {
    switch (alg_) {
      case HashAlg::kSha1: SHA1_Final(out.data(), &ctx_->direct.sha1); break;
      case HashAlg::kSha256: SHA256_Final(out.data(), &ctx_->direct.sha256); break;
      case HashAlg::kSha384: SHA384_Final(out.data(), &ctx_->direct.sha512); break;
      default: SHA512_Final(out.data(), &ctx_->direct.sha512); break;
    }
    return OkStatus();
  }
#endif
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx_->md_ctx, out.data(), &n) != 1 || n != DigestSize(alg_)) {
    return Internal("OpenSSL digest finalisation failed for " + std::string(HashAlgName(alg_)));
  }
  return OkStatus();
}

Result<Bytes> Hasher::Final() {
  Bytes out(DigestSize(alg_));
  IMMUNE_RETURN_IF_ERROR(FinalTo(out));
  return out;
}

void Hasher::Reset() {
  if (ctx_ == nullptr) return;
#ifdef IMMUNE_DIRECT_SHA
  if (ctx_->md_ctx == nullptr) {
    switch (alg_) {
      case HashAlg::kSha1: SHA1_Init(&ctx_->direct.sha1); break;
      case HashAlg::kSha256: SHA256_Init(&ctx_->direct.sha256); break;
      case HashAlg::kSha384: SHA384_Init(&ctx_->direct.sha512); break;
      default: SHA512_Init(&ctx_->direct.sha512); break;
    }
    return;
  }
#endif
  EVP_DigestInit_ex2(ctx_->md_ctx, nullptr, nullptr);
}

Result<Bytes> Hash(HashAlg alg, ByteSpan data) { return Hasher(alg).Update(data).Final(); }

Result<Bytes> ExtendDigest(HashAlg alg, ByteSpan pcr, ByteSpan digest) {
  const std::size_t size = DigestSize(alg);
  if (pcr.size() != size || digest.size() != size) {
    return InvalidArgument("extend of " + std::string(HashAlgName(alg)) + " needs " + std::to_string(size) +
                           "-byte values, got " + std::to_string(pcr.size()) + " and " +
                           std::to_string(digest.size()));
  }
  return Hasher(alg).Update(pcr).Update(digest).Final();
}

}  // namespace immune
