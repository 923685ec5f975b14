#include "immune/core/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

namespace immune {

namespace {
std::atomic<LogLevel> g_level{LogLevel::kWarning};

std::string_view LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "?";
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(level); }
LogLevel GetLogLevel() { return g_level.load(); }

void Log(LogLevel level, std::string_view message) {
  if (level < g_level.load()) return;
  std::string line = "immune: ";
  line.append(LevelName(level)).append(": ").append(message).push_back('\n');
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace immune
