// The exported table of one command-group module; IMMUNE_COMMAND_GROUP_ADD
// names the group's Add...Commands function (cmd/CMakeLists.txt).
#include "chain_command.h"
#include "command_module.h"
#include "ima_command.h"
#include "immune/core/module.h"
#include "policy_command.h"
#include "tsb_command.h"

extern "C" __attribute__((visibility("default"))) const immune::cli::CommandModuleV1 immune_cli_module_v1 = {
    immune::cli::kCommandModuleAbi, immune::ModuleBuildId(), &immune::cli::IMMUNE_COMMAND_GROUP_ADD};
