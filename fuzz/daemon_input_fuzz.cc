// libFuzzer target: what reaches immuned from outside other than agent
// messages (agent_message_fuzz): its configuration file (YAML, parsed at
// start and at every reload) and the container registration an OCI runtime
// hook sends over the control socket (JSON args of container.register and
// container.unregister). The first byte picks the parser. Every input must
// give a value or an Error naming the place: never a crash, a hang or an
// exception out of the parser. An accepted registration re-encodes and
// decodes to the same container.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "immune/agents/container.h"
#include "immune/tsbd/config.h"

namespace {

using nlohmann::json;

void RoundTripRegister(const immune::agents::ContainerRegisterArgs& a) {
  auto again = immune::agents::ContainerRegisterArgsFromJson(immune::agents::ContainerRegisterArgsToJson(a));
  if (!again.ok()) std::abort();
  if (again->stage != a.stage || !(again->container == a.container)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto c = immune::tsbd::ParseConfig(text, "immuned.yaml");
      if (!c.ok() && c.error().message().empty()) std::abort();
      return 0;
    }
    default:
      break;
  }
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  switch (data[0] % 4) {
    case 1: {
      auto r = immune::agents::ContainerRegisterArgsFromJson(j);
      if (r.ok()) RoundTripRegister(*r);
      break;
    }
    case 2: {
      auto r = immune::agents::ContainerUnregisterArgsFromJson(j);
      if (r.ok()) {
        auto again =
            immune::agents::ContainerUnregisterArgsFromJson(immune::agents::ContainerUnregisterArgsToJson(*r));
        if (!again.ok() || again->id != r->id || again->bundle != r->bundle || again->stage != r->stage)
          std::abort();
      }
      break;
    }
    case 3: {
      auto r = immune::agents::ContainerInfoFromJson(j, "container");
      if (r.ok()) (void)immune::agents::ContainerInfoToJson(*r).dump();
      break;
    }
  }
  return 0;
}
