#include "immune/core/bytes.h"

#include <gtest/gtest.h>

namespace immune {
namespace {

TEST(ByteReaderTest, ReadsLittleAndBigEndianAndStopsAtEnd) {
  Bytes b = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06};
  ByteReader r(b, 100);
  EXPECT_EQ(r.U16Le(), 0x0201);
  EXPECT_EQ(r.offset(), 102u);
  EXPECT_EQ(r.U16Be(), 0x0304);
  EXPECT_FALSE(r.U32Le().has_value());  // only two bytes left
  EXPECT_EQ(r.offset(), 104u);          // a failed read consumes nothing
  auto t = r.Take(2);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ((*t)[1], 0x06);
  EXPECT_TRUE(r.empty());
  EXPECT_FALSE(r.U8().has_value());
  EXPECT_FALSE(r.Take(1).has_value());
  EXPECT_FALSE(r.Skip(1));
}

TEST(ByteReaderTest, U64) {
  Bytes b = {1, 0, 0, 0, 0, 0, 0, 0x80};
  ByteReader r(b);
  EXPECT_EQ(r.U64Le(), 0x8000000000000001ull);
}

}  // namespace
}  // namespace immune
