// A harness for tests that need real OCI containers: a private mount
// namespace, a busybox root file system, overlay bundles and a runc wrapper
// with its own state root (so tests never see or disturb the host's
// containers, and discovery tests can point at that root).
//
// Requirements: root, runc, busybox-static (/usr/bin/busybox), overlayfs.
// RuncHarnessMissing() says what is missing, for GTEST_SKIP.
//
// Typical use, in a test binary that runs one test per process (as
// gtest_discover_tests does):
//
//   IMMUNE_REQUIRE_RUNC_HARNESS();                     // first, single-threaded
//   ScratchDir dir;                                    // removed last
//   auto scene = MakeRuncScene(dir.path());            // DIR/lower, DIR/runc-root
//   BundleOptions opt; opt.args = {"sleep", "1000"};
//   auto bundle = OverlayBundle::Create(dir.path() + "/b", scene->lower, opt);
//   ASSERT_TRUE(scene->runc->Create("ct1", (*bundle)->bundle()).ok());
//   ASSERT_TRUE(scene->runc->Start("ct1").ok());
//
// Declare the ScratchDir before the bundle and the Runc: destruction runs in
// reverse, so containers are deleted, then the overlay unmounted, then the
// directory removed.
//
// Thread safety: none; one test thread drives a harness object. Every call
// that runs a process is bounded by a timeout (the process is killed).
#ifndef IMMUNE_TESTS_RUNC_HARNESS_H_
#define IMMUNE_TESTS_RUNC_HARNESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "immune/core/error.h"

namespace immune::testing {

// Empty when root, runc and busybox-static are all here; else what is not.
std::string RuncHarnessMissing();

// unshare(CLONE_NEWNS) and make every mount private, so overlay mounts made
// by the test vanish with the process and never propagate to the host. Must
// be called while the process is single-threaded (unshare fails otherwise):
// first thing in a test of a one-test-per-process binary, or in a gtest
// Environment's SetUp.
Status EnterPrivateMountNamespace();

// A lower layer at `dir` (created): /bin/busybox (copied from
// /usr/bin/busybox) with applet symlinks (sh, ls, cat, cp, mv, sleep, echo,
// true, false, chmod, rm, mkdir, touch, id, ps, head, wc, grep, env, test),
// and empty /proc /sys /dev /tmp /etc /root directories.
Status BusyboxRootfs(const std::string& dir);

// The applets BusyboxRootfs links.
const std::vector<std::string>& BusyboxApplets();

// A hook in config.json (runtime-spec config.md "hooks").
struct HookSpec {
  std::string path;               // absolute, on the host
  std::vector<std::string> args;  // args[0] is the program name, as in the spec
  int timeout_s = 30;
};

struct BundleOptions {
  std::vector<std::string> args = {"sleep", "1000"};  // process.args
  std::vector<std::string> env;                       // added to runc spec's PATH/TERM
  bool readonly_root = false;
  std::map<std::string, std::string> annotations;      // e.g. org.opencontainers.image.ref.name
  std::map<std::string, std::vector<HookSpec>> hooks;  // "createRuntime", "poststop", ...
};

// <dir>/{upper,work,rootfs} and <dir>/config.json: an overlay of `lower`
// (read-only, shared between bundles) mounted on <dir>/rootfs, and a
// config.json from `runc spec` with the options applied. The destructor
// unmounts the overlay (lazily, so a container still inside does not block it).
class OverlayBundle {
 public:
  static Result<std::unique_ptr<OverlayBundle>> Create(const std::string& dir, const std::string& lower,
                                                       const BundleOptions& options);
  ~OverlayBundle();
  OverlayBundle(const OverlayBundle&) = delete;
  OverlayBundle& operator=(const OverlayBundle&) = delete;

  const std::string& bundle() const { return dir_; }
  std::string rootfs() const { return dir_ + "/rootfs"; }
  std::string upper() const { return dir_ + "/upper"; }
  std::string config_path() const { return dir_ + "/config.json"; }

  // Rewrites config.json for new options (args, hooks, ...).
  Status Configure(const BundleOptions& options);

 private:
  explicit OverlayBundle(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
  bool mounted_ = false;
};

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal or by the timeout
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs argv[0] (searched in PATH) with `input` on stdin, capturing stdout and
// stderr (in memory files, so a detached grandchild holding them open cannot
// hang the caller). Killed after timeout_ms. Errors only when it cannot start.
Result<ProcessResult> RunProcess(const std::vector<std::string>& argv, int timeout_ms,
                                 const std::string& input = "");

// runc (or a compatible runtime: crun) with a private --root. Every call is
// bounded by timeout_ms. The destructor force-deletes every container this
// object created that the test did not delete.
class Runc {
 public:
  static Result<std::unique_ptr<Runc>> Open(const std::string& root, const std::string& binary = "runc",
                                            int timeout_ms = 30000);
  ~Runc();
  Runc(const Runc&) = delete;
  Runc& operator=(const Runc&) = delete;

  const std::string& root() const { return root_; }

  // Each returns an error carrying runc's stderr when runc exits non-zero.
  Status Create(const std::string& id, const std::string& bundle);
  Status Start(const std::string& id);
  // `runc run -d`: create and start in one step, detached.
  Status Run(const std::string& id, const std::string& bundle);
  Status Pause(const std::string& id);
  Status Resume(const std::string& id);
  Status Kill(const std::string& id, const std::string& signal = "KILL");
  Status Delete(const std::string& id, bool force = false);
  // `runc state`: the OCI state JSON.
  Result<nlohmann::json> State(const std::string& id);
  // Waits (up to timeout_ms) until `runc state` reports `status`.
  Status WaitForStatus(const std::string& id, const std::string& status);

  // `runc exec` in the foreground: the process's exit code and output.
  Result<ProcessResult> Exec(const std::string& id, const std::vector<std::string>& args);
  // `runc exec -d --pid-file`: starts a process in the container and returns
  // its host pid.
  Result<pid_t> ExecDetached(const std::string& id, const std::vector<std::string>& args);

  // The raw command, for cases the wrappers do not cover (`runc run` with a
  // failing hook, say): runc --root ROOT args...
  Result<ProcessResult> Command(const std::vector<std::string>& args);

 private:
  Runc(std::string root, std::string binary, int timeout_ms)
      : root_(std::move(root)), binary_(std::move(binary)), timeout_ms_(timeout_ms) {}
  Status Simple(const std::vector<std::string>& args);

  std::string root_;
  std::string binary_;
  int timeout_ms_;
  std::vector<std::string> created_;
  int scratch_counter_ = 0;
};

// A fresh directory under /tmp, removed with everything in it on destruction
// (after unmounting nothing: declare it before the bundles on it).
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A container id unique to this process and call ("immune-<pid>-<n>-<tag>"):
// runc names cgroups after ids, so parallel tests must not share them.
std::string UniqueContainerId(const std::string& tag);

// The usual start of a runc test once the private mount namespace is entered:
// the busybox lower layer at DIR/lower and a runc root at DIR/runc-root.
struct RuncScene {
  std::string lower;
  std::unique_ptr<Runc> runc;
};
Result<RuncScene> MakeRuncScene(const std::string& dir);

// What syslog(3) sends, caught for a test: the process's (private) mount
// namespace gets a /dev of its own, a tmpfs whose entries are bind mounts of
// the real /dev's (device nodes, /dev/pts, /dev/shm work as before) and, at
// /dev/log, a datagram socket this object reads. Processes started after it
// (a daemon, runc) log into it. Needs root and EnterPrivateMountNamespace;
// the destructor puts the real /dev back.
class SyslogCapture {
 public:
  static Result<std::unique_ptr<SyslogCapture>> Start(const std::string& dir);
  ~SyslogCapture();
  SyslogCapture(const SyslogCapture&) = delete;
  SyslogCapture& operator=(const SyslogCapture&) = delete;
  // The messages received so far (RFC 3164 as glibc writes them:
  // "<PRI>Mmm dd hh:mm:ss TAG[PID]: TEXT"), oldest first.
  std::vector<std::string> Messages();

 private:
  SyslogCapture() = default;
  std::string dev_;  // the tmpfs bound over /dev
  int fd_ = -1;
  bool over_dev_ = false;
  std::vector<std::string> messages_;
};

}  // namespace immune::testing

// First line of a runc test (or its fixture's SetUp), while the process is
// still single-threaded: skips, naming what is missing, without root, runc or
// busybox-static, then enters a private mount namespace (a failure is fatal).
#define IMMUNE_REQUIRE_RUNC_HARNESS()                                                         \
  do {                                                                                       \
    if (std::string immune_missing_ = ::immune::testing::RuncHarnessMissing();               \
        !immune_missing_.empty())                                                            \
      GTEST_SKIP() << "needs " << immune_missing_;                                           \
    ::immune::Status immune_ns_ = ::immune::testing::EnterPrivateMountNamespace();           \
    ASSERT_TRUE(immune_ns_.ok()) << immune_ns_.error().ToString();                           \
  } while (0)

#endif  // IMMUNE_TESTS_RUNC_HARNESS_H_
