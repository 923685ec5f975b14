// `immuned --supervise`: a small parent that restarts the daemon when it
// dies and, for a fail-closed exec gate, keeps the gate's fanotify group
// alive across the restart (docs/exec-gate.md, "When immuned dies").
//
// The kernel allows every pending permission event and drops the marks when
// the last fd of a fanotify group closes. A supervisor that holds a dup of
// the group's fd keeps both: while the daemon is down, execs on the gated
// filesystems wait in the kernel, and the restarted daemon (which gets the
// fd through $IMMUNE_GATE_FD) answers them. Without such a group (fail-open)
// the supervisor only restarts the daemon, and execs in between run
// unchecked.
//
// Thread safety: single-threaded; call from main() before any thread starts.
#ifndef IMMUNE_CMD_IMMUNED_SUPERVISOR_H_
#define IMMUNE_CMD_IMMUNED_SUPERVISOR_H_

#include <functional>
#include <string>
#include <vector>

#include "immune/core/error.h"

namespace immune::immuned {

// The environment variable naming the inherited fanotify group fd.
inline constexpr const char* kGateFdEnv = "IMMUNE_GATE_FD";

// Runs `worker_argv` (argv[0] is executed) until SIGTERM/SIGINT, which are
// passed on to the worker; restarts it when it exits otherwise (100 ms back
// off, doubling to 5 s while it keeps dying within 10 s of its start).
// `make_group` runs once before the first start: a fanotify group fd the
// worker inherits (>= 0), or -1 for none. Returns the exit code: the
// worker's on a requested stop, 1 when the group or the fork fails.
int RunSupervisor(const std::vector<std::string>& worker_argv, const std::function<Result<int>()>& make_group);

}  // namespace immune::immuned

#endif  // IMMUNE_CMD_IMMUNED_SUPERVISOR_H_
