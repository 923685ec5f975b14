// Compiled snapshots: scope precedence, deny wins, permissive and learn
// modes, IMA signature allows, and PolicyStore swaps under concurrent Decide.
#include "immune/policy/snapshot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>

#include "immune/core/file.h"
#include "immune/core/hex.h"
#include "immune/core/ima_signature.h"

namespace immune::policy {
namespace {

using ::testing::HasSubstr;

Bytes D(char c, std::size_t n = 32) { return *FromHex(std::string(2 * n, c)); }
std::string S(char c) { return "sha256:" + std::string(64, c); }

std::shared_ptr<const Snapshot> Build(const std::string& yaml, std::string_view source = "p.yaml") {
  auto docs = ParseDocuments(yaml, source);
  EXPECT_TRUE(docs.ok()) << docs.error().ToString();
  if (!docs.ok()) return nullptr;
  auto snap = Compile(std::move(docs).value());
  EXPECT_TRUE(snap.ok()) << snap.error().ToString();
  return snap.ok() ? *snap : nullptr;
}

Decision DecideFor(const Snapshot& s, std::string_view container, std::string_view image,
                   std::string_view path, const Bytes& digest) {
  return s.Decide(Subject{container, image, "/bin/x", 1}, Object{path, HashAlg::kSha256, digest, {}});
}

const std::string kDoc = "apiVersion: immune/v1\nkind: Policy\n";

TEST(Snapshot, ScopePrecedenceAndDenyWins) {
  auto snap = Build(kDoc + "scope: host\nallow: [" + S('1') + "]\n---\n" + kDoc +
                    "scope: {containers: all}\nmode: permissive\nallow: [" + S('2') +
                    "]\n"
                    "deny: [" +
                    S('9') + "]\n---\n" + kDoc +
                    "scope: {image: nginx:1}\nmode: enforce\nactions: [kill]\nallow:\n"
                    "  - {path: /usr/sbin/nginx, digest: " +
                    S('3') + "}\n---\n" + kDoc + "scope: {container: c1}\nallow: [" + S('4') + ", " + S('9') +
                    "]\n"
                    "deny: [" +
                    S('2') + "]\n");
  ASSERT_NE(snap, nullptr);
  const Snapshot& s = *snap;
  // Host: only the host document.
  EXPECT_EQ(DecideFor(s, "", "", "/bin/a", D('1')).verdict, Verdict::kAllow);
  EXPECT_EQ(DecideFor(s, "", "", "/bin/a", D('1')).rule, "p.yaml:4");
  EXPECT_EQ(DecideFor(s, "", "", "/bin/a", D('2')).rule, kRuleDefaultDeny);
  EXPECT_EQ(DecideFor(s, "", "", "/bin/a", D('2')).verdict, Verdict::kDeny);
  // A container with no documents of its own: containers: all, permissive.
  Decision d = DecideFor(s, "other", "", "/bin/a", D('1'));
  EXPECT_EQ(d.verdict, Verdict::kAuditDeny);
  EXPECT_EQ(d.mode, Mode::kPermissive);
  EXPECT_EQ(d.actions, kDefaultActions);
  EXPECT_EQ(DecideFor(s, "other", "", "/bin/a", D('2')).rule, "p.yaml:10");
  // The image's mode and actions override containers: all; its allow is path-bound.
  d = DecideFor(s, "c2", "nginx:1", "/usr/sbin/nginx", D('3'));
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  EXPECT_EQ(d.rule, "p.yaml:19");
  EXPECT_EQ(d.mode, Mode::kEnforce);
  d = DecideFor(s, "c2", "nginx:1", "/tmp/nginx", D('3'));
  EXPECT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.actions, static_cast<ActionSet>(Action::kKill));
  EXPECT_EQ(DecideFor(s, "c2", "docker.io/nginx@sha256:00", "/usr/sbin/nginx", D('3')).verdict,
            Verdict::kAuditDeny);
  EXPECT_EQ(DecideFor(s, "c2", "nginx:1@sha256:00", "/usr/sbin/nginx", D('3')).verdict, Verdict::kAllow);
  // The container's own document adds to the layers below it...
  EXPECT_EQ(DecideFor(s, "c1", "nginx:1", "/bin/a", D('4')).rule, "p.yaml:24");
  EXPECT_EQ(DecideFor(s, "c1", "nginx:1", "/usr/sbin/nginx", D('3')).verdict, Verdict::kAllow);
  // ...but deny wins: its deny of '2' beats containers: all's allow, and
  // containers: all's deny of '9' beats its own allow.
  d = DecideFor(s, "c1", "nginx:1", "/bin/a", D('2'));
  EXPECT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.rule, "p.yaml:25");
  d = DecideFor(s, "c1", "nginx:1", "/bin/a", D('9'));
  EXPECT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.rule, "p.yaml:11");
  // Another algorithm with the same bytes is another digest.
  EXPECT_EQ(s.Decide(Subject{}, Object{"/bin/a", HashAlg::kSm3_256, D('1'), {}}).rule, kRuleDefaultDeny);
}

TEST(Snapshot, LearnModeAllowsEverything) {
  auto snap = Build(kDoc + "scope: host\nmode: learn\ndeny: [" + S('1') + "]\n");
  ASSERT_NE(snap, nullptr);
  const Decision d = DecideFor(*snap, "", "", "/bin/a", D('1'));
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  EXPECT_EQ(d.rule, kRuleLearn);
  EXPECT_EQ(d.mode, Mode::kLearn);
}

TEST(Snapshot, PathGlobsAndInterpreters) {
  auto snap = Build(kDoc +
                    "scope: host\nallow:\n  - {path: \"/opt/*\", unsafe-path-only: true}\n"
                    "deny:\n  - {path: /opt/bad}\ninterpreters: [bash, \"python3*\", /usr/local/bin/run]\n");
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(DecideFor(*snap, "", "", "/opt/app/bin", D('5')).verdict, Verdict::kAllow);
  EXPECT_EQ(DecideFor(*snap, "", "", "/opt/bad", D('5')).verdict, Verdict::kDeny);
  EXPECT_EQ(DecideFor(*snap, "", "", "/usr/opt/x", D('5')).verdict, Verdict::kDeny);
  EXPECT_TRUE(snap->IsInterpreter(Subject{}, "/usr/bin/python3.11"));
  EXPECT_TRUE(snap->IsInterpreter(Subject{}, "bash"));
  EXPECT_TRUE(snap->IsInterpreter(Subject{}, "/usr/local/bin/run"));
  EXPECT_FALSE(snap->IsInterpreter(Subject{}, "/bin/run"));
  EXPECT_FALSE(snap->IsInterpreter(Subject{}, "/bin/sh"));  // the document replaced the defaults
  // Containers (no documents) get the defaults.
  EXPECT_TRUE(snap->IsInterpreter(Subject{"c", "", "", 0}, "/bin/sh"));
  EXPECT_FALSE(snap->IsInterpreter(Subject{"c", "", "", 0}, "/bin/ls"));
}

TEST(Snapshot, ConflictingModesForOneScopeFail) {
  auto docs = ParseDocuments(kDoc + "scope: host\nmode: learn\n---\n" + kDoc + "scope: host\nmode: enforce\n",
                             "m.yaml");
  ASSERT_TRUE(docs.ok());
  auto snap = Compile(std::move(docs).value());
  ASSERT_FALSE(snap.ok());
  EXPECT_THAT(snap.error().message(),
              HasSubstr("m.yaml:6:1: mode enforce for host conflicts with mode learn at "
                        "m.yaml:1:1"));
}

TEST(Snapshot, GenerationsIncrease) {
  auto a = Build(kDoc + "scope: host\n");
  auto b = Build(kDoc + "scope: host\n");
  ASSERT_TRUE(a && b);
  EXPECT_LT(a->generation(), b->generation());
  auto docs = ParseDocuments(kDoc + "scope: host\n", "g.yaml");
  auto c = Compile(std::move(docs).value(), CompileOptions{nullptr, 77});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->generation(), 77u);
}

// Signs a sha256 digest the way evmctl does for signature_v2 (RSA PKCS#1
// v1.5 over the digest), with a key made here, and wraps the header.
struct ImaFixture {
  std::string dir;
  EVP_PKEY* key = nullptr;
  std::uint32_t keyid = 0;

  ImaFixture() {
    dir = ::testing::TempDir() + "/ima_policy_" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    key = EVP_RSA_gen(2048);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key);
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    EXPECT_TRUE(WriteFileAtomic(dir + "/ima.pem", AsBytes(std::string_view(data, len))).ok());
    BIO_free(bio);
    ImaTrustedKeys ring;
    EXPECT_TRUE(ring.AddKeyFile(dir + "/ima.pem").ok());
    keyid = ring.KeyIds().at(0);
  }
  ~ImaFixture() {
    EVP_PKEY_free(key);
    std::filesystem::remove_all(dir);
  }

  Bytes Sign(ByteSpan digest) const {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key, nullptr);
    std::size_t len = 0;
    EXPECT_EQ(EVP_PKEY_sign_init(ctx), 1);
    EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
    EXPECT_EQ(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()), 1);
    EXPECT_EQ(EVP_PKEY_sign(ctx, nullptr, &len, digest.data(), digest.size()), 1);
    Bytes sig(len);
    EXPECT_EQ(EVP_PKEY_sign(ctx, sig.data(), &len, digest.data(), digest.size()), 1);
    EVP_PKEY_CTX_free(ctx);
    sig.resize(len);
    // Sized once and copied into: GCC 12 at -O2 misreads vector inserts here
    // as out of bounds (-Warray-bounds, -Wstringop-overflow).
    const std::uint8_t header[9] = {kImaSigTypeDigsig,
                   2,
                   4 /* IMA's sha256 */,
                   static_cast<std::uint8_t>(keyid >> 24),
                   static_cast<std::uint8_t>(keyid >> 16),
                   static_cast<std::uint8_t>(keyid >> 8),
                   static_cast<std::uint8_t>(keyid),
                   static_cast<std::uint8_t>(len >> 8),
                   static_cast<std::uint8_t>(len)};
    Bytes xattr(sizeof header + sig.size());
    std::memcpy(xattr.data(), header, sizeof header);
    if (!sig.empty()) std::memcpy(xattr.data() + sizeof header, sig.data(), sig.size());
    return xattr;
  }
};

TEST(Snapshot, ImaSignatureAllow) {
  ImaFixture f;
  auto snap =
      Build(kDoc + "scope: host\nallow:\n  - ima-signatures: {keys: [ima.pem]}\n", f.dir + "/host.yaml");
  ASSERT_NE(snap, nullptr);
  const Bytes digest = *Hash(HashAlg::kSha256, AsBytes("file content"));
  const Bytes xattr = f.Sign(digest);
  Decision d = snap->Decide(Subject{}, Object{"/usr/bin/tool", HashAlg::kSha256, digest, xattr});
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  EXPECT_EQ(d.rule, "host.yaml:5");
  // Another file's digest with that signature, no signature, a corrupt one: denied.
  const Bytes other = *Hash(HashAlg::kSha256, AsBytes("other content"));
  EXPECT_EQ(snap->Decide(Subject{}, Object{"/x", HashAlg::kSha256, other, xattr}).verdict, Verdict::kDeny);
  EXPECT_EQ(snap->Decide(Subject{}, Object{"/x", HashAlg::kSha256, digest, {}}).verdict, Verdict::kDeny);
  Bytes bad = xattr;
  bad.back() ^= 1;
  EXPECT_EQ(snap->Decide(Subject{}, Object{"/x", HashAlg::kSha256, digest, bad}).verdict, Verdict::kDeny);
  // A missing key file fails the compile with the entry's place.
  auto docs = ParseDocuments(kDoc + "scope: host\nallow:\n  - ima-signatures: {keys: [nope.pem]}\n",
                             f.dir + "/k.yaml");
  ASSERT_TRUE(docs.ok());
  auto failed = Compile(std::move(docs).value());
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.error().message(), HasSubstr("k.yaml:5:5: "));
}

TEST(PolicyStore, SwapWhileDeciding) {
  // Snapshot A allows '1' only, B allows '2' only: a reader sees one or the
  // other, never a mix, and its pinned snapshot stays valid across swaps.
  auto a = Build(kDoc + "scope: host\nallow: [" + S('1') + "]\n", "a.yaml");
  auto b = Build(kDoc + "scope: host\nallow: [" + S('2') + "]\n", "b.yaml");
  ASSERT_TRUE(a && b);
  PolicyStore store(a);
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<long> decisions{0};
  std::vector<std::thread> readers;
  const Bytes one = D('1'), two = D('2');
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        std::shared_ptr<const Snapshot> pinned = store.Current();
        const bool is_a = pinned->documents().at(0).where.file == "a.yaml";
        const Decision d1 = DecideFor(*pinned, "", "", "/x", one);
        const Decision d2 = DecideFor(*pinned, "", "", "/x", two);
        const bool ok =
            is_a ? (d1.verdict == Verdict::kAllow && d1.rule == "a.yaml:4" && d2.verdict == Verdict::kDeny)
                 : (d2.verdict == Verdict::kAllow && d2.rule == "b.yaml:4" && d1.verdict == Verdict::kDeny);
        if (!ok) torn.fetch_add(1);
        decisions.fetch_add(1);
      }
    });
  }
  // Swap until the readers have decided enough times to overlap many swaps
  // (a count, not a duration; the ctest timeout bounds a hang).
  for (int i = 0; i < 2000 || decisions.load() < 20000; ++i) {
    store.Swap(i % 2 == 0 ? b : a);
    // A fresh snapshot each round, dropped by the store on the next swap,
    // exercises the release of snapshots readers may still hold.
    if (i % 100 == 0) store.Swap(Build(kDoc + "scope: host\nallow: [" + S('1') + "]\n", "a.yaml"));
    if (i % 100 == 0) store.Swap(a);
  }
  stop.store(true);
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GE(decisions.load(), 20000);
}

}  // namespace
}  // namespace immune::policy
