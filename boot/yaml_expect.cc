#include "yaml_expect.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "immune/core/hex.h"

namespace immune::boot::testing {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Applies one key/value of an event to `ev`.
void ApplyField(const std::string& key, const YAML::Node& value, YamlEvent& ev) {
  if (key == "PCRIndex") {
    ev.pcr = value.as<std::uint32_t>();
  } else if (key == "EventType") {
    ev.type = value.as<std::string>();
  } else if (key == "Digest") {  // the header event: one SHA1 digest
    ev.digests["sha1"] = Lower(value.as<std::string>());
  } else if (key == "Event" && value.IsMap()) {
    for (const auto& kv : value) {
      const std::string name = kv.first.as<std::string>();
      if (kv.second.IsScalar()) {
        ev.fields[name] = kv.second.as<std::string>();
      } else if (name == "VariableData" && kv.second.IsMap()) {
        for (const auto& sub : kv.second) {
          if (sub.second.IsScalar())
            ev.fields[name + "." + sub.first.as<std::string>()] = sub.second.as<std::string>();
        }
      }
    }
  } else if (key == "Digests") {
    for (const YAML::Node& d : value) {
      ev.digests[d["AlgorithmId"].as<std::string>()] = Lower(d["Digest"].as<std::string>());
    }
  }
}

}  // namespace

YamlLog ReadTpm2ToolsYaml(const std::string& path) {
  YamlLog out;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    ADD_FAILURE() << path << ": " << e.what();
    return out;
  }
  const YAML::Node events = root["events"];
  if (events.IsSequence()) {
    for (const YAML::Node& e : events) {
      YamlEvent ev;
      for (const auto& kv : e) ApplyField(kv.first.as<std::string>(), kv.second, ev);
      out.events.push_back(std::move(ev));
    }
  } else if (events.IsMap()) {
    // Flat map with repeated keys: yaml-cpp keeps every pair, in order.
    for (const auto& kv : events) {
      const std::string key = kv.first.as<std::string>();
      if (key == "PCRIndex") out.events.emplace_back();
      if (out.events.empty()) {
        ADD_FAILURE() << path << ": key " << key << " before the first PCRIndex";
        continue;
      }
      ApplyField(key, kv.second, out.events.back());
    }
  }
  const YAML::Node pcrs = root["pcrs"];
  if (pcrs.IsMap()) {
    for (const auto& bank : pcrs) {
      auto alg = HashAlgFromName(bank.first.as<std::string>());
      if (!alg) {
        ADD_FAILURE() << path << ": unknown bank " << bank.first.as<std::string>();
        continue;
      }
      for (const auto& pcr : bank.second) {
        auto value = FromHex(pcr.second.as<std::string>());
        if (!value.ok()) {
          ADD_FAILURE() << path << ": " << value.error().ToString();
          continue;
        }
        out.pcrs[*alg][pcr.first.as<std::uint32_t>()] = std::move(value).value();
      }
    }
  }
  return out;
}

std::vector<HexDumpEvent> ReadHexDumpYaml(const std::string& path) {
  std::vector<HexDumpEvent> out;
  try {
    for (const YAML::Node& rec : YAML::LoadFile(path)) {
      HexDumpEvent ev;
      ev.pcr = rec["pcr"].as<std::uint32_t>();
      ev.type = rec["content"]["event_type"].as<std::string>();
      ev.data_hex = Lower(rec["content"]["event_data"].as<std::string>(""));
      for (const YAML::Node& d : rec["digests"]) {
        ev.digests[d["hashAlg"].as<std::string>()] = Lower(d["digest"].as<std::string>());
      }
      out.push_back(std::move(ev));
    }
  } catch (const YAML::Exception& e) {
    ADD_FAILURE() << path << ": " << e.what();
  }
  return out;
}

}  // namespace immune::boot::testing
