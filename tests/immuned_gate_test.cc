// End-to-end tests of active immunity: the real immuned (embedded swtpm,
// exec gate, operator policy), real runc containers on overlayfs with the
// real immune-oci-hook, inside a private mount namespace (so every fanotify
// mark lands on a filesystem this test made: the containers' overlays and a
// private tmpfs). Every process run here has a timeout.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "immune/core/digest.h"
#include "immune/core/file.h"
#include "immune/core/hex.h"
#include "immune/core/json_bytes.h"
#include "immuned_test_util.h"
#include "runc_harness.h"

namespace immune::tsbd::testing {
namespace {

using json = nlohmann::json;
using immune::testing::BundleOptions;
using immune::testing::HookSpec;
using immune::testing::MakeRuncScene;
using immune::testing::OverlayBundle;
using immune::testing::ProcessResult;
using immune::testing::Runc;
using immune::testing::RunProcess;
using immune::testing::ScratchDir;
using immune::testing::SyslogCapture;
using immune::testing::UniqueContainerId;

std::string FileSha256(const std::string& path) {
  auto bytes = ReadFile(path);
  if (!bytes.ok()) return "";
  auto d = Hash(HashAlg::kSha256, *bytes);
  return d.ok() ? "sha256:" + ToHex(*d) : "";
}

void WriteText(const std::string& path, const std::string& text, mode_t mode = 0644) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

// A copy of busybox with `tail` appended: runs the same, digest differs (a
// "program dropped into the container"). Written through one open of a new
// file: reopening an ELF for writing is itself a gated open of code.
void WriteAlteredBusybox(const std::string& path, const std::string& tail = "\n") {
  auto bytes = ReadFile("/usr/bin/busybox");
  ASSERT_TRUE(bytes.ok());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes->data()), static_cast<std::streamsize>(bytes->size()));
  out << tail;
  out.close();
  ASSERT_TRUE(out.good()) << path;
  ::chmod(path.c_str(), 0755);
}

// The world of one test: a private mount namespace, a tmpfs the host scope
// gates, a daemon, a runc root and a lower busybox layer.
class GateWorld {
 public:
  // `policy_yaml` goes to <dir>/policy/policy.yaml; `gate_extra` are lines
  // added to the gate section.
  ::testing::AssertionResult Start(const std::string& policy_yaml, const std::string& gate_extra = "",
                                   const std::vector<std::string>& daemon_args = {},
                                   const std::string& top_extra = "") {
    state_ = dir_.path() + "/state";
    policy_dir_ = dir_.path() + "/policy";
    host_mount_ = dir_.path() + "/hostmnt";
    std::filesystem::create_directories(policy_dir_);
    std::filesystem::create_directories(host_mount_);
    if (::mount("immune-test", host_mount_.c_str(), "tmpfs", 0, "mode=0755") != 0)
      return ::testing::AssertionFailure() << "mount tmpfs: " << std::strerror(errno);
    host_mounted_ = true;
    auto scene = MakeRuncScene(dir_.path());
    if (!scene.ok()) return ::testing::AssertionFailure() << scene.error().ToString();
    lower_ = scene->lower;
    runc_ = std::move(scene->runc);
    WriteText(policy_dir_ + "/policy.yaml", policy_yaml);
    control_ = "ipc://" + state_ + "/control.sock";
    const std::string config = dir_.path() + "/immuned.yaml";
    WriteText(config, "state_dir: " + state_ + "\ntcti: embedded\npolicy:\n  paths: [" + policy_dir_ +
                          "]\ngate:\n  enabled: true\n  mounts: [" + host_mount_ +
                          "]\n  memfd_noexec: leave\n" + gate_extra + top_extra);
    log_path_ = dir_.path() + "/immuned.log";
    auto d = DaemonProcess::Spawn(config, log_path_, daemon_args);
    if (!d.ok()) return ::testing::AssertionFailure() << d.error().ToString();
    daemon_ = std::move(d).value();
    if (!WaitFor([&] { return Control("gate.status").ok(); }, std::chrono::seconds(60)))
      return ::testing::AssertionFailure() << "immuned's exec gate did not come up; log:\n" << DaemonLog();
    return ::testing::AssertionSuccess();
  }

  ~GateWorld() {
    runc_.reset();
    bundles_.clear();
    daemon_.reset();
    if (host_mounted_) ::umount2(host_mount_.c_str(), MNT_DETACH);
  }

  Result<json> Control(const std::string& cmd, json args = json::object()) {
    IMMUNE_ASSIGN_OR_RETURN(json reply, ControlCall(ctx_, control_, cmd, std::move(args), 20000));
    if (!reply.value("ok", false)) return InvalidArgument(cmd + ": " + reply.dump());
    return reply["result"];
  }

  // A running container whose createRuntime/poststop hooks register it.
  Result<std::string> StartContainer(const std::string& tag, const std::string& image = "busybox:test") {
    const std::string id = UniqueContainerId(tag);
    BundleOptions opt;
    opt.args = {"sleep", "1000"};
    opt.annotations["org.opencontainers.image.ref.name"] = image;
    opt.hooks["createRuntime"] = {HookSpec{IMMUNE_OCI_HOOK, {"immune-oci-hook", "--control", control_}}};
    opt.hooks["poststop"] = {HookSpec{IMMUNE_OCI_HOOK, {"immune-oci-hook", "--control", control_, "--fail-open"}}};
    IMMUNE_ASSIGN_OR_RETURN(auto b, OverlayBundle::Create(dir_.path() + "/" + id, lower_, opt));
    rootfs_[id] = b->rootfs();
    IMMUNE_RETURN_IF_ERROR(runc_->Run(id, b->bundle()));
    bundles_.push_back(std::move(b));
    return id;
  }

  // `sh -c SCRIPT` in the container: its output and exit code.
  ProcessResult Sh(const std::string& id, const std::string& script) {
    auto r = runc_->Exec(id, {"sh", "-c", script});
    if (!r.ok()) return ProcessResult{-1, false, "", r.error().ToString()};
    return *r;
  }

  std::vector<json> LogEntries(const std::string& container = "") {
    json args = json::object();
    if (!container.empty()) args["container"] = container;
    auto r = Control("log", args);
    std::vector<json> out;
    if (r.ok() && r->contains("entries"))
      for (const auto& e : (*r)["entries"]) out.push_back(e);
    return out;
  }

  std::string DaemonLog() {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  const std::string& dir() const { return dir_.path(); }
  const std::string& lower() const { return lower_; }
  const std::string& host_mount() const { return host_mount_; }
  const std::string& policy_dir() const { return policy_dir_; }
  std::string rootfs(const std::string& id) { return rootfs_[id]; }
  DaemonProcess& daemon() { return *daemon_; }
  Runc& runc() { return *runc_; }
  OverlayBundle* bundle(std::size_t i) { return bundles_.at(i).get(); }

 private:
  ScratchDir dir_;
  std::string state_, policy_dir_, host_mount_, lower_, control_, log_path_;
  bool host_mounted_ = false;
  zmq::context_t ctx_{1};
  std::unique_ptr<DaemonProcess> daemon_;
  std::vector<std::unique_ptr<OverlayBundle>> bundles_;
  std::unique_ptr<Runc> runc_;
  std::map<std::string, std::string> rootfs_;
};

// Containers may run busybox (whatever its path); the host only what the test names.
std::string Policy(const std::string& container_mode, const std::string& host_allow = "") {
  std::string p = "apiVersion: immune/v1\nkind: Policy\nscope: {containers: all}\nmode: " + container_mode +
                  "\nallow:\n  - " + FileSha256("/usr/bin/busybox") + "\n";
  p += "---\napiVersion: immune/v1\nkind: Policy\nscope: host\nmode: enforce\n";
  if (!host_allow.empty()) p += "allow:\n  - " + host_allow + "\n";
  return p;
}

bool HasEntry(const std::vector<json>& entries, const std::string& path_suffix, const std::string& decision) {
  for (const auto& e : entries)
    if (e.value("path", "").ends_with(path_suffix) && e.value("decision", "") == decision) return true;
  return false;
}

std::size_t DaemonLogLinesStartingWith(const std::string& log, const std::string& prefix) {
  std::size_t n = 0;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) n += line.starts_with(prefix) ? 1 : 0;
  return n;
}

bool HasAlarm(GateWorld& w, const std::string& what, const std::string& detail) {
  auto alarms = w.Control("alarms");
  if (!alarms.ok()) return false;
  for (const auto& a : (*alarms)["alarms"])
    if (a.dump().find(what) != std::string::npos && a.dump().find(detail) != std::string::npos) return true;
  return false;
}

TEST(ImmunedGate, EnforceAllowsBaselineAndDeniesDroppedProgramsInAContainer) {
  IMMUNE_REQUIRE_RUNC_HARNESS();
  GateWorld w;
  // Alarms go to syslog as well: catch what the daemon sends to /dev/log.
  auto syslog = SyslogCapture::Start(w.dir());
  ASSERT_TRUE(syslog.ok()) << syslog.error().ToString();
  ASSERT_TRUE(w.Start(Policy("enforce")));
  auto id = w.StartContainer("enforce");
  ASSERT_TRUE(id.ok()) << id.error().ToString() << "\n" << w.DaemonLog();

  // An allowed program runs (its first exec was already gated: the hook
  // registered the container before runc started it).
  ProcessResult ok = w.Sh(*id, "echo hello");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "hello\n");

  // A program dropped into the running container is refused (EACCES: sh
  // reports 126), renamed or not; a script run through the interpreter too.
  WriteAlteredBusybox(w.rootfs(*id) + "/tmp/true");
  ProcessResult denied = w.Sh(*id, "/tmp/true; echo rc=$?");
  EXPECT_NE(denied.out.find("rc=126"), std::string::npos) << denied.out << denied.err;
  ProcessResult renamed = w.Sh(*id, "mv /tmp/true /bin/echo2; /bin/echo2 true; echo rc=$?");
  EXPECT_NE(renamed.out.find("rc=126"), std::string::npos) << renamed.out << renamed.err;
  WriteText(w.rootfs(*id) + "/tmp/x.sh", "echo from-script\n", 0755);
  ProcessResult script = w.Sh(*id, "sh /tmp/x.sh; echo rc=$?");
  EXPECT_EQ(script.out.find("from-script"), std::string::npos) << script.out;
  EXPECT_EQ(script.out.find("rc=0"), std::string::npos) << script.out << script.err << json(w.LogEntries(*id)).dump(1);

  // The log holds both decisions under the container's identity, and the
  // denial raised an alarm.
  auto entries = w.LogEntries(*id);
  EXPECT_TRUE(HasEntry(entries, "/bin/busybox", "allow")) << json(entries).dump(1);
  EXPECT_TRUE(HasEntry(entries, "/tmp/true", "deny")) << json(entries).dump(1);
  EXPECT_TRUE(HasEntry(entries, "/bin/echo2", "deny")) << json(entries).dump(1);
  for (const auto& e : entries) {
    EXPECT_EQ(e["template"], "immune-ct");
    EXPECT_EQ(e["image"], "busybox:test");
  }
  // Alarms are published after the journal commit that the gate waits for.
  EXPECT_TRUE(WaitFor([&] { return HasAlarm(w, "execution denied by policy", "/tmp/true"); },
                      std::chrono::seconds(10)));
  // One alarm per denial, raised by the gate, which knows what it did; the
  // daemon adds none of its own for entries the gate decided. It says where
  // the entry is in the log.
  auto alarms = w.Control("alarms");
  ASSERT_TRUE(alarms.ok());
  int about_true = 0;
  for (const auto& a : (*alarms)["alarms"]) {
    EXPECT_NE(a["what"], "measurement denied by policy") << a.dump();
    if (a["file"].is_object() && a["file"]["path"] == "/tmp/true") {
      ++about_true;
      EXPECT_EQ(a["action"], "refused (EPERM)") << a.dump();
      EXPECT_EQ(a["agent"], "exec-gate");
      for (const auto& e : entries)
        if (e["seq"] == a["where"]["seq"]) {
          EXPECT_EQ(e["path"], "/tmp/true");
          EXPECT_EQ(a["where"]["pcr"], e["pcr"]);
          EXPECT_EQ(a["where"]["epoch"], e["epoch"]);
        }
    }
  }
  EXPECT_EQ(about_true, 1) << alarms->dump(1);

  // A file name with a newline cannot forge a line in syslog or the daemon's log.
  WriteAlteredBusybox(w.rootfs(*id) + "/tmp/a\nimmuned alarm: forged");
  ProcessResult forged = w.Sh(*id, "'/tmp/a\nimmuned alarm: forged'; echo rc=$?");
  EXPECT_NE(forged.out.find("rc=126"), std::string::npos) << forged.out << forged.err;
  const auto in_syslog = [&](const std::string& text) {
    for (const auto& m : (*syslog)->Messages())
      if (m.find(text) != std::string::npos) return true;
    return false;
  };
  // LOG_AUTHPRIV | LOG_ERR, tagged by the daemon.
  EXPECT_TRUE(WaitFor([&] { return in_syslog("immuned alarm: execution denied by policy: rule "); },
                      std::chrono::seconds(10)));
  EXPECT_TRUE(
      WaitFor([&] { return in_syslog("/tmp/a\\x0aimmuned alarm: forged ("); }, std::chrono::seconds(10)))
      << json((*syslog)->Messages()).dump(1);
  for (const auto& m : (*syslog)->Messages()) {
    if (m.find("immuned alarm: ") == std::string::npos) continue;
    EXPECT_TRUE(m.starts_with("<83>")) << m;
    EXPECT_NE(m.find(" immuned["), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_TRUE(m.ends_with("(refused (EPERM))")) << m;
  }
  EXPECT_EQ(DaemonLogLinesStartingWith(w.DaemonLog(), "immuned alarm: forged"), 0u);
}

// The policy's actions on a denied exec: freeze the container, or stop it.
std::string ActionPolicy(const std::string& actions) {
  return "apiVersion: immune/v1\nkind: Policy\nscope: {containers: all}\nmode: enforce\nactions: [" + actions +
         "]\nallow:\n  - " + FileSha256("/usr/bin/busybox") +
         "\n---\napiVersion: immune/v1\nkind: Policy\nscope: host\n";
}

TEST(ImmunedGate, FreezeActionPausesTheContainer) {
  IMMUNE_REQUIRE_RUNC_HARNESS();
  GateWorld w;
  ASSERT_TRUE(w.Start(ActionPolicy("deny, freeze, alarm")));
  auto id = w.StartContainer("freeze");
  ASSERT_TRUE(id.ok()) << w.DaemonLog();
  WriteAlteredBusybox(w.rootfs(*id) + "/tmp/true");
  // Denied; the container is then frozen. Detached, so nothing here waits on
  // the frozen container; whether runc reports the failed exec does not matter.
  (void)w.runc().ExecDetached(*id, {"/tmp/true"});
  EXPECT_TRUE(w.runc().WaitForStatus(*id, "paused").ok()) << w.DaemonLog();
  EXPECT_TRUE(
      WaitFor([&] { return HasAlarm(w, "execution denied by policy", "refused (EPERM); froze container"); },
              std::chrono::seconds(10)));
  ASSERT_TRUE(w.runc().Resume(*id).ok());
}

TEST(ImmunedGate, StopActionStopsTheContainer) {
  IMMUNE_REQUIRE_RUNC_HARNESS();
  GateWorld w;
  ASSERT_TRUE(w.Start(ActionPolicy("deny, stop, alarm")));
  auto id = w.StartContainer("stop");
  ASSERT_TRUE(id.ok()) << w.DaemonLog();
  WriteAlteredBusybox(w.rootfs(*id) + "/tmp/true");
  w.Sh(*id, "/tmp/true");  // denied; the container's init is then killed
  EXPECT_TRUE(w.runc().WaitForStatus(*id, "stopped").ok()) << w.DaemonLog();
  EXPECT_TRUE(
      WaitFor([&] { return HasAlarm(w, "execution denied by policy", "refused (EPERM); stopped container"); },
              std::chrono::seconds(10)));
}

TEST(ImmunedGate, PermissiveOnlyLogsWhatEnforceWouldDeny) {
  IMMUNE_REQUIRE_RUNC_HARNESS();
  GateWorld w;
  ASSERT_TRUE(w.Start(Policy("permissive")));
  auto id = w.StartContainer("permissive");
  ASSERT_TRUE(id.ok()) << id.error().ToString() << "\n" << w.DaemonLog();
  WriteAlteredBusybox(w.rootfs(*id) + "/tmp/echo");
  ProcessResult r = w.Sh(*id, "/tmp/echo ran; echo rc=$?");
  EXPECT_NE(r.out.find("ran"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("rc=0"), std::string::npos) << r.out;
  auto entries = w.LogEntries(*id);
  EXPECT_TRUE(HasEntry(entries, "/tmp/echo", "audit")) << json(entries).dump(1);
  EXPECT_FALSE(HasEntry(entries, "/tmp/echo", "deny"));
}

TEST(ImmunedGate, SamePathInTwoContainersGivesTwoEntries) {
  IMMUNE_REQUIRE_RUNC_HARNESS();
  GateWorld w;
  ASSERT_TRUE(w.Start(Policy("enforce")));
  auto a = w.StartContainer("two-a");
  auto b = w.StartContainer("two-b");
  ASSERT_TRUE(a.ok() && b.ok()) << w.DaemonLog();
  EXPECT_EQ(w.Sh(*a, "true").exit_code, 0);
  EXPECT_EQ(w.Sh(*b, "true").exit_code, 0);
  auto ea = w.LogEntries(*a);
  auto eb = w.LogEntries(*b);
  EXPECT_TRUE(HasEntry(ea, "/bin/busybox", "allow")) << json(ea).dump(1);
  EXPECT_TRUE(HasEntry(eb, "/bin/busybox", "allow")) << json(eb).dump(1);
  // Container entries name the path as the container sees it.
  for (const auto& e : ea) EXPECT_TRUE(e["path"].get<std::string>().starts_with("/")) << e.dump();
  for (const auto& e : ea) EXPECT_EQ(e["path"].get<std::string>().find(w.dir()), std::string::npos) << e.dump();
}

TEST(ImmunedGate, LearnThenEnforceAllowsExactlyTheLearnedSet) {
  IMMUNE_REQUIRE_RUNC_HARNESS();
  GateWorld w;
  // Learn mode for containers; the busybox allow line is irrelevant there.
  ASSERT_TRUE(w.Start(Policy("learn")));
  auto id = w.StartContainer("learn");
  ASSERT_TRUE(id.ok()) << w.DaemonLog();
  // (busybox picks its applet from argv[0]: the copies are named after applets)
  WriteAlteredBusybox(w.rootfs(*id) + "/tmp/echo");
  ProcessResult learned = w.Sh(*id, "/tmp/echo learned-run");
  EXPECT_EQ(learned.exit_code, 0) << learned.err;

  auto drafts = w.Control("policy.learned");
  ASSERT_TRUE(drafts.ok()) << drafts.error().ToString();
  std::string draft;
  for (const auto& d : (*drafts)["drafts"])
    if (d["scope"].get<std::string>() == "container:" + *id) draft = d["yaml"];
  ASSERT_FALSE(draft.empty()) << drafts->dump(1);

  // Enforce exactly the draft (plus the host document, unchanged).
  const std::string host_doc = "---\napiVersion: immune/v1\nkind: Policy\nscope: host\nmode: enforce\n";
  auto applied = w.Control("policy.apply", {{"text", draft + host_doc}, {"source", "learned.yaml"}});
  ASSERT_TRUE(applied.ok()) << applied.error().ToString() << "\n" << draft;

  ProcessResult again = w.Sh(*id, "/tmp/echo learned-run; echo rc=$?");
  EXPECT_NE(again.out.find("learned-run"), std::string::npos) << again.out << again.err;
  WriteAlteredBusybox(w.rootfs(*id) + "/tmp/true", "another\n");
  ProcessResult fresh = w.Sh(*id, "/tmp/true; echo rc=$?");
  EXPECT_NE(fresh.out.find("rc=126"), std::string::npos) << fresh.out << fresh.err;
}

// The host scope: a program on the gated tmpfs, allowed by digest, and one
// that is not.
struct HostPrograms {
  std::string allowed, denied;
};
HostPrograms MakeHostPrograms(const std::string& mount) {
  // Named after a busybox applet: busybox picks the applet from argv[0].
  std::filesystem::create_directories(mount + "/allowed");
  std::filesystem::create_directories(mount + "/denied");
  HostPrograms p{mount + "/allowed/true", mount + "/denied/true"};
  WriteAlteredBusybox(p.allowed, "");
  WriteAlteredBusybox(p.denied);
  return p;
}

int RunOnHost(const std::string& program, int timeout_ms = 30000) {
  auto r = RunProcess({program, "true"}, timeout_ms);
  return r.ok() ? (r->timed_out ? -2 : r->exit_code) : -1;
}

// A scope whose actions leave out alarm: a denial is refused and journaled,
// and raises no alarm.
TEST(ImmunedGate, ActionsWithoutAlarmRefuseAndJournalButRaiseNoAlarm) {
  IMMUNE_REQUIRE_RUNC_HARNESS();
  GateWorld w;
  ASSERT_TRUE(w.Start(
      "apiVersion: immune/v1\nkind: Policy\nscope: host\nmode: enforce\nactions: [deny]\nallow:\n  - " +
      FileSha256("/usr/bin/busybox") + "\n"));
  const HostPrograms p = MakeHostPrograms(w.host_mount());
  EXPECT_EQ(RunOnHost(p.allowed), 0);
  EXPECT_NE(RunOnHost(p.denied), 0);
  EXPECT_TRUE(HasEntry(w.LogEntries(), "/denied/true", "deny")) << json(w.LogEntries()).dump(1);
  // The gate raises a denial's alarm before it answers the kernel.
  auto alarms = w.Control("alarms");
  ASSERT_TRUE(alarms.ok());
  EXPECT_TRUE((*alarms)["alarms"].empty()) << alarms->dump(1);
}

// What an operator sees of a running daemon: the gate, the integrity agent and
// the policy in force, through immunectl.
TEST(ImmunedGate, ImmunectlShowsTheGateThePolicyAndIntegrity) {
  IMMUNE_REQUIRE_RUNC_HARNESS();
  GateWorld w;
  ASSERT_TRUE(w.Start("apiVersion: immune/v1\nkind: Policy\nscope: host\nmode: enforce\nallow:\n  - " +
                      FileSha256("/usr/bin/busybox") + "\n"));
  const HostPrograms p = MakeHostPrograms(w.host_mount());
  EXPECT_EQ(RunOnHost(p.allowed), 0);
  EXPECT_NE(RunOnHost(p.denied), 0);

  const std::string state = w.dir() + "/state";
  auto gate = RunProcess({IMMUNECTL_BIN, "tsb", "--state-dir", state, "gate"}, 60000);
  ASSERT_TRUE(gate.ok()) << gate.error().ToString();
  EXPECT_EQ(gate->exit_code, 0) << gate->err;
  EXPECT_NE(gate->out.find("marks:\n  " + w.host_mount() + "  mount\n"), std::string::npos) << gate->out;
  EXPECT_NE(gate->out.find(" deny; "), std::string::npos) << gate->out;
  auto gate_json = RunProcess({IMMUNECTL_BIN, "tsb", "--state-dir", state, "gate", "--json"}, 60000);
  ASSERT_TRUE(gate_json.ok());
  const json gj = json::parse(gate_json->out, nullptr, false);
  ASSERT_TRUE(gj.is_object()) << gate_json->out;
  EXPECT_GE(gj["gate"]["denied"].get<int>(), 1) << gj.dump(1);
  EXPECT_GE(gj["gate"]["allowed"].get<int>(), 1) << gj.dump(1);
  auto integrity = RunProcess({IMMUNECTL_BIN, "tsb", "--state-dir", state, "integrity"}, 60000);
  ASSERT_TRUE(integrity.ok());
  EXPECT_EQ(integrity->exit_code, 0) << integrity->err;
  EXPECT_NE(integrity->out.find("PIMS: off"), std::string::npos) << integrity->out;
  EXPECT_NE(integrity->out.find("critical files:\n"), std::string::npos) << integrity->out;

  auto policy = RunProcess({IMMUNECTL_BIN, "policy", "status", "--state-dir", state}, 60000);
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ(policy->exit_code, 0) << policy->err;
  EXPECT_NE(policy->out.find("policy generation 1 from "), std::string::npos) << policy->out;
  EXPECT_NE(policy->out.find("  host  enforce, 1 allow, 0 deny  (" + w.policy_dir() + "/policy.yaml:1:1)\n"),
            std::string::npos)
      << policy->out;
  // A reload reads policy.paths again: a new generation, the same documents.
  auto reload = RunProcess({IMMUNECTL_BIN, "policy", "reload", "--state-dir", state, "--json"}, 60000);
  ASSERT_TRUE(reload.ok());
  EXPECT_EQ(reload->exit_code, 0) << reload->err;
  EXPECT_EQ(json::parse(reload->out, nullptr, false).value("generation", 0), 2) << reload->out;
  auto after = RunProcess({IMMUNECTL_BIN, "policy", "status", "--state-dir", state, "--json"}, 60000);
  ASSERT_TRUE(after.ok());
  const json pj = json::parse(after->out, nullptr, false);
  ASSERT_TRUE(pj.is_object()) << after->out;
  EXPECT_EQ(pj["generation"], 2);
  ASSERT_EQ(pj["documents"].size(), 1u) << pj.dump(1);
  EXPECT_EQ(pj["documents"][0]["scope"], "host");
}

pid_t WorkerOf(pid_t supervisor) {
  std::ifstream in("/proc/" + std::to_string(supervisor) + "/task/" + std::to_string(supervisor) + "/children");
  pid_t child = -1;
  in >> child;
  return child;
}

TEST(ImmunedGate, FailClosedSupervisorKeepsExecsGatedWhileTheDaemonRestarts) {
  IMMUNE_REQUIRE_RUNC_HARNESS();
  GateWorld w;
  const std::string busybox = FileSha256("/usr/bin/busybox");
  ASSERT_TRUE(w.Start(Policy("enforce", busybox), "  on_failure: fail-closed\n", {"--supervise"}));
  HostPrograms p = MakeHostPrograms(w.host_mount());
  ASSERT_EQ(RunOnHost(p.allowed), 0) << w.DaemonLog();
  ASSERT_NE(RunOnHost(p.denied), 0);

  const pid_t worker = WorkerOf(w.daemon().pid());
  ASSERT_GT(worker, 0);
  ASSERT_EQ(::kill(worker, SIGKILL), 0);
  // While no daemon answers, the kernel holds the exec (the supervisor keeps
  // the group): the denied program never runs, the allowed one waits and runs.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_NE(RunOnHost(p.denied, 60000), 0) << w.DaemonLog();
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(RunOnHost(p.allowed, 60000), 0) << w.DaemonLog();
  EXPECT_NE(WorkerOf(w.daemon().pid()), worker);
  std::printf("[ measured ] fail-closed: first exec after kill -9 answered after %.0f ms\n",
              std::chrono::duration<double, std::milli>(waited).count());
}

TEST(ImmunedGate, FailOpenLetsExecsRunUntilTheDaemonIsBack) {
  IMMUNE_REQUIRE_RUNC_HARNESS();
  GateWorld w;
  const std::string busybox = FileSha256("/usr/bin/busybox");
  ASSERT_TRUE(w.Start(Policy("enforce", busybox), "  on_failure: fail-open\n", {"--supervise"}));
  HostPrograms p = MakeHostPrograms(w.host_mount());
  ASSERT_NE(RunOnHost(p.denied), 0) << w.DaemonLog();

  const pid_t worker = WorkerOf(w.daemon().pid());
  ASSERT_GT(worker, 0);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(worker, SIGKILL), 0);
  // The group died with the daemon: the denied program runs in the window...
  bool ran_in_window = false;
  bool gated_again = false;
  std::chrono::steady_clock::duration window{};
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    const int rc = RunOnHost(p.denied);
    if (rc == 0) ran_in_window = true;
    if (rc != 0 && ran_in_window) {
      gated_again = true;
      window = std::chrono::steady_clock::now() - t0;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(ran_in_window) << "fail-open: the unprotected window was not observed";
  // ... until the supervisor's restart marks the mount again.
  EXPECT_TRUE(gated_again) << w.DaemonLog();
  std::printf("[ measured ] fail-open: unprotected window after kill -9: %.0f ms\n",
              std::chrono::duration<double, std::milli>(window).count());
}


TEST(ImmunedIntegrity, OverlayMeasurementOfARunningPausedAndStoppedContainer) {
  IMMUNE_REQUIRE_RUNC_HARNESS();
  GateWorld w;
  ASSERT_TRUE(w.Start(Policy("enforce")));
  WriteText(w.lower() + "/etc/motd", "welcome\n");
  auto id = w.StartContainer("overlay");
  ASSERT_TRUE(id.ok()) << w.DaemonLog();
  // Through the overlay from the host (data opens, allowed; a shell's own
  // redirection would be an interpreter's open, which the gate treats as code).
  WriteText(w.rootfs(*id) + "/tmp/new.txt", "dropped data\n");
  WriteText(w.rootfs(*id) + "/etc/motd", "changed\n");
  WriteText(w.rootfs(*id) + "/tmp/caf\xe9", "a name that is not UTF-8\n");
  ProcessResult r = w.Sh(*id, "rm /bin/cat; echo ok");
  ASSERT_EQ(r.out, "ok\n") << r.err;

  auto names = [](const json& list) {  // a name that is not UTF-8 comes as bytes
    std::vector<std::string> v;
    for (const auto& x : list) v.push_back(BytesFromJson(x).value_or("(malformed)"));
    return v;
  };
  using ::testing::Contains;
  // Running.
  auto running = w.Control("container.measure", {{"id", *id}});
  ASSERT_TRUE(running.ok()) << running.error().ToString();
  EXPECT_THAT(names((*running)["created"]), Contains("/tmp/new.txt")) << running->dump(1);
  EXPECT_THAT(names((*running)["created"]), Contains("/tmp/caf\xe9")) << running->dump(1);
  EXPECT_THAT(names((*running)["changed"]), Contains("/etc/motd")) << running->dump(1);
  EXPECT_THAT(names((*running)["deleted"]), Contains("/bin/cat")) << running->dump(1);
  EXPECT_GT((*running)["denied"].get<int>(), 0);  // neither file is in the image's baseline
  EXPECT_TRUE(HasEntry(w.LogEntries(*id), "/etc/motd", "deny"));
  // Alarms are published after the journal commit that Submit waits for.
  EXPECT_TRUE(WaitFor([&] { return HasAlarm(w, "container files denied by policy", "/etc/motd"); },
                      std::chrono::seconds(10)));

  // immunectl prints the same, each name on one line (escaped), exit 1 as
  // policy does not allow all of it.
  auto cli = RunProcess(
      {IMMUNECTL_BIN, "tsb", "--state-dir", w.dir() + "/state", "measure", "--container", *id}, 60000);
  ASSERT_TRUE(cli.ok()) << cli.error().ToString();
  EXPECT_EQ(cli->exit_code, 1) << cli->out << cli->err;
  EXPECT_NE(cli->out.find("created  /tmp/caf\\xe9\n"), std::string::npos) << cli->out << cli->err;
  EXPECT_NE(cli->out.find("changed  /etc/motd\n"), std::string::npos) << cli->out;

  // Paused: measured from the host, nothing inside runs; the layers come from the cache.
  ASSERT_TRUE(w.runc().Pause(*id).ok());
  auto paused = w.Control("container.measure", {{"id", *id}});
  ASSERT_TRUE(paused.ok()) << paused.error().ToString();
  EXPECT_THAT(names((*paused)["changed"]), Contains("/etc/motd"));
  EXPECT_EQ((*paused)["layer_files_hashed"], 0) << paused->dump(1);
  EXPECT_EQ((*paused)["hashed_files"], (*running)["hashed_files"]);  // only the upper dir's files
  ASSERT_TRUE(w.runc().Resume(*id).ok());

  // Stopped and deleted (unregistered by the poststop hook): by its directories.
  ASSERT_TRUE(w.runc().Kill(*id).ok());
  ASSERT_TRUE(w.runc().WaitForStatus(*id, "stopped").ok());
  ASSERT_TRUE(w.runc().Delete(*id).ok());
  auto stopped = w.Control("container.measure", {{"id", *id},
                                                 {"image", "busybox:test"},
                                                 {"lowers", json::array({w.lower()})},
                                                 {"upper", w.bundle(0)->upper()}});
  ASSERT_TRUE(stopped.ok()) << stopped.error().ToString();
  EXPECT_THAT(names((*stopped)["created"]), Contains("/tmp/new.txt"));
  EXPECT_THAT(names((*stopped)["deleted"]), Contains("/bin/cat"));
}

TEST(ImmunedIntegrity, PatchedTextInAContainerIsFoundAndKilled) {
  IMMUNE_REQUIRE_RUNC_HARNESS();
  GateWorld w;
  const std::string policy = "apiVersion: immune/v1\nkind: Policy\nscope: {containers: all}\nmode: enforce\n"
                             "actions: [deny, kill, alarm]\nallow:\n  - " + FileSha256("/usr/bin/busybox") +
                             "\n  - " + FileSha256(PIMS_SELF_PATCH) + "\n---\napiVersion: immune/v1\nkind: Policy\n"
                             "scope: host\n";
  ASSERT_TRUE(w.Start(policy, "", {}, "integrity:\n  pims_interval_ms: 200\n")) << policy;
  auto id = w.StartContainer("pims");
  ASSERT_TRUE(id.ok()) << w.DaemonLog();
  std::filesystem::copy_file(PIMS_SELF_PATCH, w.rootfs(*id) + "/tmp/selfpatch");
  // stdin stays open (a pipe from sleep) so the helper waits, patched.
  auto pid = w.runc().ExecDetached(*id, {"sh", "-c", "sleep 60 | /tmp/selfpatch"});
  ASSERT_TRUE(pid.ok()) << pid.error().ToString();
  ASSERT_TRUE(WaitFor([&] { return HasAlarm(w, "process code modified in memory", "selfpatch"); },
                      std::chrono::seconds(30)))
      << w.DaemonLog() << policy << json(w.LogEntries()).dump(1);
  EXPECT_TRUE(HasAlarm(w, "process code modified in memory", "killed pid"));
  bool logged = false;
  for (const auto& e : w.LogEntries(*id)) logged = logged || e["rule"] == "pims:modified-text";
  EXPECT_TRUE(logged);
  // The patched process is gone; the container goes on.
  ProcessResult ps = w.Sh(*id, "ps -o comm | grep -c selfpatch; true");
  EXPECT_EQ(ps.out, "0\n") << ps.out << ps.err;
}

TEST(ImmunedIntegrity, CriticalFileChangesAreLoggedAndAlarmed) {
  IMMUNE_REQUIRE_RUNC_HARNESS();
  GateWorld w;
  const std::string conf = "/tmp/immune-critical-" + std::to_string(::getpid()) + ".conf";
  WriteText(conf, "PermitRootLogin no\n");
  ASSERT_TRUE(w.Start(Policy("enforce"), "", {},
                      "integrity:\n  watch_critical_files: true\n  critical_files: [" + conf + "]\n"));
  EXPECT_TRUE(HasEntry(w.LogEntries(), conf, "allow"));  // measured at start
  WriteText(conf, "PermitRootLogin yes\n");
  EXPECT_TRUE(WaitFor([&] { return HasAlarm(w, "critical configuration file changed", conf); },
                      std::chrono::seconds(30)))
      << w.DaemonLog();
  EXPECT_TRUE(HasEntry(w.LogEntries(), conf, "audit"));
  ::unlink(conf.c_str());
}

TEST(ImmunedIntegrity, CriticalFilesNamedInPolicyAreWatchedFromTheirApply) {
  IMMUNE_REQUIRE_RUNC_HARNESS();
  GateWorld w;
  const std::string conf = "/tmp/immune-critical-policy-" + std::to_string(::getpid()) + ".conf";
  WriteText(conf, "net.ipv4.ip_forward = 0\n");
  ASSERT_TRUE(w.Start(Policy("enforce")));
  auto applied = w.Control("policy.apply", {{"text", Policy("enforce") + "critical-files: [" + conf + "]\n"},
                                            {"source", "critical.yaml"}});
  ASSERT_TRUE(applied.ok()) << applied.error().ToString();
  EXPECT_TRUE(HasEntry(w.LogEntries(), conf, "allow"));  // measured when named
  WriteText(conf, "net.ipv4.ip_forward = 1\n");
  EXPECT_TRUE(WaitFor([&] { return HasAlarm(w, "critical configuration file changed", conf); },
                      std::chrono::seconds(30)))
      << w.DaemonLog();
  ::unlink(conf.c_str());
}

}  // namespace
}  // namespace immune::tsbd::testing
