#include "immune/core/pcr.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <string>

#include "immune/core/hex.h"

namespace immune {

std::vector<PcrMismatch> ComparePcrs(const PcrValues& expected, const PcrValues& actual) {
  std::vector<PcrMismatch> out;
  for (const auto& [alg, bank] : expected) {
    auto abank = actual.find(alg);
    for (const auto& [pcr, value] : bank) {
      if (abank == actual.end()) {
        out.push_back({alg, pcr, value, {}});
        continue;
      }
      auto it = abank->second.find(pcr);
      if (it == abank->second.end()) {
        out.push_back({alg, pcr, value, {}});
      } else if (it->second != value) {
        out.push_back({alg, pcr, value, it->second});
      }
    }
  }
  return out;
}

std::string PcrValuesToJson(const PcrValues& values, int indent) {
  nlohmann::ordered_json banks = nlohmann::ordered_json::object();
  for (const auto& [alg, bank] : values) {
    nlohmann::ordered_json b = nlohmann::ordered_json::object();
    for (const auto& [pcr, value] : bank) b[std::to_string(pcr)] = ToHex(value);
    banks[std::string(HashAlgName(alg))] = std::move(b);
  }
  nlohmann::ordered_json root;
  root["banks"] = std::move(banks);
  return root.dump(indent);
}

Result<PcrValues> PcrValuesFromJson(std::string_view json_text) {
  nlohmann::json root = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return InvalidArgument("not valid JSON");
  if (!root.is_object() || !root.contains("banks") || !root["banks"].is_object()) {
    return InvalidArgument("expected an object with a \"banks\" object");
  }
  PcrValues out;
  for (const auto& [bank_name, bank] : root["banks"].items()) {
    auto alg = HashAlgFromName(bank_name);
    if (!alg) return InvalidArgument("banks." + bank_name + ": unknown hash algorithm");
    if (!bank.is_object())
      return InvalidArgument("banks." + bank_name + ": expected an object of PCR values");
    PcrBank& b = out[*alg];
    for (const auto& [key, value] : bank.items()) {
      const std::string where = "banks." + bank_name + "." + key;
      std::uint32_t pcr = 0;
      auto [p, ec] = std::from_chars(key.data(), key.data() + key.size(), pcr);
      if (ec != std::errc() || p != key.data() + key.size() || pcr >= kNumPcrs) {
        return InvalidArgument(where + ": PCR index must be a number from 0 to 23");
      }
      if (!value.is_string()) return InvalidArgument(where + ": expected a hex string");
      auto bytes = FromHex(value.get<std::string>());
      if (!bytes.ok()) return bytes.error().WithContext(where);
      if (bytes->size() != DigestSize(*alg)) {
        return InvalidArgument(where + ": " + std::to_string(bytes->size()) + " bytes, a " + bank_name +
                               " PCR has " + std::to_string(DigestSize(*alg)));
      }
      b[pcr] = std::move(*bytes);
    }
  }
  return out;
}

}  // namespace immune
