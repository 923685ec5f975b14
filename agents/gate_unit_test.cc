// Unit tests of the exec gate's pieces that need no fanotify: interpreter
// matching, content sniffing, the decision cache, argument checks.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "gate_cache.h"
#include "gate_classify.h"
#include "immune/agents/exec_gate.h"

namespace immune::agents {
namespace {

TEST(GateClassify, InterpreterPatterns) {
  const std::vector<std::string> p = {"sh", "python*"};
  EXPECT_TRUE(MatchesInterpreter("sh", p));
  EXPECT_FALSE(MatchesInterpreter("bash", p));
  EXPECT_FALSE(MatchesInterpreter("shx", p));
  EXPECT_TRUE(MatchesInterpreter("python3.11", p));
  EXPECT_TRUE(MatchesInterpreter("python", p));
  EXPECT_FALSE(MatchesInterpreter("pytho", p));
  EXPECT_FALSE(MatchesInterpreter("", p));
  EXPECT_TRUE(MatchesInterpreter("anything", {"*"}));
}

TEST(GateClassify, OwnProcessIsNotAnInterpreter) {
  EXPECT_FALSE(IsInterpreterProcess(getpid(), {"sh", "python*"}));
  EXPECT_TRUE(IsInterpreterProcess(getpid(), {"agents_gate_unit*"}));
  EXPECT_FALSE(IsInterpreterProcess(0, {"*"}));
}

std::string TempFileWith(const std::string& content) {
  char name[] = "/tmp/immune-gate-unit-XXXXXX";
  const int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  close(fd);
  return name;
}

TEST(GateClassify, SniffsThroughTheFd) {
  struct Case {
    std::string content;
    Content want;
  } cases[] = {{"\x7f"
                "ELF\x02\x01",
                Content::kElf},
               {"#!/bin/sh\n", Content::kScript},
               {"#", Content::kOther},
               {"", Content::kOther},
               {"\x7f"
                "EL",
                Content::kOther},
               {"print(1)\n", Content::kOther}};
  for (const Case& c : cases) {
    const std::string path = TempFileWith(c.content);
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(lseek(fd, 1, SEEK_SET), 1);
    Result<Content> got = SniffContent(fd);
    ASSERT_TRUE(got.ok()) << got.error().ToString();
    EXPECT_EQ(*got, c.want) << "content of size " << c.content.size();
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 1) << "the fd's offset must not move";
    close(fd);
    unlink(path.c_str());
  }
  Result<Content> bad = SniffContent(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("fd -1"), std::string::npos) << bad.error().message();
}

TEST(GateCache, HitNeedsSameVersionAndGeneration) {
  DecisionCache cache(64);
  const DecisionKey key{7, 1, 100};
  tsb::FileVersion v{1, 100, 10, 5, 6, std::nullopt};
  EXPECT_FALSE(cache.Lookup(key, v, 1).has_value());
  cache.Store(key, v, 1, true);
  ASSERT_TRUE(cache.Lookup(key, v, 1).has_value());
  EXPECT_TRUE(*cache.Lookup(key, v, 1));
  EXPECT_FALSE(cache.Lookup(key, v, 2).has_value()) << "another policy generation";
  EXPECT_FALSE(cache.Lookup(DecisionKey{8, 1, 100}, v, 1).has_value()) << "another scope";
  tsb::FileVersion changed = v;
  changed.ctime_ns = 7;
  EXPECT_FALSE(cache.Lookup(key, changed, 1).has_value()) << "a changed file";
  cache.Store(key, changed, 1, false);
  ASSERT_TRUE(cache.Lookup(key, changed, 1).has_value());
  EXPECT_FALSE(*cache.Lookup(key, changed, 1));
  EXPECT_EQ(cache.size(), 1u);
}

TEST(GateCache, ContentIsKeptPerFileVersion) {
  ContentCache cache(64);
  const DecisionKey key{0, 1, 100};
  tsb::FileVersion v{1, 100, 10, 5, 6, std::nullopt};
  EXPECT_FALSE(cache.Lookup(key, v, 0).has_value());
  cache.Store(key, v, 0, Content::kOther);
  ASSERT_TRUE(cache.Lookup(key, v, 0).has_value());
  EXPECT_EQ(*cache.Lookup(key, v, 0), Content::kOther);
  tsb::FileVersion rewritten = v;  // e.g. a data file rewritten as a script
  rewritten.mtime_ns = 8;
  rewritten.ctime_ns = 8;
  EXPECT_FALSE(cache.Lookup(key, rewritten, 0).has_value()) << "another version is read again";
  cache.Store(key, rewritten, 0, Content::kScript);
  EXPECT_EQ(*cache.Lookup(key, rewritten, 0), Content::kScript);
  EXPECT_FALSE(cache.Lookup(key, v, 0).has_value()) << "one entry per file, its latest version";
}

TEST(GateCache, StaysBounded) {
  DecisionCache cache(64);
  for (std::uint64_t i = 0; i < 10000; ++i) {
    cache.Store(DecisionKey{0, 1, i}, tsb::FileVersion{1, i, 0, 0, 0, std::nullopt}, 0, true);
  }
  EXPECT_LE(cache.size(), 64u);
  cache.Clear();
  EXPECT_EQ(cache.size(), 0u);
}

class NeverDecider : public Decider {
 public:
  GateAnswer Decide(const GateEvent&) override { return {}; }
};

TEST(ExecGateConfig, RejectsBadConfig) {
  GateConfig c;
  c.workers = 0;
  auto r = ExecGate::Create(c, std::make_shared<NeverDecider>());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(ExecGate::Create(GateConfig{}, nullptr).ok());
  GateConfig q;
  q.queue_capacity = 0;
  EXPECT_FALSE(ExecGate::Create(q, std::make_shared<NeverDecider>()).ok());
}

TEST(MemfdNoexec, RejectsBadArguments) {
  EXPECT_EQ(SetMemfdNoexec(1, 3).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(SetMemfdNoexec(1, -1).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(SetMemfdNoexec(0, 2).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(GetMemfdNoexec(-5).ok());
}

}  // namespace
}  // namespace immune::agents
