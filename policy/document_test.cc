// Parsing policy documents: good YAML and JSON, and bad input with the exact
// FILE:LINE:COLUMN of the error.
#include "immune/policy/document.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace immune::policy {
namespace {

using ::testing::HasSubstr;

const std::string kSha256A = "sha256:" + std::string(64, 'a');
const std::string kSha1B = "sha1:" + std::string(40, 'b');

TEST(Document, ParsesEveryForm) {
  const std::string yaml = R"(apiVersion: immune/v1
kind: Policy
name: web
scope:
  image: nginx:1.25
mode: permissive
allow:
  - )" + kSha256A + R"(
  - {path: /bin/sh, digest: )" +
                           kSha1B + R"(}
  - path: /usr/bin/python3
    digests: [)" + kSha256A +
                           ", " + kSha1B + R"(]
  - {path: "/opt/app/*", unsafe-path-only: true}
  - {signed-lists: [lists/app.dsse], keys: [/etc/immune/list.pub]}
  - ima-signatures: {keys: [ima.pem]}
deny:
  - {path: /usr/bin/nc}
interpreters: [bash, "python*"]
actions: [kill, alarm]
)";
  auto docs = ParseDocuments(yaml, "/etc/immune/policy.d/web.yaml");
  ASSERT_TRUE(docs.ok()) << docs.error().ToString();
  ASSERT_EQ(docs->size(), 1u);
  const Document& d = (*docs)[0];
  EXPECT_EQ(d.scope, (Scope{ScopeKind::kImage, "nginx:1.25"}));
  EXPECT_EQ(d.mode, Mode::kPermissive);
  ASSERT_EQ(d.allow.size(), 6u);
  EXPECT_EQ(d.allow[0].kind, RuleKind::kDigest);
  EXPECT_EQ(d.allow[0].where.line, 8);
  EXPECT_EQ(d.allow[0].where.column, 5);
  EXPECT_EQ(d.allow[0].where.RuleId(), "web.yaml:8");
  EXPECT_EQ(d.allow[1].kind, RuleKind::kPathDigest);
  EXPECT_EQ(d.allow[1].digests[0].alg, HashAlg::kSha1);
  EXPECT_EQ(d.allow[2].digests.size(), 2u);
  EXPECT_EQ(d.allow[3].kind, RuleKind::kPathGlob);
  EXPECT_EQ(d.allow[4].kind, RuleKind::kSignedLists);
  EXPECT_EQ(d.allow[4].files[0], "/etc/immune/policy.d/lists/app.dsse");  // relative to the document
  EXPECT_EQ(d.allow[4].keys[0], "/etc/immune/list.pub");
  EXPECT_EQ(d.allow[5].kind, RuleKind::kImaSignatures);
  EXPECT_EQ(d.allow[5].keys[0], "/etc/immune/policy.d/ima.pem");
  ASSERT_EQ(d.deny.size(), 1u);
  EXPECT_EQ(d.deny[0].kind, RuleKind::kPathGlob);
  EXPECT_EQ(*d.interpreters, (std::vector<std::string>{"bash", "python*"}));
  EXPECT_EQ(ActionSetToString(*d.actions), "kill,alarm");
}

TEST(Document, SeveralYamlDocumentsAndScopes) {
  auto docs = ParseDocuments(
      "apiVersion: immune/v1\nkind: Policy\nscope: host\n---\n"
      "apiVersion: immune/v1\nkind: Policy\nscope: {containers: all}\n---\n"
      "apiVersion: immune/v1\nkind: Policy\nscope: {container: abc}\nmode: learn\n",
      "p.yaml");
  ASSERT_TRUE(docs.ok()) << docs.error().ToString();
  ASSERT_EQ(docs->size(), 3u);
  EXPECT_EQ((*docs)[0].scope.kind, ScopeKind::kHost);
  EXPECT_EQ((*docs)[1].scope.kind, ScopeKind::kAllContainers);
  EXPECT_EQ((*docs)[2].scope.ToString(), "container:abc");
  EXPECT_EQ((*docs)[2].mode, Mode::kLearn);
  EXPECT_FALSE((*docs)[0].mode.has_value());
}

TEST(Document, JsonIsDetectedByContent) {
  const std::string json =
      "{\n  \"apiVersion\": \"immune/v1\",\n  \"kind\": \"Policy\",\n"
      "  \"scope\": \"host\",\n  \"allow\": [\"" +
      kSha256A + "\"]\n}\n";
  auto docs = ParseDocuments(json, "p.json");
  ASSERT_TRUE(docs.ok()) << docs.error().ToString();
  EXPECT_EQ((*docs)[0].allow.size(), 1u);
  EXPECT_EQ((*docs)[0].allow[0].where.line, 5);

  // A JSON syntax error: the byte offset becomes line:column.
  auto bad = ParseDocuments("{\n  \"apiVersion\": \"immune/v1\",\n  \"kind\" \"Policy\"\n}", "p.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(bad.error().message(), HasSubstr("p.json:3:17: syntax error while parsing object separator"));
  // A semantic error in JSON has a place too.
  auto unknown = ParseDocuments(
      "{\"apiVersion\": \"immune/v1\", \"kind\": \"Policy\", \"scope\": \"host\",\n"
      " \"alow\": []}",
      "q.json");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.error().message(), HasSubstr("q.json:2:2: unknown key 'alow'"));
}

struct BadCase {
  std::string text;
  std::string message;  // expected substring, starting with the place
};

TEST(Document, BadDocumentsNameThePlace) {
  const std::string head = "apiVersion: immune/v1\nkind: Policy\nscope: host\n";
  const BadCase cases[] = {
      {head + "alow: []\n", "f.yaml:4:1: unknown key 'alow'"},
      {head + "mode: strict\n", "f.yaml:4:7: mode 'strict' is not enforce, permissive or learn"},
      {head + "allow:\n  - sha256:abcd\n", "f.yaml:5:5: sha256 digest has 2 bytes, expected 32"},
      {head + "allow:\n  - md5:" + std::string(32, 'a') + "\n", "f.yaml:5:5: unknown digest algorithm 'md5'"},
      {head + "allow:\n  - {path: /bin/sh}\n",
       "f.yaml:5:12: an allow entry with a path and no digest needs "
       "'unsafe-path-only: true'"},
      {head + "allow:\n  - {path: bin/sh, digest: " + kSha256A + "}\n",
       "f.yaml:5:12: path 'bin/sh' is not absolute"},
      {head + "allow:\n  - {path: /x, dgest: " + kSha256A + "}\n",
       "f.yaml:5:16: unknown key 'dgest' in an entry"},
      {head + "actions: [deny, explode]\n", "f.yaml:4:17: action 'explode' is not"},
      {head + "scope: host\n", "f.yaml:4:1: duplicate key 'scope'"},
      {"apiVersion: immune/v2\nkind: Policy\nscope: host\n",
       "f.yaml:1:13: apiVersion 'immune/v2' is not immune/v1"},
      {"apiVersion: immune/v1\nkind: Policy\n", "f.yaml:1:1: missing 'scope'"},
      {"apiVersion: immune/v1\nkind: Policy\nscope: {pod: x}\n", "f.yaml:3:9: unknown scope key 'pod'"},
      {head + "allow: [\n", "f.yaml:5:1: invalid YAML"},
      {head + "allow:\n  - {path: /x, digest: " + kSha256A + ", unsafe-path-only: true}\n",
       "unsafe-path-only applies only to an entry with a path and no digest"},
      {"- a\n- b\n", "f.yaml:1:1: a policy document must be a mapping"},
      {"", "f.yaml: no policy document"},
  };
  for (const BadCase& c : cases) {
    auto docs = ParseDocuments(c.text, "f.yaml");
    ASSERT_FALSE(docs.ok()) << c.text;
    EXPECT_EQ(docs.error().code(), ErrorCode::kInvalidArgument) << c.text;
    EXPECT_THAT(docs.error().message(), HasSubstr(c.message)) << c.text;
  }
}

TEST(Document, DigestRefs) {
  auto d = ParseDigestRef("sm3:" + std::string(64, '0'));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->alg, HashAlg::kSm3_256);
  auto s = ParseDigestRef("sha512:" + std::string(128, 'F'));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->ToString(), "sha512:" + std::string(128, 'f'));
  EXPECT_FALSE(ParseDigestRef("sha256").ok());
  EXPECT_FALSE(ParseDigestRef("sha256:zz").ok());
}

// yaml-cpp 0.7's LoadAll loops forever on ",-" (found by fuzzing); each
// document is loaded on its own, and line numbers still count from the file.
TEST(Document, InputThatHangsYamlCppLoadAllIsAnError) {
  auto r = ParseDocuments(",-", "hang.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("hang.yaml"), std::string::npos);
}

TEST(Document, ErrorsInLaterDocumentsNameTheirLineInTheFile) {
  const std::string text =
      "apiVersion: immune/v1\nkind: Policy\nscope: host\n---\napiVersion: immune/v1\nkind: Policy\n"
      "scope: host\nmode: sometimes\n...\n";
  auto r = ParseDocuments(text, "multi.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("multi.yaml:8:7"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace immune::policy
