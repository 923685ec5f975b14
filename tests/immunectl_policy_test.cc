// `immunectl policy lint|test|learn|sign|import|export` as a contract
// (`apply` and `learn --daemon` are exercised against a real immuned in
// immuned_gate_test).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "immune/core/file.h"
#include "run_command.h"

namespace immune {
namespace {

using testing::Immunectl;
using testing::RunCommand;
using testing::ShellQuote;
using testing::TempDir;

const std::string kKeylime = std::string(IMMUNE_TESTDATA_DIR) + "/policies/keylime";
const std::string kSha = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const std::string kOther = "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string HostPolicy(const std::string& allow_digest) {
  return "apiVersion: immune/v1\nkind: Policy\nscope: host\nmode: enforce\nallow:\n  - {path: /usr/bin/true, digest: " +
         allow_digest + "}\n";
}

// A recorded log as `immunectl tsb log --json` prints it.
std::string Log() {
  nlohmann::json entries = nlohmann::json::array();
  entries.push_back({{"path", "/usr/bin/true"}, {"file_hash_alg", "sha256"}, {"file_digest", kSha.substr(7)},
                     {"container_id", ""}, {"decision", "allow"}});
  entries.push_back({{"path", "/tmp/evil"}, {"file_hash_alg", "sha256"}, {"file_digest", kOther.substr(7)},
                     {"container_id", ""}, {"decision", "allow"}});
  return nlohmann::json{{"entries", entries}}.dump();
}

TEST(ImmunectlPolicy, LintNamesFileLineAndColumnAndExitsOne) {
  TempDir dir;
  Write(dir.File("bad.yaml"), "apiVersion: immune/v1\nkind: Policy\nscope: host\nallow:\n  - sha256:zz\n");
  Write(dir.File("good.yaml"), HostPolicy(kSha));
  auto bad = RunCommand(Immunectl("policy lint " + ShellQuote(dir.File("bad.yaml"))));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find(dir.File("bad.yaml") + ":5:5: error:"), std::string::npos) << bad.err;
  auto good = RunCommand(Immunectl("policy lint --json " + ShellQuote(dir.File("good.yaml"))));
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_TRUE(nlohmann::json::parse(good.out)["ok"].get<bool>());
}

TEST(ImmunectlPolicy, TestReportsWhatWouldBeDeniedOnARecordedLog) {
  TempDir dir;
  Write(dir.File("p.yaml"), HostPolicy(kSha));
  Write(dir.File("log.json"), Log());
  auto r = RunCommand(Immunectl("policy test --json " + ShellQuote(dir.File("p.yaml")) + " --log " +
                                ShellQuote(dir.File("log.json"))));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["allowed"], 1);
  EXPECT_EQ(j["denied"], 1);
  ASSERT_EQ(j["entries"].size(), 1u);
  EXPECT_EQ(j["entries"][0]["path"], "/tmp/evil");
  // A path that is not UTF-8 (a byte array in the log, as the TSB export writes it) comes out the same way.
  nlohmann::json latin1 = nlohmann::json::parse(Log());
  latin1["entries"][1]["path"] = nlohmann::json::array({'/', 't', 'm', 'p', '/', 0xe9});
  Write(dir.File("latin1.json"), latin1.dump());
  auto bytes = RunCommand(Immunectl("policy test --json " + ShellQuote(dir.File("p.yaml")) + " --log " +
                                    ShellQuote(dir.File("latin1.json"))));
  EXPECT_EQ(bytes.exit_code, 1) << bytes.err;
  auto jb = nlohmann::json::parse(bytes.out);
  ASSERT_EQ(jb["entries"].size(), 1u) << bytes.out;
  EXPECT_EQ(jb["entries"][0]["path"], nlohmann::json::array({'/', 't', 'm', 'p', '/', 0xe9}));
  // As text, one line per entry whatever the name holds: a newline or a
  // terminal escape is written as \xNN.
  nlohmann::json hostile = nlohmann::json::parse(Log());
  hostile["entries"][1]["path"] = "/tmp/a\nallow  host  /usr/bin/true\x1b[2K";
  Write(dir.File("hostile.json"), hostile.dump());
  auto text = RunCommand(Immunectl("policy test " + ShellQuote(dir.File("p.yaml")) + " --log " +
                                   ShellQuote(dir.File("hostile.json"))));
  EXPECT_EQ(text.exit_code, 1) << text.err;
  EXPECT_NE(
      text.out.find("deny  host  /tmp/a\\x0aallow  host  /usr/bin/true\\x1b[2K  (builtin:default-deny)\n"),
      std::string::npos)
      << text.out;
  EXPECT_EQ(std::count(text.out.begin(), text.out.end(), '\n'), 2) << text.out;  // the entry and the summary
  auto garbage = RunCommand(Immunectl("policy test " + ShellQuote(dir.File("p.yaml")) + " --log " +
                                      ShellQuote(dir.File("p.yaml"))));
  EXPECT_EQ(garbage.exit_code, 2) << garbage.err;
}

TEST(ImmunectlPolicy, LearnedDraftAllowsExactlyTheLog) {
  TempDir dir;
  Write(dir.File("log.json"), Log());
  auto learn = RunCommand(Immunectl("policy learn --log " + ShellQuote(dir.File("log.json")) + " -o " +
                                    ShellQuote(dir.File("draft.yaml"))));
  ASSERT_EQ(learn.exit_code, 0) << learn.err;
  auto all = RunCommand(Immunectl("policy test " + ShellQuote(dir.File("draft.yaml")) + " --log " +
                                  ShellQuote(dir.File("log.json"))));
  EXPECT_EQ(all.exit_code, 0) << all.out << all.err;
  // One more entry the draft never saw is denied.
  nlohmann::json more = nlohmann::json::parse(Log());
  more["entries"].push_back({{"path", "/usr/bin/true"}, {"file_hash_alg", "sha256"}, {"file_digest", kOther.substr(7)},
                             {"container_id", ""}});
  Write(dir.File("more.json"), more.dump());
  auto extra = RunCommand(Immunectl("policy test --json " + ShellQuote(dir.File("draft.yaml")) + " --log " +
                                    ShellQuote(dir.File("more.json"))));
  EXPECT_EQ(extra.exit_code, 1);
  EXPECT_EQ(nlohmann::json::parse(extra.out)["denied"], 1);
  // A log entry with a member of the wrong type: exit 2 naming the entry, no draft.
  nlohmann::json bad = nlohmann::json::parse(Log());
  bad["entries"][0]["container_id"] = 7;
  Write(dir.File("bad.json"), bad.dump());
  auto refused = RunCommand(Immunectl("policy learn --log " + ShellQuote(dir.File("bad.json")) + " -o " +
                                      ShellQuote(dir.File("bad-draft.yaml"))));
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_THAT(refused.err, ::testing::HasSubstr("bad.json: entry 0: 'container_id' is not a string"));
  EXPECT_FALSE(std::filesystem::exists(dir.File("bad-draft.yaml")));
}

TEST(ImmunectlPolicy, SignedBundleVerifiesOnlyWithItsKey) {
  TempDir dir;
  Write(dir.File("p.yaml"), HostPolicy(kSha));
  Write(dir.File("log.json"), Log());
  ASSERT_EQ(RunCommand("openssl genpkey -algorithm ed25519 -out " + ShellQuote(dir.File("k.pem")) +
                       " && openssl pkey -in " + ShellQuote(dir.File("k.pem")) + " -pubout -out " +
                       ShellQuote(dir.File("k.pub")) + " && openssl genpkey -algorithm ed25519 -out " +
                       ShellQuote(dir.File("other.pem")) + " && openssl pkey -in " + ShellQuote(dir.File("other.pem")) +
                       " -pubout -out " + ShellQuote(dir.File("other.pub")))
                .exit_code,
            0);
  auto sign = RunCommand(Immunectl("policy sign " + ShellQuote(dir.File("p.yaml")) + " --key " +
                                   ShellQuote(dir.File("k.pem"))));
  ASSERT_EQ(sign.exit_code, 0) << sign.err;
  const std::string bundle = dir.File("p.yaml.dsse.json");
  auto ok = RunCommand(Immunectl("policy test " + ShellQuote(bundle) + " --key " + ShellQuote(dir.File("k.pub")) +
                                 " --log " + ShellQuote(dir.File("log.json"))));
  EXPECT_EQ(ok.exit_code, 1) << ok.err;  // verified and evaluated: one entry denied
  auto wrong = RunCommand(Immunectl("policy test " + ShellQuote(bundle) + " --key " +
                                    ShellQuote(dir.File("other.pub")) + " --log " + ShellQuote(dir.File("log.json"))));
  EXPECT_EQ(wrong.exit_code, 3);
  EXPECT_NE(wrong.err.find("no signature"), std::string::npos) << wrong.err;
}

TEST(ImmunectlPolicy, KeylimeImportAndExport) {
  TempDir dir;
  auto imp = RunCommand(Immunectl("policy import --keylime " + ShellQuote(kKeylime + "/runtime-policy-test.json") +
                                  " -o " + ShellQuote(dir.File("k.yaml"))));
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_EQ(RunCommand(Immunectl("policy lint " + ShellQuote(dir.File("k.yaml")))).exit_code, 0);
  auto exp = RunCommand(Immunectl("policy export --keylime " + ShellQuote(dir.File("k.yaml"))));
  ASSERT_EQ(exp.exit_code, 0) << exp.err;
  auto original = nlohmann::json::parse(*ReadTextFile(kKeylime + "/runtime-policy-test.json"));
  auto exported = nlohmann::json::parse(exp.out);
  EXPECT_EQ(exported["digests"], original["digests"]);
  // The DSSE-signed variant with Keylime's key, and the tampered one.
  auto signed_ok = RunCommand(Immunectl("policy import --keylime " +
                                        ShellQuote(kKeylime + "/runtime-policy-test-signed.json") + " --key " +
                                        ShellQuote(kKeylime + "/runtime-policy-pubkey.pub")));
  EXPECT_EQ(signed_ok.exit_code, 0) << signed_ok.err;
  auto signed_bad = RunCommand(Immunectl("policy import --keylime " +
                                         ShellQuote(kKeylime + "/runtime-policy-test-signed-bad.json") + " --key " +
                                         ShellQuote(kKeylime + "/runtime-policy-pubkey.pub")));
  EXPECT_NE(signed_bad.exit_code, 0);
  EXPECT_TRUE(signed_bad.out.empty());
}

}  // namespace
}  // namespace immune
