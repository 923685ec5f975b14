// The etcd backend against a real 3-member etcd cluster on loopback
// (etcd_test_cluster.h): compare-and-swap appends, racing publishers,
// losing one and two members, catching up, and a block rewritten directly
// in etcd. Skipped when no etcd binary is installed.
#include "immune/chain/etcd_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "etcd_client.h"
#include "etcd_test_cluster.h"
#include "immune/chain/publish.h"
#include "immune/chain/verify.h"
#include "test_util.h"

namespace immune::chain {
namespace {

TEST(EtcdLocationTest, ParsesEndpointsAndOptions) {
  auto o = ParseEtcdLocation("etcd:http://a:1,http://b:2?prefix=/fleet/x&timeout_ms=750&stale_reads=0");
  ASSERT_TRUE(o.ok()) << o.error().ToString();
  EXPECT_EQ(o->endpoints, (std::vector<std::string>{"http://a:1", "http://b:2"}));
  EXPECT_EQ(o->prefix, "/fleet/x");
  EXPECT_EQ(o->timeout_ms, 750);
  EXPECT_FALSE(o->allow_stale_reads);
  EXPECT_EQ(ParseEtcdLocation("etcd:http://a:1")->prefix, "/immune/chain");
  EXPECT_FALSE(ParseEtcdLocation("etcd:http://a:1,,http://b").ok());
  EXPECT_FALSE(ParseEtcdLocation("etcd:http://a:1?timeout_ms=x").ok());
  EXPECT_FALSE(ParseEtcdLocation("etcd:http://a:1?prefix=nolead").ok());
  EXPECT_FALSE(ParseEtcdLocation("etcd:http://a:1?colour=red").ok());
  EXPECT_EQ(OpenStore("etcd:ftp://a:1", false).error().code(), ErrorCode::kInvalidArgument);
}

TEST(EtcdLocationTest, NoEndpointAnswersNamesThemAll) {
  auto s = OpenStore("etcd:http://127.0.0.1:1,http://127.0.0.1:2?timeout_ms=500", false);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(s.error().message().find("http://127.0.0.1:1, http://127.0.0.1:2"), std::string::npos)
      << s.error().message();
  EXPECT_NE(s.error().message().find("no endpoint answered"), std::string::npos);
}

class EtcdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::EtcdTestCluster::FindEtcd().empty()) GTEST_SKIP() << "etcd is not installed";
    auto c = testing::EtcdTestCluster::Start(3);
    ASSERT_TRUE(c.ok()) << c.error().ToString();
    cluster_ = std::move(c).value();
  }
  std::unique_ptr<BlockStore> Open(bool create = false, const std::string& location = "") {
    auto s = OpenStore(location.empty() ? cluster_->Location(1500) : location, create);
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::unique_ptr<BlockStore> Init() {
    auto s = Open(true);
    if (s == nullptr) return s;
    Status st = s->Initialize(pubs_.trust.ToJson());
    EXPECT_TRUE(st.ok()) << st.error().ToString();
    return s;
  }
  Result<ChainHead> Publish(BlockStore& s, int i, int per_block = 4) {
    return PublishRecords(s, pubs_.trust, testing::MakeBaselines(i * per_block, per_block), keys_, 1000 + i);
  }
  VerifyReport Verify(BlockStore& s, BaselineIndex* index = nullptr) {
    VerifyOptions o;
    o.index = index;
    auto r = VerifyChain(s, pubs_.trust, o);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return r.ok() ? std::move(r).value() : VerifyReport{};
  }
  std::unique_ptr<EtcdClient> Client() {
    return std::move(
        EtcdClient::Make({cluster_->client_url(0), cluster_->client_url(1), cluster_->client_url(2)}, 2000)
            .value());
  }

  std::unique_ptr<testing::EtcdTestCluster> cluster_;
  testing::Publishers pubs_ = testing::MakePublishers(3, 2);
  std::vector<PrivateKey> keys_ = {pubs_.keys[0], pubs_.keys[2]};
};

TEST_F(EtcdStoreTest, InitialiseAppendReadVerify) {
  auto missing = OpenStore(cluster_->Location(1500), false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  auto s = Init();
  ASSERT_NE(s, nullptr);
  auto again = s->Initialize(pubs_.trust.ToJson());
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message().find("already initialised"), std::string::npos);
  EXPECT_EQ(TrustConfig::FromJson(*s->ReadTrustConfig())->digest(), pubs_.trust.digest());
  EXPECT_FALSE(s->Head()->has_value());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Publish(*s, i).ok());
  auto reader = Open();
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(*reader->BlockCount(), 3u);
  BaselineIndex index;
  VerifyReport r = Verify(*reader, &index);
  EXPECT_TRUE(r.ok()) << r.failure->ToString();
  EXPECT_EQ(r.blocks, 3u);
  EXPECT_EQ(r.records, 12u);
  EXPECT_EQ(r.head, *reader->Head());
  EXPECT_EQ(reader->Read(7).error().code(), ErrorCode::kNotFound);
}

TEST_F(EtcdStoreTest, AnotherFormatIsRefused) {
  ASSERT_TRUE(Client()->Put("/other/format", "immune-chain/9").ok());
  auto s = OpenStore("etcd:" + cluster_->ClientUrls() + "?prefix=/other", false);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("immune-chain/9"), std::string::npos) << s.error().message();
}

TEST_F(EtcdStoreTest, AppendIsCompareAndSwapAndALostAnswerResolves) {
  auto s = Init();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(Publish(*s, 0).ok());
  const ChainHead h0 = **s->Head();
  // Two blocks for height 1 on the same head: the first wins, the second conflicts.
  Block a = *PrepareBlock(h0, testing::MakeBaselines(100, 2), pubs_.trust, 5);
  Block b = *PrepareBlock(h0, testing::MakeBaselines(200, 2), pubs_.trust, 5);
  for (Block* blk : {&a, &b})
    for (const auto& k : keys_) blk->signatures.push_back(*SignHeader(blk->header, k));
  EXPECT_EQ(*s->Append(a, BlockHash(a.header)), AppendOutcome::kAppended);
  EXPECT_EQ(*s->Append(b, BlockHash(b.header)), AppendOutcome::kConflict);
  // Sending the winning block again (as after a lost answer) reports it appended.
  EXPECT_EQ(*s->Append(a, BlockHash(a.header)), AppendOutcome::kAppended);
  // A block on an old head, or one skipping a height, never lands.
  Block stale = *PrepareBlock(std::nullopt, testing::MakeBaselines(300, 1), pubs_.trust, 5);
  EXPECT_EQ(*s->Append(stale, BlockHash(stale.header)), AppendOutcome::kConflict);
  Block skip = *PrepareBlock(ChainHead{5, h0.hash}, testing::MakeBaselines(400, 1), pubs_.trust, 5);
  EXPECT_EQ(*s->Append(skip, BlockHash(skip.header)), AppendOutcome::kConflict);
  EXPECT_EQ((*s->Head())->height, 1u);
  EXPECT_TRUE(Verify(*s).ok());
}

TEST_F(EtcdStoreTest, RacingPublishersNeverFork) {
  auto s = Init();
  ASSERT_NE(s, nullptr);
  // Explicit races for one height: exactly one of two appends wins.
  for (int round = 0; round < 5; ++round) {
    auto head = *s->Head();
    std::vector<Block> blocks;
    for (int j = 0; j < 2; ++j) {
      Block blk = *PrepareBlock(head, testing::MakeBaselines(1000 * round + 100 * j, 2), pubs_.trust, 7);
      for (const auto& k : keys_) blk.signatures.push_back(*SignHeader(blk.header, k));
      blocks.push_back(std::move(blk));
    }
    std::atomic<int> won{0}, lost{0}, ready{0};
    std::vector<std::thread> threads;
    for (int j = 0; j < 2; ++j) {
      threads.emplace_back([&, j] {
        auto store = OpenStore(cluster_->Location(3000), false);
        if (!store.ok()) return;
        ready.fetch_add(1);
        while (ready.load() < 2) std::this_thread::yield();
        auto r = (*store)->Append(blocks[static_cast<std::size_t>(j)],
                                  BlockHash(blocks[static_cast<std::size_t>(j)].header));
        if (r.ok()) (*r == AppendOutcome::kAppended ? won : lost).fetch_add(1);
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(won.load(), 1) << "round " << round;
    EXPECT_EQ(lost.load(), 1) << "round " << round;
  }
  // Two publishers in a loop: PublishRecords retries on the new head.
  constexpr int kEach = 8;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int j = 0; j < 2; ++j) {
    threads.emplace_back([&, j] {
      auto store = OpenStore(cluster_->Location(3000), false);
      if (!store.ok()) return failures.fetch_add(kEach), void();
      for (int i = 0; i < kEach; ++i) {
        auto r = PublishRecords(**store, pubs_.trust, testing::MakeBaselines(10000 * (j + 1) + 10 * i, 3),
                                keys_, 2000 + i, /*attempts=*/50);
        if (!r.ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  BaselineIndex index;
  VerifyReport r = Verify(*s, &index);
  EXPECT_TRUE(r.ok()) << r.failure->ToString();
  EXPECT_EQ(r.blocks, 5u + 2 * kEach);
  EXPECT_EQ(r.records, 5u * 2 + 2 * kEach * 3);
}

TEST_F(EtcdStoreTest, OneMemberDownAppendsContinueTwoDownNoQuorumThenCatchUp) {
  auto s = Init();
  ASSERT_NE(s, nullptr);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(Publish(*s, i).ok());
  // Member 0 (the first endpoint) down: requests fail over, appends continue.
  cluster_->StopMember(0);
  for (int i = 2; i < 4; ++i) {
    auto h = Publish(*s, i);
    ASSERT_TRUE(h.ok()) << h.error().ToString();
  }
  // Two members down: no quorum. Appends fail, naming the endpoints.
  cluster_->StopMember(1);
  auto failed = Publish(*s, 4);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(failed.error().message().find("no quorum"), std::string::npos) << failed.error().message();
  EXPECT_NE(failed.error().message().find(cluster_->client_url(2)), std::string::npos);
  // Reads continue: serializable reads from the remaining member, verified in full.
  auto reader = Open();
  ASSERT_NE(reader, nullptr);
  VerifyReport r = Verify(*reader);
  EXPECT_TRUE(r.ok()) << r.failure->ToString();
  EXPECT_EQ(r.blocks, 4u);
  // With stale reads off, a reader without quorum fails clearly instead.
  auto strict = OpenStore(cluster_->Location(1000) + "&stale_reads=0", false);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.error().code(), ErrorCode::kUnavailable);
  // Both back: the cluster catches up; appends resume and everything verifies.
  ASSERT_TRUE(cluster_->StartMember(0).ok());
  ASSERT_TRUE(cluster_->StartMember(1).ok());
  ASSERT_TRUE(cluster_->WaitForQuorum(30000).ok());
  for (int i = 4; i < 6; ++i) {
    auto h = Publish(*s, i);
    ASSERT_TRUE(h.ok()) << h.error().ToString();
  }
  // Member 0 alone (it was down for blocks 2..5) serves the whole chain.
  auto only0 = Open(false, "etcd:" + cluster_->client_url(0) + "?timeout_ms=3000");
  ASSERT_NE(only0, nullptr);
  r = Verify(*only0);
  EXPECT_TRUE(r.ok()) << r.failure->ToString();
  EXPECT_EQ(r.blocks, 6u);
}

TEST_F(EtcdStoreTest, ABlockRewrittenInEtcdIsDetectedAndNamed) {
  auto s = Init();
  ASSERT_NE(s, nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Publish(*s, i).ok());
  auto client = Client();
  const std::string key = "/immune/chain/blocks/00000000000000000001";
  auto raw = client->Get(key, false);
  ASSERT_TRUE(raw.ok() && raw->has_value());
  const std::string& v = (*raw)->value;
  Block b = *DecodeBlock(ByteSpan(reinterpret_cast<const std::uint8_t*>(v.data()), v.size()));
  b.records[2] = EncodeRecord(Record(testing::MakeBaseline(999)));
  const Bytes forged = EncodeBlock(b);
  ASSERT_TRUE(client->Put(key, std::string(forged.begin(), forged.end())).ok());
  VerifyReport r = Verify(*Open());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->height, 1u);
  EXPECT_NE(r.failure->reason.find("Merkle root"), std::string::npos) << r.failure->ToString();
  // Garbage instead of a block: a chain fault at that height, not an I/O error.
  ASSERT_TRUE(client->Put("/immune/chain/blocks/00000000000000000002", "garbage").ok());
  VerifyOptions o;
  o.from = 2;
  auto r2 = VerifyChain(*Open(), pubs_.trust, o);
  ASSERT_TRUE(r2.ok());
  ASSERT_FALSE(r2->ok());
  EXPECT_EQ(r2->failure->height, 2u);
}

}  // namespace
}  // namespace immune::chain
