#include "immune/core/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "immune/core/json_bytes.h"

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

std::string EscapeForLog(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  const bool utf8 = IsUtf8(s);
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f || (b >= 0x80 && !utf8)) {
      out += "\\x";
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void Log(LogLevel level, std::string_view message) {
  if (level < g_level.load()) return;
  std::string line = "immune: ";
  line.append(LevelName(level)).append(": ").append(EscapeForLog(message)).push_back('\n');
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace immune
