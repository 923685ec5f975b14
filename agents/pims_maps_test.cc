// Unit tests of the /proc/PID/maps parser and the mapping classification.
#include "immune/agents/pims_maps.h"

#include <gtest/gtest.h>

#include "immune/agents/pims.h"
#include "immune/core/file.h"

namespace immune::agents {
namespace {

TEST(PimsMaps, ParsesFileAnonSpecialAndDeletedLines) {
  const std::string text =
      "55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1835106                    /usr/bin/sleep\n"
      "55d0c0a02000-55d0c0a06000 r-xp 00002000 fd:01 1835106                    /usr/bin/sleep\n"
      "7f00aa000000-7f00aa001000 rwxp 00000000 00:00 0 \n"
      "7f00aa001000-7f00aa002000 r-xs 00000000 00:01 4242                       /memfd:jit (deleted)\n"
      "7f00aa002000-7f00aa003000 r-xp 00001000 103:1f 77                        /opt/my app/lib x.so\n"
      "7ffd1c3f3000-7ffd1c3f5000 r-xp 00000000 00:00 0                          [vdso]\n"
      "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";
  auto maps = ParseProcMaps(text, "maps");
  ASSERT_TRUE(maps.ok()) << maps.error().ToString();
  ASSERT_EQ(maps->size(), 7u);

  const MapsEntry& text_seg = (*maps)[1];
  EXPECT_EQ(text_seg.start, 0x55d0c0a02000u);
  EXPECT_EQ(text_seg.end, 0x55d0c0a06000u);
  EXPECT_EQ(text_seg.size(), 0x4000u);
  EXPECT_EQ(text_seg.perms, "r-xp");
  EXPECT_TRUE(text_seg.executable());
  EXPECT_FALSE(text_seg.writable());
  EXPECT_EQ(text_seg.offset, 0x2000u);
  EXPECT_EQ(text_seg.dev_major, 0xfdu);
  EXPECT_EQ(text_seg.dev_minor, 1u);
  EXPECT_EQ(text_seg.inode, 1835106u);
  EXPECT_EQ(text_seg.path, "/usr/bin/sleep");
  EXPECT_FALSE(text_seg.deleted);
  EXPECT_EQ(ClassifyMapping(text_seg), MappingKind::kFile);

  EXPECT_EQ((*maps)[2].path, "");
  EXPECT_EQ(ClassifyMapping((*maps)[2]), MappingKind::kAnon);

  EXPECT_EQ((*maps)[3].path, "/memfd:jit");
  EXPECT_TRUE((*maps)[3].deleted);
  EXPECT_TRUE((*maps)[3].shared());
  EXPECT_EQ(ClassifyMapping((*maps)[3]), MappingKind::kMemfd);

  EXPECT_EQ((*maps)[4].path, "/opt/my app/lib x.so");  // spaces kept
  EXPECT_EQ((*maps)[4].dev_major, 0x103u);
  EXPECT_EQ((*maps)[4].dev_minor, 0x1fu);

  EXPECT_EQ(ClassifyMapping((*maps)[5]), MappingKind::kVdso);
  EXPECT_EQ((*maps)[6].start, 0xffffffffff600000u);
  EXPECT_EQ(ClassifyMapping((*maps)[6]), MappingKind::kVsyscall);
}

TEST(PimsMaps, AnonymousLineMayEndInPadding) {
  auto maps =
      ParseProcMaps("7f0000000000-7f0000001000 r-xp 00000000 00:00 0                          \n", "maps");
  ASSERT_TRUE(maps.ok()) << maps.error().ToString();
  EXPECT_EQ((*maps)[0].path, "");
  EXPECT_EQ(ClassifyMapping((*maps)[0]), MappingKind::kAnon);
}

TEST(PimsMaps, EmptyTextIsNoMappings) {
  auto maps = ParseProcMaps("", "maps");
  ASSERT_TRUE(maps.ok());
  EXPECT_TRUE(maps->empty());
}

struct BadLine {
  std::string text;
  std::string where;  // "maps:LINE:COL"
  std::string what;
};

TEST(PimsMaps, BadInputNamesLineAndColumn) {
  const std::string good = "1000-2000 r-xp 00000000 fd:01 12 /bin/x\n";
  const BadLine cases[] = {
      {"zz-2000 r-xp 0 fd:01 12 /x\n", "maps:1:1:", "start address"},
      {"1000 2000 r-xp 0 fd:01 12\n", "maps:1:5:", "'-'"},
      {"1000-0800 r-xp 0 fd:01 12\n", "maps:1:10:", "not above"},
      {good + "1000-2000 rwzp 0 fd:01 12\n", "maps:2:13:", "permission 'x'"},
      {"1000-2000 r-xq 0 fd:01 12\n", "maps:1:14:", "permission 'p'"},
      {"1000-2000 r-xp 00000000 fd01 12\n", "maps:1:29:", "':'"},
      {"1000-2000 r-xp 0 fd:01 x\n", "maps:1:24:", "decimal inode"},
      {"1000-2000 r-xp 0 fffff:01 1\n", "maps:1:", "device number out of range"},
      {"1000-2000 r-xp 0 fd:01 12x /a\n", "maps:1:26:", "' ' before path"},
      {"1000-2000 r-xp 0 fd:01 12 /x", "maps:1:29:", "not terminated"},
      {"1000-2000 r-xp 0 fd:01 12\n0800-0900 r-xp 0 fd:01 12\n", "maps:2:1:", "overlaps"},
      {"1000-ffffffffffffffffff r-xp 0 fd:01 1\n", "maps:1:6:", "out of range"},
  };
  for (const BadLine& c : cases) {
    auto maps = ParseProcMaps(c.text, "maps");
    ASSERT_FALSE(maps.ok()) << c.text;
    EXPECT_EQ(maps.error().code(), ErrorCode::kCorruption);
    EXPECT_NE(maps.error().message().find(c.where), std::string::npos) << maps.error().message();
    EXPECT_NE(maps.error().message().find(c.what), std::string::npos) << maps.error().message();
  }
}

TEST(PimsMaps, ParsesThisProcessMaps) {
  auto text = ReadTextFile("/proc/self/maps");
  ASSERT_TRUE(text.ok()) << text.error().ToString();
  auto maps = ParseProcMaps(*text, "/proc/self/maps");
  ASSERT_TRUE(maps.ok()) << maps.error().ToString();
  bool any_exec_file = false;
  for (const MapsEntry& m : *maps) any_exec_file = any_exec_file || (m.executable() && !m.path.empty());
  EXPECT_TRUE(any_exec_file);
}

TEST(PimsNames, KindsAndStatusesHaveStableNames) {
  EXPECT_EQ(MappingKindName(MappingKind::kAnon), "anon");
  EXPECT_EQ(MappingKindName(MappingKind::kVdso), "vdso");
  EXPECT_EQ(MappingStatusName(MappingStatus::kFileChanged), "file-changed");
  EXPECT_EQ(MappingStatusName(MappingStatus::kModified), "modified");
}

}  // namespace
}  // namespace immune::agents
