// DSSE envelopes: sign/verify with keys made here (Ed25519, ECDSA P-256),
// tampering, Keylime's signed runtime policies, signed digest lists.
#include "immune/policy/dsse.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "immune/core/file.h"
#include "immune/core/hex.h"
#include "immune/policy/bundle.h"
#include "immune/policy/snapshot.h"

namespace immune::policy {
namespace {

using ::testing::HasSubstr;

const std::string kKeylime = std::string(IMMUNE_TESTDATA_DIR) + "/policies/keylime/";

std::string PrivatePem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

DsseSigner MakeSigner(bool ed25519) {
  EVP_PKEY* key = ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                          : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  auto signer = DsseSigner::FromPem(PrivatePem(key), "test key");
  EXPECT_TRUE(signer.ok()) << signer.error().ToString();
  return std::move(signer).value();
}

DsseTrustedKeys TrustOnly(const DsseSigner& s) {
  DsseTrustedKeys keys;
  auto pem = s.PublicKeyPem();
  EXPECT_TRUE(pem.ok());
  EXPECT_TRUE(keys.AddPem(*pem, "trusted").ok());
  return keys;
}

const std::string kPolicy =
    "apiVersion: immune/v1\nkind: Policy\nscope: host\nallow:\n  - sha256:" + std::string(64, 'a') + "\n";

TEST(Dsse, PaeIsAsSpecified) {
  const Bytes pae = Pae("http://example.com/HelloWorld", AsBytes("hello world"));
  EXPECT_EQ(AsString(pae), "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
}

TEST(Dsse, BundleSignVerifyBothKeyTypes) {
  for (bool ed : {true, false}) {
    const DsseSigner signer = MakeSigner(ed);
    EXPECT_EQ(signer.keyid().size(), 64u);
    auto bundle = SignPolicyBundle(kPolicy, "host.yaml", signer);
    ASSERT_TRUE(bundle.ok()) << bundle.error().ToString();
    auto env = ParseDsseEnvelope(*bundle, "b");
    ASSERT_TRUE(env.ok());
    EXPECT_EQ(env->payload_type, kPolicyYamlPayloadType);
    EXPECT_EQ(env->signatures[0].keyid, signer.keyid());

    const DsseTrustedKeys trusted = TrustOnly(signer);
    auto docs = OpenPolicyBundle(*bundle, "host.dsse", trusted);
    ASSERT_TRUE(docs.ok()) << docs.error().ToString();
    EXPECT_EQ((*docs)[0].allow.size(), 1u);

    // Tampered payload: one byte of the policy changed.
    DsseEnvelope bad = *env;
    bad.payload[bad.payload.size() - 2] = 'b';
    auto tampered = OpenPolicyBundle(SerializeDsseEnvelope(bad), "host.dsse", trusted);
    ASSERT_FALSE(tampered.ok());
    EXPECT_EQ(tampered.error().code(), ErrorCode::kPermissionDenied);
    EXPECT_THAT(tampered.error().message(), HasSubstr("host.dsse: no signature of the envelope verifies"));
    // The payload type is signed too.
    bad = *env;
    bad.payload_type = std::string(kPolicyJsonPayloadType);
    EXPECT_FALSE(OpenPolicyBundle(SerializeDsseEnvelope(bad), "b", trusted).ok());
    // Another key is not trusted.
    const DsseTrustedKeys other = TrustOnly(MakeSigner(ed));
    EXPECT_EQ(OpenPolicyBundle(*bundle, "b", other).error().code(), ErrorCode::kPermissionDenied);
  }
}

TEST(Dsse, BrokenPoliciesAreNotSignedAndBadEnvelopesAreErrors) {
  const DsseSigner signer = MakeSigner(true);
  EXPECT_FALSE(SignPolicyBundle("apiVersion: immune/v1\nkind: Policy\n", "x.yaml", signer).ok());
  DsseTrustedKeys keys = TrustOnly(signer);
  EXPECT_THAT(ParseDsseEnvelope("{\"payload\": 1}", "e.json").error().message(),
              HasSubstr("e.json: 'payloadType'"));
  EXPECT_THAT(ParseDsseEnvelope("{\n\"a\" 1}", "e.json").error().message(), HasSubstr("e.json:2:5: "));
  EXPECT_FALSE(DsseSigner::FromPem("not a key", "k").ok());
  EXPECT_FALSE(keys.AddPem("junk", "k").ok());
}

TEST(Dsse, KeylimeSignedRuntimePolicy) {
  DsseTrustedKeys keys;
  ASSERT_TRUE(keys.AddPemFile(kKeylime + "runtime-policy-pubkey.pub").ok());
  auto good = ReadTextFile(kKeylime + "runtime-policy-test-signed.json");
  ASSERT_TRUE(good.ok());
  auto env = ParseDsseEnvelope(*good, "signed");
  ASSERT_TRUE(env.ok());
  auto keyid = keys.Verify(*env, "signed");
  ASSERT_TRUE(keyid.ok()) << keyid.error().ToString();
  // Keylime's key id is the sha256 of the public key PEM; ours matches it.
  EXPECT_EQ(*keyid, env->signatures[0].keyid);
  auto docs = OpenPolicyBundle(*good, "signed", keys);
  ASSERT_TRUE(docs.ok()) << docs.error().ToString();
  EXPECT_EQ((*docs)[0].allow.size(), 21u);

  auto bad = ReadTextFile(kKeylime + "runtime-policy-test-signed-bad.json");
  ASSERT_TRUE(bad.ok());
  auto opened = OpenPolicyBundle(*bad, "signed-bad", keys);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), ErrorCode::kPermissionDenied);
}

TEST(Dsse, SignedDigestListAllows) {
  const std::string dir = ::testing::TempDir() + "/policy_list_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const DsseSigner signer = MakeSigner(false);
  const Bytes a = *FromHex(std::string(64, '1'));
  const Bytes b = *FromHex(std::string(64, '2'));
  auto list = SignDigestList(
      {{DigestRef{HashAlg::kSha256, a}, ""}, {DigestRef{HashAlg::kSha256, b}, "/bin/b"}}, signer);
  ASSERT_TRUE(list.ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/app.dsse", AsBytes(*list)).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/list.pub", AsBytes(*signer.PublicKeyPem())).ok());
  auto docs = ParseDocuments(
      "apiVersion: immune/v1\nkind: Policy\nscope: host\nallow:\n"
      "  - {signed-lists: [app.dsse], keys: [list.pub]}\n",
      dir + "/host.yaml");
  ASSERT_TRUE(docs.ok()) << docs.error().ToString();
  auto snap = Compile(*docs);
  ASSERT_TRUE(snap.ok()) << snap.error().ToString();
  auto decide = [&](std::string_view path, const Bytes& d) {
    return (*snap)->Decide(Subject{}, Object{path, HashAlg::kSha256, d, {}});
  };
  EXPECT_EQ(decide("/anywhere", a).verdict, Verdict::kAllow);
  EXPECT_EQ(decide("/anywhere", a).rule, "host.yaml:5");
  EXPECT_EQ(decide("/bin/b", b).verdict, Verdict::kAllow);
  EXPECT_EQ(decide("/bin/c", b).verdict, Verdict::kDeny);

  // Without keys the list cannot be trusted; with the wrong trusted keys it fails.
  auto nokeys = ParseDocuments(
      "apiVersion: immune/v1\nkind: Policy\nscope: host\nallow:\n"
      "  - {signed-lists: [app.dsse]}\n",
      dir + "/n.yaml");
  ASSERT_TRUE(nokeys.ok());
  auto failed = Compile(*nokeys);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.error().message(), HasSubstr("n.yaml:5:5: signed-lists has no keys"));
  const DsseTrustedKeys wrong = TrustOnly(MakeSigner(true));
  failed = Compile(*nokeys, CompileOptions{&wrong, 0});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code(), ErrorCode::kPermissionDenied);
  const DsseTrustedKeys right = TrustOnly(signer);
  EXPECT_TRUE(Compile(*nokeys, CompileOptions{&right, 0}).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace immune::policy
