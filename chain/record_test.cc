#include "immune/chain/record.h"

#include <gtest/gtest.h>

#include "immune/core/hex.h"
#include "test_util.h"

namespace immune::chain {
namespace {

std::vector<Record> OneOfEach() {
  const Bytes d32(32, 0xab), d20(20, 0x11);
  BootReference b{"node-image-1",
                  {{HashAlg::kSha1, 0, d20}, {HashAlg::kSha256, 0, d32}, {HashAlg::kSha256, 7, d32}},
                  {{HashAlg::kSha256, d32}, {HashAlg::kSha256, Bytes(32, 0x01)}}};
  PolicyBundle p{"default", 3, {HashAlg::kSha256, d32}, Bytes{'{', '}'}};
  Revocation v{Sha256(AsBytes("x")), "superseded"};
  LogCheckpoint c{"node-7", "ima", 4096, {HashAlg::kSha256, d32}};
  return {b, testing::MakeBaseline(1), p, v, c};
}

TEST(RecordTest, EveryTypeRoundTripsThroughBytesAndJson) {
  for (const Record& r : OneOfEach()) {
    ASSERT_TRUE(ValidateRecord(r).ok());
    const Bytes enc = EncodeRecord(r);
    EXPECT_EQ(enc[0], kRecordVersion);
    auto dec = DecodeRecord(enc);
    ASSERT_TRUE(dec.ok()) << dec.error().ToString();
    EXPECT_EQ(*dec, r);
    auto j = RecordToJson(r);
    auto back = RecordFromJson(nlohmann::json::parse(j.dump()));
    ASSERT_TRUE(back.ok()) << back.error().ToString() << "\n" << j.dump();
    EXPECT_EQ(EncodeRecord(*back), enc) << j.dump();
  }
}

TEST(RecordTest, FileBaselineEncodingIsStable) {
  FileBaseline f{"img", "/bin/sh", {HashAlg::kSha256, Bytes(32, 0)}};
  EXPECT_EQ(ToHex(EncodeRecord(f)),
            "0102"
            "0003696d67"
            "00072f62696e2f7368"
            "000b20" +
                std::string(64, '0'));
}

TEST(RecordTest, EveryTruncationIsAnErrorNamingAnOffset) {
  for (const Record& r : OneOfEach()) {
    const Bytes enc = EncodeRecord(r);
    for (std::size_t n = 0; n < enc.size(); ++n) {
      auto dec = DecodeRecord(ByteSpan(enc).first(n));
      ASSERT_FALSE(dec.ok()) << n;
      EXPECT_EQ(dec.error().code(), ErrorCode::kCorruption);
      EXPECT_NE(dec.error().message().find("byte"), std::string::npos) << dec.error().message();
    }
    Bytes longer = enc;
    longer.push_back(0);
    auto dec = DecodeRecord(longer);
    ASSERT_FALSE(dec.ok());
    EXPECT_NE(dec.error().message().find("trailing"), std::string::npos);
  }
}

TEST(RecordTest, NonCanonicalEncodingsAreRejected) {
  Bytes enc = EncodeRecord(OneOfEach()[0]);
  // Swap the first two PCRs' order: sha1 PCR 0 (2+1+20 ...) is first; make
  // the version unknown instead, then an unknown type.
  Bytes bad = enc;
  bad[0] = 2;
  EXPECT_NE(DecodeRecord(bad).error().message().find("version 2"), std::string::npos);
  bad = enc;
  bad[1] = 9;
  EXPECT_NE(DecodeRecord(bad).error().message().find("type 9"), std::string::npos);
  // A digest length that is not the algorithm's.
  FileBaseline f = testing::MakeBaseline(0);
  Bytes fe = EncodeRecord(f);
  fe[fe.size() - 33] = 31;
  EXPECT_FALSE(DecodeRecord(fe).ok());
  // Unsorted PCRs do not validate.
  BootReference b{"i", {{HashAlg::kSha256, 7, Bytes(32)}, {HashAlg::kSha256, 0, Bytes(32)}}, {}};
  EXPECT_FALSE(ValidateRecord(b).ok());
  std::swap(b.pcrs[0], b.pcrs[1]);
  EXPECT_TRUE(ValidateRecord(b).ok());
  Bytes be = EncodeRecord(b);
  b.pcrs[1].index = 0;  // repeated
  EXPECT_FALSE(DecodeRecord(EncodeRecord(b)).ok());
}

TEST(RecordTest, JsonErrorsNameTheMember) {
  auto r =
      RecordFromJson(nlohmann::json::parse(R"({"type":"file_baseline","image":"i","digest":"sha256:00"})"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("\"path\""), std::string::npos) << r.error().message();
  r = RecordFromJson(
      nlohmann::json::parse(R"({"type":"file_baseline","image":"i","path":"/p","digest":"sha256:00"})"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("digest"), std::string::npos) << r.error().message();
  r = RecordFromJson(nlohmann::json::parse(R"({"type":"nope"})"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("nope"), std::string::npos);
  auto list = RecordsFromJsonText(R"({"records":[{"type":"revocation","target":"00"}]})");
  ASSERT_FALSE(list.ok());
  EXPECT_NE(list.error().message().find("record 0"), std::string::npos) << list.error().message();
  EXPECT_FALSE(RecordsFromJsonText("{").ok());
}

TEST(RecordTest, BareHexDigestsTakeTheirAlgorithmFromTheLength) {
  auto d = ParseTaggedDigest(std::string(64, 'a'));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->alg, HashAlg::kSha256);
  d = ParseTaggedDigest("sha384:" + std::string(96, 'b'));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->alg, HashAlg::kSha384);
  EXPECT_FALSE(ParseTaggedDigest("sha256:" + std::string(40, 'a')).ok());
  EXPECT_FALSE(ParseTaggedDigest("md5:00").ok());
}

}  // namespace
}  // namespace immune::chain

namespace immune::chain {
namespace {

TEST(RecordTest, StringsMustBeUtf8) {
  FileBaseline f = testing::MakeBaseline(0);
  f.path = "/bin/\xc3\xa9t\xc3\xa9";
  EXPECT_TRUE(ValidateRecord(f).ok());
  EXPECT_TRUE(DecodeRecord(EncodeRecord(f)).ok());
  for (std::string bad : {"/bin/\xff", "/bin/\xc0\xaf", "/bin/\xed\xa0\x80", "/bin/\xe2\x82"}) {
    f.path = bad;
    EXPECT_FALSE(ValidateRecord(f).ok());
    auto d = DecodeRecord(EncodeRecord(f));
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().message().find("UTF-8"), std::string::npos);
  }
}

}  // namespace
}  // namespace immune::chain
