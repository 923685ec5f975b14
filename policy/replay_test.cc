// `policy test`: replaying recorded logs (TSB JSON export, arrays, JSON lines).
#include "immune/policy/replay.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace immune::policy {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const Snapshot> Policy() {
  auto docs = ParseDocuments(
      "apiVersion: immune/v1\nkind: Policy\nscope: host\nallow: [sha256:" + std::string(64, 'a') +
          "]\n---\napiVersion: immune/v1\nkind: Policy\n"
          "scope: {containers: all}\nmode: permissive\n",
      "p.yaml");
  EXPECT_TRUE(docs.ok());
  auto snap = Compile(std::move(docs).value());
  EXPECT_TRUE(snap.ok());
  return *snap;
}

std::string Entry(const std::string& path, char digest, const std::string& container) {
  return "{\"seq\": 1, \"path\": \"" + path + "\", \"file_hash_alg\": \"sha256\", \"file_digest\": \"" +
         std::string(64, digest) + "\", \"container_id\": \"" + container +
         "\", \"image\": \"\", \"exe\": \"/bin/sh\", \"pid\": 42, \"signature\": \"\", \"decision\": "
         "\"allow\"}";
}

TEST(Replay, TsbExportArrayAndJsonLines) {
  auto snap = Policy();
  const std::string e1 = Entry("/bin/a", 'a', ""), e2 = Entry("/bin/b", 'b', ""),
                    e3 = Entry("/bin/c", 'a', "c1");
  for (const std::string& text :
       {"{\"entries\": [" + e1 + "," + e2 + "," + e3 + "]}", "[" + e1 + "," + e2 + "," + e3 + "]",
        e1 + "\n" + e2 + "\n\n" + e3 + "\n"}) {
    auto r = ReplayLog(*snap, text, "log");
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    ASSERT_EQ(r->entries.size(), 3u);
    EXPECT_EQ(r->allowed, 1u);
    EXPECT_EQ(r->denied, 1u);
    EXPECT_EQ(r->audit_denied, 1u);
    EXPECT_EQ(r->entries[0].rule, "p.yaml:4");
    EXPECT_EQ(r->entries[1].rule, kRuleDefaultDeny);
    EXPECT_EQ(r->entries[2].container_id, "c1");
    EXPECT_EQ(r->entries[2].mode, Mode::kPermissive);
    EXPECT_EQ(r->entries[0].recorded, "allow");
  }
}

TEST(Replay, UntrustedInputErrorsNameTheEntry) {
  auto snap = Policy();
  const std::string good = Entry("/bin/a", 'a', "");
  EXPECT_THAT(ReplayLog(*snap, good + "\n{oops\n", "l.jsonl").error().message(),
              HasSubstr("l.jsonl:2: not a JSON"));
  EXPECT_THAT(ReplayLog(*snap, "[" + good + ", {\"path\": \"/x\"}]", "l.json").error().message(),
              HasSubstr("l.json: entry 1: 'file_hash_alg' '' is not a known algorithm"));
  EXPECT_THAT(
      ReplayLog(*snap, "[{\"path\": \"/x\", \"file_hash_alg\": \"sha256\", \"file_digest\": \"ab\"}]", "l")
          .error()
          .message(),
      HasSubstr("has 1 bytes, not a sha256 digest"));
  EXPECT_THAT(ReplayLog(*snap, "[{\"path\": 3}]", "l").error().message(),
              HasSubstr("'path' is not a string"));
  EXPECT_THAT(ReplayLog(*snap, "{\"entries\": 5}", "l").error().message(),
              HasSubstr("'entries' is not a list"));
  EXPECT_FALSE(ReplayLog(*snap, "\n\n", "l").ok());
  EXPECT_THAT(
      ReplayLog(*snap, "[" + Entry("/x", 'a', "").replace(Entry("/x", 'a', "").find("42"), 2, "-1") + "]",
                "l")
          .error()
          .message(),
      HasSubstr("'pid'"));
}

TEST(Replay, PathsThatAreNotUtf8ComeAsByteArrays) {
  // As the TSB export writes a file name that is not UTF-8 (core/json_bytes.h).
  nlohmann::json j = nlohmann::json::parse(Entry("/x", 'a', ""));
  j["path"] = nlohmann::json::array({'/', 't', 0xe9});
  auto r = ReadRecordedLog(j.dump(), "l.jsonl");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ((*r)[0].path, "/t\xe9");
  j["path"] = nlohmann::json::array({'/', 256});
  r = ReadRecordedLog(j.dump(), "l.jsonl");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("l.jsonl:1: 'path' is not a string or an array of byte values"));
}

TEST(Replay, ReadRecordedLogChecksEveryMember) {
  auto entries = ReadRecordedLog("[" + Entry("/bin/a", 'a', "c1") + "]", "log.json");
  ASSERT_TRUE(entries.ok()) << entries.error().ToString();
  ASSERT_EQ(entries->size(), 1u);
  const LoggedEntry& e = (*entries)[0];
  EXPECT_EQ(e.path, "/bin/a");
  EXPECT_EQ(e.alg, HashAlg::kSha256);
  EXPECT_EQ(e.digest, Bytes(32, 0xaa));
  EXPECT_EQ(e.container_id, "c1");
  EXPECT_EQ(e.exe, "/bin/sh");
  EXPECT_EQ(e.pid, 42u);
  EXPECT_EQ(e.decision, "allow");
  EXPECT_TRUE(e.signature.empty());
  // A member of the wrong type is an error naming it, never an exception
  // (`policy learn --log` used to abort on these).
  for (const char* member : {"file_hash_alg", "container_id", "image", "exe", "decision", "signature"}) {
    nlohmann::json j = nlohmann::json::parse(Entry("/bin/a", 'a', ""));
    j[member] = 7;
    auto r = ReadRecordedLog(j.dump(), "l.jsonl");
    ASSERT_FALSE(r.ok()) << member;
    EXPECT_THAT(r.error().message(), HasSubstr(std::string("l.jsonl:1: '") + member + "' is not a string"));
  }
}

}  // namespace
}  // namespace immune::policy
