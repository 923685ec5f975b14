// Keylime runtime policies: import of the real test policy, export that a
// Keylime verifier reads the same, and bad input.
#include "immune/policy/keylime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "immune/core/file.h"
#include "immune/core/hex.h"
#include "immune/policy/snapshot.h"

namespace immune::policy {
namespace {

using ::testing::HasSubstr;

const std::string kPolicy = std::string(IMMUNE_TESTDATA_DIR) + "/policies/keylime/runtime-policy-test.json";

TEST(Keylime, ImportsTheTestPolicy) {
  auto text = ReadTextFile(kPolicy);
  ASSERT_TRUE(text.ok());
  auto doc = ImportKeylimeRuntimePolicy(*text, "runtime-policy-test.json");
  ASSERT_TRUE(doc.ok()) << doc.error().ToString();
  EXPECT_EQ(doc->allow.size(), 21u);  // 21 paths, one digest each
  std::size_t digests = 0, sha1 = 0;
  for (const Rule& r : doc->allow) {
    EXPECT_EQ(r.kind, RuleKind::kPathDigest);
    digests += r.digests.size();
    for (const DigestRef& d : r.digests) sha1 += d.alg == HashAlg::kSha1 ? 1 : 0;
  }
  EXPECT_EQ(digests, 21u);
  EXPECT_EQ(sha1, 20u);                      // all but boot_aggregate's "sha256:..."
  EXPECT_EQ(doc->keylime_extra.size(), 6u);  // meta release keyrings ima ima-buf verification-keys

  auto snap = Compile({*doc});
  ASSERT_TRUE(snap.ok());
  const Bytes d = *FromHex("856ce73f0736eba033eaa18d1c90efd4b38a4a4f");
  EXPECT_EQ((*snap)
                ->Decide(Subject{},
                         Object{"/boot/loader.0/entries/ostree-2-fedora-coreos.conf", HashAlg::kSha1, d, {}})
                .verdict,
            Verdict::kAllow);
  EXPECT_EQ((*snap)->Decide(Subject{}, Object{"/etc/other", HashAlg::kSha1, d, {}}).verdict, Verdict::kDeny);
}

TEST(Keylime, ExportRoundTrip) {
  auto text = ReadTextFile(kPolicy);
  ASSERT_TRUE(text.ok());
  auto doc = ImportKeylimeRuntimePolicy(*text, "p.json");
  ASSERT_TRUE(doc.ok());
  const Document docs[] = {*doc};
  auto out = ExportKeylimeRuntimePolicy(docs);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->dropped.empty());
  // Same JSON value as the original, member by member.
  EXPECT_EQ(nlohmann::json::parse(out->json), nlohmann::json::parse(*text));
}

TEST(Keylime, ExcludesAndGlobs) {
  auto doc = ImportKeylimeRuntimePolicy(
      R"({"meta": {"version": 1}, "digests": {}, "excludes": ["/tmp/.*", "/var/log"]})", "x.json");
  ASSERT_TRUE(doc.ok()) << doc.error().ToString();
  ASSERT_EQ(doc->allow.size(), 2u);
  EXPECT_EQ(doc->allow[0].kind, RuleKind::kPathRegex);
  auto snap = Compile({*doc});
  ASSERT_TRUE(snap.ok());
  const Bytes d(32, 7);
  EXPECT_EQ((*snap)->Decide(Subject{}, Object{"/tmp/x", HashAlg::kSha256, d, {}}).verdict, Verdict::kAllow);
  EXPECT_EQ((*snap)->Decide(Subject{}, Object{"/var/log/y", HashAlg::kSha256, d, {}}).verdict,
            Verdict::kAllow);
  EXPECT_EQ((*snap)->Decide(Subject{}, Object{"/usr/tmp/x", HashAlg::kSha256, d, {}}).verdict,
            Verdict::kDeny);

  auto yaml = ParseDocuments(
      "apiVersion: immune/v1\nkind: Policy\nscope: host\nallow:\n"
      "  - {path: \"/opt/*.so\", unsafe-path-only: true}\n  - sha256:" +
          std::string(64, 'a') + "\ndeny: [sha256:" + std::string(64, 'b') + "]\n",
      "h.yaml");
  ASSERT_TRUE(yaml.ok());
  auto out = ExportKeylimeRuntimePolicy(*yaml);
  ASSERT_TRUE(out.ok());
  const auto j = nlohmann::json::parse(out->json);
  EXPECT_EQ(j["excludes"][0], "^/opt/.*\\.so$");
  ASSERT_EQ(out->dropped.size(), 2u);
  EXPECT_THAT(out->dropped[0], HasSubstr("h.yaml:7:8: deny entry"));
  EXPECT_THAT(out->dropped[1], HasSubstr("h.yaml:6:5: digest without a path"));
}

TEST(Keylime, BadInput) {
  EXPECT_THAT(ImportKeylimeRuntimePolicy("{\"digests\": {}, \"extra\": 1}", "k.json").error().message(),
              HasSubstr("k.json: unknown Keylime runtime policy member 'extra'"));
  EXPECT_THAT(ImportKeylimeRuntimePolicy("{\"digests\": {\"/a\": [\"abc\"]}}", "k.json").error().message(),
              HasSubstr("k.json: digests['/a']"));
  EXPECT_THAT(
      ImportKeylimeRuntimePolicy("{\"digests\": {\"/a\": [\"" + std::string(30, 'a') + "\"]}}", "k.json")
          .error()
          .message(),
      HasSubstr("15 bytes"));
  EXPECT_THAT(ImportKeylimeRuntimePolicy("{\n \"digests\": [}", "k.json").error().message(),
              HasSubstr("k.json:2:"));
  EXPECT_THAT(ImportKeylimeRuntimePolicy("{\"meta\": {}}", "k.json").error().message(),
              HasSubstr("'digests' is missing"));
  auto regex = ImportKeylimeRuntimePolicy("{\"digests\": {}, \"excludes\": [\"(\"]}", "k.json");
  ASSERT_TRUE(regex.ok());
  EXPECT_FALSE(Compile({*regex}).ok());  // the regex does not compile
}

}  // namespace
}  // namespace immune::policy
