#include "immune/agents/exec_gate.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "gate_cache.h"
#include "gate_classify.h"
#include "immune/core/log.h"

namespace immune::agents {

std::string_view CodeKindName(CodeKind kind) {
  switch (kind) {
    case CodeKind::kExec: return "exec";
    case CodeKind::kElfOpen: return "elf-open";
    case CodeKind::kScriptOpen: return "script-open";
    case CodeKind::kInterpreted: return "interpreted";
  }
  return "unknown";
}

namespace {

constexpr std::uint64_t kPermMask = FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM;

// What Classify found out about an event that needs a decision: handed from
// the reader's fast path to the worker, which does not classify again.
struct Classified {
  GateEvent ev;
  DecisionKey key;
  std::uint64_t generation = 0;
};

// One permission event read from the group, waiting for a worker.
struct Pending {
  int fd = -1;
  int pidfd = -1;
  pid_t pid = 0;
  std::uint64_t mask = 0;
  std::unique_ptr<Classified> classified;  // set by the reader's fast path on a miss
};

// How a worker's answer came about, for the counters.
enum class Outcome { kDecided, kError };

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

std::int64_t Ns(const struct timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

std::string DevName(dev_t dev) { return std::to_string(major(dev)) + ":" + std::to_string(minor(dev)); }

struct Counters {
  std::atomic<std::uint64_t> events{0}, execs{0}, code_opens{0}, data_opens{0}, non_regular{0}, cache_hits{0},
      cache_misses{0}, decisions{0}, allowed{0}, denied{0}, overload_answers{0}, shutdown_answers{0},
      errors{0}, kernel_overflows{0}, queue_high_water{0}, self_opens{0}, content_hits{0};
};

void Bump(std::atomic<std::uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

// Forked children must not hold a gate's fanotify fd: a child blocked in
// execve on one of the group's events while holding the group open would wait
// forever once the gate dies (the kernel allows pending events only when the
// last fd of the group closes). O_CLOEXEC does not help before the exec, so a
// pthread_atfork child handler closes every live gate fd in the child. The
// table is fixed-size and lock-free: the handler runs in a forked child.
constexpr std::size_t kMaxGates = 64;
std::atomic<int> g_gate_fds[kMaxGates];
std::once_flag g_atfork_once;

void CloseGateFdsInChild() {
  for (std::atomic<int>& slot : g_gate_fds) {
    const int fd = slot.load(std::memory_order_relaxed);
    if (fd >= 0) close(fd);
  }
}

// Returns the slot, or -1 when all are taken (then children may inherit).
int RegisterGateFd(int fd) {
  std::call_once(g_atfork_once, [] {
    for (std::atomic<int>& slot : g_gate_fds) slot.store(-1);
    pthread_atfork(nullptr, nullptr, CloseGateFdsInChild);
  });
  for (std::size_t i = 0; i < kMaxGates; ++i) {
    int expected = -1;
    if (g_gate_fds[i].compare_exchange_strong(expected, fd)) return static_cast<int>(i);
  }
  LogWarning("exec gate: more than 64 gates; forked children keep this gate's fd until they exec");
  return -1;
}

void UnregisterGateFd(int slot) {
  if (slot >= 0) g_gate_fds[slot].store(-1);
}

// The reader blocks in read(2) on the group and is woken to stop by this
// signal, sent to its thread alone; the handler does nothing, the point is
// the EINTR. Installed only over the default disposition.
void OnReaderWake(int) {}

Status InstallReaderWakeHandler() {
  // Checked at every Create, not once: something may have taken the signal
  // since the last gate was made.
  static std::mutex mu;
  std::lock_guard lock(mu);
  const int sig = ReaderWakeSignal();
  struct sigaction old {};
  if (sigaction(sig, nullptr, &old) != 0)
    return IoError(Errno("exec gate: reading the disposition of signal " + std::to_string(sig)));
  if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == OnReaderWake) return OkStatus();
  if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
    return Unsupported("exec gate: signal SIGRTMIN+" + std::to_string(sig - SIGRTMIN) +
                       ", which wakes the gate's reader, already has a handler in this process");
  }
  struct sigaction sa {};
  sa.sa_handler = OnReaderWake;  // no SA_RESTART: the blocked read returns EINTR
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, nullptr) != 0)
    return IoError(Errno("exec gate: installing the handler of signal " + std::to_string(sig)));
  return OkStatus();
}

}  // namespace

struct ExecGate::Impl {
  const pid_t self_pid = ::getpid();  // events of our own process are allowed at once
  GateConfig config;
  std::shared_ptr<Decider> decider;
  int fan_fd = -1;
  bool adopted = false;
  bool pidfd_reporting = false;
  int fork_slot = -1;  // in g_gate_fds
  dev_t root_dev = 0;
  dev_t exe_dev = 0;
  tsb::MeasureCache measure;
  DecisionCache cache;
  ContentCache contents;
  Counters counters;

  std::mutex mu;  // guards queue, stopping
  std::condition_variable cv;
  std::deque<Pending> queue;
  bool stopping = false;

  std::mutex lifecycle_mu;  // guards started, stopped, the threads
  bool started = false;
  bool stopped = false;
  std::atomic<bool> reader_exit{false};
  std::mutex reader_mu;  // guards reader_done
  std::condition_variable reader_cv;
  bool reader_done = false;
  std::thread reader;
  std::vector<std::thread> workers;

  explicit Impl(GateConfig c) : config(std::move(c)), measure(config.hash_alg) {}

  void Respond(int fd, bool allow) {
    // Counted before the answer: the opener it wakes may read the stats
    // (a test, an operator who saw the exec fail) before this thread runs on.
    Bump(allow ? counters.allowed : counters.denied);
    struct fanotify_response r {};
    r.fd = fd;
    r.response = allow ? FAN_ALLOW : FAN_DENY;
    ssize_t n;
    do {
      n = write(fan_fd, &r, sizeof r);
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sizeof r))
      LogError(Errno("exec gate: writing the response for fd " + std::to_string(fd)));
  }

  // Answers and releases one event.
  void Finish(Pending& p, bool allow) {
    if (p.pidfd >= 0) close(p.pidfd);
    Respond(p.fd, allow);
    close(p.fd);
    p.fd = p.pidfd = -1;
  }

  static bool ModeAllows(FailMode m) { return m == FailMode::kOpen; }

  bool Racy(std::int64_t ctime_ns) const {
    struct timespec now {};
    clock_gettime(CLOCK_REALTIME, &now);
    return Ns(now) - ctime_ns <
           std::chrono::duration_cast<std::chrono::nanoseconds>(config.racy_window).count();
  }

  // What the file at `fd` is, from the content cache when this version of it
  // was seen before, else from its first bytes (then cached, unless its ctime
  // is too recent for the version to tell a change apart).
  Result<Content> ContentOf(int fd, const tsb::FileVersion& version) {
    const DecisionKey key{0, version.dev, version.ino};
    if (std::optional<Content> known = contents.Lookup(key, version, 0)) {
      Bump(counters.content_hits);
      return *known;
    }
    IMMUNE_ASSIGN_OR_RETURN(Content content, SniffContent(fd));
    if (!Racy(version.ctime_ns)) contents.Store(key, version, 0, content);
    return content;
  }

  // What the reader can answer by itself, without hashing or deciding: a
  // non-regular file, a data open, a cached answer (set in `out`). Otherwise
  // fills `ev` and `key` for Decide and returns nullopt. The hot path: runs
  // on the reader thread, so a cached exec is answered without a handoff.
  Result<std::optional<bool>> Classify(const Pending& p, GateEvent& ev, DecisionKey& key,
                                       std::uint64_t& generation) {
    struct stat st {};
    if (fstat(p.fd, &st) != 0) return IoError(Errno("fstat of event fd " + std::to_string(p.fd)));
    if (!S_ISREG(st.st_mode)) {
      Bump(counters.non_regular);
      return std::optional<bool>(true);
    }
    ev.version.dev = st.st_dev;
    ev.version.ino = st.st_ino;
    ev.version.size = static_cast<std::uint64_t>(st.st_size);
    ev.version.mtime_ns = Ns(st.st_mtim);
    ev.version.ctime_ns = Ns(st.st_ctim);
    if (p.mask & FAN_OPEN_EXEC_PERM) {
      ev.kind = CodeKind::kExec;
      Bump(counters.execs);
    } else {
      IMMUNE_ASSIGN_OR_RETURN(Content content, ContentOf(p.fd, ev.version));
      if (content == Content::kElf) {
        ev.kind = CodeKind::kElfOpen;
      } else if (content == Content::kScript) {
        ev.kind = CodeKind::kScriptOpen;
      } else if (IsInterpreterProcess(p.pid, config.interpreters)) {
        ev.kind = CodeKind::kInterpreted;
      } else {
        Bump(counters.data_opens);
        return std::optional<bool>(true);
      }
      Bump(counters.code_opens);
    }
    ev.pid = p.pid;
    ev.pidfd = p.pidfd;
    ev.fd = p.fd;
    ev.alg = config.hash_alg;

    key = DecisionKey{decider->ScopeOf(ev), ev.version.dev, ev.version.ino};
    generation = decider->Generation();
    if (std::optional<bool> hit = cache.Lookup(key, ev.version, generation)) {
      Bump(counters.cache_hits);
      return hit;
    }
    return std::optional<bool>();
  }

  // The decision for one event; an error Result is answered with error_mode.
  Result<bool> Decide(const Pending& p) {
    Classified fresh;
    if (!p.classified) {  // the reader's fast path failed on it: classify here
      IMMUNE_ASSIGN_OR_RETURN(std::optional<bool> quick, Classify(p, fresh.ev, fresh.key, fresh.generation));
      if (quick) return *quick;
    }
    Classified& c = p.classified ? *p.classified : fresh;
    GateEvent& ev = c.ev;
    const DecisionKey& key = c.key;
    const std::uint64_t generation = c.generation;
    Bump(counters.cache_misses);
    // An exec is followed by a FAN_OPEN_PERM of the same file: known, its
    // content needs no reading there (nor at the next exec's).
    // (A read error here is the measurement's to report.)
    if (ev.kind == CodeKind::kExec) (void)ContentOf(p.fd, ev.version);
    IMMUNE_ASSIGN_OR_RETURN(tsb::FileMeasurement m, measure.MeasureFile(p.fd));
    ev.digest = std::move(m.digest);
    ev.ima_xattr = ReadImaXattr(p.fd);
    ev.path = FdPath(p.fd);
    const GateAnswer answer = decider->Decide(ev);
    Bump(counters.decisions);
    // The version cached is the one fstat saw before hashing: had the file
    // changed while being hashed, the next lookup sees a newer one and misses.
    if (answer.cache && !Racy(ev.version.ctime_ns)) cache.Store(key, ev.version, generation, answer.allow);
    return answer.allow;
  }

  void Handle(Pending& p) {
    bool allow = ModeAllows(config.error_mode);
    try {
      Result<bool> r = Decide(p);
      if (r.ok()) {
        allow = *r;
      } else {
        Bump(counters.errors);
        LogWarning("exec gate: " + r.error().ToString() + "; answered " + (allow ? "allow" : "deny"));
      }
    } catch (const std::exception& e) {
      Bump(counters.errors);
      LogWarning(std::string("exec gate: decision threw: ") + e.what());
    } catch (...) {
      Bump(counters.errors);
      LogWarning("exec gate: decision threw a non-standard exception");
    }
    Finish(p, allow);
  }

  void WorkerLoop() {
    pthread_setname_np(pthread_self(), "gate-worker");
    for (;;) {
      Pending p;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (stopping) return;  // Stop answers what is left
        p = std::move(queue.front());
        queue.pop_front();
      }
      Handle(p);
    }
  }

  // The reader's fast path: answers what Classify settles (cached answers,
  // data, non-regular files); false leaves the event to the workers (a miss,
  // an error, a Decider that throws in ScopeOf: they answer those).
  bool AnswerQuickly(Pending& p) {
    try {
      Classified c;
      Result<std::optional<bool>> r = Classify(p, c.ev, c.key, c.generation);
      if (!r.ok()) return false;  // the worker retries and answers with the error mode
      if (!r->has_value()) {
        p.classified = std::make_unique<Classified>(std::move(c));  // a miss only: no allocation on hits
        return false;
      }
      Finish(p, **r);
      return true;
    } catch (...) {
      return false;
    }
  }

  // Hands one event to the workers, or answers it at once (queue full, or stopping).
  void Dispatch(Pending p) {
    std::unique_lock lock(mu);
    if (stopping) {
      lock.unlock();
      Bump(counters.shutdown_answers);
      Finish(p, ModeAllows(config.shutdown_mode));
      return;
    }
    if (queue.size() >= config.queue_capacity) {
      lock.unlock();
      Bump(counters.overload_answers);
      Finish(p, ModeAllows(config.overload_mode));
      return;
    }
    queue.push_back(std::move(p));
    const std::uint64_t depth = queue.size();
    lock.unlock();
    cv.notify_one();
    std::uint64_t hw = counters.queue_high_water.load(std::memory_order_relaxed);
    while (depth > hw && !counters.queue_high_water.compare_exchange_weak(hw, depth)) {
    }
  }

  // Parses a buffer of events; every permission event is dispatched.
  void ParseEvents(const char* buf, ssize_t len) {
    const auto* meta = reinterpret_cast<const struct fanotify_event_metadata*>(buf);
    while (FAN_EVENT_OK(meta, len)) {
      Pending p;
      p.fd = meta->fd;
      p.pid = meta->pid;
      p.mask = meta->mask;
      const char* info = reinterpret_cast<const char*>(meta) + meta->metadata_len;
      const char* end = reinterpret_cast<const char*>(meta) + meta->event_len;
      while (info + sizeof(struct fanotify_event_info_header) <= end) {
        const auto* hdr = reinterpret_cast<const struct fanotify_event_info_header*>(info);
        if (hdr->len < sizeof *hdr || info + hdr->len > end) break;
        if (hdr->info_type == FAN_EVENT_INFO_TYPE_PIDFD &&
            hdr->len >= sizeof(struct fanotify_event_info_pidfd)) {
          const int pidfd = reinterpret_cast<const struct fanotify_event_info_pidfd*>(info)->pidfd;
          if (pidfd >= 0) p.pidfd = pidfd;
        }
        info += hdr->len;
      }
      if (meta->mask & FAN_Q_OVERFLOW) Bump(counters.kernel_overflows);
      if (p.fd >= 0 && (p.mask & kPermMask) && p.pid == self_pid) {
        // The gate's own process (the daemon measuring a container's code,
        // reading a mapped file for PIMS): answered at once. Never decided,
        // never queued, so the daemon can never wait on itself.
        Bump(counters.events);
        Bump(counters.self_opens);
        Finish(p, true);
      } else if (p.fd >= 0 && (p.mask & kPermMask)) {
        Bump(counters.events);
        if (!AnswerQuickly(p)) Dispatch(std::move(p));
      } else {
        if (p.fd >= 0) close(p.fd);
        if (p.pidfd >= 0) close(p.pidfd);
      }
      // FAN_EVENT_NEXT without its char*-to-struct cast (clang's -Wcast-align):
      // event_len keeps every record 8-byte aligned in the aligned buffer.
      len -= static_cast<ssize_t>(meta->event_len);
      meta = static_cast<const struct fanotify_event_metadata*>(
          static_cast<const void*>(reinterpret_cast<const char*>(meta) + meta->event_len));
    }
  }

  // Reads what is ready; false when the fd failed for good.
  bool ReadOnce(char* buf, std::size_t size) {
    const ssize_t n = read(fan_fd, buf, size);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) return true;
      LogError(Errno("exec gate: reading the fanotify fd"));
      return false;
    }
    ParseEvents(buf, n);
    return true;
  }

  void ReaderLoop() {
    pthread_setname_np(pthread_self(), "gate-reader");
    // setpriority with a thread id sets that thread's nice value alone.
    if (config.reader_nice != 0 && setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), config.reader_nice) != 0)
      LogWarning(Errno("exec gate: setting the reader's nice value to " + std::to_string(config.reader_nice)) +
                 "; it runs at the daemon's");
    ReadEvents();
    std::lock_guard lock(reader_mu);
    reader_done = true;
    reader_cv.notify_all();
  }

  void ReadEvents() {
    sigset_t wake;
    sigemptyset(&wake);
    sigaddset(&wake, ReaderWakeSignal());
    pthread_sigmask(SIG_UNBLOCK, &wake, nullptr);  // the daemon blocks it everywhere else
    alignas(struct fanotify_event_metadata) static thread_local char buf[64 * 1024];
    // A blocking read, woken by ReaderWakeSignal to stop. Measured with a
    // minimal responder built both ways, with pidfds: 18 us per exec added
    // with a blocking read, 24 to 47 us with a non-blocking one waiting in
    // epoll_wait or poll (more involuntary switches; docs/performance.md).
    for (;;) {
      if (reader_exit.load(std::memory_order_acquire)) break;
      const ssize_t n = read(fan_fd, buf, sizeof buf);
      if (n > 0) {
        ParseEvents(buf, n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        // Someone made the shared description non-blocking (a supervisor
        // holding an adopted group): wait for it instead of spinning.
        struct pollfd pfd = {fan_fd, POLLIN, 0};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
          LogError(Errno("exec gate: poll on the fanotify fd"));
          return;
        }
        continue;
      }
      LogError(n == 0 ? std::string("exec gate: the fanotify fd reached its end")
                      : Errno("exec gate: reading the fanotify fd"));
      return;
    }
    // An owned group answers what the kernel still holds before its fd closes
    // (with shutdown_mode, via Dispatch); an adopted group leaves unread
    // events to the next reader of the supervisor's fd.
    if (adopted) return;
    for (;;) {
      struct pollfd pfd = {fan_fd, POLLIN, 0};
      if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN)) return;
      if (!ReadOnce(buf, sizeof buf)) return;
    }
  }

  // Stops the reader: a signal may land just before it blocks in read(), so
  // it is sent again until the reader says it is done.
  void StopReader() {
    reader_exit.store(true, std::memory_order_release);
    std::unique_lock lock(reader_mu);
    while (!reader_done) {
      const int e = pthread_kill(reader.native_handle(), ReaderWakeSignal());
      if (e != 0) {
        LogError("exec gate: waking the reader: " + std::string(std::strerror(e)));
        break;
      }
      reader_cv.wait_for(lock, std::chrono::milliseconds(10));
    }
    lock.unlock();
    reader.join();
  }

  Status CheckMarkable(int fd, const std::string& path) const {
    struct stat st {};
    if (fstat(fd, &st) != 0) return IoError(Errno(path + ": fstat"));
    if (config.allow_root_filesystem) return OkStatus();
    if (st.st_dev == root_dev) {
      return Error(ErrorCode::kPermissionDenied, path + ": is on the filesystem of / (dev " +
                                                     DevName(st.st_dev) +
                                                     "); refusing to gate it (allow_root_filesystem is off)");
    }
    if (st.st_dev == exe_dev) {
      return Error(ErrorCode::kPermissionDenied,
                   path + ": is on the filesystem of the running executable (dev " + DevName(st.st_dev) +
                       "); refusing to gate it (allow_root_filesystem is off)");
    }
    return OkStatus();
  }

  Status Mark(const std::string& path, MarkKind kind, bool add) {
    // Not O_PATH: fanotify_mark does not accept an O_PATH fd as its object.
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
      return Error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo, Errno(path + ": open"));
    }
    // Marking through the fd checked, not the path again, so a path swapped
    // in between cannot redirect the mark onto a host filesystem.
    Status s = add ? CheckMarkable(fd, path) : OkStatus();
    if (s.ok()) {
      const std::uint64_t mask = FAN_OPEN_EXEC_PERM | (config.gate_code_opens ? FAN_OPEN_PERM : 0);
      const unsigned flags = (add ? FAN_MARK_ADD : FAN_MARK_REMOVE) |
                             (kind == MarkKind::kMount ? FAN_MARK_MOUNT : FAN_MARK_FILESYSTEM);
      if (fanotify_mark(fan_fd, flags, mask, fd, nullptr) != 0) {
        const ErrorCode code = errno == EPERM ? ErrorCode::kPermissionDenied
                               : errno == EINVAL || errno == ENODEV || errno == EXDEV
                                   ? ErrorCode::kUnsupported
                                   : ErrorCode::kIo;
        s = Error(code, Errno(path + ": fanotify_mark(" + (add ? "add" : "remove") + ", " +
                              (kind == MarkKind::kMount ? "mount" : "filesystem") + ")"));
      }
    }
    close(fd);
    return s;
  }
};

ExecGate::ExecGate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ExecGate::~ExecGate() { Stop(); }

Result<std::unique_ptr<ExecGate>> ExecGate::Create(GateConfig config, std::shared_ptr<Decider> decider) {
  if (!decider) return InvalidArgument("exec gate: no decider");
  if (config.workers == 0) return InvalidArgument("exec gate: workers must be at least 1");
  if (config.queue_capacity == 0) return InvalidArgument("exec gate: queue_capacity must be at least 1");
  if (config.reader_nice < -20 || config.reader_nice > 19)
    return InvalidArgument("exec gate: reader_nice must be -20 to 19, got " + std::to_string(config.reader_nice));
  if (!Hasher(config.hash_alg).ok()) {
    return Unsupported("exec gate: hash algorithm " + std::string(HashAlgName(config.hash_alg)) +
                       " is not available");
  }
  auto impl = std::make_unique<Impl>(std::move(config));
  impl->decider = std::move(decider);
  struct stat st {};
  if (stat("/", &st) != 0) return IoError(Errno("exec gate: stat /"));
  impl->root_dev = st.st_dev;
  if (stat("/proc/self/exe", &st) != 0) return IoError(Errno("exec gate: stat /proc/self/exe"));
  impl->exe_dev = st.st_dev;

  if (impl->config.inherited_fd >= 0) {
    impl->fan_fd = fcntl(impl->config.inherited_fd, F_DUPFD_CLOEXEC, 0);
    if (impl->fan_fd < 0) {
      return IoError(Errno("exec gate: dup of inherited fd " + std::to_string(impl->config.inherited_fd)));
    }
    impl->adopted = true;
  } else {
    // Unlimited queue: a full kernel queue would drop permission events.
    const unsigned base = FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_UNLIMITED_QUEUE;
    const unsigned event_flags = O_RDONLY | O_LARGEFILE | O_CLOEXEC;
    if (impl->config.use_pidfd) {
      impl->fan_fd = fanotify_init(base | FAN_REPORT_PIDFD, event_flags);
      impl->pidfd_reporting = impl->fan_fd >= 0;
    }
    if (impl->fan_fd < 0) impl->fan_fd = fanotify_init(base, event_flags);  // kernels before 5.15
    if (impl->fan_fd < 0) {
      const ErrorCode code = errno == EPERM                       ? ErrorCode::kPermissionDenied
                             : errno == ENOSYS || errno == EINVAL ? ErrorCode::kUnsupported
                                                                  : ErrorCode::kIo;
      return Error(code, Errno("exec gate: fanotify_init"));
    }
  }
  // The reader blocks in read(): an adopted group's fd is switched to
  // blocking too (one open file description, shared with the supervisor,
  // which never reads it).
  if (impl->adopted) {
    const int fl = fcntl(impl->fan_fd, F_GETFL);
    if (fl < 0 || fcntl(impl->fan_fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
      const Error e = IoError(Errno("exec gate: making inherited fd " +
                                    std::to_string(impl->config.inherited_fd) + " blocking"));
      close(impl->fan_fd);
      return e;
    }
  }
  if (Status s = InstallReaderWakeHandler(); !s.ok()) {
    close(impl->fan_fd);
    return s.error();
  }
  impl->fork_slot = RegisterGateFd(impl->fan_fd);
  return std::unique_ptr<ExecGate>(new ExecGate(std::move(impl)));
}

Status ExecGate::AddMark(const std::string& path, MarkKind kind) { return impl_->Mark(path, kind, true); }
Status ExecGate::RemoveMark(const std::string& path, MarkKind kind) { return impl_->Mark(path, kind, false); }

Status ExecGate::Start() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->started || impl_->stopped) return InvalidArgument("exec gate: Start called twice");
  impl_->started = true;
  impl_->reader = std::thread([this] { impl_->ReaderLoop(); });
  for (unsigned i = 0; i < impl_->config.workers; ++i) {
    impl_->workers.emplace_back([this] { impl_->WorkerLoop(); });
  }
  return OkStatus();
}

void ExecGate::Stop() {
  Impl& g = *impl_;
  std::lock_guard lock(g.lifecycle_mu);
  if (g.stopped) return;
  g.stopped = true;
  if (g.started) {
    // An adopted group stops reading first: what we have not read stays for
    // the next reader. An owned group keeps reading (answering with
    // shutdown_mode) until the workers are done, so no opener waits on us.
    if (g.adopted) g.StopReader();
    std::deque<Pending> left;
    {
      std::lock_guard qlock(g.mu);
      g.stopping = true;
      left.swap(g.queue);
    }
    g.cv.notify_all();
    for (Pending& p : left) {
      Bump(g.counters.shutdown_answers);
      g.Finish(p, Impl::ModeAllows(g.config.shutdown_mode));
    }
    for (std::thread& t : g.workers) t.join();
    g.workers.clear();
    if (!g.adopted) g.StopReader();
  }
  UnregisterGateFd(g.fork_slot);
  close(g.fan_fd);
  g.fan_fd = -1;
}

GateStats ExecGate::Stats() const {
  const Counters& c = impl_->counters;
  auto r = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  GateStats s;
  s.events = r(c.events);
  s.execs = r(c.execs);
  s.code_opens = r(c.code_opens);
  s.data_opens = r(c.data_opens);
  s.non_regular = r(c.non_regular);
  s.cache_hits = r(c.cache_hits);
  s.cache_misses = r(c.cache_misses);
  s.decisions = r(c.decisions);
  s.allowed = r(c.allowed);
  s.denied = r(c.denied);
  s.overload_answers = r(c.overload_answers);
  s.self_opens = r(c.self_opens);
  s.content_hits = r(c.content_hits);
  s.shutdown_answers = r(c.shutdown_answers);
  s.errors = r(c.errors);
  s.kernel_overflows = r(c.kernel_overflows);
  s.queue_high_water = r(c.queue_high_water);
  {
    std::lock_guard lock(impl_->mu);
    s.queued = impl_->queue.size();
  }
  return s;
}

bool ExecGate::pidfd_reporting() const { return impl_->pidfd_reporting; }
int ExecGate::fanotify_fd() const { return impl_->fan_fd; }

int ReaderWakeSignal() { return SIGRTMIN + 4; }

}  // namespace immune::agents
