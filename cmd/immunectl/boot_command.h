// `immunectl boot ...`: measured-boot evidence on the command line.
#ifndef IMMUNE_CMD_IMMUNECTL_BOOT_COMMAND_H_
#define IMMUNE_CMD_IMMUNECTL_BOOT_COMMAND_H_

#include <CLI/CLI.hpp>

#include "common.h"

namespace immune::cli {

// Adds the `boot` subcommand tree to `app`. The chosen command's exit code
// is written to *exit_code when it runs.
void AddBootCommands(CLI::App& app, const GlobalOptions& global, int* exit_code);

}  // namespace immune::cli

#endif  // IMMUNE_CMD_IMMUNECTL_BOOT_COMMAND_H_
