// Hashing a file through read-only mappings of it, safe against the file
// shrinking underneath.
//
// Hashing a mapping skips the copy from the page cache into a buffer that
// pread makes, 8-11% of the time to hash a large file (docs/performance.md).
// The cost of mapping a file is that touching a page past its end raises
// SIGBUS, and any process that can write the file can truncate it while we
// hash: without care that kills the process (the daemon). HashMappedRange
// catches exactly those faults: a process-wide SIGBUS handler, installed on
// first use, jumps back into the call only when the faulting address lies in
// the window the faulting thread is hashing at that moment; every other
// SIGBUS goes on to the handler that was installed before (or the default
// action, which kills), so faults that are not ours are never swallowed.
//
// Requirements on the process: nothing may replace the SIGBUS handler after
// the first call (each call checks that it is still in place and returns
// kUnsupported without hashing if not, so a caller can fall back to
// reading); a handler installed before the first call is chained to. Under
// AddressSanitizer that is ASan's own (handle_sigbus=1, the default: foreign
// faults get ASan's report); with handle_sigbus=2 ASan ignores our sigaction
// and every call returns kUnsupported.
//
// Thread safety: may be called from any number of threads at once (each
// with its own Hasher); the guard that tells the handler which window is
// ours is per thread. Not async-signal-safe: do not call it from a signal
// handler.
#ifndef IMMUNE_CORE_MAPPED_HASH_H_
#define IMMUNE_CORE_MAPPED_HASH_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "immune/core/digest.h"
#include "immune/core/error.h"

namespace immune {

// Bytes mapped at a time. On the 2-core KVM guest with a 256 MiB file in the
// page cache, 2, 4 and 8 MiB windows hash at the same speed (within 1%;
// docs/performance.md): 4 MiB makes half the mmap/munmap calls of 2 MiB and
// holds half the address space of 8 MiB. MADV_SEQUENTIAL, MADV_WILLNEED and
// MAP_POPULATE made no measurable difference for a file in the page cache and
// are not used.
inline constexpr std::size_t kMappedHashWindow = std::size_t{4} * 1024 * 1024;

// Feeds bytes [0, size) of the file open at `fd` (readable; the fd's offset
// is neither used nor changed) to `hasher`, through MAP_PRIVATE PROT_READ
// mappings of `window` bytes (rounded up to whole pages), each unmapped
// before the next is made. `size` is what the caller believes the file's
// size to be (an fstat's); bytes the file gains beyond it are not hashed.
//
// Errors, each naming `what` (e.g. "fd 7" or a path):
//  - kAborted: the file shrank below `size` while it was being hashed (the
//    SIGBUS of touching a page past its new end was caught);
//  - kIo: a mapping could not be made (mmap's errno), or a page could not be
//    read in (a SIGBUS while fstat still reports `size` bytes: an I/O error,
//    or a file that shrank and grew back);
//  - kUnsupported: the SIGBUS handler could not be installed or was replaced
//    by someone else; nothing was fed to `hasher`;
//  - kInternal: called on a thread that is already inside it (from a signal
//    handler).
// After any error the hasher's state is garbage (part of the file, or the
// middle of a block): the caller must Reset() it before using it again.
Status HashMappedRange(int fd, std::uint64_t size, Hasher& hasher, std::string_view what,
                       std::size_t window = kMappedHashWindow);

}  // namespace immune

#endif  // IMMUNE_CORE_MAPPED_HASH_H_
