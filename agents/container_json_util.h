// Helpers for reading untrusted JSON without exceptions: every error names
// the source (a file path, "stdin") and the JSON pointer of the field.
//
// Thread safety: pure functions.
#ifndef IMMUNE_AGENTS_CONTAINER_JSON_UTIL_H_
#define IMMUNE_AGENTS_CONTAINER_JSON_UTIL_H_

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/error.h"

namespace immune::agents::json_util {

using nlohmann::json;

// Parses `bytes`; a syntax error names `source` and the byte offset.
Result<json> Parse(std::string_view bytes, std::string_view source);

// "SOURCE: PATH: message" as kInvalidArgument.
Error FieldError(std::string_view source, std::string_view path, std::string_view message);

// Each reader: a missing key gives std::nullopt when optional, an error when
// `required`; a key of the wrong type is always an error.
Result<std::optional<std::string>> String(const json& obj, std::string_view key, std::string_view source,
                                          std::string_view path, bool required);
// A member that must be present and a string (no optional to dereference:
// GCC's -O2 flow analysis cannot see that a required member is engaged).
Result<std::string> RequiredString(const json& obj, std::string_view key, std::string_view source,
                                   std::string_view path);
Result<std::optional<std::int64_t>> Int(const json& obj, std::string_view key, std::string_view source,
                                        std::string_view path, bool required);
Result<std::optional<std::uint64_t>> Uint(const json& obj, std::string_view key, std::string_view source,
                                          std::string_view path, bool required);
Result<std::optional<bool>> Bool(const json& obj, std::string_view key, std::string_view source,
                                 std::string_view path, bool required);
// A JSON object of string values (annotations); absent gives an empty map.
Result<std::map<std::string, std::string>> StringMap(const json& obj, std::string_view key,
                                                     std::string_view source, std::string_view path);
// A JSON array of strings; absent gives an empty vector.
Result<std::vector<std::string>> StringArray(const json& obj, std::string_view key, std::string_view source,
                                             std::string_view path);

// PATH + "/" + key, the JSON pointer of a member.
std::string Child(std::string_view path, std::string_view key);

}  // namespace immune::agents::json_util

#endif  // IMMUNE_AGENTS_CONTAINER_JSON_UTIL_H_
