#include "tsb_command.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common.h"
#include "control_call.h"
#include "exit_codes.h"
#include "immune/core/json_bytes.h"
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
  bool follow = false;      // alarms: wait for new ones
  std::uint64_t count = 0;  // alarms --follow: exit after N new ones
  std::string events;       // alarms --follow: the events endpoint
  bool scan = false;        // integrity: run a PIMS period first
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
    // Ids and images come from the runtime and the image's annotations: a
    // control byte in one must not reach the terminal as it is.
    out += (id.empty() ? std::string("(host)") : EscapeForLog(id)) + "  " + c["entries"].dump() +
           " entries, " + c["denied"].dump() + " denied";
    if (!c["image"].get<std::string>().empty())
      out += ", image " + EscapeForLog(c["image"].get<std::string>());
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
      for (const auto& p : (*r)[k])  // a name that is not UTF-8 comes as bytes (json_bytes.h)
        out += std::string(k) + "  " + EscapeForLog(BytesFromJson(p).value_or("(malformed name)")) + "\n";
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

// "2026-11-24T06:41:42.123Z high host: WHAT: WHY -> ACTION (seq N)", one
// line whatever the file names in it hold.
std::string AlarmLine(const json& a) {
  std::string when = "-";
  if (a.contains("when_ns") && a["when_ns"].is_number_integer()) {
    const std::int64_t ns = a["when_ns"].get<std::int64_t>();
    const std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
    std::tm tm{};
    char buf[32];
    if (::gmtime_r(&secs, &tm) && std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) > 0) {
      char ms[8];
      std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>((ns / 1000000) % 1000));
      when = std::string(buf) + ms;
    }
  }
  const auto text = [&](const char* key) {
    return a.contains(key) && a[key].is_string() ? a[key].get<std::string>() : std::string();
  };
  std::string where = text("container_id");
  if (where.empty()) where = "host";
  std::string line = when + " " + text("severity") + " " + where + ": " + text("what") + ": " + text("why");
  if (!text("action").empty()) line += " -> " + text("action");
  if (a.contains("where") && a["where"].is_object() && a["where"].contains("seq") &&
      a["where"]["seq"].is_number())
    line += " (seq " + a["where"]["seq"].dump() + ")";
  return EscapeForLog(line) + "\n";
}

std::string EventsEndpointOf(const TsbArgs& a) {
  if (a.events.empty()) return "ipc://" + a.state_dir + "/events.sock";
  if (a.events.find("://") != std::string::npos) return a.events;
  return "ipc://" + a.events;
}

// The last `limit` of `list` (all when 0).
json LastOf(const json& list, std::uint64_t limit) {
  if (!list.is_array() || limit == 0 || list.size() <= limit) return list.is_array() ? list : json::array();
  return json(std::vector<json>(list.end() - static_cast<std::ptrdiff_t>(limit), list.end()));
}

int RunAlarms(const GlobalOptions& g, const TsbArgs& a) {
  const auto print = [&](const json& alarm) {
    WriteOut(a.json && a.follow ? alarm.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"
                                : AlarmLine(alarm));
  };
  if (!a.follow) {
    auto r = Call(g, a, "alarms", json::object());
    if (!r.ok()) return ReportError(r.error());
    const json list = LastOf(r->value("alarms", json::array()), a.limit);
    if (a.json) {
      WriteOut(json{{"alarms", list}}.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
    } else {
      for (const auto& alarm : list) print(alarm);
    }
    return kExitOk;
  }

  // Subscribe first, then print what the daemon kept: an alarm raised in
  // between is in both, and printed once (by id).
  const std::string ep = EventsEndpointOf(a);
  if (Status c = CheckIpcEndpoint(ep, "events"); !c.ok()) return ReportError(c.error());
  if (g.verbose) LogInfo("subscribing to " + ep);
  std::set<std::string> kept;  // ids of the alarms printed from the daemon's ring
  std::uint64_t fresh = 0;
  Status s = tsbd::EventSubscribe(
      ep, "alarm", a.timeout_ms,
      [&]() -> Status {
        IMMUNE_ASSIGN_OR_RETURN(json r, Call(g, a, "alarms", json::object()));
        for (const auto& alarm : LastOf(r.value("alarms", json::array()), a.limit)) {
          if (alarm.contains("id") && alarm["id"].is_string()) kept.insert(alarm["id"].get<std::string>());
          print(alarm);
        }
        std::fflush(stdout);
        return OkStatus();
      },
      [&](std::string_view topic, std::string_view body) {
        if (topic != "alarm") return true;
        json alarm = json::parse(body, nullptr, false);
        if (!alarm.is_object()) {
          LogWarning("events endpoint " + ep + ": an alarm that is not a JSON object, skipped");
          return true;
        }
        if (alarm.contains("id") && alarm["id"].is_string() && kept.count(alarm["id"].get<std::string>()))
          return true;
        print(alarm);
        std::fflush(stdout);
        ++fresh;
        return a.count == 0 || fresh < a.count;
      });
  if (!s.ok()) return ReportError(s.error());
  return kExitOk;
}

int RunGate(const GlobalOptions& g, const TsbArgs& a) {
  auto r = Call(g, a, "gate.status", json::object());
  if (!r.ok()) {
    if (r.error().code() == ErrorCode::kInvalidArgument || r.error().code() == ErrorCode::kNotFound)
      return ReportError(r.error().WithContext("the exec gate (gate.enabled in immuned.yaml)"));
    return ReportError(r.error());
  }
  if (a.json) {
    WriteOut(r->dump(2, ' ', false, json::error_handler_t::replace) + "\n");
    return kExitOk;
  }
  const json& st = (*r)["gate"];
  const auto n = [&](const char* key) { return st.contains(key) ? st[key].dump() : std::string("?"); };
  std::string out =
      "exec gate: " + std::string(st.value("pidfd_reporting", false) ? "a pidfd per event" : "no pidfds") +
      "\n";
  out += "  events " + n("events") + ": " + n("execs") + " execs, " + n("code_opens") + " code opens, " +
         n("data_opens") + " data opens\n";
  out += "  answered " + n("allowed") + " allow, " + n("denied") + " deny; " + n("decisions") +
         " decisions, cache " + n("cache_hits") + " hits, " + n("cache_misses") + " misses\n";
  out += "  trouble: " + n("overload_answers") + " overload answers, " + n("errors") + " errors, " +
         n("kernel_overflows") + " kernel queue overflows; queue high water " + n("queue_high_water") + "\n";
  out += "marks:\n";
  const json marks = r->value("marks", json::object());  // items() refers to it: not a temporary
  for (const auto& [path, kind] : marks.items())
    out +=
        "  " + EscapeForLog(path) + "  " + (kind.is_string() ? kind.get<std::string>() : kind.dump()) + "\n";
  out += "containers:\n";
  for (const auto& c : r->value("containers", json::array())) {
    const auto text = [&](const char* key) {
      return c.contains(key) && c[key].is_string() ? EscapeForLog(c[key].get<std::string>())
                                                   : std::string("-");
    };
    out += "  " + text("id") + "  " + text("status") + ", image " + text("image") + ", init pid " +
           (c.contains("init_pid") ? c["init_pid"].dump() : "-") + ", rootfs " + text("rootfs") + "\n";
  }
  WriteOut(out);
  return kExitOk;
}

int RunIntegrity(const GlobalOptions& g, const TsbArgs& a) {
  auto r = Call(g, a, a.scan ? "integrity.scan" : "integrity.status", json::object());
  if (!r.ok()) return ReportError(r.error());
  if (a.json) {
    WriteOut(r->dump(2, ' ', false, json::error_handler_t::replace) + "\n");
    return kExitOk;
  }
  std::string out;
  if (r->contains("pims") && (*r)["pims"].is_object()) {
    const json& p = (*r)["pims"];
    const auto n = [&](const char* key) { return p.contains(key) ? p[key].dump() : std::string("?"); };
    out += "PIMS: " + n("periods") + " periods, " + n("processes_scanned") + " processes scanned, " +
           n("mappings_checked") + " mappings checked, " + n("violations") + " violations\n";
  } else {
    out += "PIMS: off (integrity.pims_interval_ms is 0)\n";
  }
  out += "violations: " + r->value("violations", json(0)).dump() +
         ", critical file changes: " + r->value("config_changes", json(0)).dump() + "\n";
  out += "critical files:\n";
  for (const auto& f : r->value("critical_files", json::array())) {
    const std::string path = f.contains("path") ? BytesFromJson(f["path"]).value_or("(malformed)") : "-";
    const std::string digest = f.value("digest", "");
    const std::string error = f.value("error", "");
    out +=
        "  " + EscapeForLog(path) + "  " + (digest.empty() ? "(" + EscapeForLog(error) + ")" : digest) + "\n";
  }
  WriteOut(out);
  return kExitOk;
}

}  // namespace

void AddTsbCommands(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* tsb = app.add_subcommand(
      "tsb",
      "The Trusted Software Base daemon (immuned): status, log, alarms, gate, integrity, containers, PCR");
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

  CLI::App* alarms = tsb->add_subcommand(
      "alarms", "The alarms the daemon kept (its last 1000), and with --follow new ones as they are raised");
  alarms->add_flag("--json", args->json, "As JSON ({\"alarms\":[...]}; with --follow one object per line)");
  alarms->add_flag("-f,--follow", args->follow, "Then wait for new alarms and print each as it comes");
  alarms->add_option("-n,--limit", args->limit, "Only the last N kept alarms");
  alarms->add_option("--count", args->count, "With --follow: exit after N new alarms");
  alarms->add_option("--events", args->events,
                     "With --follow: immuned's events endpoint (default: STATE_DIR/events.sock)");
  alarms->callback([args, exit_code, &global] { *exit_code = RunAlarms(global, *args); });

  CLI::App* gate =
      tsb->add_subcommand("gate", "The exec gate: its counters, marks and the containers it gates");
  gate->add_flag("--json", args->json, "As JSON (the gate.status control command's result)");
  gate->callback([args, exit_code, &global] { *exit_code = RunGate(global, *args); });

  CLI::App* integrity = tsb->add_subcommand(
      "integrity", "Process code integrity (PIMS) and critical files: counters, violations, digests");
  integrity->add_flag("--scan", args->scan, "Run a PIMS period now (waits up to 30 s), then print");
  integrity->add_flag("--json", args->json, "As JSON");
  integrity->callback([args, exit_code, &global] { *exit_code = RunIntegrity(global, *args); });

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
