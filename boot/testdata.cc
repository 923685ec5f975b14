#include "testdata.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "immune/core/file.h"

namespace immune::boot::testing {
namespace {

namespace fs = std::filesystem;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Files under eventlogs/, relative to the testdata dir, sorted.
std::vector<std::string> EventlogFiles() {
  std::vector<std::string> out;
  const fs::path root = fs::path(IMMUNE_TESTDATA_DIR);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root / "eventlogs", ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file()) out.push_back(fs::relative(it->path(), root).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string TestdataPath(const std::string& relative) {
  return std::string(IMMUNE_TESTDATA_DIR) + "/" + relative;
}

std::vector<std::string> AllEventLogs() {
  std::vector<std::string> out;
  for (const std::string& f : EventlogFiles()) {
    const std::string name = fs::path(f).filename().string();
    if (EndsWith(name, ".bin") || (name.rfind("binary_bios_measurements", 0) == 0 &&
                                   !EndsWith(name, "-bogus") && !EndsWith(name, ".json"))) {
      out.push_back(f);
    }
  }
  return out;
}

std::vector<ExpectedPcrs> AllExpectedPcrs() {
  std::vector<ExpectedPcrs> out;
  const std::string suffix = ".expected_pcrs.json";
  for (const std::string& f : EventlogFiles()) {
    if (!EndsWith(f, suffix)) continue;
    const std::string stem = f.substr(0, f.size() - suffix.size());
    // The log is STEM.bin, STEM.eventlog.bin, or STEM itself.
    for (const std::string& candidate : {stem + ".bin", stem + ".eventlog.bin", stem}) {
      if (fs::is_regular_file(TestdataPath(candidate))) {
        out.push_back({candidate, f});
        break;
      }
    }
  }
  return out;
}

std::vector<YamlCase> AllYamlCases() {
  std::vector<YamlCase> out;
  for (const std::string& f : EventlogFiles()) {
    const fs::path p(f);
    const std::string name = p.filename().string();
    std::string log;
    if (EndsWith(name, ".yml")) {
      // uefi-eventlog/DIR/tpm2-tools-5.5/NAME.yml -> uefi-eventlog/DIR/NAME.bin
      log = (p.parent_path().parent_path() / (p.stem().string() + ".bin")).string();
    } else if (EndsWith(name, ".bin.yaml")) {
      const std::string bin = name.substr(0, name.size() - 5);
      const fs::path dir = p.parent_path();
      const std::string dir_name = dir.filename().string();
      log = (dir_name == "event-raw" || dir_name == "event-pretty") ? (dir.parent_path() / bin).string()
                                                                    : (dir / bin).string();
    } else if (EndsWith(name, "-hex.yaml")) {
      // event-moklisttrusted-hex.yaml is printed for event-moklisttrusted.bin.
      log = (p.parent_path() / (name.substr(0, name.size() - 9) + ".bin")).string();
    } else {
      continue;
    }
    out.push_back({log, f});
  }
  return out;
}

Bytes ReadTestdata(const std::string& relative) {
  auto bytes = ReadFile(TestdataPath(relative));
  if (!bytes.ok()) {
    ADD_FAILURE() << bytes.error().ToString();
    return {};
  }
  return std::move(bytes).value();
}

}  // namespace immune::boot::testing
