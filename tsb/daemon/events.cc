#include "immune/tsbd/events.h"

#include <sys/stat.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <utility>
#include <zmq.hpp>

#include "immune/core/hex.h"
#include "immune/core/json_bytes.h"
#include "immune/core/log.h"

namespace immune::tsbd {

namespace {

using nlohmann::json;

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json EntryJson(const tsb::MeasurementEntry& e) {
  json j;
  j["seq"] = e.seq;
  j["epoch"] = e.epoch;
  j["pcr"] = e.pcr;
  j["time_ns"] = e.time_ns;
  j["template"] = tsb::TemplateName(e.template_kind);
  j["container_id"] = e.container_id;
  j["image"] = e.image;
  j["pid"] = e.pid;
  j["exe"] = BytesToJson(e.exe);  // a string when UTF-8, else its bytes (json_bytes.h)
  j["path"] = BytesToJson(e.path);
  j["file_hash_alg"] = HashAlgName(e.file_hash_alg);
  j["file_digest"] = ToHex(e.file_digest);
  j["decision"] = tsb::DecisionName(e.decision);
  j["rule"] = e.rule;
  return j;
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo: return "info";
    case Severity::kWarning: return "warning";
    case Severity::kHigh: return "high";
    case Severity::kCritical: return "critical";
  }
  return "unknown";
}

std::string AlarmToJson(const Alarm& a) {
  json j;
  j["v"] = kEventSchemaVersion;
  j["type"] = "alarm";
  j["id"] = a.id;
  j["severity"] = SeverityName(a.severity);
  j["what"] = a.what;
  j["why"] = a.why;
  j["when_ns"] = a.time_ns;
  json where;
  where["node"] = a.node;
  where["pcr"] = a.pcr;
  where["seq"] = a.seq ? json(*a.seq) : json(nullptr);
  where["epoch"] = a.epoch ? json(*a.epoch) : json(nullptr);
  j["where"] = std::move(where);
  j["agent"] = a.agent;
  j["action"] = a.action;
  if (a.entry) {
    j["container_id"] = a.entry->container_id;
    j["image"] = a.entry->image;
    j["process"] = {{"pid", a.entry->pid}, {"exe", BytesToJson(a.entry->exe)}};
    j["file"] = {{"path", BytesToJson(a.entry->path)},
                 {"hash_alg", HashAlgName(a.entry->file_hash_alg)},
                 {"digest", ToHex(a.entry->file_digest)}};
    j["decision"] = tsb::DecisionName(a.entry->decision);
    j["rule"] = a.entry->rule;
  } else {
    j["container_id"] = nullptr;
    j["process"] = nullptr;
    j["file"] = nullptr;
  }
  return Dump(j);
}

std::string MeasurementEventToJson(std::string_view type, std::string_view node, std::string_view agent,
                                   const tsb::MeasurementEntry& e) {
  json j = EntryJson(e);
  j["v"] = kEventSchemaVersion;
  j["type"] = type;
  j["node"] = node;
  j["agent"] = agent;
  return Dump(j);
}

Status CheckEndpoint(const std::string& endpoint, std::string_view what) {
  if (endpoint.starts_with("ipc://")) {
    if (endpoint.size() <= 6 || endpoint[6] != '/')
      return InvalidArgument(std::string(what) + " endpoint " + endpoint + ": ipc path must be absolute");
    return OkStatus();
  }
  if (endpoint.starts_with("tcp://")) {
    if (what != "events") return OkStatus();  // the daemon makes it a CURVE server
    if (endpoint.starts_with("tcp://127.0.0.1:") || endpoint.starts_with("tcp://[::1]:") ||
        endpoint.starts_with("tcp://localhost:"))
      return OkStatus();
    return Unsupported(std::string(what) + " endpoint " + endpoint +
                       ": tcp:// only on loopback (127.0.0.1, [::1]): events are not protected by CURVE");
  }
  return InvalidArgument(std::string(what) + " endpoint " + endpoint + ": expected ipc:// or tcp://");
}

Status BindEndpoint(zmq::socket_t& socket, const std::string& endpoint, unsigned ipc_mode,
                    std::string_view what) {
  IMMUNE_RETURN_IF_ERROR(CheckEndpoint(endpoint, what));
  try {
    socket.bind(endpoint);
  } catch (const zmq::error_t& e) {
    return Unavailable(std::string(what) + " endpoint " + endpoint + ": bind: " + e.what());
  }
  if (endpoint.starts_with("ipc://")) {
    const std::string path = endpoint.substr(6);
    if (::chmod(path.c_str(), ipc_mode) != 0)
      return IoError(std::string(what) + " endpoint " + endpoint + ": chmod failed");
  }
  return OkStatus();
}

Result<std::unique_ptr<EventPublisher>> EventPublisher::Bind(zmq::context_t& context,
                                                             const std::string& endpoint, unsigned ipc_mode,
                                                             std::string node) {
  std::unique_ptr<EventPublisher> p(new EventPublisher());
  p->node_ = std::move(node);
  p->boot_ns_ = NowNs();
  try {
    p->socket_ = std::make_unique<zmq::socket_t>(context, zmq::socket_type::pub);
    p->socket_->set(zmq::sockopt::linger, 0);
    p->socket_->set(zmq::sockopt::sndhwm, 100000);
  } catch (const zmq::error_t& e) {
    return Internal("events endpoint " + endpoint + ": " + e.what());
  }
  IMMUNE_RETURN_IF_ERROR(BindEndpoint(*p->socket_, endpoint, ipc_mode, "events"));
  return p;
}

EventPublisher::~EventPublisher() = default;

void EventPublisher::Send(std::string_view topic, const std::string& body) {
  try {
    socket_->send(zmq::buffer(topic), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    socket_->send(zmq::buffer(body), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    LogWarning(std::string("events: send failed: ") + e.what());
  }
}

void EventPublisher::PublishMeasurement(std::string_view agent, const tsb::MeasurementEntry& e) {
  std::lock_guard lock(mu_);
  Send("measurement", MeasurementEventToJson("measurement", node_, agent, e));
  if (e.decision == tsb::Decision::kDeny)
    Send("violation", MeasurementEventToJson("violation", node_, agent, e));
}

void EventPublisher::PublishAlarm(Alarm a) {
  std::lock_guard lock(mu_);
  ++alarms_;
  if (a.time_ns == 0) a.time_ns = NowNs();
  if (a.node.empty()) a.node = node_;
  if (a.id.empty()) a.id = node_ + ":" + std::to_string(boot_ns_) + ":" + std::to_string(alarms_);
  LogError("ALARM " + a.id + ": " + a.what + ": " + a.why);
  Send("alarm", AlarmToJson(a));
  recent_.push_back(std::move(a));
  if (recent_.size() > 1000) recent_.pop_front();
}

std::vector<Alarm> EventPublisher::RecentAlarms() const {
  std::lock_guard lock(mu_);
  return {recent_.begin(), recent_.end()};
}

std::uint64_t EventPublisher::alarm_count() const {
  std::lock_guard lock(mu_);
  return alarms_;
}

}  // namespace immune::tsbd
