// The parsers of untrusted state files: good inputs, and bad ones whose
// errors must name the source and the place.
#include "immune/agents/container_oci.h"

#include <gtest/gtest.h>

namespace immune::agents {
namespace {

void ExpectErrorMentions(const Error& e, std::initializer_list<const char*> parts) {
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.ToString();
  for (const char* p : parts)
    EXPECT_NE(e.message().find(p), std::string::npos) << e.message() << " lacks " << p;
}

TEST(OciState, ParsesWhatRuncPrints) {
  const std::string s = R"({"ociVersion":"1.0.2-dev","id":"c1","pid":4447,"status":"running",
    "bundle":"/tmp/rt/b","rootfs":"/tmp/rt/merged","created":"2026-11-23T15:34:08Z","owner":"",
    "annotations":{"org.opencontainers.image.ref.name":"busybox:1"}})";
  auto st = ParseOciState(s, "stdin");
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  EXPECT_EQ(st->id, "c1");
  EXPECT_EQ(st->pid, 4447);
  EXPECT_EQ(st->status, "running");
  EXPECT_EQ(st->bundle, "/tmp/rt/b");
  EXPECT_EQ(st->annotations.at("org.opencontainers.image.ref.name"), "busybox:1");
}

TEST(OciState, BadInputsNameThePlace) {
  auto r = ParseOciState(R"({"ociVersion":"1","status":"running","bundle":"/b"})", "stdin");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"stdin", "/id", "missing"});

  r = ParseOciState(R"({"ociVersion":"1","id":"x","status":"running","bundle":"/b","pid":"7"})", "stdin");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"stdin", "/pid"});

  r = ParseOciState(R"({"ociVersion":"1","id":"x","status":"running","bundle":"/b","pid":-1})", "stdin");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"/pid", "not a pid"});

  r = ParseOciState(R"({"ociVersion":"1","id":"x","status":"running","bundle":"relative"})", "stdin");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"/bundle", "absolute"});

  r = ParseOciState(R"({"ociVersion":"1","id":"x","status":"running","bundle":"/b","annotations":{"k":1}})",
                    "stdin");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"/annotations/k"});

  r = ParseOciState(R"({"ociVersion":"1", "id": )", "stdin");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"stdin", "byte"});

  r = ParseOciState("[1,2]", "stdin");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"object"});
  EXPECT_FALSE(ParseOciState("", "stdin").ok());
}

TEST(BundleConfig, ParsesHooksNamespacesMounts) {
  const std::string c = R"({"ociVersion":"1.0.2-dev","root":{"path":"rootfs","readonly":true},
    "annotations":{"io.containerd.image.name":"alpine"},
    "hooks":{"createRuntime":[{"path":"/usr/libexec/immune/immune-oci-hook","args":["immune-oci-hook","createRuntime"],"timeout":5}],
             "poststop":[{"path":"/bin/true"}]},
    "linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/proc/1/ns/net"}]},
    "mounts":[{"destination":"/proc","type":"proc","source":"proc"},{"destination":"/dev","options":["nosuid"]}]})";
  auto cfg = ParseBundleConfig(c, "/b/config.json");
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  EXPECT_EQ(cfg->root_path, "rootfs");
  EXPECT_TRUE(cfg->root_readonly);
  EXPECT_EQ(cfg->annotations.at("io.containerd.image.name"), "alpine");
  ASSERT_EQ(cfg->hooks.at("createRuntime").size(), 1u);
  EXPECT_EQ(cfg->hooks.at("createRuntime")[0].args[1], "createRuntime");
  EXPECT_EQ(cfg->hooks.at("createRuntime")[0].timeout, 5);
  ASSERT_EQ(cfg->namespaces.size(), 2u);
  EXPECT_EQ(cfg->namespaces[1].path, "/proc/1/ns/net");
  ASSERT_EQ(cfg->mounts.size(), 2u);
  EXPECT_EQ(cfg->mounts[1].options[0], "nosuid");
  EXPECT_EQ(ResolveRootfs("/b", cfg->root_path), "/b/rootfs");
  EXPECT_EQ(ResolveRootfs("/b", "/abs/root/"), "/abs/root/");
  EXPECT_EQ(ResolveRootfs("/b/x", "../rootfs"), "/b/rootfs");
}

TEST(BundleConfig, BadInputsNameThePlace) {
  auto r = ParseBundleConfig(R"({"root":{"readonly":true}})", "/b/config.json");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"/b/config.json", "/root/path", "missing"});
  r = ParseBundleConfig(R"({"root":{"path":7}})", "/b/config.json");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"/root/path", "string"});
  r = ParseBundleConfig(R"({"root":{"path":"r"},"hooks":{"prestart":[{"args":[]}]}})", "cfg");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"/hooks/prestart/0/path"});
  r = ParseBundleConfig(R"({"root":{"path":"r"},"hooks":{"prestart":[{"path":"/x","timeout":0}]}})", "cfg");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"/hooks/prestart/0/timeout"});
  r = ParseBundleConfig(R"({"root":{"path":"r"},"linux":{"namespaces":[{"path":"/x"}]}})", "cfg");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"/linux/namespaces/0/type"});
  r = ParseBundleConfig(R"({"root":{"path":"r"},"mounts":[{"destination":"/d","options":["a",2]}]})", "cfg");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"/mounts/0/options/1"});
  r = ParseBundleConfig(R"({"root":"r"})", "cfg");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"/root", "object"});
}

// The shape of a real state.json written by runc 1.1.5 (trimmed to what is
// read; captured from a container made with the runc harness).
constexpr const char* kRuncState = R"({"id":"c1","init_process_pid":4447,"init_process_start":1122166,
  "created":"2026-11-23T15:34:08.541701992Z",
  "config":{"no_pivot_root":false,"rootfs":"/tmp/rt/merged","readonlyfs":true,
            "labels":["bundle=/tmp/rt/b","org.opencontainers.image.ref.name=busybox:1=x"]},
  "rootless":false,
  "cgroup_paths":{"":"/sys/fs/cgroup/unified/c1","freezer":"/sys/fs/cgroup/freezer/c1"},
  "namespace_paths":{"NEWPID":"/proc/4447/ns/pid"}})";

TEST(RuncState, ParsesState) {
  auto s = ParseRuncState(kRuncState, "/run/runc/c1/state.json");
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->id, "c1");
  EXPECT_EQ(s->init_pid, 4447);
  EXPECT_EQ(s->init_start_time, 1122166u);
  EXPECT_EQ(s->rootfs, "/tmp/rt/merged");
  EXPECT_EQ(s->bundle, "/tmp/rt/b");
  EXPECT_EQ(s->labels.at("org.opencontainers.image.ref.name"), "busybox:1=x");
  EXPECT_EQ(s->cgroup_paths.at("freezer"), "/sys/fs/cgroup/freezer/c1");
}

TEST(RuncState, BadInputsNameThePlace) {
  nlohmann::json j = nlohmann::json::parse(kRuncState);
  j["init_process_start"] = -3;
  auto r = ParseRuncState(j.dump(), "state.json");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"state.json", "/init_process_start"});
  j = nlohmann::json::parse(kRuncState);
  j["config"].erase("rootfs");
  r = ParseRuncState(j.dump(), "state.json");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"/config/rootfs"});
  j = nlohmann::json::parse(kRuncState);
  j["config"]["labels"] = {1};
  r = ParseRuncState(j.dump(), "state.json");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"/config/labels/0"});
  j = nlohmann::json::parse(kRuncState);
  j.erase("config");
  r = ParseRuncState(j.dump(), "state.json");
  ASSERT_FALSE(r.ok());
  ExpectErrorMentions(r.error(), {"/config"});
}

TEST(CrunStatus, ParsesStatus) {
  const std::string s = R"({"pid":139179,"process-start-time":263473330,"cgroup-path":"/busybox1","scope":"",
    "rootfs":"rootfs","systemd-cgroup":false,"bundle":"/home/u/ct","created":"2021-08-29T14:34:52Z",
    "owner":"root","detached":true})";
  auto c = ParseCrunStatus(s, "/run/crun/busybox1/status");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->pid, 139179);
  EXPECT_EQ(c->process_start_time, 263473330u);
  EXPECT_EQ(c->cgroup_path, "/busybox1");
  EXPECT_EQ(ResolveRootfs(c->bundle, c->rootfs), "/home/u/ct/rootfs");
  auto bad = ParseCrunStatus(R"({"pid":1,"rootfs":"r"})", "status");
  ASSERT_FALSE(bad.ok());
  ExpectErrorMentions(bad.error(), {"status", "/bundle"});
}

}  // namespace
}  // namespace immune::agents
