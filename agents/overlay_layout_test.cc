// mountinfo and overlay option parsing: escapes, relative layer names,
// data-only layers, stacked mounts and malformed records.
#include "immune/agents/overlay_layout.h"

#include <gtest/gtest.h>

namespace immune::agents {
namespace {

// Captured from this kernel (6.x) for lowerdir=/tmp/ovt/l1:/tmp/ovt/l 2\:x.
constexpr const char* kMountInfo =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "66 43 0:39 / /tmp/ovt/m rw,relatime - overlay overlay rw,lowerdir=/tmp/ovt/l1:/tmp/ovt/l\\0402\\134:x,"
    "upperdir=/tmp/ovt/u,workdir=/tmp/ovt/w,uuid=on\n"
    "67 43 0:40 / /tmp/with\\040space rw - tmpfs tmpfs rw\n";

TEST(OverlayLayout, ParsesTheKernelsEscapes) {
  auto l = FindOverlayMount(kMountInfo, "mountinfo", "/tmp/ovt/m");
  ASSERT_TRUE(l.ok()) << l.error().ToString();
  EXPECT_EQ(l->lowers, (std::vector<std::string>{"/tmp/ovt/l1", "/tmp/ovt/l 2:x"}));
  EXPECT_EQ(l->upper, "/tmp/ovt/u");
  EXPECT_EQ(l->work, "/tmp/ovt/w");
  EXPECT_EQ(l->mount_point, "/tmp/ovt/m");
}

TEST(OverlayLayout, NamesWhatIsNotThere) {
  auto none = FindOverlayMount(kMountInfo, "mountinfo", "/nowhere");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);
  auto tmpfs = FindOverlayMount(kMountInfo, "mountinfo", "/tmp/with space");
  ASSERT_FALSE(tmpfs.ok());
  EXPECT_EQ(tmpfs.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(tmpfs.error().message().find("tmpfs, not overlay"), std::string::npos);
}

TEST(OverlayLayout, TheTopmostOfStackedMountsWins) {
  const std::string text =
      std::string(kMountInfo) +
      "70 66 0:41 / /tmp/ovt/m rw - overlay overlay rw,lowerdir=/a:/b,upperdir=/c,workdir=/d\n";
  auto l = FindOverlayMount(text, "mountinfo", "/tmp/ovt/m");
  ASSERT_TRUE(l.ok()) << l.error().ToString();
  EXPECT_EQ(l->lowers, (std::vector<std::string>{"/a", "/b"}));
}

TEST(OverlayLayout, RelativeNamesNeedABase) {
  auto no_base = ParseOverlayOptions("rw,lowerdir=l/ABC:l/DEF,upperdir=x/diff,workdir=x/work", "opts");
  ASSERT_FALSE(no_base.ok());
  EXPECT_NE(no_base.error().message().find("'l/ABC' is relative"), std::string::npos)
      << no_base.error().message();
  auto based = ParseOverlayOptions("rw,lowerdir=l/ABC:l/DEF,upperdir=x/diff,workdir=x/work", "opts",
                                   "/var/lib/docker/overlay2");
  ASSERT_TRUE(based.ok()) << based.error().ToString();
  EXPECT_EQ(based->lowers[1], "/var/lib/docker/overlay2/l/DEF");
  EXPECT_EQ(based->upper, "/var/lib/docker/overlay2/x/diff");
}

TEST(OverlayLayout, DataOnlyAndAppendedLayersComeLast) {
  auto l = ParseOverlayOptions("lowerdir=/a:/b::/data1,lowerdir+=/c,datadir+=/data2,upperdir=/u", "opts");
  ASSERT_TRUE(l.ok()) << l.error().ToString();
  EXPECT_EQ(l->lowers, (std::vector<std::string>{"/a", "/b", "/c", "/data1", "/data2"}));
  auto ro = ParseOverlayOptions("ro,lowerdir=/a:/b", "opts");
  ASSERT_TRUE(ro.ok());
  EXPECT_TRUE(ro->upper.empty());
  auto empty = ParseOverlayOptions("upperdir=/u,workdir=/w", "opts");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message().find("no lowerdir"), std::string::npos);
}

TEST(OverlayLayout, MalformedRecordsNameTheLine) {
  auto short_line = ParseMountInfo("22 1 8:1 / / rw - ext4 /dev/vda rw\n23 1 8:1 /\n", "/proc/1/mountinfo");
  ASSERT_FALSE(short_line.ok());
  EXPECT_NE(short_line.error().message().find("/proc/1/mountinfo:2"), std::string::npos)
      << short_line.error().message();
  auto bad_escape = ParseMountInfo("22 1 8:1 / /a\\09 rw - ext4 /dev/vda rw\n", "mi");
  ASSERT_FALSE(bad_escape.ok());
  EXPECT_NE(bad_escape.error().message().find("mi:1: mount point"), std::string::npos)
      << bad_escape.error().message();
  EXPECT_FALSE(DecodeMountEscapes("abc\\04").ok());
  EXPECT_EQ(*DecodeMountEscapes("a\\134b"), "a\\b");
}

}  // namespace
}  // namespace immune::agents
