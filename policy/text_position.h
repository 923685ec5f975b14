// Internal to immune_policy: byte offsets to the 1-based line:column that
// error messages print.
#ifndef IMMUNE_POLICY_TEXT_POSITION_H_
#define IMMUNE_POLICY_TEXT_POSITION_H_

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace immune::policy::internal {

struct LineColumn {
  std::size_t line = 1;
  std::size_t column = 1;
};

// Offsets past the end point just after the last byte.
inline LineColumn PositionOf(std::string_view text, std::size_t offset) {
  LineColumn lc;
  if (offset > text.size()) offset = text.size();
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++lc.line;
      lc.column = 1;
    } else {
      ++lc.column;
    }
  }
  return lc;
}

// For text that nlohmann::json rejected: "LINE:COLUMN: REASON" of the
// first syntax error (the parser reports a byte offset).
inline std::string JsonSyntaxError(std::string_view text) {
  try {
    [[maybe_unused]] const nlohmann::json j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    const LineColumn lc = PositionOf(text, e.byte == 0 ? 0 : e.byte - 1);
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 3, column 17: syntax error ...":
    // keep the reason; the place is recomputed above from the byte offset.
    const std::size_t column = what.find("column ");
    const std::size_t at = what.find(": ", column == std::string::npos ? 0 : column);
    if (at != std::string::npos) what = what.substr(at + 2);
    return std::to_string(lc.line) + ":" + std::to_string(lc.column) + ": " + what;
  } catch (const std::exception& e) {
    return std::string("1:1: ") + e.what();
  }
  return "1:1: not JSON";
}

}  // namespace immune::policy::internal

#endif  // IMMUNE_POLICY_TEXT_POSITION_H_
