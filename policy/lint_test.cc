// Lint: all findings, each placed.
#include "immune/policy/lint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace immune::policy {
namespace {

using ::testing::HasSubstr;

TEST(Lint, FindsEverythingWithPlaces) {
  const std::string a = "sha256:" + std::string(64, 'a');
  const std::string text =
      "apiVersion: immune/v1\nkind: Policy\nscope: host\nallow:\n"  // 1-4
      "  - " +
      a +
      "\n"  // 5
      "  - " +
      a +
      "\n"                                                              // 6
      "  - {path: \"/opt/*\", unsafe-path-only: true}\n"                // 7
      "  - {signed-lists: [missing.dsse], keys: [/nonexistent.pub]}\n"  // 8
      "deny:\n  - " +
      a + "\n";  // 9-10
  const std::vector<Finding> f = LintPolicy(text, "l.yaml");
  std::vector<std::string> lines;
  for (const Finding& x : f) lines.push_back(x.ToString());
  EXPECT_THAT(lines,
              ::testing::ElementsAre(
                  HasSubstr("l.yaml:5:5: warning: allow of " + a + " is shadowed by the deny at l.yaml:10:5"),
                  HasSubstr("l.yaml:6:5: warning: allow of " + a + " is shadowed"),
                  HasSubstr("l.yaml:6:5: warning: duplicate allow of " + a + " (first at l.yaml:5:5)"),
                  HasSubstr("l.yaml:7:5: warning: path-only allow '/opt/*'"),
                  HasSubstr("l.yaml:8:5: error: signed list 'missing.dsse' cannot be read"),
                  HasSubstr("l.yaml:8:5: error: key file '/nonexistent.pub' cannot be read")));
  EXPECT_TRUE(HasErrors(f));
}

TEST(Lint, ParseErrorsAndCleanFiles) {
  std::vector<Finding> f =
      LintPolicy("apiVersion: immune/v1\nkind: Policy\nscope: host\nmdoe: enforce\n", "x.yaml");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].where.line, 4);
  EXPECT_EQ(f[0].where.column, 1);
  EXPECT_EQ(f[0].ToString().substr(0, 27), "x.yaml:4:1: error: unknown ");
  f = LintPolicy(
      "apiVersion: immune/v1\nkind: Policy\nscope: host\nallow: [sha256:" + std::string(64, 'c') + "]\n",
      "ok.yaml");
  EXPECT_TRUE(f.empty());
  f = LintPolicy("apiVersion: immune/v1\nkind: Policy\nscope: host\n", "empty.yaml");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::kWarning);
  EXPECT_THAT(f[0].message, HasSubstr("no allow entries"));
  EXPECT_TRUE(HasErrors(LintPolicyFile("/nonexistent/policy.yaml")));
}

}  // namespace
}  // namespace immune::policy
