// The /proc/PID/maps parser (pims_maps.h).
#include "immune/agents/pims_maps.h"

#include <sys/sysmacros.h>

#include <charconv>
#include <optional>
#include <string>

namespace immune::agents {
namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

// A cursor over one line that reports the 1-based column of errors.
class LineCursor {
 public:
  LineCursor(std::string_view line, std::string_view source, std::size_t line_no)
      : line_(line), source_(source), line_no_(line_no) {}

  Error Fail(std::string_view what) const {
    return Corruption(std::string(source_) + ":" + std::to_string(line_no_) + ":" + std::to_string(pos_ + 1) +
                      ": " + std::string(what));
  }

  Result<std::uint64_t> Number(int base, std::string_view what) {
    std::uint64_t v = 0;
    const char* first = line_.data() + pos_;
    const char* last = line_.data() + line_.size();
    // from_chars accepts no sign or prefix for unsigned values: good, the
    // kernel prints none.
    auto [ptr, ec] = std::from_chars(first, last, v, base);
    if (ec == std::errc::result_out_of_range) return Fail(std::string(what) + " out of range");
    if (ec != std::errc() || ptr == first) return Fail("expected " + std::string(what));
    pos_ += static_cast<std::size_t>(ptr - first);
    return v;
  }

  Status Expect(char c, std::string_view what) {
    if (pos_ >= line_.size() || line_[pos_] != c) return Fail("expected " + std::string(what));
    ++pos_;
    return OkStatus();
  }

  std::optional<char> Peek() const {
    if (pos_ >= line_.size()) return std::nullopt;
    return line_[pos_];
  }
  void Advance() { ++pos_; }
  std::string_view Rest() const { return line_.substr(pos_); }
  bool AtEnd() const { return pos_ >= line_.size(); }

 private:
  std::string_view line_;
  std::string_view source_;
  std::size_t line_no_;
  std::size_t pos_ = 0;
};

}  // namespace

dev_t MapsEntry::dev() const { return makedev(dev_major, dev_minor); }

Result<MapsEntry> ParseProcMapsLine(std::string_view line, std::string_view source, std::size_t line_no) {
  LineCursor c(line, source, line_no);
  MapsEntry e;
  IMMUNE_ASSIGN_OR_RETURN(e.start, c.Number(16, "hexadecimal start address"));
  IMMUNE_RETURN_IF_ERROR(c.Expect('-', "'-' between start and end address"));
  IMMUNE_ASSIGN_OR_RETURN(e.end, c.Number(16, "hexadecimal end address"));
  if (e.end <= e.start) return c.Fail("end address is not above start address");
  IMMUNE_RETURN_IF_ERROR(c.Expect(' ', "' ' before permissions"));

  static constexpr char kAllowed[4][3] = {{'r', '-', 0}, {'w', '-', 0}, {'x', '-', 0}, {'p', 's', 0}};
  for (int i = 0; i < 4; ++i) {
    auto ch = c.Peek();
    if (!ch || (*ch != kAllowed[i][0] && *ch != kAllowed[i][1]))
      return c.Fail(std::string("expected permission '") + kAllowed[i][0] + "' or '" + kAllowed[i][1] + "'");
    e.perms.push_back(*ch);
    c.Advance();
  }
  IMMUNE_RETURN_IF_ERROR(c.Expect(' ', "' ' before file offset"));
  IMMUNE_ASSIGN_OR_RETURN(e.offset, c.Number(16, "hexadecimal file offset"));
  IMMUNE_RETURN_IF_ERROR(c.Expect(' ', "' ' before device"));
  IMMUNE_ASSIGN_OR_RETURN(std::uint64_t major, c.Number(16, "hexadecimal device major"));
  IMMUNE_RETURN_IF_ERROR(c.Expect(':', "':' between device major and minor"));
  IMMUNE_ASSIGN_OR_RETURN(std::uint64_t minor, c.Number(16, "hexadecimal device minor"));
  // Linux device numbers: 12-bit major, 20-bit minor.
  if (major > 0xfff || minor > 0xfffff) return c.Fail("device number out of range");
  e.dev_major = static_cast<unsigned>(major);
  e.dev_minor = static_cast<unsigned>(minor);
  IMMUNE_RETURN_IF_ERROR(c.Expect(' ', "' ' before inode"));
  IMMUNE_ASSIGN_OR_RETURN(e.inode, c.Number(10, "decimal inode"));

  if (!c.AtEnd()) {
    // The kernel pads the inode column with spaces (also on anonymous
    // lines, which then end in spaces), then prints the path as is (only
    // '\n' is escaped, as "\012"): everything left is the path.
    IMMUNE_RETURN_IF_ERROR(c.Expect(' ', "' ' before path"));
    while (c.Peek() == ' ') c.Advance();
    std::string_view path = c.Rest();
    if (path.size() > kDeletedSuffix.size() && path.ends_with(kDeletedSuffix)) {
      e.deleted = true;
      path.remove_suffix(kDeletedSuffix.size());
    }
    e.path = std::string(path);
  }
  return e;
}

Result<std::vector<MapsEntry>> ParseProcMaps(std::string_view text, std::string_view source) {
  std::vector<MapsEntry> out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    if (nl == std::string_view::npos)
      return Corruption(std::string(source) + ":" + std::to_string(line_no) + ":" +
                        std::to_string(text.size() + 1) +
                        ": line not terminated by a newline (truncated read?)");
    IMMUNE_ASSIGN_OR_RETURN(MapsEntry e, ParseProcMapsLine(text.substr(0, nl), source, line_no));
    if (!out.empty() && e.start < out.back().end)
      return Corruption(std::string(source) + ":" + std::to_string(line_no) +
                        ":1: mapping overlaps or precedes the previous one");
    out.push_back(std::move(e));
    text.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace immune::agents
