// `immunectl chain` with an etcd store (a real 3-member cluster on
// loopback): every command works, two publishing processes never fork, a
// lost quorum is exit 3 naming the endpoints while verify still works, and
// a block rewritten in etcd behind the ledger's back is named by verify.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "etcd_client.h"
#include "etcd_test_cluster.h"
#include "immune/chain/block.h"
#include "run_command.h"

namespace immune {
namespace {

using testing::RunCommand;
using testing::ShellQuote;

class ImmunectlChainEtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (chain::testing::EtcdTestCluster::FindEtcd().empty()) GTEST_SKIP() << "etcd is not installed";
    auto c = chain::testing::EtcdTestCluster::Start(3);
    ASSERT_TRUE(c.ok()) << c.error().ToString();
    cluster_ = std::move(c).value();
    for (int i = 0; i < 3; ++i) {
      const std::string key = File("k" + std::to_string(i) + ".pem");
      auto r =
          RunCommand("openssl genpkey -algorithm ed25519 -out " + ShellQuote(key) + " && openssl pkey -in " +
                     ShellQuote(key) + " -pubout -out " + ShellQuote(File("k" + std::to_string(i) + ".pub")));
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    for (int f = 0; f < 4; ++f) Write("r" + std::to_string(f) + ".json", Records(f * 4, 4));
  }
  std::string File(const std::string& name) const { return tmp_.File(name); }
  void Write(const std::string& name, const std::string& text) { std::ofstream(File(name)) << text; }
  static std::string Records(int first, int n) {
    nlohmann::json arr = nlohmann::json::array();
    for (int i = first; i < first + n; ++i) {
      std::string d = std::to_string(i);
      arr.push_back({{"type", "file_baseline"},
                     {"image", "img"},
                     {"path", "/bin/t" + std::to_string(i)},
                     {"digest", "sha256:" + std::string(64 - d.size(), 'a') + d}});
    }
    return nlohmann::json{{"records", arr}}.dump();
  }
  std::string CtlCommand(const std::string& args) {
    return testing::Immunectl("chain " + args + " --store " + ShellQuote(cluster_->Location(1500)));
  }
  testing::CommandResult Ctl(const std::string& args) { return RunCommand(CtlCommand(args)); }
  std::string Publish(int f) {
    return "publish " + File("r" + std::to_string(f) + ".json") + " --key " + File("k0.pem") + " --key " +
           File("k2.pem");
  }

  std::unique_ptr<chain::testing::EtcdTestCluster> cluster_;
  testing::TempDir tmp_;
};

TEST_F(ImmunectlChainEtcdTest, EveryCommandWorksAndRacingProcessesNeverFork) {
  auto r = Ctl("verify");
  EXPECT_EQ(r.exit_code, 2) << r.err;  // not initialised
  EXPECT_NE(r.err.find("chain init"), std::string::npos) << r.err;
  // No endpoint answers: operational (3), naming every endpoint.
  r = RunCommand(
      testing::Immunectl("chain verify --store 'etcd:http://127.0.0.1:1,http://127.0.0.1:2?timeout_ms=500'"));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("http://127.0.0.1:1, http://127.0.0.1:2"), std::string::npos) << r.err;
  r = Ctl("init --publisher-key " + File("k0.pub") + " --publisher-key " + File("k1.pub") +
          " --publisher-key " + File("k2.pub") + " --threshold 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Ctl("init --publisher-key " + File("k0.pub") + " --threshold 1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("already initialised"), std::string::npos) << r.err;
  r = Ctl(Publish(0));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Two processes publish at once: both succeed, one after the other.
  r = RunCommand("(" + CtlCommand(Publish(1)) + ") & (" + CtlCommand(Publish(2)) +
                 "); s=$?; wait $!; t=$?; " + "exit $((s + t))");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Ctl("verify --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["blocks_verified"], 3);
  EXPECT_EQ(j["records_verified"], 12);
  EXPECT_EQ(Ctl("show head").exit_code, 0);
  EXPECT_EQ(Ctl("log").exit_code, 0);
  r = Ctl("prove --image img --path /bin/t5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Write("proof.json", r.out);
  EXPECT_EQ(Ctl("verify-proof " + File("proof.json")).exit_code, 0);
}

TEST_F(ImmunectlChainEtcdTest, NoQuorumIsExitThreeAndVerifyStillWorks) {
  ASSERT_EQ(
      Ctl("init --publisher-key " + File("k0.pub") + " --publisher-key " + File("k2.pub") + " --threshold 2")
          .exit_code,
      0);
  ASSERT_EQ(Ctl(Publish(0)).exit_code, 0);
  cluster_->StopMember(2);
  auto r = Ctl(Publish(1));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  cluster_->StopMember(0);
  r = Ctl(Publish(2));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("no quorum"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(cluster_->client_url(1)), std::string::npos) << r.err;
  r = Ctl("verify");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(cluster_->StartMember(0).ok());
  ASSERT_TRUE(cluster_->StartMember(2).ok());
  ASSERT_TRUE(cluster_->WaitForQuorum(30000).ok());
  r = Ctl(Publish(2));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Ctl("verify").exit_code, 0);
}

TEST_F(ImmunectlChainEtcdTest, ABlockRewrittenInEtcdIsNamedByVerify) {
  ASSERT_EQ(
      Ctl("init --publisher-key " + File("k0.pub") + " --publisher-key " + File("k2.pub") + " --threshold 2")
          .exit_code,
      0);
  for (int f = 0; f < 3; ++f) ASSERT_EQ(Ctl(Publish(f)).exit_code, 0);
  auto client = chain::EtcdClient::Make({cluster_->client_url(0), cluster_->client_url(1)}, 2000);
  ASSERT_TRUE(client.ok());
  const std::string key = "/immune/chain/blocks/00000000000000000001";
  auto raw = (*client)->Get(key, false);
  ASSERT_TRUE(raw.ok() && raw->has_value());
  const std::string& v = (*raw)->value;
  auto b = chain::DecodeBlock(ByteSpan(reinterpret_cast<const std::uint8_t*>(v.data()), v.size()));
  ASSERT_TRUE(b.ok());
  b->records[2].back() ^= 0x01;  // one digest byte
  const Bytes forged = chain::EncodeBlock(*b);
  ASSERT_TRUE((*client)->Put(key, std::string(forged.begin(), forged.end())).ok());
  auto r = Ctl("verify");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("block 1"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace immune
