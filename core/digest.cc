#include "immune/core/digest.h"

#include <openssl/evp.h>

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

struct Hasher::Ctx {
  EVP_MD_CTX* md_ctx;
};

Hasher::Hasher(HashAlg alg) : alg_(alg) {
  const EVP_MD* md = FetchMd(alg);
  if (md == nullptr) return;
  EVP_MD_CTX* c = EVP_MD_CTX_new();
  if (c == nullptr) return;
  if (EVP_DigestInit_ex2(c, md, nullptr) != 1) {
    EVP_MD_CTX_free(c);
    return;
  }
  ctx_ = new Ctx{c};
}

Hasher::~Hasher() {
  if (ctx_ != nullptr) {
    EVP_MD_CTX_free(ctx_->md_ctx);
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
  if (ctx_ != nullptr && !data.empty()) EVP_DigestUpdate(ctx_->md_ctx, data.data(), data.size());
  return *this;
}

Result<Bytes> Hasher::Final() {
  if (ctx_ == nullptr) {
    return Unsupported("hash algorithm " + std::string(HashAlgName(alg_)) + " is not available in OpenSSL");
  }
  Bytes out(DigestSize(alg_));
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx_->md_ctx, out.data(), &n) != 1 || n != out.size()) {
    return Internal("OpenSSL digest finalisation failed for " + std::string(HashAlgName(alg_)));
  }
  return out;
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
