// Integration tests of the exec gate: real fanotify permission marks, each
// scenario in a forked child with a private mount namespace and its own tmpfs
// (see exec_gate_test_util.h for the safety rules).
#include "immune/agents/exec_gate.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdio.h>
#include <sys/fanotify.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

#include "exec_gate_test_util.h"

namespace immune::agents {
namespace {

using gate_test::AllowDigests;
using gate_test::Outcome;
using gate_test::RunBusybox;
using gate_test::RunProgram;
using gate_test::RunSandboxed;
using gate_test::SpawnBusybox;
using gate_test::Wait;

constexpr const char* kBusybox = "/usr/bin/busybox";

Bytes B(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string ReadText(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool Denied(const Outcome& o) { return o.exec_errno == EPERM || o.exec_errno == EACCES; }
bool RanOk(const Outcome& o) {
  return !o.timed_out && o.exec_errno == 0 && o.signal == 0 && o.exit_code == 0;
}

// A static busybox allowed as "ok" and a copy with one more byte (another
// digest, still runnable) as "bad".
struct Binaries {
  std::string ok, bad;
  Bytes ok_digest, bad_bytes;
};

std::string PrepareBinaries(const std::string& mnt, Binaries* b) {
  Bytes busybox = gate_test::ReadAll(kBusybox);
  if (busybox.empty()) return std::string(kBusybox) + " is missing (busybox-static)";
  b->ok = mnt + "/ok";
  b->bad = mnt + "/bad";
  b->ok_digest = gate_test::Sha256(busybox);
  b->bad_bytes = busybox;
  b->bad_bytes.push_back('\n');
  std::string e = gate_test::WriteFile(b->ok, busybox);
  if (e.empty()) e = gate_test::WriteFile(b->bad, b->bad_bytes);
  return e;
}

Result<std::unique_ptr<ExecGate>> StartGate(GateConfig config, std::shared_ptr<Decider> decider,
                                            const std::string& mnt, MarkKind kind = MarkKind::kMount) {
  IMMUNE_ASSIGN_OR_RETURN(auto gate, ExecGate::Create(std::move(config), std::move(decider)));
  IMMUNE_RETURN_IF_ERROR(gate->AddMark(mnt, kind));
  IMMUNE_RETURN_IF_ERROR(gate->Start());
  return gate;
}

// The usual scene: the two binaries on `mnt` (Binaries `b`) and a decider
// (`decider`) that allows only "ok".
#define GATE_SCENE(b, decider, mnt)                          \
  Binaries b;                                                \
  const std::string b##_error = PrepareBinaries(mnt, &b);    \
  GATE_CHECK(b##_error.empty(), b##_error);                  \
  auto decider = std::make_shared<AllowDigests>();           \
  decider->Allow(b.ok_digest)

#define GATE_START(var, config, decider, mnt, ...)                                \
  auto var##_result = StartGate(config, decider, mnt __VA_OPT__(, ) __VA_ARGS__); \
  GATE_CHECK(var##_result.ok(), var##_result.error().ToString());                 \
  auto var = std::move(var##_result).value()

TEST(ExecGate, RefusesTheRootAndOwnFilesystem) {
  EXPECT_EQ("", RunSandboxed([](const std::string& mnt) -> std::string {
              auto decider = std::make_shared<AllowDigests>();
              auto gate = ExecGate::Create(GateConfig{}, decider);
              GATE_CHECK(gate.ok(), gate.error().ToString());
              for (MarkKind kind : {MarkKind::kMount, MarkKind::kFilesystem}) {
                Status s = (*gate)->AddMark("/", kind);
                GATE_CHECK(!s.ok() && s.error().code() == ErrorCode::kPermissionDenied,
                           "marking / must be refused");
                GATE_CHECK(s.error().message().find("/: is on the filesystem of /") != std::string::npos,
                           s.error().message());
                s = (*gate)->AddMark(IMMUNE_BINARY_DIR, kind);
                GATE_CHECK(!s.ok() && s.error().code() == ErrorCode::kPermissionDenied,
                           "the test binary's filesystem");
              }
              Status missing = (*gate)->AddMark(mnt + "/no-such-dir", MarkKind::kMount);
              GATE_CHECK(!missing.ok() && missing.error().code() == ErrorCode::kNotFound, "a missing path");
              GATE_CHECK(missing.error().message().find("no-such-dir") != std::string::npos,
                         missing.error().message());
              Status ok = (*gate)->AddMark(mnt, MarkKind::kMount);
              GATE_CHECK(ok.ok(), ok.error().ToString());
              return "";
            }));
}

TEST(ExecGate, AllowedBinaryRunsOtherIsDenied) {
  EXPECT_EQ("", RunSandboxed([](const std::string& mnt) -> std::string {
              GATE_SCENE(b, decider, mnt);
              GATE_START(gate, GateConfig{}, decider, mnt);
              Outcome ok = RunBusybox(b.ok);
              GATE_CHECK(RanOk(ok), ok.ToString());
              Outcome bad = RunBusybox(b.bad);
              GATE_CHECK(Denied(bad), bad.ToString());
              // Through a shell: the exec fails, the shell says 126.
              Outcome sh = RunProgram({"/bin/sh", "-c", b.bad + " true"});
              GATE_CHECK(sh.exit_code == 126, sh.ToString());
              const GateStats st = gate->Stats();
              GATE_CHECK(st.execs >= 3 && st.denied >= 2 && st.allowed >= 1, "stats");
              struct utsname u {};
              int major = 0, minor = 0;
              GATE_CHECK(uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &major, &minor) == 2,
                         "kernel version");
              if (major > 5 || (major == 5 && minor >= 15)) {
                GATE_CHECK(gate->pidfd_reporting(), "FAN_REPORT_PIDFD on >= 5.15");
              }
              GATE_CHECK(!gate->pidfd_reporting() || decider->pidfds_seen.load() > 0,
                         "pidfds handed to the decider");
              return "";
            }));
}

TEST(ExecGate, ScriptsThroughInterpreters) {
  EXPECT_EQ("", RunSandboxed([](const std::string& mnt) -> std::string {
              const Bytes sh_ok = B("exit 7\n"), sh_bad = B("exit 7 # other\n");
              const Bytes py_ok = B("import sys\nsys.exit(7)\n"), py_bad = B("import sys\nsys.exit(7) # x\n");
              const Bytes shebang_bad = B("#!/bin/sh\nexit 7\n");
              for (auto [name, data] : {std::pair{"ok.sh", sh_ok},
                                        {"bad.sh", sh_bad},
                                        {"ok.py", py_ok},
                                        {"bad.py", py_bad},
                                        {"shebang.sh", shebang_bad}}) {
                std::string e = gate_test::WriteFile(mnt + "/" + name, data);
                GATE_CHECK(e.empty(), e);
              }
              auto decider = std::make_shared<AllowDigests>();
              decider->Allow(gate_test::Sha256(sh_ok));
              decider->Allow(gate_test::Sha256(py_ok));
              GATE_START(gate, GateConfig{}, decider, mnt);
              Outcome o = RunProgram({"/bin/sh", mnt + "/ok.sh"});
              GATE_CHECK(o.exit_code == 7, "sh ok.sh: " + o.ToString());
              o = RunProgram({"/bin/sh", mnt + "/bad.sh"});
              GATE_CHECK(o.exec_errno == 0 && o.exit_code != 7, "sh bad.sh must not run: " + o.ToString());
              o = RunProgram({"/usr/bin/python3", mnt + "/ok.py"});
              GATE_CHECK(o.exit_code == 7, "python3 ok.py: " + o.ToString());
              o = RunProgram({"/usr/bin/python3", mnt + "/bad.py"});
              GATE_CHECK(o.exec_errno == 0 && o.exit_code != 7,
                         "python3 bad.py must not run: " + o.ToString());
              o = RunProgram({mnt + "/shebang.sh"});
              GATE_CHECK(Denied(o), "exec of a script not allowed: " + o.ToString());
              const std::vector<CodeKind> kinds = decider->Kinds();
              GATE_CHECK(std::count(kinds.begin(), kinds.end(), CodeKind::kInterpreted) >= 4,
                         "interpreted opens asked");
              return "";
            }));
}

TEST(ExecGate, SharedLibraryAndLoaderOpensAreGated) {
  EXPECT_EQ("", RunSandboxed([](const std::string& mnt) -> std::string {
              const Bytes lib = gate_test::ReadAll(GATE_TESTLIB);
              const Bytes prog = gate_test::ReadAll("/bin/true");
              GATE_CHECK(!lib.empty() && !prog.empty(), "test inputs");
              Bytes lib_bad = lib, prog_bad = prog;
              lib_bad.push_back(0);
              prog_bad.push_back(0);
              for (auto [name, data] : {std::pair{"/lib_ok.so", lib},
                                        {"/lib_bad.so", lib_bad},
                                        {"/true_ok", prog},
                                        {"/true_bad", prog_bad}}) {
                std::string e = gate_test::WriteFile(mnt + name, data);
                GATE_CHECK(e.empty(), e);
              }
              auto decider = std::make_shared<AllowDigests>();
              decider->Allow(gate_test::Sha256(lib));
              decider->Allow(gate_test::Sha256(prog));
              GATE_START(gate, GateConfig{}, decider, mnt);
              Outcome o = RunProgram({GATE_DLOPEN, mnt + "/lib_ok.so"});
              GATE_CHECK(RanOk(o), "dlopen of an allowed library: " + o.ToString());
              o = RunProgram({GATE_DLOPEN, mnt + "/lib_bad.so"});
              GATE_CHECK(o.exit_code == 3, "dlopen of a library not allowed must fail: " + o.ToString());
              const std::string loader = "/lib64/ld-linux-x86-64.so.2";
              o = RunProgram({loader, mnt + "/true_ok"});
              GATE_CHECK(RanOk(o), "ld.so ./true_ok: " + o.ToString());
              o = RunProgram({loader, mnt + "/true_bad"});
              GATE_CHECK(o.exec_errno == 0 && o.exit_code != 0,
                         "ld.so ./true_bad must not run: " + o.ToString());
              const std::vector<CodeKind> kinds = decider->Kinds();
              GATE_CHECK(std::count(kinds.begin(), kinds.end(), CodeKind::kElfOpen) >= 4, "ELF opens asked");
              return "";
            }));
}

TEST(ExecGate, CopiedRenamedAndModifiedBinaries) {
  EXPECT_EQ("", RunSandboxed([](const std::string& mnt) -> std::string {
              GATE_SCENE(b, decider, mnt);
              GATE_START(gate, GateConfig{}, decider, mnt);
              GATE_CHECK(rename(b.bad.c_str(), (mnt + "/renamed").c_str()) == 0, std::strerror(errno));
              Outcome o = RunBusybox(mnt + "/renamed");
              GATE_CHECK(Denied(o), "renamed: " + o.ToString());
              const std::string e = gate_test::WriteFile(mnt + "/copy", b.bad_bytes);  // a new inode, the same bytes
              GATE_CHECK(e.empty(), e);
              o = RunBusybox(mnt + "/copy");
              GATE_CHECK(Denied(o), "copied: " + o.ToString());
              o = RunBusybox(b.ok);
              GATE_CHECK(RanOk(o), "before the change: " + o.ToString());
              // Modified in place (same inode): a new size and ctime, so measured again.
              FILE* f = fopen(b.ok.c_str(), "ab");
              GATE_CHECK(f != nullptr, std::strerror(errno));
              fputc('x', f);
              fclose(f);
              o = RunBusybox(b.ok);
              GATE_CHECK(Denied(o), "after the change: " + o.ToString());
              return "";
            }));
}

TEST(ExecGate, CacheHitsAndGenerationChange) {
  EXPECT_EQ("", RunSandboxed([](const std::string& mnt) -> std::string {
              GATE_SCENE(b, decider, mnt);
              GateConfig config;
              config.racy_window = std::chrono::milliseconds(0);  // the file was just written
              GATE_START(gate, config, decider, mnt);
              GATE_CHECK(RanOk(RunBusybox(b.ok)), "first run");
              const int asked = decider->calls.load();
              GATE_CHECK(asked == 1, "the first exec is decided once, then cached: " + std::to_string(asked));
              // The exec's FAN_OPEN_PERM follows its FAN_OPEN_EXEC_PERM: the
              // worker noted what the file is, so that open reads nothing.
              const GateStats first = gate->Stats();
              GATE_CHECK(first.content_hits >= 1, "the exec's open: content known");
              GATE_CHECK(RanOk(RunBusybox(b.ok)), "second run");
              GATE_CHECK(decider->calls.load() == 1, "the second exec must not ask");
              GATE_CHECK(gate->Stats().cache_hits > first.cache_hits, "the second exec is a cache hit");
              GATE_CHECK(gate->Stats().content_hits > first.content_hits, "and its open a content hit");
              decider->generation.fetch_add(1);
              GATE_CHECK(RanOk(RunBusybox(b.ok)), "third run");
              GATE_CHECK(decider->calls.load() == 2,
                         "a new generation asks again: " + std::to_string(decider->calls.load()));
              return "";
            }));
}

TEST(ExecGate, DecisionErrorsUseTheErrorMode) {
  for (FailMode mode : {FailMode::kClosed, FailMode::kOpen}) {
    EXPECT_EQ("", RunSandboxed([mode](const std::string& mnt) -> std::string {
                GATE_SCENE(b, decider, mnt);
                decider->throw_instead = true;
                GateConfig config;
                config.error_mode = mode;
                GATE_START(gate, config, decider, mnt);
                Outcome o = RunBusybox(b.ok);
                GATE_CHECK(mode == FailMode::kOpen ? RanOk(o) : Denied(o), o.ToString());
                GATE_CHECK(gate->Stats().errors >= 1, "errors counted");
                return "";
              }))
        << (mode == FailMode::kOpen ? "open" : "closed");
  }
}

// One exec blocks in the Decider, the next fills the queue (capacity 1), the
// third finds it full and gets the overload answer.
TEST(ExecGate, OverloadAnswersWithTheConfiguredMode) {
  for (FailMode mode : {FailMode::kClosed, FailMode::kOpen}) {
    EXPECT_EQ("", RunSandboxed([mode](const std::string& mnt) -> std::string {
                GATE_SCENE(b, decider, mnt);
                decider->block = true;
                GateConfig config;
                config.queue_capacity = 1;
                config.workers = 1;
                config.overload_mode = mode;
                GATE_START(gate, config, decider, mnt);
                AllowDigests::ReleaseOnExit release{decider.get()};  // after the gate: runs before its Stop
                auto first = SpawnBusybox(b.ok);
                GATE_CHECK(gate_test::WaitFor([&] { return decider->entered.load() == 1; }),
                           "first exec reaches the decider");
                auto second = SpawnBusybox(b.ok);
                GATE_CHECK(gate_test::WaitFor([&] { return gate->Stats().queued == 1; }),
                           "second exec is queued");
                Outcome third = RunBusybox(b.ok);
                GATE_CHECK(mode == FailMode::kOpen ? RanOk(third) : Denied(third),
                           "overloaded: " + third.ToString());
                GATE_CHECK(gate->Stats().overload_answers >= 1, "overload counted");
                decider->Release();
                Outcome o1 = Wait(first), o2 = Wait(second);
                // Both complete. With kClosed either may still be denied: the open that
                // follows an allowed exec can itself find the one-slot queue full.
                GATE_CHECK(!o1.timed_out && !o2.timed_out, o1.ToString() + ", " + o2.ToString());
                if (mode == FailMode::kOpen)
                  GATE_CHECK(RanOk(o1) && RanOk(o2), o1.ToString() + ", " + o2.ToString());
                GATE_CHECK(gate->Stats().queue_high_water == 1, "high-water mark");
                return "";
              }))
        << (mode == FailMode::kOpen ? "open" : "closed");
  }
}

// Stop answers what is queued (shutdown mode: allow) while a decision is still
// in flight, then waits for that decision.
TEST(ExecGate, StopAnswersEverything) {
  EXPECT_EQ("", RunSandboxed([](const std::string& mnt) -> std::string {
              GATE_SCENE(b, decider, mnt);
              decider->block = true;
              GateConfig config;
              config.workers = 1;
              GATE_START(gate, config, decider, mnt);
              AllowDigests::ReleaseOnExit release{decider.get()};  // after the gate: runs before its Stop
              auto first = SpawnBusybox(b.ok);
              GATE_CHECK(gate_test::WaitFor([&] { return decider->entered.load() == 1; }),
                         "first exec reaches the decider");
              auto pending = SpawnBusybox(b.bad);
              GATE_CHECK(gate_test::WaitFor([&] { return gate->Stats().queued == 1; }),
                         "second exec is queued");
              std::thread stopper([&] { gate->Stop(); });
              Outcome o = Wait(pending);
              const bool pending_ran = RanOk(o);
              decider->Release();
              Outcome o1 = Wait(first);
              stopper.join();
              GATE_CHECK(pending_ran,
                         "the exec pending during Stop is answered with the shutdown mode: " + o.ToString());
              GATE_CHECK(RanOk(o1), "the decision in flight completes: " + o1.ToString());
              GATE_CHECK(gate->Stats().shutdown_answers >= 1, "shutdown answers counted");
              // After Stop the group is gone: nothing is gated any more.
              GATE_CHECK(RanOk(RunBusybox(b.bad)), "after Stop");
              return "";
            }));
}

// A supervisor keeps the group (and its marks) across gate restarts: an exec
// made while no gate runs waits in the kernel for the next gate.
TEST(ExecGate, AdoptedGroupKeepsMarksAcrossRestarts) {
  EXPECT_EQ("", RunSandboxed([](const std::string& mnt) -> std::string {
              GATE_SCENE(b, decider, mnt);
              const int supervisor =
                  fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
              GATE_CHECK(supervisor >= 0, std::strerror(errno));
              GATE_CHECK(fanotify_mark(supervisor, FAN_MARK_ADD | FAN_MARK_MOUNT,
                                       FAN_OPEN_EXEC_PERM | FAN_OPEN_PERM, AT_FDCWD, mnt.c_str()) == 0,
                         std::strerror(errno));
              GateConfig config;
              config.inherited_fd = supervisor;
              {
                GATE_CHECK(fcntl(supervisor, F_SETFL, fcntl(supervisor, F_GETFL) | O_NONBLOCK) == 0, "O_NONBLOCK");
                auto gate = ExecGate::Create(config, decider);
                GATE_CHECK(gate.ok(), gate.error().ToString());
                // One open file description: the gate's reader blocks in read(2) on it.
                GATE_CHECK(!(fcntl(supervisor, F_GETFL) & O_NONBLOCK), "the adopted group is made blocking");
                GATE_CHECK((*gate)->Start().ok(), "start");
                GATE_CHECK(Denied(RunBusybox(b.bad)), "first gate denies");
                GATE_CHECK(RanOk(RunBusybox(b.ok)), "first gate allows");
                // Made non-blocking again behind the gate's back (by the
                // supervisor, say): the reader waits in poll instead, still answers, still stops.
                GATE_CHECK(fcntl(supervisor, F_SETFL, fcntl(supervisor, F_GETFL) | O_NONBLOCK) == 0, "O_NONBLOCK");
                GATE_CHECK(Denied(RunBusybox(b.bad)), "a non-blocking group still denies");
                GATE_CHECK(RanOk(RunBusybox(b.ok)), "a non-blocking group still allows");
              }
              // No gate: the exec waits in the kernel (neither allowed nor failed).
              auto waiting = SpawnBusybox(b.bad);
              const std::string stat_path = "/proc/" + std::to_string(waiting.pid) + "/stat";
              GATE_CHECK(gate_test::WaitFor([&] {
                           char state = 0;
                           FILE* f = std::fopen(stat_path.c_str(), "r");
                           if (f == nullptr) return false;
                           const int n = std::fscanf(f, "%*d %*s %c", &state);
                           std::fclose(f);
                           return n == 1 && state == 'D';
                         }),
                         "the exec must wait for a gate");
              auto gate = ExecGate::Create(config, decider);
              GATE_CHECK(gate.ok(), gate.error().ToString());
              GATE_CHECK((*gate)->Start().ok(), "start");
              Outcome o = Wait(waiting);
              GATE_CHECK(Denied(o), "the next gate answers the waiting exec: " + o.ToString());
              GATE_CHECK(RanOk(RunBusybox(b.ok)), "second gate allows");
              (*gate)->Stop();
              close(supervisor);
              return "";
            }));
}

// The reader blocks in read(2) at its own nice value; Stop wakes it with
// ReaderWakeSignal, whether it has seen events or not.
TEST(ExecGate, ReaderRunsAtItsNiceValueAndStopsFromABlockedRead) {
  EXPECT_EQ("", RunSandboxed([](const std::string& mnt) -> std::string {
              GATE_SCENE(b, decider, mnt);
              // The nice value of this process's thread named `name`, or 100 when there is none.
              auto nice_of = [](const std::string& name) {
                for (int tries = 0; tries < 200; ++tries) {
                  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
                    if (ReadText(t.path() / "comm") != name + "\n") continue;
                    const std::string stat = ReadText(t.path() / "stat");
                    const std::size_t paren = stat.rfind(')');
                    if (paren == std::string::npos) continue;
                    // After "pid (comm)": state is field 3, nice field 19.
                    std::istringstream in(stat.substr(paren + 2));
                    std::string field;
                    for (int i = 3; i < 19 && in >> field; ++i) {
                    }
                    int nice = 100;
                    if (in >> nice && nice != 0) return nice;
                  }
                  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // set as the thread starts
                }
                return 100;
              };
              for (const bool with_events : {false, true}) {
                GateConfig config;
                config.reader_nice = with_events ? -7 : -3;
                GATE_START(gate, config, decider, mnt);
                GATE_CHECK(nice_of("gate-reader") == config.reader_nice,
                           "reader nice " + std::to_string(nice_of("gate-reader")));
                if (with_events) {
                  GATE_CHECK(RanOk(RunBusybox(b.ok)), "allowed");
                  GATE_CHECK(Denied(RunBusybox(b.bad)), "denied");
                }
                gate->Stop();  // the reader is blocked in read(2) here
                GATE_CHECK(RanOk(RunBusybox(b.bad)), "after Stop nothing is gated");
              }
              GateConfig bad;
              bad.reader_nice = -21;
              auto refused = ExecGate::Create(bad, decider);
              GATE_CHECK(!refused.ok() && refused.error().code() == ErrorCode::kInvalidArgument,
                         "reader_nice -21 must be refused");
              return "";
            }));
}

// The reader's wake-up signal handled by something else: no gate (its Stop
// could never wake the reader).
TEST(ExecGate, RefusesAWakeSignalThatIsAlreadyHandled) {
  EXPECT_EQ("", RunSandboxed([](const std::string&) -> std::string {
              struct sigaction sa {};
              sa.sa_handler = [](int) {};
              sigemptyset(&sa.sa_mask);
              GATE_CHECK(sigaction(ReaderWakeSignal(), &sa, nullptr) == 0, std::strerror(errno));
              auto gate = ExecGate::Create(GateConfig{}, std::make_shared<AllowDigests>());
              GATE_CHECK(!gate.ok() && gate.error().code() == ErrorCode::kUnsupported, "must be refused");
              GATE_CHECK(gate.error().message().find("SIGRTMIN+4") != std::string::npos, gate.error().message());
              sa.sa_handler = SIG_DFL;
              GATE_CHECK(sigaction(ReaderWakeSignal(), &sa, nullptr) == 0, std::strerror(errno));
              auto again = ExecGate::Create(GateConfig{}, std::make_shared<AllowDigests>());
              GATE_CHECK(again.ok(), "with the default disposition back: " + again.error().ToString());
              return "";
            }));
}

}  // namespace
}  // namespace immune::agents
