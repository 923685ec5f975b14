// Diagnostics on stderr, in the "immune: level: message" shape systemd's
// journal and a terminal both read well. Not for results: those go to stdout.
//
// A message is written as one line: its control bytes are escaped (see
// EscapeForLog), so a file name an attacker chose ("x\nimmune: info: ...")
// cannot forge a line of its own.
//
// Thread safety: SetLogLevel before starting threads; Log from any thread
// (one write(2) per line, so lines do not interleave).
#ifndef IMMUNE_CORE_LOG_H_
#define IMMUNE_CORE_LOG_H_

#include <string>
#include <string_view>

namespace immune {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void Log(LogLevel level, std::string_view message);

// `s` for a line of text (stderr, syslog): control bytes (0x00-0x1f, 0x7f) as
// \xNN; when `s` is not UTF-8, every byte from 0x80 up as well (journald would
// otherwise keep the whole message as a binary blob). Printable UTF-8 comes
// back unchanged, backslashes included, so messages with regexes stay
// readable; an escape is therefore not always reversible, which a log line
// does not need.
std::string EscapeForLog(std::string_view s);

inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }

}  // namespace immune

#endif  // IMMUNE_CORE_LOG_H_
