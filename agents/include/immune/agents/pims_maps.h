// The /proc/PID/maps parser of process integrity measurement (PIMS).
//
// /proc/PID/maps is text the kernel writes, but PIMS treats it as untrusted
// input (a path in it is chosen by whoever named the mapped file, and a
// malformed line must never crash the agent): every malformed line is an
// error naming SOURCE:LINE:COLUMN and what was expected there.
//
// Thread safety: pure functions; no shared state.
#ifndef IMMUNE_AGENTS_PIMS_MAPS_H_
#define IMMUNE_AGENTS_PIMS_MAPS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/error.h"

namespace immune::agents {

// One line of /proc/PID/maps:
//   START-END PERMS OFFSET MAJOR:MINOR INODE [PATH]
struct MapsEntry {
  std::uint64_t start = 0;   // first byte of the mapping
  std::uint64_t end = 0;     // one past the last byte (start < end)
  std::string perms;         // four characters, e.g. "r-xp"
  std::uint64_t offset = 0;  // offset in the mapped file (0 for anonymous)
  unsigned dev_major = 0;
  unsigned dev_minor = 0;
  std::uint64_t inode = 0;  // 0 for anonymous and special mappings
  // As the kernel printed it minus a trailing " (deleted)"; empty for an
  // anonymous mapping; "[vdso]", "[stack]", ... for special ones.
  std::string path;
  bool deleted = false;  // the line ended in " (deleted)"

  std::uint64_t size() const { return end - start; }
  bool readable() const { return perms[0] == 'r'; }
  bool writable() const { return perms[1] == 'w'; }
  bool executable() const { return perms[2] == 'x'; }
  bool shared() const { return perms[3] == 's'; }
  // The device as st_dev would report it (makedev(major, minor)).
  dev_t dev() const;

  bool operator==(const MapsEntry&) const = default;
};

// Parses the whole text of a maps file. `source` names it in errors
// ("/proc/1234/maps"). Errors: kCorruption "SOURCE:LINE:COL: ...". An empty
// text is a valid empty list (a zombie's maps file is empty).
Result<std::vector<MapsEntry>> ParseProcMaps(std::string_view text, std::string_view source);

// Parses one line (no trailing newline); `line_no` is used in errors.
Result<MapsEntry> ParseProcMapsLine(std::string_view line, std::string_view source, std::size_t line_no);

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_PIMS_MAPS_H_
