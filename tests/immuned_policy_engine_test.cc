// The daemon's policy engine: files, applied texts, signed-bundle
// enforcement, and the baseline ledger as a source (policy.ledger).
#include "immune/tsbd/policy_engine.h"

#include <gtest/gtest.h>

#include <fstream>

#include "immune/chain/publish.h"
#include "immune/chain/record.h"
#include "immune/core/digest.h"
#include "immune/core/file.h"
#include "test_util.h"  // chain/test_util.h: publishers and a temp dir

namespace immune::tsbd {
namespace {

using chain::testing::MakePublishers;
using chain::testing::TempDir;

Bytes Sha256Of(const std::string& s) {
  return *Hash(HashAlg::kSha256, ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

tsb::MeasurementEntry Entry(const std::string& path, const std::string& content, const std::string& image = "") {
  tsb::MeasurementEntry e;
  e.path = path;
  e.file_digest = Sha256Of(content);
  if (!image.empty()) {
    e.template_kind = tsb::TemplateKind::kImmuneCt;
    e.container_id = "ct1";
    e.image = image;
  }
  return e;
}

class NoFallback final : public PolicyHook {
 public:
  Verdict Decide(const tsb::MeasurementEntry&) override { return {0, tsb::Decision::kAllow, "fallback"}; }
};

TEST(PolicyEngine, LedgerBaselinesDecideAndSurviveAnApply) {
  TempDir dir;
  auto pubs = MakePublishers(2, 1);
  {
    auto store = chain::OpenStore("sqlite:" + dir.File("ledger.db"), true);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Initialize(pubs.trust.ToJson()).ok());
    std::vector<chain::Record> records = {
        chain::FileBaseline{"busybox:1.36", "/bin/tool", {HashAlg::kSha256, Sha256Of("tool")}},
        chain::FileBaseline{"host", "/usr/bin/true", {HashAlg::kSha256, Sha256Of("true")}}};
    ASSERT_TRUE(chain::PublishRecords(**store, pubs.trust, records, {pubs.keys[0]}, 7).ok());
  }
  std::ofstream(dir.File("trust.json")) << pubs.trust.ToJson();
  std::ofstream(dir.File("p.yaml")) << "apiVersion: immune/v1\nkind: Policy\nscope: {containers: all}\nmode: enforce\n";

  PolicySection section;
  section.paths = {dir.File("p.yaml")};
  section.ledger = "sqlite:" + dir.File("ledger.db");
  section.ledger_trust = dir.File("trust.json");
  auto engine = PolicyEngine::Create(section, dir.File("state"), std::make_unique<NoFallback>());
  ASSERT_TRUE(engine.ok()) << engine.error().ToString();
  EXPECT_EQ((*engine)->Decide(Entry("/bin/tool", "tool", "busybox:1.36")).decision, tsb::Decision::kAllow);
  EXPECT_EQ((*engine)->Decide(Entry("/bin/tool", "evil", "busybox:1.36")).decision, tsb::Decision::kDeny);
  EXPECT_EQ((*engine)->Decide(Entry("/usr/bin/true", "true")).decision, tsb::Decision::kAllow);

  // An applied text replaces the files' part; the ledger's stays.
  auto gen = (*engine)->Apply("apiVersion: immune/v1\nkind: Policy\nscope: {containers: all}\nmode: permissive\n",
                              "applied");
  ASSERT_TRUE(gen.ok()) << gen.error().ToString();
  EXPECT_EQ((*engine)->Decide(Entry("/bin/tool", "tool", "busybox:1.36")).decision, tsb::Decision::kAllow);
  EXPECT_EQ((*engine)->Decide(Entry("/bin/tool", "evil", "busybox:1.36")).decision, tsb::Decision::kAudit);
}

TEST(PolicyEngine, APolicyMayReferenceTheBaselineOfAnImage) {
  TempDir dir;
  auto pubs = MakePublishers(2, 1);
  {
    auto store = chain::OpenStore("sqlite:" + dir.File("ledger.db"), true);
    ASSERT_TRUE((*store)->Initialize(pubs.trust.ToJson()).ok());
    ASSERT_TRUE(chain::PublishRecords(
                    **store, pubs.trust,
                    {chain::FileBaseline{"node-image-7", "/usr/bin/agent", {HashAlg::kSha256, Sha256Of("agent")}}},
                    {pubs.keys[0]}, 7)
                    .ok());
  }
  std::ofstream(dir.File("trust.json")) << pubs.trust.ToJson();
  // The host runs what the node image's baseline says.
  std::ofstream(dir.File("p.yaml")) << "apiVersion: immune/v1\nkind: Policy\nscope: host\nallow:\n"
                                       "  - {baseline-of: node-image-7}\n";
  PolicySection section;
  section.paths = {dir.File("p.yaml")};
  section.ledger = "sqlite:" + dir.File("ledger.db");
  section.ledger_trust = dir.File("trust.json");
  auto engine = PolicyEngine::Create(section, dir.File("state"), std::make_unique<NoFallback>());
  ASSERT_TRUE(engine.ok()) << engine.error().ToString();
  auto ok = (*engine)->Decide(Entry("/usr/bin/agent", "agent"));
  EXPECT_EQ(ok.decision, tsb::Decision::kAllow);
  EXPECT_NE(ok.rule.find("p.yaml"), std::string::npos) << ok.rule;
  EXPECT_EQ((*engine)->Decide(Entry("/usr/bin/agent", "trojan")).decision, tsb::Decision::kDeny);

  // An image the ledger does not know is an error naming the entry.
  auto r = (*engine)->Apply("apiVersion: immune/v1\nkind: Policy\nscope: host\nallow:\n  - {baseline-of: nope}\n",
                            "q.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("q.yaml:5"), std::string::npos) << r.error().message();
}

TEST(PolicyEngine, ALedgerUnderOtherKeysRefusesTheStart) {
  TempDir dir;
  auto pubs = MakePublishers(2, 1);
  auto other = MakePublishers(2, 1);
  {
    auto store = chain::OpenStore("sqlite:" + dir.File("ledger.db"), true);
    ASSERT_TRUE((*store)->Initialize(pubs.trust.ToJson()).ok());
    ASSERT_TRUE(chain::PublishRecords(**store, pubs.trust,
                                      {chain::FileBaseline{"host", "/x", {HashAlg::kSha256, Sha256Of("x")}}},
                                      {pubs.keys[0]}, 7)
                    .ok());
  }
  std::ofstream(dir.File("trust.json")) << other.trust.ToJson();
  PolicySection section;
  section.ledger = "sqlite:" + dir.File("ledger.db");
  section.ledger_trust = dir.File("trust.json");
  auto engine = PolicyEngine::Create(section, dir.File("state"), std::make_unique<NoFallback>());
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(engine.error().message().find("policy.ledger"), std::string::npos) << engine.error().message();
}

TEST(PolicyEngine, BundleKeysRefuseUnsignedText) {
  TempDir dir;
  ASSERT_EQ(std::system(("openssl genpkey -algorithm ed25519 -out " + dir.File("k.pem") +
                         " 2>/dev/null && openssl pkey -in " + dir.File("k.pem") + " -pubout -out " + dir.File("k.pub"))
                            .c_str()),
            0);
  PolicySection section;
  section.bundle_keys = {dir.File("k.pub")};
  auto engine = PolicyEngine::Create(section, dir.File("state"), std::make_unique<NoFallback>());
  ASSERT_TRUE(engine.ok()) << engine.error().ToString();
  auto r = (*engine)->Apply("apiVersion: immune/v1\nkind: Policy\nscope: host\n", "plain.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_FALSE((*engine)->has_policy());
}

}  // namespace
}  // namespace immune::tsbd
