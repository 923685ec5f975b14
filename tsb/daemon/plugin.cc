#include "immune/tsbd/plugin.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <string>

namespace immune::tsbd {

LoadedAgent::~LoadedAgent() {
  if (agent_ != nullptr && destroy_ != nullptr) destroy_(agent_);
  if (handle_ != nullptr) ::dlclose(handle_);
}

Result<std::unique_ptr<LoadedAgent>> LoadAgentPlugin(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return NotFound("agent module " + path + ": no such file");
  std::unique_ptr<LoadedAgent> la(new LoadedAgent());
  la->path_ = path;
  la->handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (la->handle_ == nullptr) {
    const char* err = ::dlerror();
    return Unsupported("agent module " + path + ": cannot load: " + (err ? err : "unknown error"));
  }
  auto abi = reinterpret_cast<std::uint32_t (*)()>(::dlsym(la->handle_, "immune_agent_abi_version"));
  if (abi == nullptr) return Unsupported("agent module " + path + ": no immune_agent_abi_version symbol");
  const std::uint32_t version = abi();
  if (version != kAgentAbiVersion) {
    return Unsupported("agent module " + path + ": agent ABI version " + std::to_string(version) +
                       ", this daemon needs " + std::to_string(kAgentAbiVersion) + " (rebuild the module)");
  }
  auto create = reinterpret_cast<Agent* (*)()>(::dlsym(la->handle_, "immune_agent_create"));
  la->destroy_ = reinterpret_cast<void (*)(Agent*)>(::dlsym(la->handle_, "immune_agent_destroy"));
  if (create == nullptr || la->destroy_ == nullptr)
    return Unsupported("agent module " + path + ": no immune_agent_create/immune_agent_destroy symbol");
  la->agent_ = create();
  if (la->agent_ == nullptr) return Internal("agent module " + path + ": immune_agent_create returned null");
  return la;
}

}  // namespace immune::tsbd
