#include "immune/core/json_bytes.h"

#include <gtest/gtest.h>

#include <string>

namespace immune {
namespace {

TEST(JsonBytes, Utf8StaysAStringAnythingElseBecomesBytes) {
  EXPECT_EQ(BytesToJson("/usr/bin/sh"), nlohmann::json("/usr/bin/sh"));
  EXPECT_EQ(BytesToJson("/tmp/caf\xc3\xa9"), nlohmann::json("/tmp/caf\xc3\xa9"));  // é
  const std::string latin1 = "/tmp/caf\xe9";                                       // é in Latin-1
  const nlohmann::json j = BytesToJson(latin1);
  ASSERT_TRUE(j.is_array());
  EXPECT_EQ(j.size(), latin1.size());
  EXPECT_EQ(j.back(), 0xe9);
  EXPECT_FALSE(j.dump().empty());  // dumps: no exception
  EXPECT_EQ(BytesFromJson(j), latin1);
  EXPECT_EQ(BytesFromJson(nlohmann::json("/x")), "/x");
  for (const char* bad : {"\xff", "\xc3", "\xed\xa0\x80" /* a surrogate */, "\xc0\xaf" /* overlong */})
    EXPECT_FALSE(IsUtf8(bad)) << nlohmann::json(BytesToJson(bad)).dump();
  EXPECT_TRUE(IsUtf8(""));
  EXPECT_TRUE(IsUtf8("\xf0\x9f\x98\x80"));
}

TEST(JsonBytes, ReaderRefusesWhatIsNeitherForm) {
  EXPECT_FALSE(BytesFromJson(nlohmann::json(5)).has_value());
  EXPECT_FALSE(BytesFromJson(nlohmann::json::array({1, 256})).has_value());
  EXPECT_FALSE(BytesFromJson(nlohmann::json::array({1, -1})).has_value());
  EXPECT_FALSE(BytesFromJson(nlohmann::json::array({"a"})).has_value());
  EXPECT_FALSE(BytesFromJson(nlohmann::json::object()).has_value());
  EXPECT_EQ(BytesFromJson(nlohmann::json::array()), "");
}

}  // namespace
}  // namespace immune
