#include "boot_command.h"

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common.h"
#include "exit_codes.h"
#include "immune/boot/event_data.h"
#include "immune/boot/event_log.h"
#include "immune/boot/replay.h"
#include "immune/boot/tpm_extend.h"
#include "immune/boot/verify.h"
#include "immune/core/file.h"
#include "immune/core/hex.h"
#include "immune/core/log.h"
#include "immune/tpm/loader.h"
#include "immune/tpm/swtpm.h"

namespace immune::cli {

namespace {

constexpr const char* kMachineLog = "/sys/kernel/security/tpm0/binary_bios_measurements";

Result<boot::EventLog> LoadLog(const std::string& path) {
  IMMUNE_ASSIGN_OR_RETURN(Bytes bytes, ReadFile(path));
  auto log = boot::ParseEventLog(bytes);
  if (!log.ok()) return log.error().WithContext(path);
  return std::move(log).value();
}

Result<PcrValues> LoadAndReplay(const std::string& path) {
  IMMUNE_ASSIGN_OR_RETURN(boot::EventLog log, LoadLog(path));
  auto pcrs = boot::ReplayEventLog(log);
  if (!pcrs.ok()) return pcrs.error().WithContext(path);
  return std::move(pcrs).value();
}

int RunLog(const std::string& path, bool json) {
  auto log = LoadLog(path);
  if (!log.ok()) return ReportError(log.error());
  std::string out;
  if (json) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& e : log->events) arr.push_back(boot::EventToJson(e));
    out = arr.dump(2);
    out.push_back('\n');
  } else {
    for (const auto& e : log->events) out.append(boot::EventToText(e)).push_back('\n');
  }
  WriteOut(out);
  return kExitOk;
}

int RunReplay(const std::string& path, bool json) {
  auto pcrs = LoadAndReplay(path);
  if (!pcrs.ok()) return ReportError(pcrs.error());
  WriteOut(json ? PcrValuesToJson(*pcrs, 2) + "\n" : PcrText(*pcrs));
  return kExitOk;
}

int RunVerify(const GlobalOptions& g, const std::string& path, const std::string& pcrs_arg, bool strict,
              bool json) {
  auto replayed = LoadAndReplay(path);
  if (!replayed.ok()) return ReportError(replayed.error());
  PcrValues reference;
  std::string what;
  if (pcrs_arg == "tpm") {
    auto t = OpenConfiguredTpm(g);
    if (!t.ok()) return ReportError(t.error());
    // Only what the log extends can be verified by it; read just that.
    auto read = (*t)->ReadPcrs(SelectionOf(*replayed));
    if (!read.ok()) return ReportError(read.error());
    reference = std::move(read).value();
    what = "the TPM";
  } else {
    auto text = ReadTextFile(pcrs_arg);
    if (!text.ok()) return ReportError(text.error());
    auto parsed = PcrValuesFromJson(*text);
    if (!parsed.ok()) return ReportError(parsed.error().WithContext(pcrs_arg));
    reference = std::move(parsed).value();
    what = pcrs_arg;
  }
  return ReportVerify(boot::VerifyReplay(*replayed, reference), strict, json, what);
}

// The main job: verify this machine's boot evidence, or, where it has none,
// a real log fed into a private swtpm.
int RunCheck(const GlobalOptions& g, const std::string& fallback_log, bool json) {
  const bool has_log = ::access(kMachineLog, R_OK) == 0;
  const bool has_tpm = !g.tcti.empty() || tpm::DefaultTcti().has_value();
  if (has_log && has_tpm) {
    std::fprintf(stderr, "immunectl: verifying this machine's event log %s against its TPM\n", kMachineLog);
    return RunVerify(g, kMachineLog, "tpm", /*strict=*/false, json);
  }
  std::fprintf(
      stderr, "immunectl: this machine has %s and %s\n",
      has_log ? "a boot event log" : ("no boot event log (" + std::string(kMachineLog) + ")").c_str(),
      has_tpm ? "a TPM" : "no TPM (no /dev/tpmrm0, no --tcti)");
  if (fallback_log.empty()) {
    std::fprintf(stderr,
                 "immunectl: give --log FILE: a real event log to verify on a private swtpm instead\n");
    return kExitBadInput;
  }
  auto log = LoadLog(fallback_log);
  if (!log.ok()) return ReportError(log.error());
  auto replayed = boot::ReplayEventLog(*log);
  if (!replayed.ok()) return ReportError(replayed.error().WithContext(fallback_log));

  const std::uint8_t locality = boot::StartupLocality(*log);
  if (locality == 4) {
    std::fprintf(
        stderr,
        "immunectl: %s starts PCR 0 with an H-CRTM measurement; a TPM reproduces that only from the "
        "measured code itself (_TPM_Hash_Start at locality 4), which a log does not contain: give a log "
        "without H-CRTM events\n",
        fallback_log.c_str());
    return kExitBadInput;
  }
  tpm::SwtpmOptions opts;
  opts.pcr_banks = log->banks;
  opts.create_ek_cert = false;  // not needed to verify a log; saves a second of manufacturing
  opts.defer_startup = locality != 0;
  std::fprintf(stderr, "immunectl: starting a private swtpm (banks of the log%s)\n",
               locality != 0 ? (", startup at locality " + std::to_string(locality)).c_str() : "");
  auto sw = tpm::SwtpmProcess::Start(opts);
  if (!sw.ok()) return ReportError(sw.error());
  if (locality != 0) {
    Status s = (*sw)->Startup(locality);
    if (!s.ok()) return ReportError(s.error());
  }
  auto t = tpm::OpenTpmModule((*sw)->tcti());
  if (!t.ok()) return ReportError(t.error());
  auto summary = boot::ExtendEventLogIntoTpm(*log, **t);
  if (!summary.ok()) return ReportError(summary.error().WithContext(fallback_log));
  std::fprintf(stderr, "immunectl: extended %zu events of %s into swtpm (pid %d, %s)\n",
               summary->events_extended, fallback_log.c_str(), static_cast<int>((*sw)->pid()),
               (*sw)->tcti().c_str());
  auto read = (*t)->ReadPcrs(SelectionOf(*replayed));
  if (!read.ok()) return ReportError(read.error());
  return ReportVerify(boot::VerifyReplay(*replayed, *read), /*strict=*/false, json, "the swtpm");
}

}  // namespace

void AddBootCommands(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* boot = app.add_subcommand("boot", "Measured boot: TCG event logs, PCR replay and verification");
  boot->require_subcommand(1);

  struct Args {
    std::string file;
    std::string pcrs;
    std::string log;
    bool json = false;
    bool strict = false;
  };
  auto args = std::make_shared<Args>();

  CLI::App* log = boot->add_subcommand("log", "Print the events of a TCG event log, one per line or as JSON");
  log->add_option("FILE", args->file, "Event log (e.g. /sys/kernel/security/tpm0/binary_bios_measurements)")
      ->required();
  log->add_flag("--json", args->json, "JSON array of events");
  log->callback([args, exit_code] { *exit_code = RunLog(args->file, args->json); });

  CLI::App* replay = boot->add_subcommand("replay", "Replay a TCG event log to the PCR values it implies");
  replay->add_option("FILE", args->file, "Event log")->required();
  replay->add_flag("--json", args->json, R"(JSON: {"banks":{"sha256":{"0":"hex",...}}})");
  replay->callback([args, exit_code] { *exit_code = RunReplay(args->file, args->json); });

  CLI::App* verify = boot->add_subcommand(
      "verify", "Compare a log's replay with PCR values: exit 0 all match, 1 mismatch, 2 bad input");
  verify->add_option("FILE", args->file, "Event log")->required();
  verify
      ->add_option("--pcrs", args->pcrs,
                   "PCRS.json ({\"banks\":{...}}, as `boot replay --json` writes) or `tpm` to read the TPM")
      ->required();
  verify->add_flag("--strict", args->strict,
                   "Also fail when the reference has a bank the log lacks, or a PCR the log does not extend "
                   "that is not at its reset value");
  verify->add_flag("--json", args->json, "Report as JSON");
  verify->callback([args, exit_code, &global] {
    *exit_code = RunVerify(global, args->file, args->pcrs, args->strict, args->json);
  });

  CLI::App* check = boot->add_subcommand(
      "check",
      "Verify this machine's boot evidence (its event log against its TPM); where it has none, verify --log "
      "on a private swtpm that the log's digests are extended into");
  check->add_option("--log", args->log, "Real event log to use when the machine has no TPM or no log");
  check->add_flag("--json", args->json, "Report as JSON");
  check->callback([args, exit_code, &global] { *exit_code = RunCheck(global, args->log, args->json); });
}

}  // namespace immune::cli
