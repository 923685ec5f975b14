// Loadable agents: a shared object that exports, with C linkage,
//
//   std::uint32_t immune_agent_abi_version(void);   // must return kAgentAbiVersion
//   immune::tsbd::Agent* immune_agent_create(void);  // new agent, owned by the caller
//   void immune_agent_destroy(immune::tsbd::Agent*);
//
// IMMUNE_DEFINE_AGENT_PLUGIN(Type) defines all three. The daemon dlopens the
// file, calls immune_agent_abi_version first and refuses the module (and
// resolves nothing else) when it differs: the Agent vtable, the
// MeasurementEntry layout and AgentHost are the ABI, so a module built
// against other headers must not be called. kAgentAbiVersion changes with
// any change to agent.h or measurement_entry.h. Modules must be built with
// the same compiler and standard library as the daemon.
//
// Thread safety: LoadAgentPlugin may be called from any thread; a
// LoadedAgent is owned by one thread.
#ifndef IMMUNE_TSBD_PLUGIN_H_
#define IMMUNE_TSBD_PLUGIN_H_

#include <cstdint>
#include <memory>
#include <string>

#include "immune/core/error.h"
#include "immune/tsbd/agent.h"

namespace immune::tsbd {

inline constexpr std::uint32_t kAgentAbiVersion = 1;

// An agent from a module; the module stays loaded while the agent lives.
class LoadedAgent {
 public:
  ~LoadedAgent();
  LoadedAgent(const LoadedAgent&) = delete;
  LoadedAgent& operator=(const LoadedAgent&) = delete;

  Agent& agent() { return *agent_; }
  const std::string& path() const { return path_; }

 private:
  friend Result<std::unique_ptr<LoadedAgent>> LoadAgentPlugin(const std::string& path);
  LoadedAgent() = default;
  std::string path_;
  void* handle_ = nullptr;
  Agent* agent_ = nullptr;
  void (*destroy_)(Agent*) = nullptr;
};

// kNotFound (no file), kUnsupported (not a module, missing symbols, ABI
// version differs: the message names both versions), kInternal (create
// returned null). Errors name the path.
Result<std::unique_ptr<LoadedAgent>> LoadAgentPlugin(const std::string& path);

}  // namespace immune::tsbd

#define IMMUNE_DEFINE_AGENT_PLUGIN(Type)                                                                  \
  extern "C" __attribute__((visibility("default"))) std::uint32_t immune_agent_abi_version() {            \
    return ::immune::tsbd::kAgentAbiVersion;                                                              \
  }                                                                                                       \
  extern "C" __attribute__((visibility("default"))) ::immune::tsbd::Agent* immune_agent_create() {        \
    return new Type();                                                                                    \
  }                                                                                                       \
  extern "C" __attribute__((visibility("default"))) void immune_agent_destroy(::immune::tsbd::Agent* a) { \
    delete a;                                                                                             \
  }

#endif  // IMMUNE_TSBD_PLUGIN_H_
