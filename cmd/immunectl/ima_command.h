// `immunectl ima ...`: the kernel's IMA runtime measurement lists.
#ifndef IMMUNE_CMD_IMMUNECTL_IMA_COMMAND_H_
#define IMMUNE_CMD_IMMUNECTL_IMA_COMMAND_H_

#include <CLI/CLI.hpp>

#include "common.h"

namespace immune::cli {

void AddImaCommands(CLI::App& app, const GlobalOptions& global, int* exit_code);

}  // namespace immune::cli

#endif  // IMMUNE_CMD_IMMUNECTL_IMA_COMMAND_H_
