// Internal to immune_tsb_log: MeasurementEntry <-> JSON, shared by partition
// views and the JSON export.
#ifndef IMMUNE_TSB_ENTRY_JSON_H_
#define IMMUNE_TSB_ENTRY_JSON_H_

#include <nlohmann/json.hpp>

#include "immune/core/error.h"
#include "immune/tsb/measurement_entry.h"

namespace immune::tsb::internal {

nlohmann::json EntryToJson(const MeasurementEntry& e);
// Untrusted input: type-checks every member; errors name it. Never throws.
Result<MeasurementEntry> EntryFromJson(const nlohmann::json& j);

}  // namespace immune::tsb::internal

#endif  // IMMUNE_TSB_ENTRY_JSON_H_
