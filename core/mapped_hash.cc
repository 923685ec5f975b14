#include "immune/core/mapped_hash.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csetjmp>
#include <cstring>
#include <mutex>
#include <string>

namespace immune {
namespace {

// What the SIGBUS handler needs to know about the calling thread: whether it
// is inside a window's hashing, the window's bounds, and where to jump.
// Trivially constructible and zero-initialised, so a thread_local of it needs
// no lazy initialisation (no TLS wrapper call) and can be read from a signal
// handler; initial-exec keeps its access free of __tls_get_addr's allocation
// even if this code ends up in a shared object. The fields the handler reads
// or writes are volatile: it can run between any two instructions of the
// thread that owns them.
struct SigbusGuard {
  volatile sig_atomic_t active;
  const char* volatile begin;
  const char* volatile end;
  void* volatile fault_addr;
  sigjmp_buf env;
};

__attribute__((tls_model("initial-exec"))) thread_local SigbusGuard t_guard;

// The disposition SIGBUS had before ours, to pass on faults that are not ours.
// Written once, before our handler is installed, and never again.
struct sigaction g_previous;
std::once_flag g_install_once;
std::atomic<bool> g_installed{false};
int g_install_errno = 0;

// Hands a SIGBUS that is not ours to whoever would have had it without us.
// A previous handler is called directly, on this stack and with this
// handler's signal mask (its own sa_mask and SA_ONSTACK are not emulated):
// close enough for the handlers that matter (a crash reporter, a sanitizer).
void ForwardSigbus(int sig, siginfo_t* info, void* ucontext) {
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) {
      g_previous.sa_sigaction(sig, info, ucontext);
      return;
    }
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  } else if (g_previous.sa_handler == SIG_IGN && info->si_code <= 0) {
    return;  // sent by a process (kill, raise): ignored, as it would have been
  }
  // The default action (death, with a core dump), also for a fault while the
  // signal was "ignored": the kernel does not let a process ignore a SIGBUS it
  // caused, and returning would only run the faulting instruction again, for
  // ever. Restore the default, then raise: SIGBUS is blocked while this handler
  // runs (no SA_NODEFER), so it is delivered, with the default action, as soon
  // as the handler returns. A fault would also recur on return, but a SIGBUS
  // sent by kill would not.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  (void)raise(sig);
}

void OnSigbus(int sig, siginfo_t* info, void* ucontext) {
  SigbusGuard& g = t_guard;
  // BUS_ADRERR is what touching a page past the end of a mapped file raises;
  // si_addr only means an address for faults (si_code > 0), not for a SIGBUS
  // sent by kill. Hardware memory errors (BUS_MCEERR_*) are not ours either.
  if (g.active && info->si_code == BUS_ADRERR) {
    const char* addr = static_cast<const char*>(info->si_addr);
    if (addr >= g.begin && addr < g.end) {
      g.active = 0;
      g.fault_addr = info->si_addr;
      siglongjmp(g.env, 1);
    }
  }
  ForwardSigbus(sig, info, ucontext);
}

// Installs OnSigbus once per process, then checks on every call that it is
// still the handler: a handler installed after ours (by a library, by a
// sanitizer running with handle_sigbus=2, which ignores our sigaction) would
// turn a truncation into a crash, so without ours in place we do not map.
Status EnsureSigbusHandler() {
  std::call_once(g_install_once, [] {
    // Read the previous disposition before installing: a sigaction that did
    // both would copy it out only after ours is live, and a foreign SIGBUS in
    // between would see an unfilled g_previous.
    if (sigaction(SIGBUS, nullptr, &g_previous) != 0) {
      g_install_errno = errno;
      return;
    }
    struct sigaction sa {};
    sa.sa_sigaction = OnSigbus;
    // SA_SIGINFO for si_addr and si_code. No SA_NODEFER: SIGBUS stays blocked
    // while the handler runs, so a fault inside a forwarded handler kills the
    // process instead of recursing; the jump back restores the signal mask
    // (sigsetjmp saves it). No SA_ONSTACK: the handler needs little stack, and
    // jumping from an alternate stack confuses AddressSanitizer's stack
    // bookkeeping.
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, nullptr) != 0) {
      g_install_errno = errno;
      return;
    }
    g_installed.store(true, std::memory_order_release);
  });
  if (!g_installed.load(std::memory_order_acquire)) {
    return Unsupported(std::string("cannot install a SIGBUS handler: ") + std::strerror(g_install_errno));
  }
  struct sigaction current {};
  if (sigaction(SIGBUS, nullptr, &current) != 0 || !(current.sa_flags & SA_SIGINFO) ||
      current.sa_sigaction != OnSigbus) {
    return Unsupported("the SIGBUS handler was replaced; not hashing through a mapping");
  }
  return OkStatus();
}

std::size_t PageSize() {
  static const std::size_t page = [] {
    const long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? static_cast<std::size_t>(p) : std::size_t{4096};
  }();
  return page;
}

// The error for a caught SIGBUS at byte `at`: the file shrank, or (if fstat
// still reports all `size` bytes) a page could not be read in.
Error FaultError(int fd, std::uint64_t size, std::uint64_t at, std::string_view what) {
  struct stat st {};
  const std::string where = std::string(what) + ": ";
  if (fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) < size) {
    return Aborted(where + "file shrank from " + std::to_string(size) + " to " + std::to_string(st.st_size) +
                   " bytes while it was being hashed (SIGBUS at byte " + std::to_string(at) + ")");
  }
  return IoError(
      where + "SIGBUS reading byte " + std::to_string(at) + " of " + std::to_string(size) +
      " through a mapping, and the file still has that size (a read error, or it shrank and grew back)");
}

// Hashes the windows of [0, size). Its own frame, called with every input
// final, because of what sigsetjmp allows: the jump back restores registers
// as they were at sigsetjmp, so a non-volatile local assigned after it would
// read stale, and GCC (-Wclobbered) also distrusts any variable assigned
// twice in the function that calls sigsetjmp. Here nothing but the volatile
// locals changes after sigsetjmp, and this frame stays live for every touch
// of a mapping.
[[gnu::noinline]] Status HashWindows(int fd, std::uint64_t size, Hasher& hasher, std::string_view what,
                                     std::size_t window) {
  SigbusGuard& g = t_guard;
  // Modified after sigsetjmp and read after the jump back.
  volatile std::uint64_t offset = 0;
  void* volatile map = nullptr;
  volatile std::size_t map_len = 0;
  // Saves the signal mask: the handler runs with SIGBUS blocked, and the jump
  // must unblock it. No object with a destructor lives between here and the
  // faulting access (Hasher::Update and OpenSSL's C code below it), so the
  // jump skips none.
  if (sigsetjmp(g.env, 1) != 0) {
    const std::uint64_t at = offset + static_cast<std::uint64_t>(static_cast<const char*>(g.fault_addr) -
                                                                 static_cast<const char*>(map));
    munmap(map, map_len);
    return FaultError(fd, size, at, what);
  }
  while (offset < size) {
    const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(window, size - offset));
    void* p = mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, static_cast<off_t>(offset));
    if (p == MAP_FAILED) {
      return IoError(std::string(what) + ": mmap of bytes " + std::to_string(offset) + ".." +
                     std::to_string(offset + len) + ": " + std::strerror(errno));
    }
    map = p;
    map_len = len;
    g.begin = static_cast<const char*>(p);
    g.end = static_cast<const char*>(p) + len;
    // The bounds must be in place before the handler can see active, and
    // active must be set before the first touch (inside Update).
    std::atomic_signal_fence(std::memory_order_seq_cst);
    g.active = 1;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    hasher.Update(ByteSpan(static_cast<const std::uint8_t*>(p), len));
    std::atomic_signal_fence(std::memory_order_seq_cst);
    g.active = 0;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    munmap(p, len);
    map = nullptr;
    offset = offset + len;
  }
  return OkStatus();
}

}  // namespace

Status HashMappedRange(int fd, std::uint64_t size, Hasher& hasher, std::string_view what,
                       std::size_t window) {
  if (size == 0) return OkStatus();
  IMMUNE_RETURN_IF_ERROR(EnsureSigbusHandler());
  if (t_guard.active) return Internal("HashMappedRange re-entered on one thread");
  const std::size_t page = PageSize();
  return HashWindows(fd, size, hasher, what, std::max(page, (window + page - 1) / page * page));
}

}  // namespace immune
