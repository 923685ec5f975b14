#include "immune/core/json_bytes.h"

namespace immune {

bool IsUtf8(std::string_view s) {
  // ASCII, the common case, needs no check.
  bool ascii = true;
  for (const char c : s) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return true;
  try {
    (void)nlohmann::json(std::string(s)).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

nlohmann::json BytesToJson(std::string_view s) {
  if (IsUtf8(s)) return std::string(s);
  nlohmann::json bytes = nlohmann::json::array();
  for (const char c : s) bytes.push_back(static_cast<unsigned char>(c));
  return bytes;
}

std::optional<std::string> BytesFromJson(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (!j.is_array()) return std::nullopt;
  std::string out;
  out.reserve(j.size());
  for (const auto& b : j) {
    if (!b.is_number_unsigned() || b.get<std::uint64_t>() > 255) return std::nullopt;
    out.push_back(static_cast<char>(b.get<std::uint64_t>()));
  }
  return out;
}

}  // namespace immune
