// Overlay measurement of real runc containers (root, runc, busybox-static,
// overlayfs) in every state: running, paused (frozen) and stopped with the
// overlay unmounted. Each test enters a private mount namespace first, so
// the binary runs one test per process (gtest_discover_tests).
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <filesystem>
#include <fstream>

#include "immune/agents/overlay_measure.h"
#include "runc_harness.h"

namespace immune::agents {
namespace {

namespace fs = std::filesystem;
using testing::BundleOptions;
using testing::OverlayBundle;
using testing::Runc;
using testing::ScratchDir;

constexpr const char* kImage = "example.org/busybox:overlay";

Bytes H(const std::string& s) { return *Hash(HashAlg::kSha256, AsBytes(s)); }

// Regular files in a directory tree, counted independently of the walker
// under test.
std::uint64_t RegularFiles(const std::string& dir) {
  std::uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.symlink_status().type() == fs::file_type::regular) ++n;
  }
  return n;
}

const OverlayItem* Find(const std::vector<OverlayItem>& items, const std::string& path) {
  for (const auto& i : items) {
    if (i.path == path) return &i;
  }
  return nullptr;
}

class OverlayRuncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IMMUNE_REQUIRE_RUNC_HARNESS();
    auto scene = testing::MakeRuncScene(dir_.path());
    ASSERT_TRUE(scene.ok()) << scene.error().ToString();
    lower_ = scene->lower;
    runc_ = std::move(scene->runc);
    std::ofstream(lower_ + "/etc/config") << "orig\n";
    std::ofstream(lower_ + "/etc/victim") << "doomed\n";
    bundle_ = MakeBundle("bundle");
    ASSERT_NE(bundle_, nullptr);
    id_ = testing::UniqueContainerId("ovl");
    auto m = OverlayMeasurer::Create({});
    ASSERT_TRUE(m.ok()) << m.error().ToString();
    measurer_ = std::move(*m);
  }

  std::unique_ptr<OverlayBundle> MakeBundle(const std::string& name) {
    BundleOptions opt;
    opt.args = {"sleep", "1000"};
    opt.annotations = {{"org.opencontainers.image.ref.name", kImage}};
    auto b = OverlayBundle::Create(dir_.path() + "/" + name, lower_, opt);
    EXPECT_TRUE(b.ok()) << b.error().ToString();
    return b.ok() ? std::move(*b) : nullptr;
  }

  // Starts the container and, inside it, adds /etc/added, rewrites
  // /etc/config and removes /etc/victim (all copy-up / whiteout work done by
  // the kernel in the upper dir).
  void StartAndChange() {
    ASSERT_TRUE(runc_->Create(id_, bundle_->bundle()).ok());
    ASSERT_TRUE(runc_->Start(id_).ok());
    ASSERT_TRUE(runc_->WaitForStatus(id_, "running").ok());
    auto r = runc_->Exec(
        id_, {"sh", "-c", "echo new > /etc/added && echo changed > /etc/config && rm /etc/victim"});
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    ASSERT_EQ(r->exit_code, 0) << r->err;
  }

  ContainerInfo Info(ContainerStatus status) {
    ContainerInfo info;
    info.id = id_;
    info.rootfs = bundle_->rootfs();
    info.image = kImage;
    info.status = status;
    auto st = runc_->State(id_);
    if (st.ok()) info.init_pid = st->value("pid", 0);
    return info;
  }

  void ExpectChangesFound(const OverlayReport& r) {
    const OverlayItem* added = Find(r.created, "/etc/added");
    ASSERT_NE(added, nullptr) << "created /etc/added not reported";
    EXPECT_EQ(added->digest, H("new\n"));
    const OverlayItem* changed = Find(r.changed, "/etc/config");
    ASSERT_NE(changed, nullptr) << "changed /etc/config not reported";
    EXPECT_EQ(changed->digest, H("changed\n"));
    EXPECT_EQ(changed->lower_digest, H("orig\n"));
    const OverlayItem* deleted = Find(r.deleted, "/etc/victim");
    ASSERT_NE(deleted, nullptr) << "deleted /etc/victim not reported";
    EXPECT_EQ(deleted->lower_digest, H("doomed\n"));
    // Only the upper dir's files were read; busybox and the rest inherited.
    EXPECT_EQ(r.hashed_files, RegularFiles(bundle_->upper()));
    EXPECT_GT(r.inherited, testing::BusyboxApplets().size());
    EXPECT_EQ(r.inherited + r.changed.size() + r.unchanged_copied_up.size() + r.deleted.size(),
              r.lower_view->size());
  }

  ScratchDir dir_;  // destroyed last: after the containers and the overlays
  std::string lower_;
  std::unique_ptr<OverlayBundle> bundle_;
  std::unique_ptr<Runc> runc_;
  std::string id_;
  std::unique_ptr<OverlayMeasurer> measurer_;
};

TEST_F(OverlayRuncTest, RunningContainerChangesAreFoundFromItsMountinfo) {
  StartAndChange();
  auto layout = OverlayLayoutForContainer(Info(ContainerStatus::kRunning));
  ASSERT_TRUE(layout.ok()) << layout.error().ToString();
  EXPECT_EQ(layout->mount_point, "/");  // read from the init's mount namespace
  EXPECT_EQ(layout->lowers, std::vector<std::string>{lower_});
  EXPECT_EQ(layout->upper, bundle_->upper());
  auto r = measurer_->Measure(*layout);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ExpectChangesFound(*r);
  EXPECT_EQ(r->layers_built, 1u);

  OverlayEntryOptions opt;
  opt.container_id = id_;
  opt.image = kImage;
  auto entries = OverlayReportEntries(*r, opt);
  ASSERT_TRUE(entries.ok()) << entries.error().ToString();
  ASSERT_EQ(entries->size(), r->created.size() + r->changed.size());
  bool config = false;
  for (const auto& e : *entries) {
    EXPECT_EQ(e.container_id, id_);
    if (e.path == "/etc/config") config = e.rule == "overlay:changed";
  }
  EXPECT_TRUE(config);
}

TEST_F(OverlayRuncTest, PausedContainerIsMeasuredWithoutWakingIt) {
  StartAndChange();
  ASSERT_TRUE(runc_->Pause(id_).ok());
  ASSERT_TRUE(runc_->WaitForStatus(id_, "paused").ok());
  auto layout = OverlayLayoutForContainer(Info(ContainerStatus::kPaused));
  ASSERT_TRUE(layout.ok()) << layout.error().ToString();
  auto r = measurer_->Measure(*layout);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ExpectChangesFound(*r);
  auto st = runc_->State(id_);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->value("status", ""), "paused");
  ASSERT_TRUE(runc_->Resume(id_).ok());
}

TEST_F(OverlayRuncTest, StoppedContainerIsMeasuredFromItsDirectories) {
  StartAndChange();
  ASSERT_TRUE(runc_->Kill(id_).ok());
  ASSERT_TRUE(runc_->WaitForStatus(id_, "stopped").ok());
  ContainerInfo info = Info(ContainerStatus::kStopped);
  ASSERT_TRUE(runc_->Delete(id_).ok());
  ASSERT_EQ(::umount2(bundle_->rootfs().c_str(), MNT_DETACH), 0);
  auto unmounted = OverlayLayoutForContainer(info);
  ASSERT_FALSE(unmounted.ok());
  EXPECT_EQ(unmounted.error().code(), ErrorCode::kNotFound);

  OverlayLayout layout;
  layout.lowers = {lower_};
  layout.upper = bundle_->upper();
  auto r = measurer_->Measure(layout);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ExpectChangesFound(*r);
}

TEST_F(OverlayRuncTest, ASecondContainerOfTheImageHashesNoLayerFile) {
  StartAndChange();
  auto layout = OverlayLayoutForContainer(Info(ContainerStatus::kRunning));
  ASSERT_TRUE(layout.ok()) << layout.error().ToString();
  auto first = measurer_->Measure(*layout);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_GT(first->layer_files_hashed, 0u);

  auto other = MakeBundle("bundle2");
  ASSERT_NE(other, nullptr);
  const std::string id2 = testing::UniqueContainerId("ovl2");
  ASSERT_TRUE(runc_->Run(id2, other->bundle()).ok());
  ASSERT_TRUE(runc_->WaitForStatus(id2, "running").ok());
  auto r = runc_->Exec(id2, {"sh", "-c", "echo two > /etc/config"});
  ASSERT_TRUE(r.ok() && r->exit_code == 0);
  auto st = runc_->State(id2);
  ASSERT_TRUE(st.ok());
  ContainerInfo info2;
  info2.id = id2;
  info2.status = ContainerStatus::kRunning;
  info2.init_pid = st->value("pid", 0);
  auto layout2 = OverlayLayoutForContainer(info2);
  ASSERT_TRUE(layout2.ok()) << layout2.error().ToString();
  auto second = measurer_->Measure(*layout2);
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(second->layers_cached, 1u);
  EXPECT_EQ(second->layer_files_hashed, 0u);
  EXPECT_EQ(second->hashed_files, RegularFiles(other->upper()));
  ASSERT_EQ(second->changed.size(), 1u);
  EXPECT_EQ(second->changed[0].digest, H("two\n"));
  EXPECT_TRUE(second->created.empty());
  EXPECT_TRUE(second->deleted.empty());
  ASSERT_TRUE(runc_->Kill(id2).ok());
  ASSERT_TRUE(runc_->WaitForStatus(id2, "stopped").ok());
  ASSERT_TRUE(runc_->Delete(id2).ok());
}

}  // namespace
}  // namespace immune::agents
