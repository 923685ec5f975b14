// immunectl's command groups as modules (core/module.h).
//
// `immunectl boot ...` is benchmarked process by process against
// tpm2_eventlog, and every command group linked into the executable adds
// relocations and copy-on-write pages to each start (the ledger's and the
// TSB's code, SQLite, OpenSSL's signature machinery: 0.35 ms, measured in
// docs/performance.md). So only `boot` is built in; `ima`, `chain` and `tsb`
// are modules immune-cli-<group>.so, loaded when their group is used (or, for
// the top-level --help, all of them).
#ifndef IMMUNE_CMD_IMMUNECTL_COMMAND_MODULE_H_
#define IMMUNE_CMD_IMMUNECTL_COMMAND_MODULE_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string_view>

#include "common.h"
#include "immune/core/error.h"

namespace immune::cli {

inline constexpr std::uint32_t kCommandModuleAbi = 1;
inline constexpr const char* kCommandModuleSymbol = "immune_cli_module_v1";

// Starts with the members of immune::ModuleHeader.
struct CommandModuleV1 {
  std::uint32_t abi;
  const char* build_id;
  void (*add)(CLI::App& app, const GlobalOptions& global, int* exit_code);
};

// Loads immune-cli-<group>.so and adds its commands to `app`.
Status AddModuleCommands(std::string_view group, CLI::App& app, const GlobalOptions& global, int* exit_code);

}  // namespace immune::cli

#endif  // IMMUNE_CMD_IMMUNECTL_COMMAND_MODULE_H_
