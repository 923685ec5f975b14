// Strings that come from the filesystem or /proc (paths, executable names)
// are bytes: Linux lets a file name hold any byte but '/' and NUL, UTF-8 or
// not. A JSON string must be UTF-8, and nlohmann's dump() throws on anything
// else, so such a string would fail the whole document it is in. As journald
// does in its JSON output (journalctl -o json), a string that is valid UTF-8
// is written as a JSON string and any other as an array of its byte values
// (0-255), which keeps every byte. Readers accept both forms.
#ifndef IMMUNE_CORE_JSON_BYTES_H_
#define IMMUNE_CORE_JSON_BYTES_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace immune {

// Whether `s` is well-formed UTF-8 (nlohmann's own check, the one dump() makes).
bool IsUtf8(std::string_view s);

// `s` as a JSON string when it is UTF-8, else as an array of byte values.
nlohmann::json BytesToJson(std::string_view s);

// The bytes back from either form; nullopt when `j` is neither a string nor an
// array of integers 0-255.
std::optional<std::string> BytesFromJson(const nlohmann::json& j);

}  // namespace immune

#endif  // IMMUNE_CORE_JSON_BYTES_H_
