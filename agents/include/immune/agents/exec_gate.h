// ExecGate: the fanotify exec-gating engine. It holds a fanotify group with
// permission marks (FAN_OPEN_EXEC_PERM, and FAN_OPEN_PERM for code opens) on
// the filesystems it is told to gate, and answers every permission event:
// executions, and opens of code (ELF objects, "#!" scripts, any file opened
// by a configured interpreter) are measured through the event's fd and
// decided by a Decider; other opens are allowed at once.
//
// Every event read is answered exactly once, on every path: a decision, an
// error (GateConfig::error_mode), a full queue (overload_mode) or a stop
// (shutdown_mode). Event fds and pidfds are always closed.
//
// SAFETY: a permission mark blocks every matching open until answered. The
// gate refuses to mark the filesystem of "/" or of the running executable
// unless GateConfig::allow_root_filesystem is set. See docs/exec-gate.md.
//
// fork(): children do not inherit the group; a pthread_atfork handler closes
// every live gate's fanotify fd in the child (a child blocked in execve while
// holding the group would otherwise never be released if the gate died).
//
// Threads: one reader thread (fanotify fd -> bounded queue) and
// GateConfig::workers worker threads (classify, measure, decide, answer).
// Decider methods are called concurrently from the workers.
#ifndef IMMUNE_AGENTS_EXEC_GATE_H_
#define IMMUNE_AGENTS_EXEC_GATE_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"
#include "immune/tsb/measure_once.h"

namespace immune::agents {

// What a mark covers. kMount: the one mount containing the path (FAN_MARK_MOUNT);
// not seen through a copy of that mount in another mount namespace. kFilesystem:
// the whole superblock (FAN_MARK_FILESYSTEM), seen through every mount of it, in
// every namespace; what a container's rootfs needs (runc clones the overlay mount
// into the container's own mount namespace).
enum class MarkKind { kMount, kFilesystem };

// How an event is answered when no decision can be made.
enum class FailMode {
  kOpen,    // allow
  kClosed,  // deny (the opener gets EPERM)
};

// Why an event reached the Decider.
enum class CodeKind {
  kExec,         // FAN_OPEN_EXEC_PERM: execve/execveat, or the ELF interpreter the kernel opens
  kElfOpen,      // an open of an ELF object (dlopen, LD_PRELOAD, "ld.so ./binary")
  kScriptOpen,   // an open of a "#!" script
  kInterpreted,  // an open by a configured interpreter ("sh ./x.sh", "python3 ./x.py")
};

std::string_view CodeKindName(CodeKind kind);

// One exec or code open, as the Decider sees it. Valid only during the call;
// fds are borrowed (the gate closes them).
struct GateEvent {
  CodeKind kind = CodeKind::kExec;
  pid_t pid = 0;             // the subject, in the gate's pid namespace (0 if not visible there)
  int pidfd = -1;            // with FAN_REPORT_PIDFD: a pidfd of the subject (checks pid reuse); else -1
  int fd = -1;               // the file being opened, read-only, no fanotify events of its own
  tsb::FileVersion version;  // from fstat of fd
  // Filled for Decide only (empty in ScopeOf, which runs before measuring):
  Bytes digest;  // content digest, GateConfig::hash_alg
  HashAlg alg = HashAlg::kSha256;
  std::optional<Bytes> ima_xattr;  // security.ima, when present
  std::string path;                // readlink of the fd: for logs only, never for decisions
};

struct GateAnswer {
  bool allow = false;
  // Whether the answer may be cached for (scope, dev, ino) while the file's
  // version and the Decider's Generation() stay the same.
  bool cache = true;
};

// The policy side of the gate. Implementations must be thread safe: all
// methods are called concurrently from the worker threads. Decide should
// return promptly (Stop waits for decisions in flight); it may throw, which is
// answered with the error mode.
class Decider {
 public:
  virtual ~Decider() = default;
  // The decision scope of an event (e.g. a container id hashed to 64 bits):
  // cached answers are only shared within one scope. Called before measuring:
  // digest, ima_xattr and path are empty.
  virtual std::uint64_t ScopeOf(const GateEvent& event) { return (void)event, 0; }
  // The policy generation. A cached answer from another generation is not
  // used. Must be cheap (called on the hot path).
  virtual std::uint64_t Generation() const { return 0; }
  virtual GateAnswer Decide(const GateEvent& event) = 0;
};

struct GateConfig {
  // >= 0: adopt this fanotify fd (e.g. inherited from a supervisor that keeps
  // the group and its marks alive across restarts). The gate dup()s it and
  // closes only its dup; marks are never removed on Stop.
  int inherited_fd = -1;
  bool use_pidfd = true;        // FAN_REPORT_PIDFD when the kernel supports it
  bool gate_code_opens = true;  // also FAN_OPEN_PERM (libraries, scripts, interpreters)
  std::size_t queue_capacity = 4096;
  unsigned workers = 2;
  // The reader thread's nice value (-20..19), set when it starts; 0 leaves
  // it alone. Every opener on a gated mount waits on the reader: below 0, a
  // process woken by an answer does not preempt the reader before it is back
  // in read(2) (docs/exec-gate.md, "The reader thread"). Failing to set it (no
  // CAP_SYS_NICE) is logged, not fatal.
  int reader_nice = -10;
  FailMode overload_mode = FailMode::kClosed;  // queue full
  FailMode error_mode = FailMode::kClosed;     // measuring or deciding failed
  // On Stop. Default allow: once a group's fd is closed the kernel allows what
  // is pending anyway, so denying during a clean stop only adds failures. A
  // supervisor that must fail closed across a restart keeps the fd instead.
  FailMode shutdown_mode = FailMode::kOpen;
  // Basenames of /proc/PID/exe or /proc/PID/comm whose opens are code; a
  // trailing '*' matches any suffix ("python*").
  std::vector<std::string> interpreters = {"sh",      "dash",  "bash",  "zsh",  "ksh",  "busybox",
                                           "python*", "perl*", "ruby*", "php*", "node", "lua*"};
  HashAlg hash_alg = HashAlg::kSha256;
  // A file whose ctime is this recent is decided but its answer not cached: a
  // change within the same timestamp tick and size would be invisible.
  std::chrono::milliseconds racy_window{20};
  // Allow marking the filesystem of "/" or of the running executable. Never in tests.
  bool allow_root_filesystem = false;
};

// Counters since Start; a consistent-enough snapshot (each counter atomic).
struct GateStats {
  std::uint64_t events = 0;       // permission events read
  std::uint64_t execs = 0;        // FAN_OPEN_EXEC_PERM events
  std::uint64_t code_opens = 0;   // opens classified as code
  std::uint64_t data_opens = 0;   // opens allowed as data without asking
  std::uint64_t non_regular = 0;  // non-regular files, allowed
  std::uint64_t content_hits = 0;  // opens whose content (ELF, script, other) was known: no read of it
  std::uint64_t cache_hits = 0;
  std::uint64_t cache_misses = 0;
  std::uint64_t decisions = 0;         // Decider::Decide calls
  std::uint64_t allowed = 0;           // responses FAN_ALLOW, all paths
  std::uint64_t denied = 0;            // responses FAN_DENY, all paths
  std::uint64_t overload_answers = 0;  // answered by the reader: queue full
  std::uint64_t self_opens = 0;        // the gate's own process's opens, allowed at once
  std::uint64_t shutdown_answers = 0;  // answered during Stop
  std::uint64_t errors = 0;            // answered with error_mode
  std::uint64_t kernel_overflows = 0;  // FAN_Q_OVERFLOW seen
  std::uint64_t queue_high_water = 0;
  std::uint64_t queued = 0;  // now
};

class ExecGate {
 public:
  // Creates (or adopts) the fanotify group. Does not start threads. kPermissionDenied
  // without CAP_SYS_ADMIN; kInvalidArgument for a bad config.
  static Result<std::unique_ptr<ExecGate>> Create(GateConfig config, std::shared_ptr<Decider> decider);
  ~ExecGate();  // Stop()s
  ExecGate(const ExecGate&) = delete;
  ExecGate& operator=(const ExecGate&) = delete;

  // Marks `path`'s mount or filesystem. Refuses (kPermissionDenied) the
  // filesystem of "/" or of /proc/self/exe unless allow_root_filesystem.
  // May be called before or after Start, from any thread.
  Status AddMark(const std::string& path, MarkKind kind);
  Status RemoveMark(const std::string& path, MarkKind kind);

  // Starts the reader and workers. Once only.
  Status Start();
  // Stops reading, answers queued events with shutdown_mode, waits for
  // decisions in flight, joins the threads and closes the fd (an owned group:
  // its marks go with it; an adopted one: only our dup is closed). While the
  // workers finish, an owned group's new events are answered with
  // shutdown_mode, so nothing waits on us. Idempotent; any thread but a worker.
  void Stop();

  GateStats Stats() const;
  // FAN_REPORT_PIDFD requested on an owned group (an adopted group's pidfds,
  // if its creator asked for them, are passed on all the same).
  bool pidfd_reporting() const;
  int fanotify_fd() const;  // for a supervisor to dup; owned by the gate

 private:
  struct Impl;
  explicit ExecGate(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The signal that wakes a gate's reader to stop (SIGRTMIN+4): the reader
// blocks in read(2) on the group and Stop() sends it to that thread alone.
// The gate installs a do-nothing handler over the default disposition and
// refuses to start (kUnsupported) if something else in the process handles
// it. A process embedding gates should block it on its other threads, as
// immuned does, so a stray one sent to the process lands on a reader.
int ReaderWakeSignal();

// vm.memfd_noexec (Linux >= 6.3) is per pid namespace: executable memfds never
// pass through a marked filesystem, so this is how a container's namespace
// closes that way around the gate. 0: memfds may be executable; 1: memfd_create
// without MFD_EXEC gives a non-executable memfd; 2: MFD_EXEC is refused and no
// memfd is executable. A namespace cannot go below its parent's level.
//
// Apply/read it in the pid namespace of `pid_in_target_ns` (a process in that
// namespace, as seen from ours): forks, setns(CLONE_NEWPID), forks again (the
// grandchild is in the namespace) and writes/reads /proc/sys/vm/memfd_noexec.
// kUnsupported when the kernel has no such sysctl. Never point it at a process
// of the host's pid namespace unless you mean the whole host.
Status SetMemfdNoexec(pid_t pid_in_target_ns, int level);
Result<int> GetMemfdNoexec(pid_t pid_in_target_ns);

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_EXEC_GATE_H_
