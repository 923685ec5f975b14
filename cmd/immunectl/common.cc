#include "common.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "exit_codes.h"
#include "immune/core/hex.h"
#include "immune/core/log.h"
#include "immune/tpm/loader.h"

namespace immune::cli {

void WriteOut(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

std::string PcrText(const PcrValues& values) {
  std::string out;
  for (const auto& [bank, pcrs] : values) {
    out.append(HashAlgName(bank)).append(":\n");
    for (const auto& [pcr, v] : pcrs) {
      out.append("  ")
          .append(std::to_string(pcr))
          .append(pcr < 10 ? "  : " : " : ")
          .append(ToHex(v))
          .append("\n");
    }
  }
  return out;
}

Result<std::unique_ptr<tpm::Tpm>> OpenConfiguredTpm(const GlobalOptions& g) {
  std::string tcti = g.tcti;
  if (tcti.empty()) {
    auto d = tpm::DefaultTcti();
    if (!d) {
      return Unavailable(
          "no TPM configured and /dev/tpmrm0 does not exist: pass --tcti (e.g. swtpm:port=2321) or set "
          "TPM2TOOLS_TCTI");
    }
    tcti = *d;
  }
  if (g.verbose) LogInfo("opening TPM " + tcti);
  return tpm::OpenTpmModule(tcti);
}

int ReportVerify(const boot::VerifyReport& r, bool strict, bool json, const std::string& what) {
  const bool passed = r.Passed(strict);
  if (json) {
    nlohmann::ordered_json j;
    j["verified"] = passed;
    j["compared"] = r.compared;
    j["mismatches"] = nlohmann::ordered_json::array();
    for (const auto& m : r.mismatches) {
      j["mismatches"].push_back({{"bank", HashAlgName(m.bank)},
                                 {"pcr", m.pcr},
                                 {"expected", ToHex(m.expected)},
                                 {"replayed", ToHex(m.actual)}});
    }
    j["uncovered"] = nlohmann::ordered_json::array();
    for (const auto& u : r.uncovered) {
      j["uncovered"].push_back({{"bank", HashAlgName(u.bank)},
                                {"pcr", u.pcr},
                                {"expected", ToHex(u.reference)},
                                {"at_reset_value", u.at_reset_value}});
    }
    j["missing_banks"] = nlohmann::ordered_json::array();
    for (HashAlg b : r.missing_banks) j["missing_banks"].push_back(HashAlgName(b));
    WriteOut(j.dump(2) + "\n");
  } else {
    for (const auto& m : r.mismatches) {
      std::fprintf(stderr, "immunectl: mismatch: %s PCR %u: %s has %s, the log replays to %s\n",
                   std::string(HashAlgName(m.bank)).c_str(), m.pcr, what.c_str(), ToHex(m.expected).c_str(),
                   ToHex(m.actual).c_str());
    }
    for (HashAlg b : r.missing_banks) {
      std::fprintf(stderr, "immunectl: note: %s has a %s bank, the log does not%s\n", what.c_str(),
                   std::string(HashAlgName(b)).c_str(), strict ? " (strict: fails)" : "");
    }
    for (const auto& u : r.uncovered) {
      if (u.at_reset_value && !strict) continue;
      std::fprintf(stderr, "immunectl: note: %s PCR %u is not extended by the log (%s: %s)%s\n",
                   std::string(HashAlgName(u.bank)).c_str(), u.pcr, what.c_str(), ToHex(u.reference).c_str(),
                   strict && !u.at_reset_value ? " (strict: fails)" : "");
    }
    if (r.compared == 0)
      std::fprintf(stderr, "immunectl: no PCR of %s is extended by the log\n", what.c_str());
    std::printf("%s: %zu PCR values compared, %zu mismatching\n", passed ? "verified" : "FAILED", r.compared,
                r.mismatches.size());
  }
  return passed ? kExitOk : kExitMismatch;
}

PcrSelection SelectionOf(const PcrValues& v) {
  PcrSelection sel;
  for (const auto& [bank, pcrs] : v) {
    for (const auto& [pcr, value] : pcrs) sel[bank].push_back(pcr);
  }
  return sel;
}

}  // namespace immune::cli
