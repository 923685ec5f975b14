// Classification helpers of the exec gate: what an opened file is (from its
// first bytes, read through the event fd, never by path) and who opened it
// (from /proc/PID). Private to immune_agents_gate.
//
// Thread safety: free functions without shared state.
#ifndef IMMUNE_AGENTS_GATE_CLASSIFY_H_
#define IMMUNE_AGENTS_GATE_CLASSIFY_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/error.h"

namespace immune::agents {

enum class Content { kElf, kScript, kOther };

// Reads up to 4 bytes at offset 0 of `fd` with pread (the fd's offset is
// untouched). kIo naming the fd on a read error.
Result<Content> SniffContent(int fd);

// `name` matches one of `patterns`: an exact name, or a prefix followed by '*'.
bool MatchesInterpreter(std::string_view name, const std::vector<std::string>& patterns);

// Whether process `pid` runs one of `patterns`: the basename of
// /proc/PID/exe or the content of /proc/PID/comm. False when pid is 0 or gone.
bool IsInterpreterProcess(pid_t pid, const std::vector<std::string>& patterns);

// readlink of /proc/self/fd/N; "fd N" when it cannot be read. For logs only.
std::string FdPath(int fd);

// The security.ima xattr of the file open at `fd`, nullopt when absent or unreadable.
std::optional<Bytes> ReadImaXattr(int fd);

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_GATE_CLASSIFY_H_
