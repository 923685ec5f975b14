#include "immune/chain/ledger_policy.h"

#include <gtest/gtest.h>

#include "immune/chain/merkle.h"
#include "immune/chain/publish.h"
#include "immune/chain/record.h"
#include "immune/core/digest.h"
#include "immune/policy/snapshot.h"
#include "test_util.h"

namespace immune::chain {
namespace {

class LedgerPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(OpenStore("sqlite:" + dir_.File("c.db"), true)).value();
    ASSERT_TRUE(store_->Initialize(pubs_.trust.ToJson()).ok());
  }
  void Publish(std::vector<Record> records) {
    auto h = PublishRecords(*store_, pubs_.trust, records, {pubs_.keys[0]}, 5);
    ASSERT_TRUE(h.ok()) << h.error().ToString();
  }
  static FileBaseline Baseline(const std::string& image, const std::string& path, const std::string& content) {
    return FileBaseline{image, path, TaggedDigest{HashAlg::kSha256, *Hash(HashAlg::kSha256, AsBytes(content))}};
  }
  static ByteSpan AsBytes(const std::string& s) {
    return ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  }
  policy::Decision Decide(const policy::Snapshot& snap, const std::string& image, const std::string& path,
                          const std::string& content) {
    const Bytes d = *Hash(HashAlg::kSha256, AsBytes(content));
    policy::Subject subject{image.empty() ? "" : "ct1", image, "/bin/sh", 1};
    policy::Object object{path, HashAlg::kSha256, d, {}};
    return snap.Decide(subject, object);
  }

  testing::TempDir dir_;
  testing::Publishers pubs_ = testing::MakePublishers(2, 1);
  std::unique_ptr<BlockStore> store_;
};

TEST_F(LedgerPolicyTest, FileBaselinesBecomeAllowRulesPerImageAndRevocationsRemoveThem) {
  const FileBaseline tool = Baseline("busybox:1.36", "/bin/tool", "tool v1");
  Publish({tool, Baseline("busybox:1.36", "/bin/sh", "sh"), Baseline("host", "/usr/bin/true", "true")});
  Publish({Baseline("busybox:1.36", "/bin/tool", "tool v2")});
  auto lp = PolicyFromLedger(*store_, pubs_.trust);
  ASSERT_TRUE(lp.ok()) << lp.error().ToString();
  EXPECT_EQ(lp->blocks, 2u);
  EXPECT_EQ(lp->file_baselines, 4u);
  auto snap = policy::Compile(lp->documents);
  ASSERT_TRUE(snap.ok()) << snap.error().ToString();
  EXPECT_EQ(Decide(**snap, "busybox:1.36", "/bin/tool", "tool v1").verdict, policy::Verdict::kAllow);
  EXPECT_EQ(Decide(**snap, "busybox:1.36", "/bin/tool", "tool v2").verdict, policy::Verdict::kAllow);
  EXPECT_EQ(Decide(**snap, "busybox:1.36", "/bin/tool", "tampered").verdict, policy::Verdict::kDeny);
  EXPECT_EQ(Decide(**snap, "", "/usr/bin/true", "true").verdict, policy::Verdict::kAllow);
  EXPECT_EQ(Decide(**snap, "other:1", "/bin/sh", "sh").verdict, policy::Verdict::kDeny);

  // Revoking v1 withdraws exactly that digest.
  Publish({Revocation{LeafHash(EncodeRecord(tool)), "CVE fix"}});
  lp = PolicyFromLedger(*store_, pubs_.trust);
  ASSERT_TRUE(lp.ok());
  EXPECT_EQ(lp->revoked, 1u);
  snap = policy::Compile(lp->documents);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(Decide(**snap, "busybox:1.36", "/bin/tool", "tool v1").verdict, policy::Verdict::kDeny);
  EXPECT_EQ(Decide(**snap, "busybox:1.36", "/bin/tool", "tool v2").verdict, policy::Verdict::kAllow);
}

TEST_F(LedgerPolicyTest, PolicyBundlesLatestVersionWinsAndDigestIsChecked) {
  auto bundle = [](const std::string& text, std::uint64_t version) {
    PolicyBundle pb;
    pb.name = "containers";
    pb.version = version;
    pb.content.assign(text.begin(), text.end());
    pb.digest = TaggedDigest{HashAlg::kSha256, *Hash(HashAlg::kSha256, pb.content)};
    return pb;
  };
  const std::string v1 = "apiVersion: immune/v1\nkind: Policy\nscope: {containers: all}\nmode: permissive\n";
  const std::string v2 = "apiVersion: immune/v1\nkind: Policy\nscope: {containers: all}\nmode: enforce\n";
  Publish({bundle(v1, 1)});
  Publish({bundle(v2, 2)});
  auto lp = PolicyFromLedger(*store_, pubs_.trust);
  ASSERT_TRUE(lp.ok()) << lp.error().ToString();
  EXPECT_EQ(lp->policy_bundles, 1u);
  ASSERT_EQ(lp->documents.size(), 1u);
  EXPECT_EQ(lp->documents[0].mode, policy::Mode::kEnforce);

  // Bundle keys required: a plain document from the ledger is refused.
  policy::DsseTrustedKeys keys;
  LedgerPolicyOptions opt;
  opt.bundle_keys = &keys;
  auto refused = PolicyFromLedger(*store_, pubs_.trust, opt);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);

  // A record whose content does not match its digest is refused.
  PolicyBundle bad = bundle(v1, 3);
  bad.content.push_back('\n');
  Publish({bad});
  auto corrupt = PolicyFromLedger(*store_, pubs_.trust);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_NE(corrupt.error().message().find("does not match the recorded digest"), std::string::npos);
}

TEST_F(LedgerPolicyTest, ALedgerThatDoesNotVerifyGivesNoPolicy) {
  Publish({Baseline("host", "/usr/bin/true", "true")});
  // Another trust configuration (other keys): the signatures do not count.
  testing::Publishers others = testing::MakePublishers(2, 1);
  auto lp = PolicyFromLedger(*store_, others.trust);
  ASSERT_FALSE(lp.ok());
  EXPECT_EQ(lp.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(lp.error().message().find("block 0"), std::string::npos) << lp.error().message();
}

}  // namespace
}  // namespace immune::chain
