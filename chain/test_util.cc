#include "test_util.h"

#include <stdlib.h>

#include <filesystem>

#include "immune/chain/hash.h"

namespace immune::chain::testing {

Publishers MakePublishers(int n, int k, bool mixed) {
  std::vector<PrivateKey> keys;
  std::vector<Publisher> pubs;
  for (int i = 0; i < n; ++i) {
    auto key = PrivateKey::Generate(mixed && i % 2 == 1 ? KeyType::kEcdsaP256 : KeyType::kEd25519);
    pubs.push_back({"publisher-" + std::to_string(i), key->public_key()});
    keys.push_back(std::move(key).value());
  }
  auto trust = TrustConfig::Make(std::move(pubs), static_cast<std::uint32_t>(k));
  return {std::move(keys), std::move(trust).value()};
}

FileBaseline MakeBaseline(int i, const std::string& image) {
  FileBaseline f;
  f.image = image;
  f.path = "/usr/bin/tool" + std::to_string(i);
  const Hash256 d = Sha256(AsBytes(image + "#" + std::to_string(i)));
  f.digest = {HashAlg::kSha256, Bytes(d.begin(), d.end())};
  return f;
}

std::vector<Record> MakeBaselines(int first, int count, const std::string& image) {
  std::vector<Record> out;
  out.reserve(static_cast<std::size_t>(count));
  for (int i = first; i < first + count; ++i) out.emplace_back(MakeBaseline(i, image));
  return out;
}

TempDir::TempDir() {
  char t[] = "/tmp/chain-test-XXXXXX";
  path_ = ::mkdtemp(t);
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace immune::chain::testing
