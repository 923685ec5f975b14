// Diagnostics on stderr, in the "immune: level: message" shape systemd's
// journal and a terminal both read well. Not for results: those go to stdout.
//
// Thread safety: SetLogLevel before starting threads; Log from any thread
// (one write(2) per line, so lines do not interleave).
#ifndef IMMUNE_CORE_LOG_H_
#define IMMUNE_CORE_LOG_H_

#include <string_view>

namespace immune {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void Log(LogLevel level, std::string_view message);

inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }

}  // namespace immune

#endif  // IMMUNE_CORE_LOG_H_
