// libFuzzer target for the PIMS /proc/PID/maps parser (pims_maps.h): any
// bytes either parse into ordered, non-empty mappings with valid permissions
// or give an error; never a crash or a sanitizer report.
//
//   build/fuzz/fuzz/pims_maps_fuzz -max_total_time=60 corpus/
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "immune/agents/pims.h"
#include "immune/agents/pims_maps.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace immune::agents;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto maps = ParseProcMaps(text, "maps");
  if (!maps.ok()) return 0;
  std::uint64_t prev_end = 0;
  for (const MapsEntry& m : *maps) {
    if (m.end <= m.start || m.start < prev_end || m.perms.size() != 4) std::abort();
    prev_end = m.end;
    (void)ClassifyMapping(m);
  }
  return 0;
}
