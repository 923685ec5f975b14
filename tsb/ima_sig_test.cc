// ima-sig signatures: the Keylime ima-sig captures (RSA-2048 and secp256k1
// keys), the ibmtss lists (keys absent), and malformed headers.
#include "immune/tsb/ima_sig.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <string>

#include "immune/core/file.h"
#include "immune/core/hex.h"

namespace immune::tsb {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

const std::string kSig = std::string(IMMUNE_TESTDATA_DIR) + "/ima/keylime/ima-sig/";
const std::string kIbmtss = std::string(IMMUNE_TESTDATA_DIR) + "/ima/ibmtss/";

ImaKeyRing TestKeys() {
  ImaKeyRing keys;
  EXPECT_TRUE(keys.AddKeyFile(kSig + "rsa2048pub.pem").ok());
  Status s = keys.AddKeyFile(kSig + "secp256k1.pem");  // EC PARAMETERS + EC PRIVATE KEY
  EXPECT_TRUE(s.ok()) << s.error().ToString();
  return keys;
}

TEST(ImaSig, KeyIdsAsEvmctlComputesThem) {
  ImaKeyRing keys = TestKeys();
  EXPECT_THAT(keys.KeyIds(), UnorderedElementsAre(0xf3452d23u, 0x531f4025u));
  // The RSA private key file yields the same id as its public key.
  ImaKeyRing priv;
  ASSERT_TRUE(priv.AddKeyFile(kSig + "rsa2048.pem").ok());
  EXPECT_THAT(priv.KeyIds(), UnorderedElementsAre(0xf3452d23u));
  EXPECT_EQ(FormatKeyId(0x0000abcd), "0000abcd");
}

TEST(ImaSig, GoodSignaturesVerify) {
  auto log = ParseImaFile(kSig + "signatures.txt");
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  ASSERT_EQ(log->entries.size(), 2u);
  EXPECT_TRUE(VerifyTemplateHashes(*log).ok());
  const ImaSignatureReport r = VerifyImaSignatures(*log, TestKeys());
  EXPECT_EQ(r.signed_entries, 2u);
  EXPECT_EQ(r.verified, 2u);
  for (const Error& e : r.failures) ADD_FAILURE() << e.ToString();
  auto h = ParseImaSignature(log->entries[0].signature);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->version, 2);
  EXPECT_EQ(h->ima_hash_algo, 4);  // IMA's HASH_ALGO_SHA256
  EXPECT_EQ(h->hash_alg, HashAlg::kSha256);
  EXPECT_EQ(h->keyid, 0xf3452d23u);
}

TEST(ImaSig, BadSignaturesFail) {
  auto log = ParseImaFile(kSig + "bad_signatures.txt");
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  ASSERT_EQ(log->entries.size(), 1u);
  const ImaSignatureReport r = VerifyImaSignatures(*log, TestKeys());
  EXPECT_EQ(r.signed_entries, 1u);
  EXPECT_EQ(r.verified, 0u);
  ASSERT_EQ(r.failures.size(), 1u);
  // Its header claims 0x4800 signature bytes; 72 follow.
  EXPECT_THAT(
      r.failures[0].message(),
      HasSubstr("line 1 (entry 0) (/usr/bin/zmore): signature size 18432 in the header does not match "
                "the 72 bytes that follow"));
}

TEST(ImaSig, TamperedSignatureDigestOrKey) {
  auto text = ReadTextFile(kSig + "signatures.txt");
  ASSERT_TRUE(text.ok());
  // Flip the last hex digit of each line's signature.
  std::string bad = *text;
  for (std::size_t pos = bad.find('\n'); pos != std::string::npos; pos = bad.find('\n', pos + 1)) {
    bad[pos - 1] = bad[pos - 1] == '0' ? '1' : '0';
  }
  auto log = ParseImaAscii(bad);
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  ImaSignatureReport r = VerifyImaSignatures(*log, TestKeys());
  ASSERT_EQ(r.failures.size(), 2u);
  EXPECT_THAT(r.failures[0].message(), HasSubstr("line 1 (entry 0) (/usr/bin/dd): signature does not verify "
                                                 "with key f3452d23"));
  EXPECT_THAT(r.failures[1].message(), HasSubstr("signature does not verify with key 531f4025"));

  // A different file digest fails too.
  auto good = ParseImaFile(kSig + "signatures.txt");
  ASSERT_TRUE(good.ok());
  ImaEntry e = good->entries[0];
  Bytes digest(e.file_digest.begin(), e.file_digest.end());
  digest[0] ^= 1;
  e.file_digest = digest;
  EXPECT_EQ(VerifyImaSignature(e, TestKeys()).error().code(), ErrorCode::kCorruption);

  // Without the keys: no key with that id.
  ImaKeyRing rsa_only;
  ASSERT_TRUE(rsa_only.AddKeyFile(kSig + "rsa2048pub.pem").ok());
  r = VerifyImaSignatures(*good, rsa_only);
  EXPECT_EQ(r.verified, 1u);
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_THAT(r.failures[0].message(),
              HasSubstr("line 2 (entry 1) (/usr/bin/zmore): no key with id 531f4025"));
  EXPECT_EQ(r.failures[0].code(), ErrorCode::kNotFound);
}

TEST(ImaSig, MeasurementsAndKeyringList) {
  auto m = ParseImaFile(kSig + "measurements.txt");
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  EXPECT_EQ(m->entries.size(), 3u);
  EXPECT_TRUE(VerifyTemplateHashes(*m).ok());
  EXPECT_EQ(VerifyImaSignatures(*m, TestKeys()).signed_entries, 0u);

  auto k = ParseImaFile(kSig + "keyrings.txt");
  ASSERT_TRUE(k.ok()) << k.error().ToString();
  ASSERT_EQ(k->entries.size(), 1u);
  EXPECT_EQ(k->entries[0].template_name, "ima-buf");
  EXPECT_EQ(k->entries[0].path, ".ima");
  Status s = VerifyTemplateHashes(*k);
  EXPECT_TRUE(s.ok()) << s.error().ToString();
  s = VerifyBufDigests(*k);
  EXPECT_TRUE(s.ok()) << s.error().ToString();
  ImaKeyRing keys;
  const std::string_view rings[] = {".ima"};
  auto added = keys.AddKeysFromLog(*k, rings);
  ASSERT_TRUE(added.ok()) << added.error().ToString();
  EXPECT_EQ(*added, 1u);
  EXPECT_GE(keys.size(), 1u);
  // The certificate's subject key identifier ends in ...2cb6058c.
  EXPECT_THAT(keys.KeyIds(), ::testing::Contains(0x2cb6058cu));
}

TEST(ImaSig, BufDigestMismatchIsDetected) {
  auto text = ReadTextFile(kSig + "keyrings.txt");
  ASSERT_TRUE(text.ok());
  std::string bad = *text;
  bad[bad.size() - 3] = bad[bad.size() - 3] == 'a' ? 'b' : 'a';  // inside the buf
  auto log = ParseImaAscii(bad);
  ASSERT_TRUE(log.ok());
  Status s = VerifyBufDigests(*log);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message(), HasSubstr("line 1 (entry 0): sha256 of the 469-byte buffer '.ima' is "));
}

TEST(ImaSig, HeaderErrors) {
  struct Case {
    std::string hex;
    ErrorCode code;
    std::string message;
  };
  const Case cases[] = {
      {"0302", ErrorCode::kCorruption, "shorter than its 9-byte header"},
      {"050204531f40250001aa", ErrorCode::kUnsupported, "EVM portable"},
      {"010204531f40250001aa", ErrorCode::kCorruption, "type 1"},
      {"030104531f40250001aa", ErrorCode::kUnsupported, "version 1"},
      {"030904531f40250001aa", ErrorCode::kCorruption, "version 9"},
      {"030204531f40250000", ErrorCode::kCorruption, "empty"},
      {"030204531f40250002aa", ErrorCode::kCorruption, "size 2 in the header does not match the 1 bytes"},
  };
  for (const Case& c : cases) {
    auto bytes = FromHex(c.hex);
    ASSERT_TRUE(bytes.ok());
    auto h = ParseImaSignature(*bytes);
    ASSERT_FALSE(h.ok()) << c.hex;
    EXPECT_EQ(h.error().code(), c.code) << c.hex;
    EXPECT_THAT(h.error().message(), HasSubstr(c.message)) << c.hex;
  }
  // md5 (IMA id 1) parses but cannot be verified.
  auto md5 = FromHex("030201531f40250001aa");
  ImaEntry e;
  e.signature = *md5;
  Status s = VerifyImaSignature(e, TestKeys());
  EXPECT_EQ(s.error().code(), ErrorCode::kUnsupported);
  EXPECT_THAT(s.error().message(), HasSubstr("md5"));
}

// Signs `digest` (already hashed with sha256) with the test RSA private key.
Bytes SignSha256Digest(ByteSpan digest) {
  auto pem = ReadFile(kSig + "rsa2048.pem");
  EXPECT_TRUE(pem.ok());
  BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EXPECT_NE(key, nullptr);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key, nullptr);
  std::size_t len = 0;
  EXPECT_EQ(EVP_PKEY_sign_init(ctx), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()), 1);
  EXPECT_EQ(EVP_PKEY_sign(ctx, nullptr, &len, digest.data(), digest.size()), 1);
  Bytes sig(len);
  EXPECT_EQ(EVP_PKEY_sign(ctx, sig.data(), &len, digest.data(), digest.size()), 1);
  sig.resize(len);
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(key);
  return sig;
}

// A signature_v2_hdr for key f3452d23 and sha256 (IMA id 4) around `sig`.
Bytes Header(std::uint8_t type, std::uint8_t version, ByteSpan sig) {
  const std::uint8_t size[2] = {static_cast<std::uint8_t>(sig.size() >> 8),
                                static_cast<std::uint8_t>(sig.size())};
  const std::uint8_t head[3] = {type, version, 4};
  auto h = FromHex(ToHex(head) + "f3452d23" + ToHex(size) + ToHex(sig));
  EXPECT_TRUE(h.ok());
  return *h;
}

TEST(ImaSig, Version3SignsTheFileIdHash) {
  auto log = ParseImaFile(kSig + "signatures.txt");
  ASSERT_TRUE(log.ok());
  ImaEntry e = log->entries[0];  // /usr/bin/dd, sha256, RSA key f3452d23
  ImaKeyRing keys = TestKeys();
  ASSERT_TRUE(VerifyImaSignature(e, keys).ok());
  for (std::uint8_t type : {kImaSigTypeDigsig, kImaSigTypeVerity}) {
    // struct ima_file_id cut to the digest: type, hash_algo (4 = sha256), digest.
    Bytes file_id = {type, 4};
    file_id.insert(file_id.end(), e.file_digest.begin(), e.file_digest.end());
    auto id_hash = Hash(HashAlg::kSha256, file_id);
    ASSERT_TRUE(id_hash.ok());
    const Bytes v3 = Header(type, 3, SignSha256Digest(*id_hash));
    e.signature = v3;
    Status s = VerifyImaSignature(e, keys);
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    // The same signature claimed as version 2 does not verify.
    const Bytes as_v2 = Header(type, 2, ByteSpan(v3).subspan(9));
    e.signature = as_v2;
    EXPECT_EQ(VerifyImaSignature(e, keys).error().code(), ErrorCode::kCorruption);
  }
  // A v3 header over a v2 (plain digest) signature fails.
  const Bytes wrong = Header(kImaSigTypeDigsig, 3, SignSha256Digest(e.file_digest));
  e.signature = wrong;
  EXPECT_THAT(VerifyImaSignature(e, keys).error().message(), HasSubstr("does not verify with key f3452d23"));
  // A signature over another hash algorithm than the file digest's.
  Bytes sha512_hdr = Header(kImaSigTypeDigsig, 2, SignSha256Digest(e.file_digest));
  sha512_hdr[2] = 6;
  e.signature = sha512_hdr;
  EXPECT_THAT(VerifyImaSignature(e, keys).error().message(),
              HasSubstr("signature is over a sha512 digest, the file digest is sha256"));
}

TEST(ImaSig, DerPublicKey) {
  auto pem = ReadTextFile(kSig + "rsa2048pub.pem");
  ASSERT_TRUE(pem.ok());
  std::string b64;
  std::size_t pos = pem->find('\n') + 1;
  const std::size_t end = pem->find("-----END");
  for (; pos < end; ++pos) {
    if ((*pem)[pos] != '\n') b64.push_back((*pem)[pos]);
  }
  auto der = FromBase64(b64);
  ASSERT_TRUE(der.ok());
  ImaKeyRing keys;
  ASSERT_TRUE(keys.AddKey(*der, "der").ok());
  EXPECT_THAT(keys.KeyIds(), UnorderedElementsAre(0xf3452d23u));
  Status bad = keys.AddKey(AsBytes("not a key"), "junk");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr("junk: no public key"));
  EXPECT_FALSE(keys.AddKeyFile("/nonexistent/key.pem").ok());
}

TEST(ImaSig, IbmtssSignedEntriesHaveNoKeysHere) {
  auto log = ParseImaFile(kIbmtss + "sha256.log");
  ASSERT_TRUE(log.ok());
  const ImaSignatureReport r = VerifyImaSignatures(*log, TestKeys());
  EXPECT_EQ(r.signed_entries, 21u);
  EXPECT_EQ(r.verified, 0u);
  ASSERT_EQ(r.failures.size(), 21u);
  for (const Error& e : r.failures) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound) << e.ToString();
    EXPECT_THAT(e.message(), HasSubstr("no key with id "));
  }
}

}  // namespace
}  // namespace immune::tsb
