// Whole-file reads and crash-safe whole-file writes.
#ifndef IMMUNE_CORE_FILE_H_
#define IMMUNE_CORE_FILE_H_

#include <string>

#include "immune/core/bytes.h"
#include "immune/core/error.h"

namespace immune {

// Reads all of a regular file, a pipe or a sysfs file (whose size stat()
// reports wrongly). Errors name the path and the errno text.
Result<Bytes> ReadFile(const std::string& path);
Result<std::string> ReadTextFile(const std::string& path);

// Writes to PATH.tmp.PID, fsyncs it, renames it over path and fsyncs the
// directory: readers see the old content or the new, never a torn file.
Status WriteFileAtomic(const std::string& path, ByteSpan data, unsigned mode = 0644);

}  // namespace immune

#endif  // IMMUNE_CORE_FILE_H_
