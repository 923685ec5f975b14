// The OCI hook with real runc: the state a createRuntime hook receives, and
// immune-oci-hook end to end against a REP socket that plays the daemon.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>
#include <zmq.hpp>

#include "immune/agents/container_hook.h"
#include "immune/agents/container_oci.h"
#include "runc_harness.h"

namespace immune::agents {
namespace {

using testing::BundleOptions;
using testing::HookSpec;
using testing::OverlayBundle;
using testing::Runc;
using testing::ScratchDir;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Answers every control request on `endpoint` with
// `reply_for(request)`, recording each request. Stops when destroyed or
// after 30 s without a request, so a test never hangs on it.
class FakeDaemon {
 public:
  FakeDaemon(std::string endpoint, std::function<nlohmann::json(const nlohmann::json&)> reply_for)
      : endpoint_(std::move(endpoint)), reply_for_(std::move(reply_for)) {
    socket_.set(zmq::sockopt::rcvtimeo, 100);  // to notice stop_ promptly
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind(endpoint_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeDaemon() {
    stop_ = true;
    thread_.join();
  }
  std::vector<nlohmann::json> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    int idle_ms = 0;
    while (!stop_ && idle_ms < 30000) {
      zmq::message_t msg;
      zmq::recv_result_t got;
      try {
        got = socket_.recv(msg);
      } catch (const zmq::error_t&) {
        return;
      }
      if (!got) {
        idle_ms += 100;
        continue;
      }
      idle_ms = 0;
      nlohmann::json req = nlohmann::json::parse(msg.to_string(), nullptr, false);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(req);
      }
      const std::string reply = reply_for_(req).dump();
      socket_.send(zmq::buffer(reply), zmq::send_flags::none);
    }
  }

  std::string endpoint_;
  std::function<nlohmann::json(const nlohmann::json&)> reply_for_;
  zmq::context_t ctx_;
  zmq::socket_t socket_{ctx_, zmq::socket_type::rep};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<nlohmann::json> requests_;
  std::thread thread_;
};

class HookRuncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IMMUNE_REQUIRE_RUNC_HARNESS();  // before any thread exists (FakeDaemon starts one)
    auto scene = testing::MakeRuncScene(dir_.path());
    ASSERT_TRUE(scene.ok()) << scene.error().ToString();
    runc_ = std::move(scene->runc);
    id_ = testing::UniqueContainerId("hook");
    endpoint_ = "ipc://" + dir_.path() + "/control.sock";
  }

  void MakeBundle(const BundleOptions& opt) {
    auto b = OverlayBundle::Create(dir_.path() + "/bundle", dir_.path() + "/lower", opt);
    ASSERT_TRUE(b.ok()) << b.error().ToString();
    bundle_ = std::move(*b);
  }

  HookSpec OciHook(const std::string& stage, std::vector<std::string> extra = {}) const {
    HookSpec h;
    h.path = IMMUNE_OCI_HOOK_PATH;
    h.args = {"immune-oci-hook", "--control", endpoint_, "--timeout-ms", "20000"};
    h.args.insert(h.args.end(), extra.begin(), extra.end());
    h.args.push_back(stage);
    return h;
  }

  ScratchDir dir_;
  std::unique_ptr<OverlayBundle> bundle_;
  std::unique_ptr<Runc> runc_;
  std::string id_;
  std::string endpoint_;
};

TEST_F(HookRuncTest, ParsesTheRealStateACreateRuntimeHookReceives) {
  const std::string state_file = dir_.path() + "/hook-state.json";
  BundleOptions opt;
  opt.annotations = {{"org.opencontainers.image.ref.name", "example.org/busybox:1.36"}};
  opt.hooks["createRuntime"] = {HookSpec{"/bin/sh", {"sh", "-c", "cat > " + state_file}, 10}};
  MakeBundle(opt);
  auto c = runc_->Create(id_, bundle_->bundle());
  ASSERT_TRUE(c.ok()) << c.error().ToString();

  const std::string bytes = Slurp(state_file);
  auto st = ParseOciState(bytes, state_file);
  ASSERT_TRUE(st.ok()) << st.error().ToString() << "\n" << bytes;
  EXPECT_EQ(st->id, id_);
  EXPECT_EQ(st->bundle, bundle_->bundle());
  auto runc_state = runc_->State(id_);
  ASSERT_TRUE(runc_state.ok());
  EXPECT_EQ(st->pid, runc_state->value("pid", 0));
  EXPECT_EQ(st->annotations.at("org.opencontainers.image.ref.name"), "example.org/busybox:1.36");

  // What the hook would send, built from that state while the init lives.
  auto req = BuildHookRequest(bytes, HookOptions{"createRuntime", "/proc"});
  ASSERT_TRUE(req.ok()) << req.error().ToString();
  EXPECT_EQ((*req)["cmd"], "container.register");
  auto args = ContainerRegisterArgsFromJson((*req)["args"]);
  ASSERT_TRUE(args.ok()) << args.error().ToString();
  EXPECT_EQ(args->container.rootfs, bundle_->rootfs());
  EXPECT_EQ(args->container.image, "example.org/busybox:1.36");
  struct stat ns {};
  ASSERT_EQ(::stat(("/proc/" + std::to_string(st->pid) + "/ns/pid").c_str(), &ns), 0);
  EXPECT_EQ(args->container.pidns_inode, static_cast<std::uint64_t>(ns.st_ino));
}

TEST_F(HookRuncTest, DaemonAcceptsThenContainerRunsAndUnregistersOnDelete) {
  BundleOptions opt;
  opt.annotations = {{"io.containerd.image.name", "example.org/app:2"}};
  opt.hooks["createRuntime"] = {OciHook("createRuntime")};
  opt.hooks["poststop"] = {OciHook("poststop")};
  MakeBundle(opt);
  FakeDaemon daemon(endpoint_, [](const nlohmann::json&) {
    return nlohmann::json{{"v", 1}, {"ok", true}, {"result", nlohmann::json::object()}};
  });

  auto run = runc_->Run(id_, bundle_->bundle());
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  ASSERT_TRUE(runc_->WaitForStatus(id_, "running").ok());
  auto reqs = daemon.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0]["v"], 1);
  EXPECT_EQ(reqs[0]["cmd"], "container.register");
  auto args = ContainerRegisterArgsFromJson(reqs[0]["args"]);
  ASSERT_TRUE(args.ok()) << args.error().ToString();
  EXPECT_EQ(args->stage, "createRuntime");
  EXPECT_EQ(args->container.id, id_);
  EXPECT_EQ(args->container.bundle, bundle_->bundle());
  EXPECT_EQ(args->container.rootfs, bundle_->rootfs());
  EXPECT_EQ(args->container.image, "example.org/app:2");
  EXPECT_EQ(args->container.init_pid, runc_->State(id_)->value("pid", 0));
  EXPECT_NE(args->container.pidns_inode, 0u);

  ASSERT_TRUE(runc_->Delete(id_, /*force=*/true).ok());
  reqs = daemon.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1]["cmd"], "container.unregister");
  auto un = ContainerUnregisterArgsFromJson(reqs[1]["args"]);
  ASSERT_TRUE(un.ok()) << un.error().ToString();
  EXPECT_EQ(un->id, id_);
  EXPECT_EQ(un->stage, "poststop");
}

TEST_F(HookRuncTest, DaemonRefusesThenContainerNeverStarts) {
  BundleOptions opt;
  opt.hooks["createRuntime"] = {OciHook("createRuntime")};
  MakeBundle(opt);
  FakeDaemon daemon(endpoint_, [](const nlohmann::json&) {
    return nlohmann::json{{"v", 1},
                          {"ok", false},
                          {"error",
                           {{"code", "permission denied"},
                            {"field", "args.container.image"},
                            {"message", "image not in the baseline"}}}};
  });
  auto run = runc_->Command({"run", "--detach", "--bundle", bundle_->bundle(), id_});
  ASSERT_TRUE(run.ok());
  EXPECT_NE(run->exit_code, 0);
  EXPECT_NE(run->err.find("image not in the baseline"), std::string::npos) << run->err;
  EXPECT_EQ(daemon.requests().size(), 1u);
  auto st = runc_->State(id_);
  EXPECT_TRUE(!st.ok() || st->value("status", "") != "running") << st->dump();
  (void)runc_->Delete(id_, true);
}

TEST_F(HookRuncTest, NoDaemonFailsClosedUnlessFailOpen) {
  BundleOptions opt;
  // Nothing listens on the endpoint: the request times out.
  HookSpec closed = OciHook("createRuntime");
  closed.args[4] = "300";  // --timeout-ms
  opt.hooks["createRuntime"] = {closed};
  MakeBundle(opt);
  auto run = runc_->Command({"run", "--detach", "--bundle", bundle_->bundle(), id_});
  ASSERT_TRUE(run.ok());
  EXPECT_NE(run->exit_code, 0);
  EXPECT_NE(run->err.find(endpoint_), std::string::npos) << run->err;
  (void)runc_->Delete(id_, true);

  HookSpec open = OciHook("createRuntime", {"--fail-open"});
  open.args[4] = "300";
  opt.hooks["createRuntime"] = {open};
  ASSERT_TRUE(bundle_->Configure(opt).ok());
  const std::string id2 = testing::UniqueContainerId("open");
  auto ok = runc_->Run(id2, bundle_->bundle());
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_TRUE(runc_->WaitForStatus(id2, "running").ok());
}

TEST(HookUnit, StagesAndReplies) {
  EXPECT_EQ(*HookActionForStage("createRuntime"), HookAction::kRegister);
  EXPECT_EQ(*HookActionForStage("prestart"), HookAction::kRegister);
  EXPECT_EQ(*HookActionForStage("poststop"), HookAction::kUnregister);
  EXPECT_FALSE(HookActionForStage("poststart").ok());
  EXPECT_TRUE(CheckControlReply(R"({"v":1,"ok":true,"result":{}})").ok());
  auto refused = CheckControlReply(
      R"({"v":1,"ok":false,"error":{"code":"permission denied","field":"args.container","message":"no"}})");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(refused.error().message().find("args.container: no"), std::string::npos);
  EXPECT_EQ(CheckControlReply("nonsense").error().code(), ErrorCode::kCorruption);
  EXPECT_EQ(CheckControlReply(R"({"v":1})").error().code(), ErrorCode::kCorruption);
  EXPECT_EQ(CheckControlReply(R"({"ok":false})").error().code(), ErrorCode::kCorruption);
  // A poststop needs neither the bundle nor /proc.
  auto un = BuildHookRequest(R"({"ociVersion":"1.0.2","id":"x","status":"stopped","bundle":"/nonexistent"})",
                             HookOptions{});
  ASSERT_TRUE(un.ok()) << un.error().ToString();
  EXPECT_EQ((*un)["cmd"], "container.unregister");
  auto no_bundle = BuildHookRequest(
      R"({"ociVersion":"1.0.2","id":"x","status":"creating","pid":1,"bundle":"/nonexistent"})",
      HookOptions{});
  ASSERT_FALSE(no_bundle.ok());
  EXPECT_NE(no_bundle.error().message().find("/nonexistent/config.json"), std::string::npos);
}

}  // namespace
}  // namespace immune::agents
