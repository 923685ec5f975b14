// ConfigWatch: measures critical configuration files (the kernel command
// line, sysctls, the container runtime's configuration, sshd_config, ...)
// at start and again whenever they change.
//
// Regular files are watched with inotify on the file and on its directory,
// so a file rewritten in place (IN_CLOSE_WRITE), replaced by rename over it
// (IN_MOVED_TO in the directory; editors and WriteFileAtomic do this),
// deleted or created is re-measured at once. Files under /proc and /sys,
// which inotify does not report, are polled every `poll_interval`; regular
// files are polled too, as a backstop for changes inotify cannot see (a
// writer that keeps the file open, a bind mount over it).
//
// A change is reported as (path, old digest, new digest); an absent or
// unreadable file has no digest (nullopt), so creation and deletion are
// changes as well.
//
// Thread safety: all members may be called from any thread. The callback
// runs on the watch thread, one call at a time; it must not call Stop().
#ifndef IMMUNE_AGENTS_CONFIG_WATCH_H_
#define IMMUNE_AGENTS_CONFIG_WATCH_H_

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"

namespace immune::agents {

struct ConfigChange {
  std::string path;
  std::optional<Bytes> old_digest;  // nullopt: the file was absent or unreadable
  std::optional<Bytes> new_digest;
};

struct ConfigMeasurement {
  std::string path;
  std::optional<Bytes> digest;
  std::string error;  // why there is no digest ("No such file or directory")
};

// The files Immune watches by default: /proc/cmdline, security-relevant
// sysctls, sshd_config, the container runtimes' configuration files. Those
// absent on this host are included too (their creation is a change).
std::vector<std::string> DefaultCriticalFiles();

// Digest of a file's whole content; errors name the path.
Result<Bytes> MeasureFile(const std::string& path, HashAlg alg);

class ConfigWatch {
 public:
  struct Options {
    std::chrono::milliseconds poll_interval{1000};
    HashAlg alg = HashAlg::kSha256;
  };
  using Callback = std::function<void(const ConfigChange&)>;

  ConfigWatch(Options options, Callback on_change);
  ~ConfigWatch();  // stops the thread
  ConfigWatch(const ConfigWatch&) = delete;
  ConfigWatch& operator=(const ConfigWatch&) = delete;

  // Measures `path` now (its first measurement is not a change) and watches
  // it from then on. kInvalidArgument for a relative path; adding a path
  // twice is a no-op.
  Status Add(const std::string& path);

  // Starts the watch thread. kIo when inotify cannot be set up,
  // kInvalidArgument when already started.
  Status Start();
  void Stop();

  // The latest measurement of every watched file, sorted by path.
  std::vector<ConfigMeasurement> Snapshot() const;

 private:
  struct Watched {
    std::optional<Bytes> digest;
    std::string error;
    int file_wd = -1;
  };

  void Run();
  void Remeasure(const std::string& path);
  void RemeasureDirectory(int wd, std::string_view name);
  void AddWatchesLocked(const std::string& path, Watched& w);
  static bool IsPseudoFile(const std::string& path);

  const Options options_;
  const Callback on_change_;
  mutable std::mutex mu_;
  std::map<std::string, Watched> files_;  // guarded by mu_
  std::map<int, std::string> dir_wds_;    // guarded by mu_: wd -> directory
  std::map<int, std::string> file_wds_;   // guarded by mu_: wd -> file path
  int inotify_fd_ = -1;
  int stop_fd_ = -1;      // eventfd that wakes the thread to stop
  bool running_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_CONFIG_WATCH_H_
