#include "ima_command.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "exit_codes.h"
#include "immune/boot/event_log.h"
#include "immune/boot/replay.h"
#include "immune/core/file.h"
#include "immune/tsb/boot_aggregate.h"
#include "immune/tsb/ima_log.h"
#include "immune/tsb/ima_sig.h"

namespace immune::cli {

namespace {

struct ImaArgs {
  std::string file;
  std::string pcrs;
  std::string list_bank;
  std::vector<std::string> banks;
  std::vector<std::string> keys;
  std::string boot_log;
  bool json = false;
  bool strict = false;
};

Result<std::vector<HashAlg>> ParseBanks(const std::vector<std::string>& names) {
  std::vector<HashAlg> out;
  for (const auto& n : names) {
    auto a = HashAlgFromName(n);
    if (!a) return InvalidArgument("--bank " + n + ": unknown hash algorithm");
    out.push_back(*a);
  }
  return out;
}

// Parses the list and checks that every entry's template hash matches its
// template data: a replay of a list that fails this would prove nothing.
// Returns the exit code on failure through *rc.
std::optional<tsb::ImaLog> LoadList(const ImaArgs& a, int* rc) {
  tsb::ImaParseOptions opts;
  if (!a.list_bank.empty()) {
    auto b = HashAlgFromName(a.list_bank);
    if (!b) {
      *rc = ReportError(InvalidArgument("--list-bank " + a.list_bank + ": unknown hash algorithm"));
      return std::nullopt;
    }
    opts.bank = *b;
  }
  auto log = tsb::ParseImaFile(a.file, opts);
  if (!log.ok()) {
    *rc = ReportError(log.error());
    return std::nullopt;
  }
  auto bad = tsb::FindTemplateHashMismatches(*log);
  if (!bad.empty()) {
    for (const auto& e : bad)
      std::fprintf(stderr, "immunectl: mismatch: %s: %s\n", a.file.c_str(), e.message().c_str());
    std::printf("FAILED: %zu of %zu template hashes do not match their entries\n", bad.size(),
                log->entries.size());
    *rc = kExitMismatch;
    return std::nullopt;
  }
  return std::move(log).value();
}

int RunReplay(const ImaArgs& a) {
  int rc = kExitOk;
  auto log = LoadList(a, &rc);
  if (!log) return rc;
  auto banks = ParseBanks(a.banks);
  if (!banks.ok()) return ReportError(banks.error());
  if (banks->empty()) *banks = {log->bank};
  auto pcrs = tsb::ReplayImaLog(*log, *banks);
  if (!pcrs.ok()) return ReportError(pcrs.error().WithContext(a.file));
  WriteOut(a.json ? PcrValuesToJson(*pcrs, 2) + "\n" : PcrText(*pcrs));
  return kExitOk;
}

int RunVerify(const GlobalOptions& g, const ImaArgs& a) {
  int rc = kExitOk;
  auto log = LoadList(a, &rc);
  if (!log) return rc;

  PcrValues reference;
  std::string what;
  if (a.pcrs == "tpm") {
    auto t = OpenConfiguredTpm(g);
    if (!t.ok()) return ReportError(t.error());
    auto banks = (*t)->AllocatedBanks();
    if (!banks.ok()) return ReportError(banks.error());
    PcrSelection sel;
    for (const auto& e : log->entries) {
      for (HashAlg b : *banks) {
        auto& v = sel[b];
        if (std::find(v.begin(), v.end(), e.pcr) == v.end()) v.push_back(e.pcr);
      }
    }
    auto read = (*t)->ReadPcrs(sel);
    if (!read.ok()) return ReportError(read.error());
    reference = std::move(read).value();
    what = "the TPM";
  } else {
    auto text = ReadTextFile(a.pcrs);
    if (!text.ok()) return ReportError(text.error());
    auto parsed = PcrValuesFromJson(*text);
    if (!parsed.ok()) return ReportError(parsed.error().WithContext(a.pcrs));
    reference = std::move(parsed).value();
    what = a.pcrs;
  }
  std::vector<HashAlg> banks;
  for (const auto& [bank, values] : reference) banks.push_back(bank);
  auto replayed = tsb::ReplayImaLog(*log, banks);
  if (!replayed.ok()) return ReportError(replayed.error().WithContext(a.file));

  bool extra_failed = false;
  if (!a.keys.empty()) {
    tsb::ImaKeyRing ring;
    for (const auto& k : a.keys) {
      Status s = ring.AddKeyFile(k);
      if (!s.ok()) return ReportError(s.error());
    }
    auto report = tsb::VerifyImaSignatures(*log, ring);
    for (const auto& e : report.failures) {
      std::fprintf(stderr, "immunectl: signature: %s: %s\n", a.file.c_str(), e.message().c_str());
    }
    std::fprintf(stderr, "immunectl: %zu of %zu signed entries verified\n", report.verified,
                 report.signed_entries);
    extra_failed |= !report.failures.empty();
  }
  if (!a.boot_log.empty()) {
    auto bytes = ReadFile(a.boot_log);
    if (!bytes.ok()) return ReportError(bytes.error());
    auto blog = boot::ParseEventLog(*bytes);
    if (!blog.ok()) return ReportError(blog.error().WithContext(a.boot_log));
    auto bpcrs = boot::ReplayEventLog(*blog);
    if (!bpcrs.ok()) return ReportError(bpcrs.error().WithContext(a.boot_log));
    auto match = tsb::CheckBootAggregate(*log, *bpcrs);
    if (!match.ok()) {
      std::fprintf(stderr, "immunectl: mismatch: boot_aggregate: %s\n", match.error().message().c_str());
      extra_failed = true;
    } else {
      std::fprintf(stderr, "immunectl: boot_aggregate matches %s PCRs %s of %s\n",
                   std::string(HashAlgName(match->bank)).c_str(),
                   match->range == tsb::BootAggregateRange::kPcr0To9 ? "0-9" : "0-7", a.boot_log.c_str());
    }
  }
  int verdict = ReportVerify(boot::VerifyReplay(*replayed, reference), a.strict, a.json, what);
  return extra_failed ? kExitMismatch : verdict;
}

}  // namespace

void AddImaCommands(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* ima = app.add_subcommand("ima", "IMA runtime measurement lists: replay and verification");
  ima->require_subcommand(1);
  auto args = std::make_shared<ImaArgs>();
  auto add_common = [&](CLI::App* c) {
    c->add_option("FILE", args->file,
                  "IMA list, ascii or binary (/sys/kernel/security/ima/{ascii,binary}_runtime_measurements*)")
        ->required();
    c->add_option(
        "--list-bank", args->list_bank,
        "Bank of a binary list's template digests (default: from their size; sha1 for the classic list)");
    c->add_flag("--json", args->json, "JSON output");
  };

  CLI::App* replay =
      ima->add_subcommand("replay", "Replay an IMA list to PCR values (template hashes checked first)");
  add_common(replay);
  replay->add_option("--bank", args->banks, "Bank to replay (repeatable; default: the list's own bank)");
  replay->callback([args, exit_code] { *exit_code = RunReplay(*args); });

  CLI::App* verify = ima->add_subcommand(
      "verify",
      "Verify an IMA list: template hashes, replay against PCRs, optionally signatures and boot_aggregate; "
      "exit 0 verified, 1 not, 2 bad input");
  add_common(verify);
  verify->add_option("--pcrs", args->pcrs, "PCRS.json ({\"banks\":{...}}) or `tpm`")->required();
  verify->add_option("--key", args->keys,
                     "Public key or certificate (PEM/DER) for ima-sig signatures (repeatable)");
  verify->add_option("--boot-log", args->boot_log,
                     "TCG boot event log whose replay the boot_aggregate must match");
  verify->add_flag("--strict", args->strict, "Also fail on reference PCRs/banks the list does not extend");
  verify->callback([args, exit_code, &global] { *exit_code = RunVerify(global, *args); });
}

}  // namespace immune::cli
