// Learn mode: the drafts allow exactly what was recorded.
#include "immune/policy/learner.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "immune/policy/snapshot.h"

namespace immune::policy {
namespace {

Bytes Digest(int i) {
  Bytes d(32, 0);
  d[0] = static_cast<std::uint8_t>(i);
  d[1] = static_cast<std::uint8_t>(i >> 8);
  return d;
}

TEST(Learner, RoundTripAllowsExactlyTheLearnedSet) {
  Learner learner;
  // Four threads record overlapping host and container executions.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&learner, t] {
      for (int i = 0; i < 50; ++i) {
        const std::string path = "/usr/bin/tool" + std::to_string(i % 10) + (i % 7 == 0 ? " with space" : "");
        const Bytes d = Digest(i);
        learner.Record(Subject{t % 2 == 0 ? "" : "c1", "", "", 0}, Object{path, HashAlg::kSha256, d, {}});
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(learner.size(), 100u);  // 50 distinct tuples for the host, 50 for c1
  // A wrong-size digest is ignored.
  learner.Record(Scope{}, "/x", HashAlg::kSha256, Bytes(3, 0));
  EXPECT_EQ(learner.size(), 100u);

  const std::vector<LearnedDraft> drafts = learner.Drafts();
  ASSERT_EQ(drafts.size(), 2u);
  std::vector<Document> docs;
  for (const LearnedDraft& d : drafts) {
    auto parsed = ParseDocuments(d.yaml, d.file_name);
    ASSERT_TRUE(parsed.ok()) << parsed.error().ToString() << "\n" << d.yaml;
    EXPECT_EQ((*parsed)[0].mode, Mode::kEnforce);
    docs.insert(docs.end(), parsed->begin(), parsed->end());
  }
  EXPECT_EQ(drafts[0].file_name, "host.yaml");
  EXPECT_EQ(drafts[1].file_name, "container-c1.yaml");
  auto snap = Compile(docs);
  ASSERT_TRUE(snap.ok()) << snap.error().ToString();
  for (const char* container : {"", "c1"}) {
    for (int i = 0; i < 50; ++i) {
      const std::string path = "/usr/bin/tool" + std::to_string(i % 10) + (i % 7 == 0 ? " with space" : "");
      const Bytes d = Digest(i);
      const Subject s{container, "", "", 0};
      EXPECT_EQ((*snap)->Decide(s, Object{path, HashAlg::kSha256, d, {}}).verdict, Verdict::kAllow) << path;
      // The same digest elsewhere, or another digest here, is denied.
      EXPECT_EQ((*snap)->Decide(s, Object{"/tmp/tool", HashAlg::kSha256, d, {}}).verdict, Verdict::kDeny);
      const Bytes other = Digest(i + 1000);
      EXPECT_EQ((*snap)->Decide(s, Object{path, HashAlg::kSha256, other, {}}).verdict, Verdict::kDeny);
    }
  }
  // Another container learned nothing and has no document: default deny.
  const Bytes d0 = Digest(0);
  EXPECT_EQ(
      (*snap)
          ->Decide(Subject{"c2", "", "", 0}, Object{"/usr/bin/tool0 with space", HashAlg::kSha256, d0, {}})
          .rule,
      kRuleDefaultDeny);
}

TEST(Learner, NameThatIsNotUtf8IsAllowedByItsDigest) {
  // YAML cannot hold the bytes of such a name; the draft allows its content
  // at any path and says so in a comment, so learn-then-enforce still allows
  // exactly what ran (it used to write U+FFFD into the path: a rule matching
  // no file).
  Learner learner;
  const std::string latin1 = "/tmp/caf\xe9";
  learner.Record(Subject{"", "", "", 0}, Object{latin1, HashAlg::kSha256, Digest(1), {}});
  learner.Record(Subject{"", "", "", 0}, Object{"/usr/bin/ok", HashAlg::kSha256, Digest(2), {}});
  const std::vector<LearnedDraft> drafts = learner.Drafts();
  ASSERT_EQ(drafts.size(), 1u);
  EXPECT_NE(drafts[0].yaml.find("path not UTF-8, allowed by digest alone: /tmp/caf\\xe9"), std::string::npos)
      << drafts[0].yaml;
  auto parsed = ParseDocuments(drafts[0].yaml, drafts[0].file_name);
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString() << "\n" << drafts[0].yaml;
  auto snap = Compile(std::move(parsed).value());
  ASSERT_TRUE(snap.ok()) << snap.error().ToString();
  const Subject host{"", "", "", 0};
  const Bytes d1 = Digest(1), d2 = Digest(2), d3 = Digest(3);
  EXPECT_EQ((*snap)->Decide(host, Object{latin1, HashAlg::kSha256, d1, {}}).verdict, Verdict::kAllow);
  EXPECT_EQ((*snap)->Decide(host, Object{latin1, HashAlg::kSha256, d3, {}}).verdict, Verdict::kDeny);
  EXPECT_EQ((*snap)->Decide(host, Object{"/usr/bin/ok", HashAlg::kSha256, d2, {}}).verdict, Verdict::kAllow);
  EXPECT_EQ((*snap)->Decide(host, Object{"/tmp/ok", HashAlg::kSha256, d2, {}}).verdict, Verdict::kDeny);
}

}  // namespace
}  // namespace immune::policy
