// The `immunectl boot` command line as a contract: shapes of its output, its
// exit codes and its error messages, on real captured event logs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "immune/core/file.h"
#include "immune/core/pcr.h"
#include "run_command.h"

namespace immune {
namespace {

namespace fs = std::filesystem;
using testing::RunCommand;
using testing::ShellQuote;
using testing::TempDir;

const std::string kEventlogs = std::string(IMMUNE_TESTDATA_DIR) + "/eventlogs";

std::vector<fs::path> ExpectedPcrFiles() {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(kEventlogs)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 19 && name.ends_with(".expected_pcrs.json")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The log an expected-values file belongs to (its "log" member, beside it).
fs::path LogFor(const fs::path& expected) {
  auto j = nlohmann::json::parse(*ReadTextFile(expected.string()));
  return expected.parent_path() / j["log"].get<std::string>();
}

TEST(ImmunectlBootTest, EveryCommandHasHelp) {
  for (std::string cmd : {"--help", "boot --help", "boot log --help", "boot replay --help",
                          "boot verify --help", "boot check --help"}) {
    auto r = RunCommand(testing::Immunectl(cmd));
    EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.err;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd;
  }
}

TEST(ImmunectlBootTest, UnknownCommandOrMissingArgumentIsBadInput) {
  auto r = RunCommand(testing::Immunectl("boot frobnicate"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(r.err.empty());
  r = RunCommand(
      testing::Immunectl("boot verify " + ShellQuote(kEventlogs + "/tpm2-tools/event.bin")));  // no --pcrs
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--pcrs"), std::string::npos) << r.err;
}

TEST(ImmunectlBootTest, ReplayJsonHasTheContractShape) {
  auto r = RunCommand(
      testing::Immunectl("boot replay --json " + ShellQuote(kEventlogs + "/go-eventlog/rhel8-uefi.bin")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("banks"));
  ASSERT_EQ(j.size(), 1u);
  for (const auto& [bank, pcrs] : j["banks"].items()) {
    EXPECT_TRUE(bank == "sha1" || bank == "sha256" || bank == "sha384") << bank;
    for (const auto& [pcr, value] : pcrs.items()) {
      EXPECT_TRUE(std::regex_match(pcr, std::regex("[0-9]+"))) << pcr;
      EXPECT_TRUE(std::regex_match(value.get<std::string>(), std::regex("[0-9a-f]+"))) << value;
    }
  }
  // Round-trips through the PCR JSON reader, so it can be fed back to verify.
  EXPECT_TRUE(PcrValuesFromJson(r.out).ok());
}

TEST(ImmunectlBootTest, VerifyAcceptsEveryExpectedPcrsFileAsItIs) {
  auto files = ExpectedPcrFiles();
  ASSERT_GE(files.size(), 14u);
  for (const auto& expected : files) {
    auto r = RunCommand(testing::Immunectl("boot verify " + ShellQuote(LogFor(expected).string()) +
                                           " --pcrs " + ShellQuote(expected.string())));
    EXPECT_EQ(r.exit_code, 0) << expected << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find("verified"), std::string::npos) << expected;
  }
}

TEST(ImmunectlBootTest, PcrsTheLogDoesNotExtendAreNamedAndFailOnlyWhenStrict) {
  // The TPM 1.2 machine's quote includes PCR 10 (IMA), which no boot log explains.
  const std::string expected = kEventlogs + "/go-eventlog/linux_tpm12.expected_pcrs.json";
  const std::string log = kEventlogs + "/go-eventlog/linux_tpm12.eventlog.bin";
  auto r =
      RunCommand(testing::Immunectl("boot verify " + ShellQuote(log) + " --pcrs " + ShellQuote(expected)));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("sha1 PCR 10 is not extended by the log"), std::string::npos) << r.err;
  auto strict = RunCommand(
      testing::Immunectl("boot verify --strict " + ShellQuote(log) + " --pcrs " + ShellQuote(expected)));
  EXPECT_EQ(strict.exit_code, 1) << strict.err;
}

TEST(ImmunectlBootTest, VerifyNamesEachMismatchingPcrAndBank) {
  TempDir tmp;
  const std::string log = kEventlogs + "/go-eventlog/rhel8-uefi.bin";
  auto replay = RunCommand(testing::Immunectl("boot replay --json " + ShellQuote(log)));
  ASSERT_EQ(replay.exit_code, 0);
  auto j = nlohmann::json::parse(replay.out);
  j["banks"]["sha256"]["7"] = std::string(64, '0');
  j["banks"]["sha1"]["4"] = std::string(40, 'f');
  std::ofstream(tmp.File("bad.json")) << j.dump();
  auto r = RunCommand(
      testing::Immunectl("boot verify " + ShellQuote(log) + " --pcrs " + ShellQuote(tmp.File("bad.json"))));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("sha256 PCR 7"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sha1 PCR 4"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("2 mismatching"), std::string::npos) << r.out;

  auto js = RunCommand(testing::Immunectl("boot verify --json " + ShellQuote(log) + " --pcrs " +
                                          ShellQuote(tmp.File("bad.json"))));
  EXPECT_EQ(js.exit_code, 1);
  auto report = nlohmann::json::parse(js.out);
  EXPECT_FALSE(report["verified"].get<bool>());
  EXPECT_EQ(report["mismatches"].size(), 2u);
}

TEST(ImmunectlBootTest, BogusAndTruncatedLogsAreBadInputWithAClearMessage) {
  const std::string bogus = kEventlogs + "/keylime/binary_bios_measurements-bogus";
  for (std::string cmd : {"log", "replay"}) {
    auto r = RunCommand(testing::Immunectl("boot " + cmd + " " + ShellQuote(bogus)));
    EXPECT_EQ(r.exit_code, 2) << cmd;
    EXPECT_NE(r.err.find(bogus), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("byte"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << "nothing half-written on stdout";
  }

  TempDir tmp;
  auto whole = ReadFile(kEventlogs + "/go-eventlog/rhel8-uefi.bin");
  ASSERT_TRUE(whole.ok());
  const std::string cut = tmp.File("cut.bin");
  std::ofstream(cut, std::ios::binary).write(reinterpret_cast<const char*>(whole->data()), 20000);
  auto r =
      RunCommand(testing::Immunectl("boot verify " + ShellQuote(cut) + " --pcrs " +
                                    ShellQuote(kEventlogs + "/go-eventlog/rhel8-uefi.expected_pcrs.json")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(std::regex_search(r.err, std::regex("event [0-9]+ at byte [0-9]+"))) << r.err;

  auto missing = RunCommand(testing::Immunectl("boot replay " + tmp.File("nope.bin")));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("nope.bin"), std::string::npos);
}

TEST(ImmunectlBootTest, MalformedReferenceIsBadInputNamingTheFileAndMember) {
  TempDir tmp;
  std::ofstream(tmp.File("a.json")) << R"({"banks":{"sha256":{"0":"xyz"}}})";
  auto r = RunCommand(testing::Immunectl("boot verify " + ShellQuote(kEventlogs + "/tpm2-tools/event.bin") +
                                         " --pcrs " + tmp.File("a.json")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(tmp.File("a.json")), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("banks.sha256.0"), std::string::npos) << r.err;
}

TEST(ImmunectlBootTest, LogJsonHasTheContractShape) {
  auto r = RunCommand(
      testing::Immunectl("boot log --json " + ShellQuote(kEventlogs + "/tpm2-tools/event-bootorder.bin")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_GT(j.size(), 10u);
  for (std::size_t i = 0; i < j.size(); ++i) {
    const auto& e = j[i];
    EXPECT_EQ(e["index"].get<std::size_t>(), i);
    EXPECT_TRUE(e["pcr"].is_number_unsigned());
    EXPECT_EQ(e["type"].get<std::string>().rfind("EV_", 0), 0u);
    EXPECT_TRUE(e["digests"].is_object());
    EXPECT_TRUE(e.contains("data"));
  }
  EXPECT_EQ(j[1]["digests"]["sha256"], "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7");

  auto text = RunCommand(
      testing::Immunectl("boot log " + ShellQuote(kEventlogs + "/tpm2-tools/event-bootorder.bin")));
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_EQ(static_cast<std::size_t>(std::count(text.out.begin(), text.out.end(), '\n')), j.size());
}

}  // namespace
}  // namespace immune
