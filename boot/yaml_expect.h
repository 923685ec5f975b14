// Reading what tpm2_eventlog printed (its YAML) into plain structs, for the
// tests that compare our parse and replay against it.
#ifndef IMMUNE_BOOT_YAML_EXPECT_H_
#define IMMUNE_BOOT_YAML_EXPECT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "immune/core/pcr.h"

namespace immune::boot::testing {

struct YamlEvent {
  std::uint32_t pcr = 0;
  std::string type;
  std::map<std::string, std::string> digests;  // alg name -> lower-case hex
  // Scalar members of the decoded "Event" map ("UnicodeName", "BlobBase"),
  // and of its "VariableData" map as "VariableData.Description".
  std::map<std::string, std::string> fields;
};

struct YamlLog {
  std::vector<YamlEvent> events;
  PcrValues pcrs;  // the final "pcrs:" block (empty if none)
};

// Parses tpm2_eventlog output. Handles the version 1 shape in which "events"
// is one flat map with repeated keys (each "PCRIndex" key starts an event)
// as well as the list shape. Fails the current test on malformed input.
YamlLog ReadTpm2ToolsYaml(const std::string& path);

// One record of event-moklisttrusted-hex.yaml, an independent per-event hex
// dump (content_type/pcr/recnum/content/digests).
struct HexDumpEvent {
  std::uint32_t pcr = 0;
  std::string type;
  std::string data_hex;
  std::map<std::string, std::string> digests;
};
std::vector<HexDumpEvent> ReadHexDumpYaml(const std::string& path);

}  // namespace immune::boot::testing

#endif  // IMMUNE_BOOT_YAML_EXPECT_H_
