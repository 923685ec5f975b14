#include "immune/policy/emit.h"

#include <gtest/gtest.h>

#include "immune/core/file.h"
#include "immune/policy/keylime.h"

namespace immune::policy {
namespace {

const char* kPolicy = R"(apiVersion: immune/v1
kind: Policy
scope: {image: "busybox:1.36"}
mode: permissive
allow:
  - sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
  - {path: /bin/sh, digests: [sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, sha1:a94a8fe5ccb19ba61c4c0873d391e987982fbbd3]}
  - {path: "/opt/app/*", unsafe-path-only: true}
deny:
  - {path: /usr/bin/nc}
interpreters: [bash, "python3*"]
actions: [deny, kill, alarm]
critical-files: [/etc/ssh/sshd_config]
---
apiVersion: immune/v1
kind: Policy
scope: host
allow:
  - {path: /usr/bin/true, digest: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
)";

void ExpectSameRules(const std::vector<Rule>& a, const std::vector<Rule>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].kind, b[i].kind) << i;
    EXPECT_EQ(a[i].path, b[i].path) << i;
    EXPECT_EQ(a[i].digests, b[i].digests) << i;
  }
}

TEST(Emit, DocumentsRoundTripThroughYaml) {
  auto docs = ParseDocuments(kPolicy, "in.yaml");
  ASSERT_TRUE(docs.ok()) << docs.error().ToString();
  const std::string yaml = DocumentsToYaml(*docs);
  auto again = ParseDocuments(yaml, "out.yaml");
  ASSERT_TRUE(again.ok()) << again.error().ToString() << "\n" << yaml;
  ASSERT_EQ(again->size(), docs->size());
  for (std::size_t i = 0; i < docs->size(); ++i) {
    const Document& x = (*docs)[i];
    const Document& y = (*again)[i];
    EXPECT_EQ(x.scope, y.scope);
    EXPECT_EQ(x.mode, y.mode);
    EXPECT_EQ(x.interpreters, y.interpreters);
    EXPECT_EQ(x.actions, y.actions);
    EXPECT_EQ(x.critical_files, y.critical_files);
    ExpectSameRules(x.allow, y.allow);
    ExpectSameRules(x.deny, y.deny);
  }
}

TEST(Emit, KeylimeImportBecomesAnImmuneDocument) {
  auto text = ReadTextFile(std::string(IMMUNE_TESTDATA_DIR) + "/policies/keylime/runtime-policy-test.json");
  ASSERT_TRUE(text.ok());
  auto doc = ImportKeylimeRuntimePolicy(*text, "runtime-policy-test.json");
  ASSERT_TRUE(doc.ok()) << doc.error().ToString();
  std::vector<Document> docs{*doc};
  auto again = ParseDocuments(DocumentsToYaml(docs), "imported.yaml");
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  ASSERT_EQ(again->size(), 1u);
  ExpectSameRules((*again)[0].allow, doc->allow);
  EXPECT_FALSE(doc->allow.empty());
}

}  // namespace
}  // namespace immune::policy
