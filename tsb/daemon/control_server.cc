// The control endpoint's thread: a REP socket (ipc 0600, or tcp with CURVE) answering
// {"v":1,"cmd":C,"args":{...}} with {"v":1,"ok":true,"result":R} or
// {"v":1,"ok":false,"error":{"code":..,"field":..,"message":..}}.
// Commands: status, log, containers, pcr, view, alarms (docs/tsb-daemon.md).
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "immune/core/hex.h"
#include "immune/core/log.h"
#include "immune/tsb/cpcr.h"
#include "immune/tsb/log_export.h"
#include "immune/tsbd/daemon.h"

namespace immune::tsbd {

namespace {

using nlohmann::json;

json Fail(ErrorCode code, std::string field, std::string message) {
  return {{"v", kControlProtocolVersion},
          {"ok", false},
          {"error",
           {{"code", ErrorCodeName(code)}, {"field", std::move(field)}, {"message", std::move(message)}}}};
}

json Ok(json result) { return {{"v", kControlProtocolVersion}, {"ok", true}, {"result", std::move(result)}}; }

json Banks(const tsb::BankDigests& d) {
  json j = json::object();
  for (const auto& [alg, v] : d) j[std::string(HashAlgName(alg))] = ToHex(v);
  return j;
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// On an ipc:// connection libzmq appends the peer's SO_PEERCRED as
// ":uid:gid:pid" to the "Peer-Address" property. Only root and the daemon's
// own user may use the control endpoint; where the property is missing the
// socket file's mode (0600) and the 0700 state directory are the barrier.
Status CheckControlPeer(zmq::message_t& msg) {
  const char* addr = nullptr;
  try {
    addr = msg.gets("Peer-Address");
  } catch (const zmq::error_t&) {
    return OkStatus();
  }
  if (addr == nullptr) return OkStatus();
  const std::string a(addr);
  // The last three ':'-separated fields are uid, gid and pid.
  const auto p3 = a.rfind(':');
  if (p3 == std::string::npos || p3 == 0) return OkStatus();
  const auto p2 = a.rfind(':', p3 - 1);
  if (p2 == std::string::npos || p2 == 0) return OkStatus();
  const auto p1 = a.rfind(':', p2 - 1);
  if (p1 == std::string::npos) return OkStatus();
  const std::string uid_text = a.substr(p1 + 1, p2 - p1 - 1);
  if (uid_text.empty() || uid_text.find_first_not_of("0123456789") != std::string::npos) return OkStatus();
  const unsigned long uid = std::stoul(uid_text);
  if (uid == 0 || uid == ::geteuid()) return OkStatus();
  return Error(ErrorCode::kPermissionDenied,
               "control endpoint: uid " + uid_text + " is not allowed (root or the daemon's user only)");
}

}  // namespace

std::string Daemon::StatusJson() {
  json j;
  j["pid"] = ::getpid();
  j["uptime_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  j["state_dir"] = config_.state_dir;
  j["tpm"] = {{"tcti", tcti_},
              {"embedded", embedded_},
              {"swtpm_pid", swtpm_ ? swtpm_->pid() : (adopted_swtpm_pid_ > 0 ? adopted_swtpm_pid_ : 0)},
              {"swtpm_adopted", adopted_swtpm_pid_ > 0}};
  j["pcr"] = config_.pcr;
  json banks = json::array();
  for (HashAlg b : config_.banks) banks.push_back(HashAlgName(b));
  j["banks"] = banks;
  j["epoch"] = log_->current_epoch();
  j["entries"] = log_->size();
  const auto& rec = log_->recovery();
  j["recovery"] = {{"rows", rec.rows}, {"extended_now", rec.extended_now}, {"new_epoch", rec.new_epoch}};
  const WriterStats ws = writer_ ? writer_->stats() : WriterStats{};
  j["writer"] = {{"appended", ws.appended},
                 {"batches", ws.batches},
                 {"failed", ws.failed},
                 {"queued", ws.queued},
                 {"queue_capacity", config_.queue_capacity},
                 {"busy_seconds", ws.busy_seconds},
                 {"entries_per_busy_second", ws.busy_seconds > 0 ? ws.appended / ws.busy_seconds : 0.0}};
  json agents = json::object();
  for (const auto& [name, info] : registry_.Snapshot()) {
    agents[name] = {{"kind", info.kind == AgentRegistry::Kind::kRemote ? "remote" : "in-process"},
                    {"submitted", info.submitted},
                    {"denied", info.denied}};
  }
  j["agents"] = agents;
  j["alarms"] = events_ ? events_->alarm_count() : 0;
  j["measure_cache"] = {{"hits", measure_cache_.hits()}, {"misses", measure_cache_.misses()}};
  j["endpoints"] = {{"agent", AgentEndpoint(config_)},
                    {"control", ControlEndpoint(config_)},
                    {"events", EventsEndpoint(config_)}};
  return Dump(j);
}

std::string Daemon::HandleControl(const std::string& request) {
  json req = json::parse(request, nullptr, false);
  if (req.is_discarded() || !req.is_object())
    return Dump(Fail(ErrorCode::kInvalidArgument, "", "not a JSON object"));
  if (!req.contains("v") || !req["v"].is_number_integer() ||
      req["v"].get<std::int64_t>() != kControlProtocolVersion)
    return Dump(Fail(ErrorCode::kUnsupported, "v", "this daemon speaks control protocol version 1"));
  if (!req.contains("cmd") || !req["cmd"].is_string())
    return Dump(Fail(ErrorCode::kInvalidArgument, "cmd", "is required and must be a string"));
  const std::string cmd = req["cmd"].get<std::string>();
  json args = req.contains("args") ? req["args"] : json::object();
  if (!args.is_object()) return Dump(Fail(ErrorCode::kInvalidArgument, "args", "must be an object"));

  // Commands agents added (container.register, gate.status, ...) own their args.
  ControlHandler handler;
  {
    std::lock_guard lock(control_mu_);
    if (auto it = control_handlers_.find(cmd); it != control_handlers_.end()) handler = it->second;
  }
  if (handler) {
    auto r = handler(args.dump());
    if (!r.ok()) return Dump(Fail(r.error().code(), "args", r.error().message()));
    json result = json::parse(*r, nullptr, false);
    if (result.is_discarded()) return Dump(Fail(ErrorCode::kInternal, "", "handler for '" + cmd + "' returned bad JSON"));
    return Dump(Ok(std::move(result)));
  }

  std::optional<std::string> container;
  if (args.contains("container")) {
    if (!args["container"].is_string())
      return Dump(Fail(ErrorCode::kInvalidArgument, "args.container", "must be a string"));
    container = args["container"].get<std::string>();
  }
  std::optional<std::uint64_t> epoch;
  if (args.contains("epoch")) {
    if (!args["epoch"].is_number_unsigned())
      return Dump(Fail(ErrorCode::kInvalidArgument, "args.epoch", "must be an unsigned number"));
    epoch = args["epoch"].get<std::uint64_t>();
  }

  if (cmd == "status") return Dump(Ok(json::parse(StatusJson())));
  if (cmd == "pcr") {
    Result<PcrValues> pcrs = Internal("not read");
    tsb::BankDigests expected;
    PcrSelection sel;
    for (HashAlg b : config_.banks) sel[b] = {config_.pcr};
    // On the writer thread: the TPM's only user, and no batch half-applied.
    Status s = writer_->RunOnWriter([&] {
      pcrs = tpm_->ReadPcrs(sel);
      expected = log_->ExpectedPcr();
    });
    if (!s.ok()) return Dump(Fail(s.error().code(), "", s.error().message()));
    if (!pcrs.ok()) return Dump(Fail(pcrs.error().code(), "", pcrs.error().message()));
    json tpmv = json::object();
    bool match = true;
    for (HashAlg b : config_.banks) {
      const Bytes& v = (*pcrs)[b][config_.pcr];
      tpmv[std::string(HashAlgName(b))] = ToHex(v);
      if (expected[b] != v) match = false;
    }
    return Dump(Ok({{"pcr", config_.pcr},
                    {"epoch", log_->current_epoch()},
                    {"tpm", tpmv},
                    {"journal_replay", Banks(expected)},
                    {"match", match}}));
  }
  if (cmd == "log") {
    std::string format = "json";
    if (args.contains("format")) {
      if (!args["format"].is_string() || (args["format"] != "json" && args["format"] != "ascii"))
        return Dump(Fail(ErrorCode::kInvalidArgument, "args.format", "must be \"json\" or \"ascii\""));
      format = args["format"].get<std::string>();
    }
    std::optional<std::uint64_t> limit;
    if (args.contains("limit")) {
      if (!args["limit"].is_number_unsigned())
        return Dump(Fail(ErrorCode::kInvalidArgument, "args.limit", "must be an unsigned number"));
      limit = args["limit"].get<std::uint64_t>();
    }
    std::vector<tsb::MeasurementEntry> all = log_->Entries(epoch);
    std::vector<tsb::MeasurementEntry> picked;
    for (auto& e : all)
      if (!container || e.container_id == *container) picked.push_back(std::move(e));
    if (limit && picked.size() > *limit)
      picked.erase(picked.begin(), picked.end() - static_cast<long>(*limit));
    if (format == "ascii") {
      auto text = tsb::ExportImaAscii(picked);
      if (!text.ok()) return Dump(Fail(text.error().code(), "", text.error().message()));
      return Dump(Ok({{"ascii", *text}}));
    }
    auto text = tsb::ExportJson(picked, config_.banks);
    if (!text.ok()) return Dump(Fail(text.error().code(), "", text.error().message()));
    return Dump(Ok(json::parse(*text, nullptr, false)));
  }
  if (cmd == "containers") {
    struct Part {
      std::uint64_t entries = 0, denied = 0;
      std::string image;
      std::int64_t last_ns = 0;
    };
    std::map<std::string, Part> parts;
    for (const auto& e : log_->Entries(epoch)) {
      Part& p = parts[e.container_id];
      ++p.entries;
      if (e.decision == tsb::Decision::kDeny) ++p.denied;
      if (!e.image.empty()) p.image = e.image;
      p.last_ns = e.time_ns;
    }
    json list = json::array();
    for (const auto& [id, p] : parts) {
      list.push_back({{"container_id", id},
                      {"host", id.empty()},
                      {"image", p.image},
                      {"entries", p.entries},
                      {"denied", p.denied},
                      {"last_time_ns", p.last_ns}});
    }
    return Dump(Ok({{"epoch", epoch.value_or(log_->current_epoch())}, {"containers", list}}));
  }
  if (cmd == "view") {
    auto v = log_->ExportPartitionView(container.value_or(""), epoch);
    if (!v.ok()) return Dump(Fail(v.error().code(), "args.container", v.error().message()));
    return Dump(Ok(json::parse(tsb::PartitionViewToJson(*v), nullptr, false)));
  }
  if (cmd == "policy.status") return Dump(Ok(json::parse(policy_->StatusJson())));
  if (cmd == "policy.apply" || cmd == "policy.reload") {
    Result<std::uint64_t> gen = Internal("unreachable");
    if (cmd == "policy.reload") {
      gen = policy_->Reload();
    } else {
      if (!args.contains("text") || !args["text"].is_string())
        return Dump(Fail(ErrorCode::kInvalidArgument, "args.text", "is required: the policy or bundle text"));
      const std::string source =
          args.contains("source") && args["source"].is_string() ? args["source"].get<std::string>() : "applied";
      gen = policy_->Apply(args["text"].get<std::string>(), source);
    }
    if (!gen.ok()) return Dump(Fail(gen.error().code(), "args.text", gen.error().message()));
    return Dump(Ok({{"generation", *gen}}));
  }
  if (cmd == "policy.learned") {
    auto paths = policy_->WriteLearned();
    if (!paths.ok()) return Dump(Fail(paths.error().code(), "", paths.error().message()));
    json drafts = json::array();
    for (const auto& d : policy_->learner().Drafts())
      drafts.push_back({{"scope", d.scope.ToString()}, {"file", d.file_name}, {"yaml", d.yaml}});
    return Dump(Ok({{"written", *paths}, {"drafts", drafts}}));
  }
  if (cmd == "alarms") {
    json list = json::array();
    for (const auto& a : events_->RecentAlarms()) list.push_back(json::parse(AlarmToJson(a), nullptr, false));
    return Dump(Ok({{"alarms", list}}));
  }
  return Dump(Fail(ErrorCode::kInvalidArgument, "cmd", "unknown command '" + cmd + "'"));
}

void Daemon::ControlLoop(zmq::socket_t* socket) {
  zmq::socket_t& sock = *socket;
  // Over tcp:// the ZAP handler admitted the client's CURVE key; SO_PEERCRED
  // exists for ipc:// only.
  const bool ipc = ControlEndpoint(config_).starts_with("ipc://");
  ::pthread_setname_np(::pthread_self(), "immuned-ctl");
  zmq::pollitem_t items[] = {{sock.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, stop_fd_, ZMQ_POLLIN, 0}};
  while (!endpoints_exit_) {
    try {
      zmq::poll(items, 2, std::chrono::milliseconds(-1));  // until a request, or Stop
      if (!(items[0].revents & ZMQ_POLLIN)) continue;
      zmq::message_t msg;
      if (!sock.recv(msg, zmq::recv_flags::dontwait)) continue;
      std::string reply;
      if (msg.more()) {
        // Multi-frame requests are not part of the protocol: drain them.
        while (msg.more() && sock.recv(msg, zmq::recv_flags::dontwait)) {
        }
        reply = Dump(Fail(ErrorCode::kInvalidArgument, "", "one frame per request"));
      } else if (Status peer = ipc ? CheckControlPeer(msg) : OkStatus(); !peer.ok()) {
        reply = Dump(Fail(peer.error().code(), "", peer.error().message()));
      } else {
        try {
          reply = HandleControl(msg.to_string());
        } catch (const std::exception& e) {
          reply = Dump(Fail(ErrorCode::kInternal, "", std::string("control: ") + e.what()));
        }
      }
      sock.send(zmq::buffer(reply), zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      LogError(std::string("control endpoint: ") + e.what());
      return;
    }
  }
}

}  // namespace immune::tsbd
