// Test helpers: the event logs in shared/testdata and the tpm2_eventlog
// YAML printed for them.
#ifndef IMMUNE_BOOT_TESTDATA_H_
#define IMMUNE_BOOT_TESTDATA_H_

#include <string>
#include <vector>

#include "immune/core/bytes.h"

namespace immune::boot::testing {

// Absolute path of a file under shared/testdata.
std::string TestdataPath(const std::string& relative);

// Every binary event log under eventlogs/ (*.bin and binary_bios_measurements*),
// except the deliberately bogus one. Paths relative to the testdata dir.
std::vector<std::string> AllEventLogs();

// Every *.expected_pcrs.json under eventlogs/ with its log, relative paths.
struct ExpectedPcrs {
  std::string log;
  std::string expected;
};
std::vector<ExpectedPcrs> AllExpectedPcrs();

// Every tpm2_eventlog YAML with the log it was printed for.
struct YamlCase {
  std::string log;
  std::string yaml;
};
std::vector<YamlCase> AllYamlCases();

// Reads a testdata file; fails the test (ADD_FAILURE) and returns {} if it
// cannot.
Bytes ReadTestdata(const std::string& relative);

}  // namespace immune::boot::testing

#endif  // IMMUNE_BOOT_TESTDATA_H_
