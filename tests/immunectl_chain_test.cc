// The `immunectl chain` command line as a contract: exit codes, the proof
// JSON, error messages that name the block and the record, and tamper
// detection on a real SQLite file changed behind the ledger's back.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "run_command.h"

namespace immune {
namespace {

namespace fs = std::filesystem;
using testing::RunCommand;
using testing::ShellQuote;

class ImmunectlChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      const std::string key = File("k" + std::to_string(i) + ".pem");
      const std::string alg =
          i == 1 ? "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" : "-algorithm ed25519";
      auto r =
          RunCommand("openssl genpkey " + alg + " -out " + ShellQuote(key) + " && openssl pkey -in " +
                     ShellQuote(key) + " -pubout -out " + ShellQuote(File("k" + std::to_string(i) + ".pub")));
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    Write("r1.json", Records(0, 4));
    Write("r2.json", Records(4, 4));
  }
  std::string File(const std::string& name) const { return tmp_.File(name); }
  void Write(const std::string& name, const std::string& text) { std::ofstream(File(name)) << text; }
  static std::string Digest(int i) {
    std::string d = std::to_string(i);
    return "sha256:" + std::string(64 - d.size(), 'a') + d;
  }
  static std::string Records(int first, int n) {
    nlohmann::json arr = nlohmann::json::array();
    for (int i = first; i < first + n; ++i)
      arr.push_back({{"type", "file_baseline"},
                     {"image", "img"},
                     {"path", "/bin/t" + std::to_string(i)},
                     {"digest", Digest(i)}});
    return nlohmann::json{{"records", arr}}.dump();
  }
  testing::CommandResult Ctl(const std::string& args) {
    return RunCommand(
        testing::Immunectl("chain " + args + " --store " + ShellQuote("sqlite:" + File("c.db"))));
  }
  void InitTwoOfThree() {
    auto r = Ctl("init --publisher-key " + File("k0.pub") + " --publisher-key " + File("k1.pub") +
                 " --publisher-key " + File("k2.pub") + " --threshold 2");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void PublishBoth() {
    auto r = Ctl("publish " + File("r1.json") + " --key " + File("k0.pem") + " --key " + File("k1.pem"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = Ctl("publish " + File("r2.json") + " --key " + File("k1.pem") + " --key " + File("k2.pem"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  testing::TempDir tmp_;
};

TEST_F(ImmunectlChainTest, EveryCommandHasHelp) {
  for (std::string cmd : {"init", "sign", "publish", "verify", "prove", "verify-proof", "show", "log"}) {
    auto r = RunCommand(testing::Immunectl("chain " + cmd + " --help"));
    EXPECT_EQ(r.exit_code, 0) << cmd << r.err;
    EXPECT_NE(r.out.find("--store"), std::string::npos) << cmd;
  }
}

TEST_F(ImmunectlChainTest, PublishVerifyShowLog) {
  InitTwoOfThree();
  PublishBoth();
  auto r = Ctl("verify");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ok: 2 blocks, 8 records"), std::string::npos) << r.out;
  r = Ctl("verify --json");
  ASSERT_EQ(r.exit_code, 0);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["head"]["height"], 1);
  const std::string head_hash = j["head"]["hash"];
  r = Ctl("verify --pin 0:" + std::string(64, '0'));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("block 0"), std::string::npos) << r.err;
  r = Ctl("verify --pin 1:" + head_hash + " --from 1");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Ctl("log --json");
  ASSERT_EQ(r.exit_code, 0);
  j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["hash"], head_hash);
  EXPECT_EQ(j[1]["signers"].size(), 2u);
  r = Ctl("show 0 --json");
  ASSERT_EQ(r.exit_code, 0);
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["record_list"].size(), 4u);
  EXPECT_EQ(j["record_list"][2]["path"], "/bin/t2");
  EXPECT_EQ(Ctl("show 7").exit_code, 2);
}

TEST_F(ImmunectlChainTest, FewerThanKKeysIsRefusedAndChangesNothing) {
  InitTwoOfThree();
  auto r = Ctl("publish " + File("r1.json") + " --key " + File("k0.pem"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("threshold 2"), std::string::npos) << r.err;
  r = Ctl("log");
  EXPECT_EQ(r.out, "");
}

TEST_F(ImmunectlChainTest, TwoStepSignThenSubmit) {
  InitTwoOfThree();
  auto r = Ctl("sign " + File("r1.json") + " --key " + File("k0.pem") + " --time 1700000000000 -o " +
               File("s0.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Ctl("sign " + File("r1.json") + " --key " + File("k2.pem") + " --time 1700000000000 -o " +
          File("s2.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Ctl("sign " + File("r1.json") + " --key " + File("k1.pem") + " --time 1700000000001 -o " +
          File("s1.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Ctl("publish " + File("r1.json") + " --signatures " + File("s0.json") + " --signatures " +
          File("s1.json"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("different block header"), std::string::npos) << r.err;
  r = Ctl("publish " + File("r2.json") + " --signatures " + File("s0.json") + " --signatures " +
          File("s2.json"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("Merkle root"), std::string::npos) << r.err;
  // A signature file whose members have the wrong types is refused with its
  // name and index (it used to abort on a number where "format" is a string).
  std::ofstream(File("bad.json")) << R"([{"format": 1, "header_hex": "00", "key_id": "00", "signature_base64": ""}])";
  r = Ctl("publish " + File("r1.json") + " --signatures " + File("s0.json") + " --signatures " + File("bad.json"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("bad.json: signature 0: not an immune-chain-signature/1 object"), std::string::npos)
      << r.err;
  r = Ctl("publish " + File("r1.json") + " --signatures " + File("s0.json") + " --signatures " +
          File("s2.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Ctl("verify");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Ctl("show --json");
  EXPECT_EQ(nlohmann::json::parse(r.out)["time_ms"], 1700000000000ull);
}

TEST_F(ImmunectlChainTest, ProveAndVerifyProofOffline) {
  InitTwoOfThree();
  PublishBoth();
  auto r = Ctl("prove " + Digest(5));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto proof = nlohmann::json::parse(r.out);
  EXPECT_EQ(proof["format"], "immune-chain-proof/1");
  EXPECT_EQ(proof["block"]["height"], 1);
  EXPECT_EQ(proof["leaf_index"], 1);
  EXPECT_EQ(proof["record"]["path"], "/bin/t5");
  Write("p.json", r.out);
  r = Ctl("prove --image img --path /bin/t5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["record_id"], proof["record_id"]);
  // Offline: the store is gone; only the trust configuration is needed.
  {
    SQLite::Database db(File("c.db"), SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT value FROM meta WHERE key = 'trust'");
    ASSERT_TRUE(q.executeStep());
    Write("trust.json", q.getColumn(0).getString());
  }
  fs::rename(File("c.db"), File("moved.db"));
  r = RunCommand(testing::Immunectl("chain verify-proof ") + File("p.json") + " --trust " +
                 File("trust.json"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto shown = proof;
  shown["record"]["path"] = "/bin/innocent";  // what a person reads no longer matches the bytes
  Write("shown.json", shown.dump());
  r = RunCommand(testing::Immunectl("chain verify-proof ") + File("shown.json") + " --trust " +
                 File("trust.json"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("does not describe"), std::string::npos) << r.err;
  proof.erase("record");
  proof.erase("record_id");
  proof["record_hex"] = proof["record_hex"].get<std::string>().replace(20, 2, "ff");
  Write("bad.json", proof.dump());
  r = RunCommand(testing::Immunectl("chain verify-proof ") + File("bad.json") + " --trust " +
                 File("trust.json"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("block 1, record 1"), std::string::npos) << r.err;
  Write("junk.json", "{\"format\":\"immune-chain-proof/1\"}");
  r = RunCommand(testing::Immunectl("chain verify-proof ") + File("junk.json") + " --trust " +
                 File("trust.json"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("record_hex"), std::string::npos) << r.err;
}

TEST_F(ImmunectlChainTest, TamperedRowIsNamedAndIndexRefusesPastTheBreak) {
  InitTwoOfThree();
  PublishBoth();
  {
    SQLite::Database db(File("c.db"), SQLite::OPEN_READWRITE);
    db.exec("UPDATE records SET body = x'0102ffff' WHERE height = 1 AND idx = 2");
  }
  auto r = Ctl("verify");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("block 1, record 2"), std::string::npos) << r.err;
  r = Ctl("verify --json");
  EXPECT_EQ(r.exit_code, 1);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["bad_block"], 1);
  EXPECT_EQ(j["bad_record"], 2);
  r = Ctl("prove " + Digest(5));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("breaks at block 1"), std::string::npos) << r.err;
  r = Ctl("prove " + Digest(1));
  EXPECT_EQ(r.exit_code, 0) << r.err;  // block 0 verified
  // A publisher refuses to extend a broken head.
  r = Ctl("publish " + File("r1.json") + " --key " + File("k0.pem") + " --key " + File("k1.pem"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("refusing to extend"), std::string::npos) << r.err;
}

// Each tampering, done with SQL on the file, makes `chain verify` exit 1
// naming the block.
TEST_F(ImmunectlChainTest, VerifyNamesTheBlockOfEveryTampering) {
  InitTwoOfThree();
  PublishBoth();
  Write("r3.json", Records(8, 2));
  auto r = Ctl("publish " + File("r3.json") + " --key " + File("k0.pem") + " --key " + File("k2.pem"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  fs::copy_file(File("c.db"), File("clean.db"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"DELETE FROM blocks WHERE height = 1; DELETE FROM records WHERE height = 1",
       "block 1: block 1 is missing"},
      {"UPDATE blocks SET height = -1 WHERE height = 0; UPDATE blocks SET height = 0 WHERE height = 1;"
       "UPDATE blocks SET height = 1 WHERE height = -1",
       "block 0: header says height 1"},
      {"UPDATE blocks SET signatures = (SELECT substr(signatures, 1, 2 + 32 + 2 + 64) FROM blocks WHERE "
       "height = 2)"
       " WHERE height = 2; UPDATE blocks SET signatures = x'0001' || substr(signatures, 3) WHERE height = 2",
       "block 2: signed by 1 publisher key(s), fewer than the threshold 2"},
      {"UPDATE records SET body = (SELECT body FROM records WHERE height = 0 AND idx = 0) WHERE height = 1 "
       "AND idx = 3",
       "block 1: the Merkle root"},
  };
  for (const auto& [sql, expected] : cases) {
    fs::copy_file(File("clean.db"), File("c.db"), fs::copy_options::overwrite_existing);
    fs::remove(File("c.db-wal"));
    fs::remove(File("c.db-shm"));
    {
      SQLite::Database db(File("c.db"), SQLite::OPEN_READWRITE);
      db.exec(sql);
    }
    r = Ctl("verify");
    EXPECT_EQ(r.exit_code, 1) << sql;
    EXPECT_NE(r.err.find(expected), std::string::npos) << sql << "\n" << r.err;
  }
}

TEST_F(ImmunectlChainTest, BadInputIsExitTwo) {
  auto r = Ctl("verify");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no chain store"), std::string::npos) << r.err;
  InitTwoOfThree();
  r = Ctl("init --publisher-key " + File("k0.pub"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("already initialised"), std::string::npos) << r.err;
  Write("bad.json", R"({"records":[{"type":"file_baseline","image":"i","path":"/p","digest":"sha256:12"}]})");
  r = Ctl("publish " + File("bad.json") + " --key " + File("k0.pem") + " --key " + File("k1.pem"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("record 0"), std::string::npos) << r.err;
  r = Ctl("prove zz");
  EXPECT_EQ(r.exit_code, 2);
  r = Ctl("verify --pin nonsense");
  EXPECT_EQ(r.exit_code, 2);
  Write("other.db", "");
  r = RunCommand(testing::Immunectl("chain verify --store " + File("other.db")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not an Immune chain store"), std::string::npos) << r.err;
  r = RunCommand(testing::Immunectl("chain verify --store etcd:ftp://127.0.0.1:2379"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("etcd"), std::string::npos);
}

TEST_F(ImmunectlChainTest, StoreDefaultsToTheEnvironment) {
  auto r = RunCommand("IMMUNE_CHAIN_STORE=" + ShellQuote("sqlite:" + File("env.db")) + " " +
                      testing::Immunectl("chain init --publisher-key " + File("k0.pub")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(File("env.db")));
  r = RunCommand("cd " + ShellQuote(tmp_.path()) + " && " +
                 testing::Immunectl("chain init --publisher-key k0.pub"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(File("immune-chain.db")));
}

}  // namespace
}  // namespace immune
