// `immunectl policy ...`: operator policy (docs/policy.md): lint, test
// against a recorded log, learn a draft from a log or the daemon, sign a
// bundle, apply to a running immuned, import/export Keylime runtime policies.
#ifndef IMMUNE_CMD_IMMUNECTL_POLICY_COMMAND_H_
#define IMMUNE_CMD_IMMUNECTL_POLICY_COMMAND_H_

#include <CLI/CLI.hpp>

#include "common.h"

namespace immune::cli {

// Exit codes: 0 ok; 1 lint found errors / test found entries the policy
// would deny; 2 bad input; 3 the daemon is not reachable or failed.
void AddPolicyCommands(CLI::App& app, const GlobalOptions& global, int* exit_code);

}  // namespace immune::cli

#endif  // IMMUNE_CMD_IMMUNECTL_POLICY_COMMAND_H_
