// `immunectl chain ...`: the baseline ledger on the command line
// (docs/chain-format.md describes the formats and the protocol).
#ifndef IMMUNE_CMD_IMMUNECTL_CHAIN_COMMAND_H_
#define IMMUNE_CMD_IMMUNECTL_CHAIN_COMMAND_H_

#include <CLI/CLI.hpp>

#include "common.h"

namespace immune::cli {

// Adds the `chain` subcommand tree to `app`. The chosen command's exit code
// is written to *exit_code when it runs. Every chain command takes
// --store LOCATION (default $IMMUNE_CHAIN_STORE, else sqlite:./immune-chain.db).
void AddChainCommands(CLI::App& app, const GlobalOptions& global, int* exit_code);

}  // namespace immune::cli

#endif  // IMMUNE_CMD_IMMUNECTL_CHAIN_COMMAND_H_
