// immunectl's exit codes, shared by every command (documented in
// docs/operators-guide.md).
#ifndef IMMUNE_CMD_IMMUNECTL_EXIT_CODES_H_
#define IMMUNE_CMD_IMMUNECTL_EXIT_CODES_H_

#include <cstdio>
#include <string>

#include "immune/core/error.h"

namespace immune::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitMismatch = 1;     // evidence did not verify
inline constexpr int kExitBadInput = 2;     // malformed input or usage
inline constexpr int kExitOperational = 3;  // TPM, swtpm or I/O failure beyond the input

// Prints "immunectl: <error>" on stderr and returns the exit code its error
// code maps to: input problems are 2, the environment's are 3.
inline int ReportError(const Error& e) {
  std::fprintf(stderr, "immunectl: %s\n", e.ToString().c_str());
  switch (e.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kCorruption:
    case ErrorCode::kUnsupported:
    case ErrorCode::kNotFound: return kExitBadInput;
    default: return kExitOperational;
  }
}

}  // namespace immune::cli

#endif  // IMMUNE_CMD_IMMUNECTL_EXIT_CODES_H_
