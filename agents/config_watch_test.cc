// Integration tests of ConfigWatch on real files: in-place rewrite, replace
// by rename, deletion and creation through inotify, /proc by polling.
#include "immune/agents/config_watch.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <vector>

#include "immune/core/digest.h"
#include "immune/core/file.h"

namespace immune::agents {
namespace {

using namespace std::chrono_literals;

Bytes Sha256(std::string_view s) { return *Hash(HashAlg::kSha256, AsBytes(s)); }

class Changes {
 public:
  void Add(const ConfigChange& c) {
    std::lock_guard lock(mu_);
    changes_.push_back(c);
    cv_.notify_all();
  }
  // The first change to `path` whose new digest is `want` (nullopt: absent),
  // waiting up to `timeout`.
  std::optional<ConfigChange> WaitFor(const std::string& path, const std::optional<Bytes>& want,
                                      std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    std::optional<ConfigChange> found;
    cv_.wait_for(lock, timeout, [&] {
      for (const auto& c : changes_)
        if (c.path == path && c.new_digest == want) {
          found = c;
          return true;
        }
      return false;
    });
    return found;
  }
  std::size_t size() {
    std::lock_guard lock(mu_);
    return changes_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ConfigChange> changes_;
};

class ConfigWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("config_watch_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const char* name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

void WriteInPlace(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

TEST_F(ConfigWatchTest, RewriteInPlaceAndReplaceByRenameAreSeen) {
  const std::string path = Path("sshd_config");
  WriteInPlace(path, "PermitRootLogin no\n");
  Changes changes;
  ConfigWatch::Options opts;
  opts.poll_interval = std::chrono::hours(1);  // inotify alone must see these
  ConfigWatch watch(opts, [&](const ConfigChange& c) { changes.Add(c); });
  ASSERT_TRUE(watch.Add(path).ok());
  ASSERT_TRUE(watch.Start().ok());
  auto snap = watch.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].digest, Sha256("PermitRootLogin no\n"));
  EXPECT_EQ(changes.size(), 0u);  // the first measurement is not a change

  WriteInPlace(path, "PermitRootLogin yes\n");
  auto c1 = changes.WaitFor(path, Sha256("PermitRootLogin yes\n"), 10s);
  ASSERT_TRUE(c1.has_value()) << "in-place rewrite not seen";

  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("PasswordAuthentication yes\n")).ok());
  auto c2 = changes.WaitFor(path, Sha256("PasswordAuthentication yes\n"), 10s);
  ASSERT_TRUE(c2.has_value()) << "replace by rename not seen";
  EXPECT_EQ(c2->old_digest, Sha256("PermitRootLogin yes\n"));

  // The new inode is watched as well as the old one was.
  WriteInPlace(path, "UsePAM no\n");
  ASSERT_TRUE(changes.WaitFor(path, Sha256("UsePAM no\n"), 10s).has_value());
  watch.Stop();
}

TEST_F(ConfigWatchTest, DeletionAndCreationAreChanges) {
  const std::string path = Path("daemon.json");
  Changes changes;
  ConfigWatch::Options opts;
  opts.poll_interval = std::chrono::hours(1);
  ConfigWatch watch(opts, [&](const ConfigChange& c) { changes.Add(c); });
  ASSERT_TRUE(watch.Add(path).ok());  // absent for now
  EXPECT_FALSE(watch.Snapshot()[0].digest.has_value());
  EXPECT_NE(watch.Snapshot()[0].error, "");
  ASSERT_TRUE(watch.Start().ok());

  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("{}")).ok());
  auto created = changes.WaitFor(path, Sha256("{}"), 10s);
  ASSERT_TRUE(created.has_value());
  EXPECT_FALSE(created->old_digest.has_value());

  std::filesystem::remove(path);
  auto deleted = changes.WaitFor(path, std::nullopt, 10s);
  ASSERT_TRUE(deleted.has_value());
  EXPECT_EQ(deleted->old_digest, Sha256("{}"));
}

TEST(ConfigWatch, ProcFilesArePolled) {
  // /proc/uptime changes every hundredth of a second; inotify never reports it.
  Changes changes;
  ConfigWatch::Options opts;
  opts.poll_interval = 20ms;
  ConfigWatch watch(opts, [&](const ConfigChange& c) { changes.Add(c); });
  ASSERT_TRUE(watch.Add("/proc/uptime").ok());
  ASSERT_TRUE(watch.Add("/proc/cmdline").ok());
  ASSERT_TRUE(watch.Start().ok());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (changes.size() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  watch.Stop();
  ASSERT_GT(changes.size(), 0u);
  for (const auto& m : watch.Snapshot()) EXPECT_TRUE(m.digest.has_value()) << m.path << ": " << m.error;
}

TEST(ConfigWatch, RelativePathIsRejected) {
  ConfigWatch watch({}, nullptr);
  auto s = watch.Add("etc/ssh/sshd_config");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("etc/ssh/sshd_config"), std::string::npos);
}

TEST(ConfigWatch, DefaultFilesAreAbsolute) {
  for (const auto& p : DefaultCriticalFiles()) EXPECT_EQ(p[0], '/') << p;
}

}  // namespace
}  // namespace immune::agents
