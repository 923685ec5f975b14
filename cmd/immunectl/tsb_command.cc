#include "tsb_command.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common.h"
#include "control_call.h"
#include "exit_codes.h"
#include "immune/core/log.h"
#include "immune/tsbd/control_client.h"

namespace immune::cli {

namespace {

using nlohmann::json;

struct TsbArgs {
  std::string socket;  // endpoint or socket path
  std::string state_dir = "/var/lib/immune/tsb";
  int timeout_ms = 10000;
  bool json = false;
  bool ascii = false;
  std::string container;
  bool has_container = false;
  std::uint64_t limit = 0;
  std::vector<std::string> lowers;  // measure: a stopped container's layers
  std::string upper;
  std::string image;
};

DaemonAddress Address(const TsbArgs& a) { return DaemonAddress{a.socket, a.state_dir, a.timeout_ms}; }

Result<json> Call(const GlobalOptions& g, const TsbArgs& a, const std::string& cmd, json args) {
  return CallDaemon(g, Address(a), cmd, std::move(args));
}

int RunStatus(const GlobalOptions& g, const TsbArgs& a) {
  auto r = Call(g, a, "status", json::object());
  if (!r.ok()) return ReportError(r.error());
  const json& s = *r;
  if (a.json) {
    WriteOut(s.dump(2) + "\n");
    return kExitOk;
  }
  std::string out;
  out += "immuned pid " + s["pid"].dump() + ", up " +
         std::to_string(static_cast<long>(s["uptime_s"].get<double>())) + " s\n";
  out += "state dir: " + s["state_dir"].get<std::string>() + "\n";
  out += "TPM: " + s["tpm"]["tcti"].get<std::string>() +
         (s["tpm"]["embedded"].get<bool>() ? " (embedded)" : "") + ", PCR " + s["pcr"].dump() + ", banks " +
         s["banks"].dump() + "\n";
  out += "log: " + s["entries"].dump() + " entries, epoch " + s["epoch"].dump() + ", queued " +
         s["writer"]["queued"].dump() + "\n";
  out += "alarms: " + s["alarms"].dump() + "\n";
  out += "agents:\n";
  for (const auto& [name, info] : s["agents"].items()) {
    out += "  " + name + " (" + info["kind"].get<std::string>() + "): " + info["submitted"].dump() +
           " submitted, " + info["denied"].dump() + " denied\n";
  }
  WriteOut(out);
  return kExitOk;
}

int RunLog(const GlobalOptions& g, const TsbArgs& a) {
  json args = {{"format", a.json ? "json" : "ascii"}};
  if (a.has_container) args["container"] = a.container;
  if (a.limit > 0) args["limit"] = a.limit;
  auto r = Call(g, a, "log", args);
  if (!r.ok()) return ReportError(r.error());
  if (a.json) {
    WriteOut(r->dump(2) + "\n");
  } else {
    WriteOut((*r)["ascii"].get<std::string>());
  }
  return kExitOk;
}

int RunContainers(const GlobalOptions& g, const TsbArgs& a) {
  auto r = Call(g, a, "containers", json::object());
  if (!r.ok()) return ReportError(r.error());
  if (a.json) {
    WriteOut(r->dump(2) + "\n");
    return kExitOk;
  }
  std::string out = "epoch " + (*r)["epoch"].dump() + "\n";
  for (const auto& c : (*r)["containers"]) {
    const std::string id = c["container_id"].get<std::string>();
    out += (id.empty() ? std::string("(host)") : id) + "  " + c["entries"].dump() + " entries, " +
           c["denied"].dump() + " denied";
    if (!c["image"].get<std::string>().empty()) out += ", image " + c["image"].get<std::string>();
    out += "\n";
  }
  WriteOut(out);
  return kExitOk;
}

int RunMeasure(const GlobalOptions& g, const TsbArgs& a) {
  json args = {{"id", a.container}};
  if (!a.lowers.empty()) args["lowers"] = a.lowers;
  if (!a.upper.empty()) args["upper"] = a.upper;
  if (!a.image.empty()) args["image"] = a.image;
  auto r = Call(g, a, "container.measure", args);
  if (!r.ok()) return ReportError(r.error());
  if (a.json) {
    WriteOut(r->dump(2) + "\n");
  } else {
    std::string out;
    for (const char* k : {"created", "changed", "deleted"})
      for (const auto& p : (*r)[k]) out += std::string(k) + "  " + p.get<std::string>() + "\n";
    out += (*r)["hashed_files"].dump() + " files hashed, " + (*r)["inherited"].dump() +
           " inherited from the image's layers without hashing, " + (*r)["denied"].dump() + " not allowed by policy\n";
    WriteOut(out);
  }
  return (*r)["denied"].get<int>() > 0 ? kExitMismatch : kExitOk;
}

int RunPcr(const GlobalOptions& g, const TsbArgs& a) {
  auto r = Call(g, a, "pcr", json::object());
  if (!r.ok()) return ReportError(r.error());
  const bool match = (*r)["match"].get<bool>();
  if (a.json) {
    WriteOut(r->dump(2) + "\n");
  } else {
    std::string out = "PCR " + (*r)["pcr"].dump() + " (epoch " + (*r)["epoch"].dump() + ")\n";
    for (const auto& [bank, v] : (*r)["tpm"].items()) {
      out += "  " + bank + " tpm    : " + v.get<std::string>() + "\n";
      out += "  " + bank + " journal: " + (*r)["journal_replay"][bank].get<std::string>() + "\n";
    }
    out += match ? "match: the journal replays to the TPM's PCR\n"
                 : "MISMATCH: the journal does not replay to the TPM's PCR\n";
    WriteOut(out);
  }
  return match ? kExitOk : kExitMismatch;
}

}  // namespace

void AddTsbCommands(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* tsb =
      app.add_subcommand("tsb", "The Trusted Software Base daemon (immuned): status, log, containers, PCR");
  tsb->require_subcommand(1);
  auto args = std::make_shared<TsbArgs>();
  tsb->add_option(
      "--socket", args->socket,
      "immuned's control endpoint: ipc://PATH, or a socket path (default: STATE_DIR/control.sock)");
  tsb->add_option("--state-dir", args->state_dir, "immuned's state directory")->capture_default_str();
  tsb->add_option("--timeout", args->timeout_ms, "Milliseconds to wait for the daemon")
      ->capture_default_str();

  CLI::App* status = tsb->add_subcommand("status", "The daemon's state: TPM, log, agents, alarms");
  status->add_flag("--json", args->json, "As JSON");
  status->callback([args, exit_code, &global] { *exit_code = RunStatus(global, *args); });

  CLI::App* log = tsb->add_subcommand("log", "The measurement log (IMA ascii by default)");
  log->add_flag("--json", args->json, "Every field as JSON");
  auto* copt = log->add_option("--container", args->container, "Only this container (\"\" for the host)");
  log->add_option("--limit", args->limit, "Only the last N entries");
  log->callback([args, exit_code, &global, copt] {
    args->has_container = copt->count() > 0;
    *exit_code = RunLog(global, *args);
  });

  CLI::App* containers = tsb->add_subcommand("containers", "Partitions of the log: containers and the host");
  containers->add_flag("--json", args->json, "As JSON");
  containers->callback([args, exit_code, &global] { *exit_code = RunContainers(global, *args); });

  CLI::App* pcr = tsb->add_subcommand(
      "pcr", "The TSB PCR in the TPM against the journal's replay (exit 1 if they differ)");
  pcr->add_flag("--json", args->json, "As JSON");
  pcr->callback([args, exit_code, &global] { *exit_code = RunPcr(global, *args); });

  CLI::App* measure = tsb->add_subcommand(
      "measure", "Measure a container's filesystem from its overlay metadata (exit 1 if policy allows not all of it)");
  measure->add_option("--container", args->container, "The container id")->required();
  measure->add_option("--lowers", args->lowers, "A stopped container's layer directories, top first");
  measure->add_option("--upper", args->upper, "A stopped container's upper directory");
  measure->add_option("--image", args->image, "Its image reference (for a stopped container)");
  measure->add_flag("--json", args->json, "As JSON");
  measure->callback([args, exit_code, &global] { *exit_code = RunMeasure(global, *args); });
}

}  // namespace immune::cli
