// Decoders shared by event_data.cc and efi_variable.cc (not a public API).
#ifndef IMMUNE_BOOT_EVENT_DATA_INTERNAL_H_
#define IMMUNE_BOOT_EVENT_DATA_INTERNAL_H_

#include <nlohmann/json.hpp>
#include <string>

#include "immune/core/bytes.h"

namespace immune::boot::internal {

// {"raw": hex, "error": why}: the decoding of data that is not what its type
// says.
nlohmann::json Undecodable(ByteSpan data, const std::string& why);

// UEFI_VARIABLE_DATA of the EV_EFI_VARIABLE_* events, with the variable's
// value decoded for the variables a verifier appraises.
nlohmann::json DecodeEfiVariable(ByteSpan data, std::uint32_t event_type);

// A list of EFI_SIGNATURE_LISTs (db, dbx, KEK, PK, MokList); on a malformed
// list, the lists before it and an Undecodable() entry.
nlohmann::json DecodeSignatureLists(ByteSpan data);

}  // namespace immune::boot::internal

#endif  // IMMUNE_BOOT_EVENT_DATA_INTERNAL_H_
