// `immunectl ima replay|verify` as a contract, on real IMA lists.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "immune/core/file.h"
#include "run_command.h"

namespace immune {
namespace {

using testing::RunCommand;
using testing::ShellQuote;
using testing::TempDir;

const std::string kIma = std::string(IMMUNE_TESTDATA_DIR) + "/ima";

// ibmtss's imakvtpcr10.txt (" PCR 10: 9b e6 ..." per bank, sha1 to sha512)
// as {"banks":{...}} JSON.
std::string KnownGoodPcr10Json() {
  std::istringstream in(*ReadTextFile(kIma + "/ibmtss/imakvtpcr10.txt"));
  const char* banks[] = {"sha1", "sha256", "sha384", "sha512"};
  nlohmann::json j;
  std::string line;
  int i = 0;
  while (std::getline(in, line) && i < 4) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string hex;
    for (char c : line.substr(colon + 1)) {
      if (c != ' ') hex.push_back(c);
    }
    j["banks"][banks[i++]]["10"] = hex;
  }
  return j.dump();
}

TEST(ImmunectlImaTest, EveryIbmtssListVerifiesAgainstTheKernelsPcr10InAllFourBanks) {
  TempDir tmp;
  std::ofstream(tmp.File("pcr10.json")) << KnownGoodPcr10Json();
  for (std::string f : {"sha1.log", "sha256.log", "sha384.log", "sha512.log"}) {
    auto r = RunCommand(testing::Immunectl("ima verify " + ShellQuote(kIma + "/ibmtss/" + f) + " --pcrs " +
                                           tmp.File("pcr10.json")));
    EXPECT_EQ(r.exit_code, 0) << f << "\n" << r.err;
    EXPECT_NE(r.out.find("verified: 4 PCR values compared, 0 mismatching"), std::string::npos) << f << r.out;
  }
}

TEST(ImmunectlImaTest, AWrongPcrIsNamedAndExitsOne) {
  TempDir tmp;
  auto j = nlohmann::json::parse(KnownGoodPcr10Json());
  j["banks"]["sha256"]["10"] = std::string(64, 'a');
  std::ofstream(tmp.File("bad.json")) << j.dump();
  auto r = RunCommand(testing::Immunectl("ima verify " + ShellQuote(kIma + "/ibmtss/sha1.log") + " --pcrs " +
                                         tmp.File("bad.json")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("sha256 PCR 10"), std::string::npos) << r.err;
}

TEST(ImmunectlImaTest, ReplayJsonHasTheBootReplayShape) {
  auto r =
      RunCommand(testing::Immunectl("ima replay --json --bank sha1 --bank sha256 " +
                                    ShellQuote(kIma + "/keylime/rust-keylime-ascii_runtime_measurements")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j["banks"]["sha1"]["10"].get<std::string>().size(), 40u);
  EXPECT_EQ(j["banks"]["sha256"]["10"].get<std::string>().size(), 64u);
}

TEST(ImmunectlImaTest, AnEditedEntryFailsNamingItsLine) {
  TempDir tmp;
  std::string text = *ReadTextFile(kIma + "/keylime/rust-keylime-ascii_runtime_measurements");
  // Line 300's path loses a character: its template hash no longer matches.
  std::size_t pos = 0;
  for (int line = 1; line < 300; ++line) pos = text.find('\n', pos) + 1;
  std::size_t slash = text.find(" /", pos);
  text[slash + 2] = text[slash + 2] == 'x' ? 'y' : 'x';
  std::ofstream(tmp.File("edited"), std::ios::binary) << text;
  auto r = RunCommand(testing::Immunectl("ima replay " + tmp.File("edited")));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("line 300"), std::string::npos) << r.err;
}

TEST(ImmunectlImaTest, UnknownAlgorithmAndTruncatedListsAreBadInput) {
  auto unknown =
      RunCommand(testing::Immunectl("ima replay " + ShellQuote(kIma + "/keylime/ima-log-unknown")));
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unknown file hash algorithm"), std::string::npos) << unknown.err;
  auto cut = RunCommand(
      testing::Immunectl("ima replay " + ShellQuote(kIma + "/tpm2-tss/sml-ima-ng-sha1-invalidated.bin")));
  EXPECT_EQ(cut.exit_code, 2);
  EXPECT_NE(cut.err.find("at byte"), std::string::npos) << cut.err;
}

TEST(ImmunectlImaTest, SignaturesVerifyWithTheGivenKeys) {
  TempDir tmp;
  const std::string dir = kIma + "/keylime/ima-sig";
  const std::string list = dir + "/signatures.txt";
  auto replay = RunCommand(testing::Immunectl("ima replay --json " + ShellQuote(list)));
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  std::ofstream(tmp.File("pcrs.json")) << replay.out;
  const std::string verify = "ima verify " + ShellQuote(list) + " --pcrs " + tmp.File("pcrs.json");
  auto ok = RunCommand(testing::Immunectl(verify + " --key " + ShellQuote(dir + "/rsa2048pub.pem") +
                                          " --key " + ShellQuote(dir + "/secp256k1.pem")));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.err.find("2 of 2 signed entries verified"), std::string::npos) << ok.err;
  // Without the EC key one signature cannot be checked: that is a failure.
  auto missing = RunCommand(testing::Immunectl(verify + " --key " + ShellQuote(dir + "/rsa2048pub.pem")));
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
  EXPECT_NE(missing.err.find("no key with id"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace immune
