// The SQLite backend: compare-and-swap appends, whole blocks after kill -9,
// and tampering with the file directly (sqlite3 on the same file).
#include "immune/chain/sqlite_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "immune/chain/publish.h"
#include "immune/chain/verify.h"
#include "test_util.h"

namespace immune::chain {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<BlockStore> Open(bool create = false) {
    auto s = OpenStore("sqlite:" + path_, create);
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    return std::move(s).value();
  }
  std::unique_ptr<BlockStore> Init() {
    auto s = Open(true);
    EXPECT_TRUE(s->Initialize(pubs_.trust.ToJson()).ok());
    return s;
  }
  void PublishBlocks(BlockStore& s, int blocks, int per_block) {
    for (int i = 0; i < blocks; ++i) {
      auto h =
          PublishRecords(s, pubs_.trust, testing::MakeBaselines(i * per_block, per_block), keys_, 1000 + i);
      ASSERT_TRUE(h.ok()) << h.error().ToString();
    }
  }
  VerifyReport Verify(BlockStore& s, BaselineIndex* index = nullptr) {
    VerifyOptions o;
    o.index = index;
    auto r = VerifyChain(s, pubs_.trust, o);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return std::move(r).value();
  }
  void Sql(const std::string& statement) {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE);
    db.exec(statement);
  }

  testing::TempDir dir_;
  std::string path_ = dir_.File("chain.db");
  testing::Publishers pubs_ = testing::MakePublishers(3, 2);
  std::vector<PrivateKey> keys_ = {pubs_.keys[0], pubs_.keys[2]};
};

TEST_F(SqliteStoreTest, InitialiseOnceAndReadTheTrustBack) {
  auto s = Init();
  auto t = s->ReadTrustConfig();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(TrustConfig::FromJson(*t)->digest(), pubs_.trust.digest());
  auto again = s->Initialize(pubs_.trust.ToJson());
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message().find("already initialised"), std::string::npos);
  auto missing = OpenStore("sqlite:" + dir_.File("none.db"), false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(OpenStore("etcd:ftp://127.0.0.1:2379", false).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, AppendIsCompareAndSwapOnHeightAndPreviousHash) {
  auto s = Init();
  PublishBlocks(*s, 2, 4);
  auto head = *s->Head();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->height, 1u);
  // A block prepared on an old head loses.
  Block stale = PrepareEncodedBlock(ChainHead{0, s->Read(0)->header.prev_hash}, {}, pubs_.trust, 5);
  stale.header.height = 1;
  EXPECT_EQ(*s->Append(stale, BlockHash(stale.header)), AppendOutcome::kConflict);
  Block wrong_prev = PrepareEncodedBlock(ChainHead{1, Hash256{}}, {}, pubs_.trust, 5);
  EXPECT_EQ(*s->Append(wrong_prev, BlockHash(wrong_prev.header)), AppendOutcome::kConflict);
  // Two publishers on the same head: one wins, the other is told the head moved.
  auto other = Open();
  auto a = *PrepareBlock(head, testing::MakeBaselines(100, 2), pubs_.trust, 9);
  auto b = *PrepareBlock(head, testing::MakeBaselines(200, 2), pubs_.trust, 9);
  for (auto* blk : {&a, &b})
    for (const auto& k : keys_) blk->signatures.push_back(*SignHeader(blk->header, k));
  ASSERT_TRUE(SubmitBlock(*s, pubs_.trust, a).ok());
  auto lost = SubmitBlock(*other, pubs_.trust, b);
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code(), ErrorCode::kAborted);
  EXPECT_TRUE(Verify(*s).ok());
  EXPECT_EQ(Verify(*s).blocks, 3u);
}

TEST_F(SqliteStoreTest, SubmitRefusesBlocksBelowTheThreshold) {
  auto s = Init();
  auto b = *PrepareBlock(std::nullopt, testing::MakeBaselines(0, 2), pubs_.trust, 9);
  b.signatures.push_back(*SignHeader(b.header, keys_[0]));
  auto r = SubmitBlock(*s, pubs_.trust, b);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("threshold"), std::string::npos) << r.error().message();
  EXPECT_FALSE(s->Head()->has_value());
}

// A child publishes in a loop; the parent SIGKILLs it at a random moment.
// Whatever the moment, the chain verifies: no torn block.
TEST_F(SqliteStoreTest, KillDuringPublishLeavesNoTornBlock) {
  { Init(); }
  std::uint64_t last_blocks = 0;
  for (int round = 0; round < 6; ++round) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = OpenStore("sqlite:" + path_, false);
      if (!s.ok()) ::_exit(10);
      for (int i = 0;; ++i) {
        auto h = PublishRecords(**s, pubs_.trust,
                                testing::MakeBaselines(i * 300, 300, "img-" + std::to_string(round)), keys_,
                                static_cast<std::uint64_t>(i));
        if (!h.ok()) ::_exit(11);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + 97 * round));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited on its own with " << WEXITSTATUS(status);
    auto s = Open();
    VerifyReport r = Verify(*s);
    ASSERT_TRUE(r.ok()) << r.failure->ToString();
    EXPECT_EQ(r.records, r.blocks * 300);
    EXPECT_GT(r.blocks, last_blocks) << "round " << round << " published nothing";
    last_blocks = r.blocks;
  }
}

class TamperTest : public SqliteStoreTest {
 protected:
  void SetUp() override {
    auto s = Init();
    PublishBlocks(*s, 6, 10);
  }
  // Verifies; expects the first failure at `height` and the index to refuse
  // a baseline of block `height` while still serving one of block 0.
  void ExpectBreakAt(std::uint64_t height, const std::string& words) {
    auto s = Open();
    BaselineIndex index;
    VerifyReport r = Verify(*s, &index);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure->height, height) << r.failure->ToString();
    EXPECT_NE(r.failure->ToString().find(words), std::string::npos) << r.failure->ToString();
    EXPECT_EQ(index.broken_at(), height);
    EXPECT_TRUE(index.FindByDigest(testing::MakeBaseline(0).digest).ok());
    const FileBaseline past = testing::MakeBaseline(static_cast<int>(height) * 10 + 1);
    auto refused = index.FindByDigest(past.digest);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::kCorruption);
    EXPECT_NE(refused.error().message().find("breaks at block " + std::to_string(height)), std::string::npos);
    EXPECT_FALSE(index.FindByImagePath(past.image, past.path).ok());
  }
};

TEST_F(TamperTest, UntouchedChainVerifiesAndIndexServes) {
  auto s = Open();
  BaselineIndex index;
  VerifyReport r = Verify(*s, &index);
  ASSERT_TRUE(r.ok()) << r.failure->ToString();
  EXPECT_EQ(r.blocks, 6u);
  EXPECT_EQ(r.records, 60u);
  const FileBaseline f = testing::MakeBaseline(42);
  auto hit = index.FindByImagePath(f.image, f.path);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit->location, (RecordLocation{4, 2}));
  EXPECT_EQ(index.FindByDigest(testing::MakeBaseline(999).digest).error().code(), ErrorCode::kNotFound);
}

TEST_F(TamperTest, UpdatedRecordRowIsDetected) {
  const Bytes other = EncodeRecord(testing::MakeBaseline(777));
  SQLite::Database db(path_, SQLite::OPEN_READWRITE);
  SQLite::Statement q(db, "UPDATE records SET body = ? WHERE height = 3 AND idx = 4");
  q.bind(1, other.data(), static_cast<int>(other.size()));
  ASSERT_EQ(q.exec(), 1);
  ExpectBreakAt(3, "Merkle root");
}

TEST_F(TamperTest, GarbledRecordRowIsNamedByBlockAndRecord) {
  Sql("UPDATE records SET body = x'0102ffff' WHERE height = 2 AND idx = 7");
  ExpectBreakAt(2, "block 2, record 7");
}

TEST_F(TamperTest, SwappedBlocksAreDetected) {
  Sql("UPDATE blocks SET height = -1 WHERE height = 2; UPDATE blocks SET height = 2 WHERE height = 3;"
      "UPDATE blocks SET height = 3 WHERE height = -1;"
      "UPDATE records SET height = -1 WHERE height = 2; UPDATE records SET height = 2 WHERE height = 3;"
      "UPDATE records SET height = 3 WHERE height = -1;");
  ExpectBreakAt(2, "header says height 3");
}

TEST_F(TamperTest, RemovedBlockIsDetected) {
  Sql("DELETE FROM blocks WHERE height = 4; DELETE FROM records WHERE height = 4");
  ExpectBreakAt(4, "missing");
}

TEST_F(TamperTest, RemovedRecordRowIsDetected) {
  Sql("DELETE FROM records WHERE height = 1 AND idx = 9");
  ExpectBreakAt(1, "header counts 10 records");
}

TEST_F(TamperTest, BlockSignedByAnUnknownKeyIsDetected) {
  // Replace block 5 with one signed by a stranger key (twice over: K strangers).
  auto s = Open();
  Sql("DELETE FROM blocks WHERE height = 5; DELETE FROM records WHERE height = 5");
  auto strangers = testing::MakePublishers(2, 2);
  Block b = *PrepareBlock(*s->Head(), testing::MakeBaselines(50, 10), pubs_.trust, 77);
  for (const auto& k : strangers.keys) b.signatures.push_back(*SignHeader(b.header, k));
  ASSERT_EQ(*s->Append(b, BlockHash(b.header)), AppendOutcome::kAppended);
  ExpectBreakAt(5, "not in the trust configuration");
}

TEST_F(TamperTest, BlockWithFewerThanKSignaturesIsDetected) {
  Sql("UPDATE blocks SET signatures = x'0000' WHERE height = 3");
  ExpectBreakAt(3, "fewer than the threshold 2");
}

TEST_F(TamperTest, RewrittenPreviousHashIsDetected) {
  auto s = Open();
  Block b = *s->Read(2);
  b.header.prev_hash[0] ^= 1;
  const Bytes h = EncodeHeader(b.header);
  SQLite::Database db(path_, SQLite::OPEN_READWRITE);
  SQLite::Statement q(db, "UPDATE blocks SET header = ? WHERE height = 2");
  q.bind(1, h.data(), static_cast<int>(h.size()));
  ASSERT_EQ(q.exec(), 1);
  ExpectBreakAt(2, "previous-block hash");
}

TEST_F(TamperTest, SwappedTrustConfigurationIsDetected) {
  auto s = Open();
  auto evil = testing::MakePublishers(1, 1);
  Sql("UPDATE meta SET value = '" + evil.trust.ToJson() + "' WHERE key = 'trust'");
  auto t = TrustConfig::FromJson(*s->ReadTrustConfig());
  ASSERT_TRUE(t.ok());
  auto r = VerifyChain(*s, *t);
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->failure->height, 0u);
  EXPECT_NE(r->failure->reason.find("trust configuration"), std::string::npos);
}

}  // namespace
}  // namespace immune::chain
