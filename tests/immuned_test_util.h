// Helpers for immuned's integration tests: a private temp dir, the daemon
// as a child process (stopped by its PID), ZeroMQ clients of the agent,
// control and event endpoints, and running a command for its output.
// Everything has a timeout. Used by one test thread, except AgentClient
// (one per thread).
#ifndef IMMUNE_TESTS_IMMUNED_TEST_UTIL_H_
#define IMMUNE_TESTS_IMMUNED_TEST_UTIL_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "immune/core/error.h"
#include "immune/tsb/measurement_entry.h"
#include "immune/tsbd/agent.h"

namespace immune::tsbd::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// immuned started with `config_path`; stdout+stderr go to `log_path`.
class DaemonProcess {
 public:
  static Result<std::unique_ptr<DaemonProcess>> Spawn(const std::string& config_path,
                                                      const std::string& log_path,
                                                      const std::vector<std::string>& extra_args = {});
  ~DaemonProcess();  // SIGTERM, then SIGKILL after 10 s; reaps
  pid_t pid() const { return pid_; }
  void Kill(int sig);
  // Waits for exit; the exit status (WEXITSTATUS or 128+signal), nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
};

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// One request on the control endpoint; the reply's whole JSON.
Result<nlohmann::json> ControlCall(zmq::context_t& ctx, const std::string& endpoint, const std::string& cmd,
                                   nlohmann::json args = nlohmann::json::object(), int timeout_ms = 10000);

// A CURVE client's keys (Z85): its own pair and the server's public key.
struct CurveClientKeys {
  std::string server_public, public_key, secret_key;
};

class AgentClient {
 public:
  // With `curve`, the socket is a CURVE client (set before connecting).
  AgentClient(zmq::context_t& ctx, const std::string& endpoint, int timeout_ms = 10000,
              const CurveClientKeys* curve = nullptr);
  // Sends raw bytes, returns the raw reply (kUnavailable on timeout).
  Result<std::string> Raw(const std::string& body);
  Status Hello(const std::string& agent);
  // Retries while the daemon answers "unavailable" (queue full).
  Result<std::vector<Verdict>> Measure(const std::vector<tsb::MeasurementEntry>& entries);

 private:
  zmq::socket_t sock_;
  int n_ = 0;
};

tsb::MeasurementEntry TestEntry(const std::string& path, std::uint32_t n, const std::string& container = "");

// Runs argv; stdout (and stderr, if asked) in *out; the exit status or -1.
int RunCapture(const std::vector<std::string>& argv, std::string* out, std::chrono::seconds timeout,
               bool with_stderr = false);

// The context switches (voluntary and not) of each thread of `pid` so far,
// by thread name (threads that share a name are summed).
std::map<std::string, long> ThreadSwitches(pid_t pid);

}  // namespace immune::tsbd::testing

#endif  // IMMUNE_TESTS_IMMUNED_TEST_UTIL_H_
