// libFuzzer target for the container parsers of untrusted bytes: the OCI
// state a hook reads on stdin, a bundle's config.json, runc's state.json,
// crun's status, /proc/PID/stat and /proc/PID/cgroup lines, and the
// container.register / container.unregister args the daemon receives. Every
// input goes to every parser; beyond "no crash, no sanitizer report" it
// checks that register args that parse re-encode to args that parse to the
// same container.
//
//   build/fuzz/fuzz/oci_state_fuzz -max_total_time=60 corpus/
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "immune/agents/container.h"
#include "immune/agents/container_hook.h"
#include "immune/agents/container_oci.h"
#include "immune/agents/container_proc.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace immune::agents;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)ParseOciState(bytes, "stdin");
  if (auto cfg = ParseBundleConfig(bytes, "config.json"); cfg.ok())
    (void)ResolveRootfs("/bundle", cfg->root_path);
  (void)ParseRuncState(bytes, "state.json");
  if (auto crun = ParseCrunStatus(bytes, "status"); crun.ok())
    (void)ResolveRootfs(crun->bundle, crun->rootfs);
  (void)ParseProcStatStartTime(bytes, "stat");
  (void)ChooseCgroupPath(bytes, "cgroup");
  (void)CheckControlReply(bytes);

  nlohmann::json j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  (void)ContainerUnregisterArgsFromJson(j);
  auto args = ContainerRegisterArgsFromJson(j);
  if (args.ok()) {
    auto again = ContainerRegisterArgsFromJson(ContainerRegisterArgsToJson(*args));
    if (!again.ok() || !(again->container == args->container)) std::abort();
  }
  return 0;
}
