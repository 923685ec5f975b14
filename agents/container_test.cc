// The model and the register/unregister wire format.
#include "immune/agents/container.h"

#include <gtest/gtest.h>

namespace immune::agents {
namespace {

ContainerInfo Sample() {
  ContainerInfo c;
  c.id = "web-1";
  c.runtime = ContainerRuntime::kContainerd;
  c.bundle = "/run/containerd/io.containerd.runtime.v2.task/k8s.io/web-1";
  c.rootfs = c.bundle + "/rootfs";
  c.rootfs_readonly = true;
  c.image = "docker.io/library/nginx:1.25";
  c.init_pid = 4242;
  c.init_start_time = 1122166;
  c.pidns_inode = 4026532501;
  c.mntns_inode = 4026532499;
  c.rootfs_dev = 77;
  c.cgroup = "/kubepods/besteffort/pod1/web-1";
  c.status = ContainerStatus::kPaused;
  c.annotations = {{"io.kubernetes.cri.image-name", "docker.io/library/nginx:1.25"}};
  return c;
}

TEST(ContainerModel, NamesRoundTrip) {
  for (auto r : {ContainerRuntime::kUnknown, ContainerRuntime::kRunc, ContainerRuntime::kCrun,
                 ContainerRuntime::kContainerd, ContainerRuntime::kDocker, ContainerRuntime::kPodman}) {
    auto back = ParseContainerRuntime(ContainerRuntimeName(r));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, r);
  }
  EXPECT_FALSE(ParseContainerRuntime("lxc").ok());
  EXPECT_EQ(*ParseContainerStatus("creating"), ContainerStatus::kCreated);
  EXPECT_EQ(*ParseContainerStatus("paused"), ContainerStatus::kPaused);
  auto bad = ParseContainerStatus("zombie");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("zombie"), std::string::npos);
}

TEST(ContainerModel, ImageAndRuntimeFromAnnotations) {
  EXPECT_EQ(ImageFromAnnotations({}), "");
  EXPECT_EQ(
      ImageFromAnnotations({{"io.containerd.image.name", "b"}, {"org.opencontainers.image.ref.name", "a"}}),
      "a");
  EXPECT_EQ(ImageFromAnnotations({{"io.kubernetes.cri.image-name", "k"}}), "k");
  EXPECT_EQ(RuntimeFromAnnotations({{"io.container.manager", "libpod"}}, ContainerRuntime::kRunc),
            ContainerRuntime::kPodman);
  EXPECT_EQ(RuntimeFromAnnotations({}, ContainerRuntime::kCrun), ContainerRuntime::kCrun);
}

TEST(ContainerModel, RegisterArgsRoundTrip) {
  ContainerRegisterArgs a{"createRuntime", Sample()};
  const nlohmann::json j = ContainerRegisterArgsToJson(a);
  EXPECT_EQ(j["container"]["status"], "paused");
  EXPECT_EQ(j["container"]["runtime"], "containerd");
  auto back = ContainerRegisterArgsFromJson(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->stage, "createRuntime");
  EXPECT_EQ(back->container, a.container);
}

TEST(ContainerModel, UnregisterArgsRoundTrip) {
  ContainerUnregisterArgs a{"poststop", "web-1", "/b"};
  auto back = ContainerUnregisterArgsFromJson(ContainerUnregisterArgsToJson(a));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->id, "web-1");
  EXPECT_EQ(back->bundle, "/b");
  auto missing = ContainerUnregisterArgsFromJson(nlohmann::json{{"stage", "poststop"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("/id"), std::string::npos) << missing.error().message();
}

TEST(ContainerModel, RegisterArgsErrorsNameTheField) {
  nlohmann::json j = ContainerRegisterArgsToJson({"createRuntime", Sample()});
  j["container"]["init_pid"] = "12";
  auto r = ContainerRegisterArgsFromJson(j);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("args.container: /init_pid"), std::string::npos) << r.error().message();

  j = ContainerRegisterArgsToJson({"createRuntime", Sample()});
  j["container"]["annotations"]["x"] = 3;
  r = ContainerRegisterArgsFromJson(j);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("/annotations/x"), std::string::npos) << r.error().message();

  j = ContainerRegisterArgsToJson({"createRuntime", Sample()});
  j["container"]["status"] = "zombie";
  r = ContainerRegisterArgsFromJson(j);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("/status"), std::string::npos);

  EXPECT_FALSE(ContainerRegisterArgsFromJson(nlohmann::json::array()).ok());
  EXPECT_FALSE(ContainerRegisterArgsFromJson(nlohmann::json{{"stage", "x"}}).ok());
  j = ContainerRegisterArgsToJson({"createRuntime", Sample()});
  j["container"]["init_pid"] = -5;
  EXPECT_FALSE(ContainerRegisterArgsFromJson(j).ok());
}

}  // namespace
}  // namespace immune::agents
