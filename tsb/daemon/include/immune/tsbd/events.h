// Events on the daemon's ZeroMQ PUB endpoint (docs/tsb-daemon.md, "Events").
// Every event is a two-frame message: [topic, JSON]. Topics:
//   "measurement"  every journaled entry
//   "violation"    an entry the policy denied (also a "measurement")
//   "alarm"        something an operator must act on; self-contained:
//                  what, where (node, PCR, seq, epoch), which container /
//                  process / file, why, when, severity, id
// Subscribers filter by topic prefix (ZMQ_SUBSCRIBE "alarm").
//
// Thread safety: Publish and the accessors may be called from any thread
// (an internal mutex guards the socket).
#ifndef IMMUNE_TSBD_EVENTS_H_
#define IMMUNE_TSBD_EVENTS_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/error.h"
#include "immune/tsb/measurement_entry.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace immune::tsbd {

inline constexpr int kEventSchemaVersion = 1;

enum class Severity { kInfo, kWarning, kHigh, kCritical };
std::string_view SeverityName(Severity s);

struct Alarm {
  std::string id;  // unique per node: "<node>:<boot-time-ns>:<n>"
  Severity severity = Severity::kHigh;
  std::string what;  // "denied measurement", "PCR does not match the journal", ...
  std::string why;   // the rule or the error text
  std::int64_t time_ns = 0;
  std::string node;
  std::uint32_t pcr = 0;
  std::optional<std::uint64_t> seq, epoch;
  std::optional<tsb::MeasurementEntry> entry;  // the measurement it is about, if any
  std::string agent;
  std::string action;  // what the daemon did ("logged", "new epoch started")
};

std::string AlarmToJson(const Alarm& a);
std::string MeasurementEventToJson(std::string_view type, std::string_view node, std::string_view agent,
                                   const tsb::MeasurementEntry& e);

// The PUB socket plus a ring of recent alarms (for `tsb status`/control).
class EventPublisher {
 public:
  // Binds `endpoint` (ipc:// gets `ipc_mode`; tcp:// must be on 127.0.0.1
  // or [::1]). `context` is borrowed. Errors name the endpoint.
  static Result<std::unique_ptr<EventPublisher>> Bind(zmq::context_t& context, const std::string& endpoint,
                                                      unsigned ipc_mode, std::string node);
  ~EventPublisher();

  void PublishMeasurement(std::string_view agent, const tsb::MeasurementEntry& e);
  // Fills id, node and time when empty; remembers the last 1000.
  void PublishAlarm(Alarm a);
  std::vector<Alarm> RecentAlarms() const;
  std::uint64_t alarm_count() const;
  const std::string& node() const { return node_; }

 private:
  EventPublisher() = default;
  void Send(std::string_view topic, const std::string& json);

  mutable std::mutex mu_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::string node_;
  std::int64_t boot_ns_ = 0;
  std::uint64_t alarms_ = 0;
  std::deque<Alarm> recent_;
};

// Checks an endpoint for the daemon's access rules: ipc:// always; tcp://
// for "agent" and "control" (which the daemon makes CURVE servers, curve.h)
// and for "events" on a loopback address only. `what` names the endpoint.
// BindEndpoint checks, binds and chmods an ipc socket file to `ipc_mode`.
Status CheckEndpoint(const std::string& endpoint, std::string_view what);
Status BindEndpoint(zmq::socket_t& socket, const std::string& endpoint, unsigned ipc_mode,
                    std::string_view what);

}  // namespace immune::tsbd

#endif  // IMMUNE_TSBD_EVENTS_H_
