// Helpers of the exec gate's integration tests.
//
// SAFETY: a permission mark blocks every matching open until answered, so a
// gate under test only ever marks a tmpfs mounted inside a private mount
// namespace of a forked child (RunSandboxed), the child has an alarm, and
// the parent kills it after a timeout. A killed gate closes its fanotify fd,
// and the kernel then allows whatever was pending.
#ifndef IMMUNE_AGENTS_EXEC_GATE_TEST_UTIL_H_
#define IMMUNE_AGENTS_EXEC_GATE_TEST_UTIL_H_

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "immune/agents/exec_gate.h"
#include "immune/core/bytes.h"

namespace immune::agents::gate_test {

// Runs `scenario(mount_dir)` in a forked child that has unshared its mount
// namespace, made "/" recursively private and mounted a fresh tmpfs on
// mount_dir. Returns "" when the scenario returned "", else its message (or
// what killed the child). The child is killed after `timeout_s`.
std::string RunSandboxed(const std::function<std::string(const std::string&)>& scenario, int timeout_s = 40);

// A started program (in the sandbox, whose gate threads run: only
// async-signal-safe calls between fork and exec).
struct Spawned {
  pid_t pid = -1;
  int err_pipe = -1;  // carries exec's errno when exec fails
};

struct Outcome {
  bool timed_out = false;
  int exec_errno = 0;  // != 0: exec failed with it
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal killed it
  std::string ToString() const;
};

// Starts `path` with argv (and `env` added to the environment). With
// new_mount_ns the child first unshares its mount namespace (a copy of the
// sandbox's mounts: a mount mark does not cover the copies).
Spawned Spawn(const std::string& path, const std::vector<std::string>& argv,
              const std::vector<std::string>& env = {}, bool new_mount_ns = false);
inline Spawned Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
  return Spawn(argv[0], argv, env);
}
Outcome Wait(Spawned s, int timeout_ms = 20000);
inline Outcome RunProgram(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
  return Wait(Spawn(argv, env));
}

// A copy of busybox at `path`, run as "busybox true" (busybox picks the applet by argv[0]).
inline Spawned SpawnBusybox(const std::string& path, bool new_mount_ns = false) {
  return Spawn(path, {"busybox", "true"}, {}, new_mount_ns);
}
inline Outcome RunBusybox(const std::string& path) { return Wait(SpawnBusybox(path)); }

Bytes ReadAll(const std::string& path);
// Writes the file (mode 0755) through a new inode; returns "" or a message.
std::string WriteFile(const std::string& path, const Bytes& data);
Bytes Sha256(const Bytes& data);

// Polls `cond` every millisecond until true or until timeout_ms passed.
bool WaitFor(const std::function<bool()>& cond, int timeout_ms = 10000);

// Allows exactly the files whose SHA-256 is in the allow set. Optionally
// blocks every decision until Release(), or throws.
class AllowDigests : public Decider {
 public:
  void Allow(const Bytes& digest);
  GateAnswer Decide(const GateEvent& event) override;
  std::uint64_t Generation() const override { return generation.load(); }

  void Release();
  // Releases on scope exit, so a failing scenario does not leave Stop waiting.
  struct ReleaseOnExit {
    AllowDigests* decider;
    ~ReleaseOnExit() { decider->Release(); }
  };
  std::vector<CodeKind> Kinds() const;

  std::atomic<std::uint64_t> generation{1};
  std::atomic<int> calls{0};
  std::atomic<int> entered{0};
  std::atomic<int> pidfds_seen{0};
  bool block = false;
  bool throw_instead = false;
  bool cacheable = true;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::set<Bytes> allowed_;
  std::vector<CodeKind> kinds_;
};

}  // namespace immune::agents::gate_test

// In a scenario: returns a message naming the place when `cond` is false.
#define GATE_CHECK(cond, detail)                                      \
  do {                                                                \
    if (!(cond)) {                                                    \
      return std::string(__FILE__) + ":" + std::to_string(__LINE__) + \
             ": " #cond " failed: " + std::string(detail);            \
    }                                                                 \
  } while (false)

#endif  // IMMUNE_AGENTS_EXEC_GATE_TEST_UTIL_H_
