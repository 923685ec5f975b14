// Overlay measurement on layers built by hand: files, symlinks, whiteouts
// (mknod 0/0), opaque directories (trusted.overlay.opaque), a two-layer
// image and an upper dir, plus the layer manifest cache on disk.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "immune/agents/overlay_measure.h"
#include "immune/core/file.h"
#include "immune/core/hex.h"

namespace immune::agents {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/immune-overlay-XXXXXX";
    path_ = ::mkdtemp(tmpl) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void Write(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

void Whiteout(const std::string& path) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_EQ(::mknod(path.c_str(), S_IFCHR | 0000, makedev(0, 0)), 0) << path << ": " << std::strerror(errno);
}

void Opaque(const std::string& dir) {
  fs::create_directories(dir);
  ASSERT_EQ(::setxattr(dir.c_str(), "trusted.overlay.opaque", "y", 1, 0), 0) << std::strerror(errno);
}

Bytes H(const std::string& s) { return *Hash(HashAlg::kSha256, AsBytes(s)); }

std::vector<std::string> Paths(const std::vector<OverlayItem>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i.path);
  return out;
}

bool CanMakeWhiteouts() {
  TempDir d;
  const std::string p = d.path() + "/w";
  if (::mknod(p.c_str(), S_IFCHR, makedev(0, 0)) != 0) return false;
  return ::setxattr(d.path().c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0;
}

// An image of two layers and a container's upper dir:
//   bottom: /bin/a /etc/conf(c1) /etc/gone /var/d/x /var/d/y /opt/o1 /lib/l -> a
//   top:    /bin/b /etc/conf(c2) and a whiteout of /var/d/y
//   upper:  /new (created), /etc/conf(c3) (changed), /bin/a (same content:
//           copied up by a chmod), whiteout /etc/gone, opaque /opt with /opt/o2.
class OverlayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CanMakeWhiteouts()) GTEST_SKIP() << "needs CAP_MKNOD and trusted xattrs (root)";
    ASSERT_FALSE(dir_.path().empty());
    bottom_ = dir_.path() + "/bottom";
    top_ = dir_.path() + "/top";
    upper_ = dir_.path() + "/upper";
    Write(bottom_ + "/bin/a", "A");
    Write(bottom_ + "/etc/conf", "c1");
    Write(bottom_ + "/etc/gone", "g");
    Write(bottom_ + "/var/d/x", "x");
    Write(bottom_ + "/var/d/y", "y");
    Write(bottom_ + "/opt/o1", "o1");
    fs::create_directories(bottom_ + "/lib");
    fs::create_symlink("a", bottom_ + "/lib/l");
    Write(top_ + "/bin/b", "B");
    Write(top_ + "/etc/conf", "c2");
    Whiteout(top_ + "/var/d/y");
    Write(upper_ + "/new", "n");
    Write(upper_ + "/etc/conf", "c3");
    Write(upper_ + "/bin/a", "A");
    Whiteout(upper_ + "/etc/gone");
    Opaque(upper_ + "/opt");
    Write(upper_ + "/opt/o2", "o2");
    layout_.lowers = {top_, bottom_};
    layout_.upper = upper_;
  }

  std::unique_ptr<OverlayMeasurer> Measurer(const std::string& cache_dir = "") {
    OverlayMeasureOptions opt;
    opt.cache_dir = cache_dir;
    auto m = OverlayMeasurer::Create(opt);
    EXPECT_TRUE(m.ok()) << m.error().ToString();
    return m.ok() ? std::move(*m) : nullptr;
  }

  TempDir dir_;
  std::string bottom_, top_, upper_;
  OverlayLayout layout_;
};

TEST_F(OverlayTest, ClassifiesTheUpperDirAgainstTheMergedLowers) {
  auto m = Measurer();
  auto r = m->Measure(layout_);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(Paths(r->created), (std::vector<std::string>{"/new", "/opt/o2"}));
  EXPECT_EQ(Paths(r->changed), (std::vector<std::string>{"/etc/conf"}));
  ASSERT_EQ(r->changed.size(), 1u);
  EXPECT_EQ(r->changed[0].digest, H("c3"));
  EXPECT_EQ(r->changed[0].lower_digest, H("c2"));  // the top layer's, not the bottom's
  EXPECT_EQ(Paths(r->unchanged_copied_up), (std::vector<std::string>{"/bin/a"}));
  EXPECT_EQ(Paths(r->deleted), (std::vector<std::string>{"/etc/gone", "/opt/o1"}));
  EXPECT_TRUE(r->deleted[0].digest.empty());
  EXPECT_EQ(r->deleted[0].lower_digest, H("g"));
  // Lower view: /bin/a /bin/b /etc/conf /etc/gone /lib/l /opt/o1 /var/d/x
  // (/var/d/y is whited out by the top layer).
  EXPECT_EQ(r->lower_view->size(), 7u);
  EXPECT_EQ(r->lower_view->count("/var/d/y"), 0u);
  EXPECT_EQ(r->lower_view->at("/lib/l"), H("a"));
  // 7 - 2 shadowed (/bin/a, /etc/conf) - 2 deleted.
  EXPECT_EQ(r->inherited, 3u);
  // Only the 4 regular files of the upper dir were read.
  EXPECT_EQ(r->hashed_files, 4u);
  EXPECT_EQ(r->hashed_bytes, 1u + 2u + 1u + 2u);
  EXPECT_EQ(r->layers_built, 2u);
  EXPECT_EQ(r->layer_files_hashed, 8u);  // 6 + 2 regular files; symlink targets are not file reads
}

TEST_F(OverlayTest, ASecondMeasurementHashesNoLayerFile) {
  auto m = Measurer();
  auto first = m->Measure(layout_);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  auto second = m->Measure(layout_);
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(second->layers_cached, 2u);
  EXPECT_EQ(second->layers_built, 0u);
  EXPECT_EQ(second->layer_files_hashed, 0u);
  EXPECT_EQ(second->hashed_files, 4u);
  EXPECT_EQ(m->layers().stats().builds, 2u);
  EXPECT_EQ(m->layers().stats().memory_hits, 2u);
}

TEST_F(OverlayTest, PersistedManifestsAreReusedUntilTheLayerChanges) {
  const std::string cache = dir_.path() + "/cache";
  {
    auto m = Measurer(cache);
    ASSERT_TRUE(m->Measure(layout_).ok());
    EXPECT_EQ(m->layers().stats().builds, 2u);
  }
  auto m = Measurer(cache);
  auto r = m->Measure(layout_);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(m->layers().stats().disk_hits, 2u);
  EXPECT_EQ(r->layer_files_hashed, 0u);

  // Same size, mtime put back: ctime and the fingerprint still move.
  struct stat before {};
  ASSERT_EQ(::stat((bottom_ + "/bin/a").c_str(), &before), 0);
  Write(bottom_ + "/bin/a", "Z");
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (bottom_ + "/bin/a").c_str(), times, 0), 0);
  auto fresh = Measurer(cache);
  auto r2 = fresh->Measure(layout_);
  ASSERT_TRUE(r2.ok()) << r2.error().ToString();
  EXPECT_EQ(fresh->layers().stats().disk_hits, 1u);  // the top layer
  EXPECT_EQ(r2->layers_built, 1u);
  EXPECT_EQ(r2->lower_view->at("/bin/a"), H("Z"));
  ASSERT_EQ(r2->changed.size(), 2u);  // the upper's /bin/a ("A") now differs from the layer
  EXPECT_EQ(r2->changed[0].path, "/bin/a");
}

TEST_F(OverlayTest, ACorruptCacheFileIsRejectedAndRebuilt) {
  const std::string cache = dir_.path() + "/cache";
  ASSERT_TRUE(Measurer(cache)->Measure(layout_).ok());
  int corrupted = 0;
  for (const auto& e : fs::directory_iterator(cache)) {
    std::ofstream(e.path()) << "{\"format\":\"immune-layer-manifest\",\"version\":1";
    ++corrupted;
  }
  ASSERT_EQ(corrupted, 2);
  auto m = Measurer(cache);
  auto r = m->Measure(layout_);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(m->layers().stats().disk_rejected, 2u);
  EXPECT_EQ(r->layers_built, 2u);
  EXPECT_EQ(r->changed.size(), 1u);
}

TEST_F(OverlayTest, AnUnsafeCacheDirIsRefused) {
  const std::string cache = dir_.path() + "/cache";
  ASSERT_EQ(::mkdir(cache.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(cache.c_str(), 0777), 0);
  OverlayMeasureOptions opt;
  opt.cache_dir = cache;
  auto m = OverlayMeasurer::Create(opt);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(m.error().message().find(cache), std::string::npos);
}

TEST_F(OverlayTest, EntriesNameTheContainerAndTheRule) {
  auto r = Measurer()->Measure(layout_);
  ASSERT_TRUE(r.ok());
  OverlayEntryOptions opt;
  opt.container_id = "ct1";
  opt.image = "example.org/app:1";
  auto entries = OverlayReportEntries(*r, opt);
  ASSERT_TRUE(entries.ok()) << entries.error().ToString();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].path, "/etc/conf");
  EXPECT_EQ((*entries)[0].rule, "overlay:changed");
  EXPECT_EQ((*entries)[0].file_digest, H("c3"));
  EXPECT_EQ((*entries)[1].path, "/new");
  EXPECT_EQ((*entries)[1].rule, "overlay:created");
  for (const auto& e : *entries) {
    EXPECT_EQ(e.template_kind, tsb::TemplateKind::kImmuneCt);
    EXPECT_EQ(e.container_id, "ct1");
    EXPECT_EQ(e.image, "example.org/app:1");
    EXPECT_TRUE(tsb::BuildTemplateData(e).ok());
  }
  opt.include_deleted = true;
  auto with_deleted = OverlayReportEntries(*r, opt);
  ASSERT_TRUE(with_deleted.ok());
  ASSERT_EQ(with_deleted->size(), 5u);
  EXPECT_EQ((*with_deleted)[1].path, "/etc/gone");
  EXPECT_EQ((*with_deleted)[1].rule, "overlay:deleted");
  EXPECT_EQ((*with_deleted)[1].file_digest, Bytes(32, 0));
  opt.container_id.clear();
  EXPECT_EQ(OverlayReportEntries(*r, opt).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(OverlayTest, DiffAgainstTheImageBaseline) {
  auto r = Measurer()->Measure(layout_);
  ASSERT_TRUE(r.ok());
  using K = BaselineDifference::Kind;
  const auto own = DiffAgainstBaseline(*r);
  ASSERT_EQ(own.size(), 5u);
  EXPECT_EQ(own[0], (BaselineDifference{K::kModified, "/etc/conf", H("c3"), H("c2")}));
  EXPECT_EQ(own[1], (BaselineDifference{K::kMissing, "/etc/gone", {}, H("g")}));
  EXPECT_EQ(own[2], (BaselineDifference{K::kAdded, "/new", H("n"), {}}));
  EXPECT_EQ(own[3].path, "/opt/o1");
  EXPECT_EQ(own[4].path, "/opt/o2");

  // A published baseline that does not know /bin/b and expects another /var/d/x.
  DigestMap baseline = *r->lower_view;
  baseline.erase("/bin/b");
  baseline["/var/d/x"] = H("published");
  const auto pub = DiffAgainstBaseline(*r, &baseline);
  ASSERT_EQ(pub.size(), 7u);
  EXPECT_EQ(pub[0], (BaselineDifference{K::kAdded, "/bin/b", H("B"), {}}));
  EXPECT_EQ(pub[6], (BaselineDifference{K::kModified, "/var/d/x", H("x"), H("published")}));
}

TEST_F(OverlayTest, AMissingLayerIsNamed) {
  layout_.lowers.push_back(dir_.path() + "/no-such-layer");
  auto r = Measurer()->Measure(layout_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(r.error().message().find("no-such-layer"), std::string::npos);
}

TEST(LayerManifestJson, RoundTripsAndNamesBadFields) {
  TempDir d;
  Write(d.path() + "/f", "content");
  auto m = BuildLayerManifest(d.path(), HashAlg::kSha256);
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  ASSERT_EQ(m->entries.size(), 1u);
  EXPECT_EQ(m->entries.at("/f").digest, H("content"));
  const nlohmann::json j = LayerManifestToJson(*m);
  auto back = LayerManifestFromJson(j, "cache.json");
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->entries, m->entries);
  EXPECT_EQ(back->fingerprint, m->fingerprint);

  nlohmann::json bad = j;
  bad["version"] = 2;
  EXPECT_NE(LayerManifestFromJson(bad, "cache.json").error().message().find("version 2"), std::string::npos);
  bad = j;
  bad["entries"][0]["digest"] = "abcd";
  auto e = LayerManifestFromJson(bad, "cache.json");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(e.error().message().find("cache.json.entries[0].digest"), std::string::npos)
      << e.error().message();
  bad = j;
  bad["entries"][0]["path"] = "../etc/passwd";
  EXPECT_FALSE(LayerManifestFromJson(bad, "cache.json").ok());
}

}  // namespace
}  // namespace immune::agents
