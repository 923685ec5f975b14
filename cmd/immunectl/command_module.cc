#include "command_module.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "immune/core/module.h"

namespace immune::cli {

Status AddModuleCommands(std::string_view group, CLI::App& app, const GlobalOptions& global, int* exit_code) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<LazyModule<CommandModuleV1>>> modules;
  LazyModule<CommandModuleV1>* module = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto& slot = modules[std::string(group)];
    if (!slot) {
      const std::string file = "immune-cli-" + std::string(group) + ".so";
      std::string env = "IMMUNE_CLI_" + std::string(group) + "_MODULE";
      for (char& c : env) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
#ifdef IMMUNE_CLI_MODULE_BUILD_DIR
      const std::string build_path = std::string(IMMUNE_CLI_MODULE_BUILD_DIR) + "/" + file;
#else
      const std::string build_path;
#endif
      slot = std::make_unique<LazyModule<CommandModuleV1>>(
          ModuleSpec{"command module", file, env, build_path, kCommandModuleSymbol, kCommandModuleAbi});
    }
    module = slot.get();
  }
  IMMUNE_ASSIGN_OR_RETURN(const CommandModuleV1* m, module->Get());
  m->add(app, global, exit_code);
  return OkStatus();
}

}  // namespace immune::cli
