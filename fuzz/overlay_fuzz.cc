// libFuzzer target: the overlay parsers of untrusted text: /proc/PID/mountinfo
// (paths chosen by whoever mounted), overlay super options, and the layer
// manifest JSON read back from the cache directory. They must never crash,
// hang or throw; an accepted manifest re-encodes and decodes to the same entries.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "immune/agents/overlay_layout.h"
#include "immune/agents/overlay_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)immune::agents::FindOverlayMount(text, "mountinfo", "/", "/base");
  (void)immune::agents::ParseOverlayOptions(text, "options", "");
  (void)immune::agents::DecodeMountEscapes(text);
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  auto m = immune::agents::LayerManifestFromJson(j, "manifest");
  if (!m.ok()) return 0;
  auto again = immune::agents::LayerManifestFromJson(immune::agents::LayerManifestToJson(*m), "again");
  if (!again.ok() || again->entries != m->entries || again->fingerprint != m->fingerprint) std::abort();
  return 0;
}
