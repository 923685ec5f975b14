// Agents and policy as the daemon sees them.
//
// An Agent measures something (exec events, container files, ...) and
// submits MeasurementEntry values to the daemon through its AgentHost. The
// host decides (PolicyHook), journals the entries in the measurement log and
// extends the TPM; Submit returns only after that, so a returned seq is
// durable (tsb/include/immune/tsb/measurement_log.h).
//
// Agents come in process (a C++ object registered in the AgentRegistry,
// possibly from a loadable .so: plugin.h) or out of process over ZeroMQ
// (agent_message.h); both go through the same AgentHost.
//
// Thread safety: AgentHost::Submit may be called from any thread, many at
// once. AgentRegistry is internally locked. An Agent's Start and Stop are
// called from the daemon's main thread, once each.
#ifndef IMMUNE_TSBD_AGENT_H_
#define IMMUNE_TSBD_AGENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/error.h"
#include "immune/tsb/measure_once.h"
#include "immune/tsb/measurement_entry.h"

namespace immune::tsbd {

// What the host answers for one submitted entry.
struct Alarm;  // events.h

// A control command an agent adds to the daemon's control endpoint: gets the
// request's "args" object as JSON text, returns the "result" as JSON text or
// an error (sent as {"ok":false,"error":...}). Runs on the control thread.
using ControlHandler = std::function<Result<std::string>(const std::string& args_json)>;

struct Verdict {
  std::uint64_t seq = 0;  // the entry's sequence number in the log
  tsb::Decision decision = tsb::Decision::kAllow;
  std::string rule;
};

class AgentHost {
 public:
  virtual ~AgentHost() = default;
  // Decides, journals and extends `entries` (decision and rule are set by
  // the policy hook; seq/epoch/pcr by the log). Blocks until journaled (or
  // while the bounded queue is full). kInvalidArgument naming the entry and
  // field for an invalid entry (nothing of the call is logged then);
  // kUnavailable when the daemon is stopping.
  virtual Result<std::vector<Verdict>> Submit(std::string_view agent,
                                              std::vector<tsb::MeasurementEntry> entries) = 0;
  // Hashes a file through the daemon's measure-once cache (measure_once.h):
  // `hit` means unchanged since it was last measured, and the agent may skip
  // submitting it again (per container: the cache does not know containers).
  virtual Result<tsb::FileMeasurement> MeasureFile(const std::string& path) = 0;
  // Publishes an alarm on the event endpoint (and to syslog). Any thread.
  // The daemon raises a denial's alarm only for entries its policy hook
  // decided; an agent that submits entries it decided itself (a non-empty
  // rule) knows what it did about a denial and raises that alarm, with the
  // entry's seq (docs/tsb-daemon.md, "Who raises a denial's alarm").
  virtual void RaiseAlarm(Alarm alarm) = 0;
  // Adds control command `cmd` (e.g. "container.register"); kInvalidArgument
  // when the name is taken (built-in commands included). Handlers stay until
  // the daemon stops: an agent's Stop must leave them safe to call (answer
  // kUnavailable).
  virtual Status RegisterControl(const std::string& cmd, ControlHandler handler) = 0;
};

class Agent {
 public:
  virtual ~Agent() = default;
  // Unique among the daemon's agents (in process and over ZeroMQ).
  virtual std::string name() const = 0;
  // Starts the agent's own threads; `host` outlives the agent until Stop
  // returns. `options` come from the configuration.
  virtual Status Start(AgentHost& host, const std::map<std::string, std::string>& options) = 0;
  // Stops and joins the agent's threads; no Submit call after it returns.
  virtual void Stop() = 0;
};

// The policy hook. Decide is called from the writer thread only, before the
// entry is journaled, for every entry except those an in-process agent has
// already decided (a non-empty rule: the exec gate decides before it answers
// the kernel, with inputs the entry does not carry, such as security.ima).
class PolicyHook {
 public:
  virtual ~PolicyHook() = default;
  virtual Verdict Decide(const tsb::MeasurementEntry& entry) = 0;
};

// Allows everything except paths equal to one of `deny_paths` or below one
// that ends in '/': those are denied with rule "builtin:deny-path".
std::unique_ptr<PolicyHook> NewBuiltinPolicy(std::vector<std::string> deny_paths);

// Names of the agents present, in process and remote. Register fails with
// kInvalidArgument when the name is empty or already taken.
class AgentRegistry {
 public:
  enum class Kind { kInProcess, kRemote };
  struct Info {
    Kind kind = Kind::kInProcess;
    std::uint64_t submitted = 0;  // entries acknowledged
    std::uint64_t denied = 0;
  };

  Status Register(std::string_view name, Kind kind);
  void Unregister(std::string_view name);
  bool Contains(std::string_view name) const;
  void Count(std::string_view name, std::uint64_t submitted, std::uint64_t denied);
  std::map<std::string, Info> Snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Info, std::less<>> agents_;
};

}  // namespace immune::tsbd

#endif  // IMMUNE_TSBD_AGENT_H_
