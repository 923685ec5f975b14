#include "immune/core/error.h"

#include <gtest/gtest.h>

#include <string>

namespace immune {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("odd number " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  IMMUNE_ASSIGN_OR_RETURN(int h, Half(x));
  IMMUNE_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckPositive(int x) {
  if (x <= 0) return InvalidArgument("not positive");
  return OkStatus();
}

Status CheckBoth(int a, int b) {
  IMMUNE_RETURN_IF_ERROR(CheckPositive(a));
  IMMUNE_RETURN_IF_ERROR(CheckPositive(b));
  return OkStatus();
}

TEST(ErrorTest, ResultCarriesValueOrError) {
  auto ok = Quarter(8);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 2);
  auto bad = Quarter(6);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message(), "odd number 3");
}

TEST(ErrorTest, StatusPropagatesFirstError) {
  EXPECT_TRUE(CheckBoth(1, 2).ok());
  Status s = CheckBoth(1, -2);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "not positive");
}

TEST(ErrorTest, ContextIsPrependedAndNamed) {
  Error e = Corruption("event 3 at byte 120: truncated").WithContext("log.bin");
  EXPECT_EQ(e.message(), "log.bin: event 3 at byte 120: truncated");
  EXPECT_EQ(e.ToString(), "corruption: log.bin: event 3 at byte 120: truncated");
  EXPECT_EQ(e.code(), ErrorCode::kCorruption);
}

}  // namespace
}  // namespace immune
