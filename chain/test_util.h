// Helpers shared by chain/'s tests: publishers, records, temporary stores.
#ifndef IMMUNE_CHAIN_TEST_UTIL_H_
#define IMMUNE_CHAIN_TEST_UTIL_H_

#include <string>
#include <vector>

#include "immune/chain/keys.h"
#include "immune/chain/record.h"
#include "immune/chain/trust.h"

namespace immune::chain::testing {

struct Publishers {
  std::vector<PrivateKey> keys;  // in the order generated
  TrustConfig trust;
};

// n fresh Ed25519 keys (ECDSA P-256 for every odd one when `mixed`), threshold k.
Publishers MakePublishers(int n, int k, bool mixed = false);

// A file baseline for (image, "/usr/bin/tool<i>") whose digest is SHA-256 of
// image and i.
FileBaseline MakeBaseline(int i, const std::string& image = "node-image-1");
std::vector<Record> MakeBaselines(int first, int count, const std::string& image = "node-image-1");

// A fresh directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace immune::chain::testing

#endif  // IMMUNE_CHAIN_TEST_UTIL_H_
