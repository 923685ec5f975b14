// libFuzzer target: the agent message decoder (untrusted bytes from any
// local agent) and the reply decoder agents run on what comes back. It must
// never crash, hang or throw; a refused message names its field, and an
// accepted one re-encodes and decodes to the same entries.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "immune/tsbd/agent_message.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto reply = immune::tsbd::DecodeAgentReply(bytes); !reply.ok() && reply.error().message().empty()) std::abort();
  immune::tsbd::DecodedRequest d = immune::tsbd::DecodeAgentRequest(bytes);
  if (auto* e = std::get_if<immune::tsbd::MessageError>(&d)) {
    (void)immune::tsbd::EncodeError(*e);
    return 0;
  }
  const auto& req = std::get<immune::tsbd::AgentRequest>(d);
  if (req.type == immune::tsbd::AgentMessageType::kMeasure) {
    auto again = immune::tsbd::DecodeAgentRequest(immune::tsbd::EncodeMeasure(req.id, req.measurements));
    if (!std::holds_alternative<immune::tsbd::AgentRequest>(again)) std::abort();
    const auto& r2 = std::get<immune::tsbd::AgentRequest>(again);
    if (r2.measurements.size() != req.measurements.size()) std::abort();
    for (std::size_t i = 0; i < r2.measurements.size(); ++i) {
      if (r2.measurements[i].path != req.measurements[i].path ||
          r2.measurements[i].file_digest != req.measurements[i].file_digest ||
          r2.measurements[i].container_id != req.measurements[i].container_id)
        std::abort();
    }
  }
  return 0;
}
