// Measure once: a cache of file digests keyed by (device, inode) and
// validated by the file's change metadata, so an unchanged file is not
// hashed (nor logged, nor extended: the caller skips those on a hit) again.
//
// Validation: size, mtime, ctime and, when the kernel and filesystem report
// it through statx (STATX_CHANGE_COOKIE, where the UAPI headers define it;
// they do not on kernels that keep it internal), the change cookie
// (i_version), which changes on every data or metadata change even within
// one timestamp tick. Without the cookie, a change within the same
// timestamp tick and of the same size cannot be seen from metadata; to
// close that window a file whose ctime is within `racy_window` of the time
// of measurement is hashed but not cached (as git does with racy entries).
// A file that changes while it is being hashed (metadata differ before and
// after) is not cached either.
//
// Hashing goes through the given open fd (no re-open by path, so a rename
// or replace between open and hash is not followed). A file of at least
// `map_threshold` bytes is hashed through read-only mappings of the fd, a
// few MiB at a time (core's HashMappedRange): that skips pread's copy out of
// the page cache. A file that is truncated while it is mapped would raise
// SIGBUS; HashMappedRange catches that fault (and only that one), and
// MeasureFile returns kAborted naming the fd and caches nothing. Smaller
// files, files that cannot be mapped, and processes in which the SIGBUS
// handler cannot be kept in place are read with pread into one reusable
// buffer. Either way the file is hashed up to the end of file the reads see,
// so a file that grows while it is hashed gives the digest of what was read
// and is not cached.
//
// Thread safety: all methods may be called from any thread; an internal
// mutex serialises them (one buffer, one hasher).
#ifndef IMMUNE_TSB_MEASURE_ONCE_H_
#define IMMUNE_TSB_MEASURE_ONCE_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"

namespace immune::tsb {

struct FileVersion {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::optional<std::uint64_t> change_cookie;
  bool operator==(const FileVersion&) const = default;
};

struct FileMeasurement {
  Bytes digest;
  HashAlg alg = HashAlg::kSha256;
  FileVersion version;
  bool hit = false;  // served from the cache: not hashed now
};

class MeasureCache {
 public:
  // Files at least this large are hashed through mappings. Measured on the
  // 2-core KVM guest (docs/performance.md): up to 256 KiB pread into the
  // buffer is cheaper than mmap + page faults + munmap (a 4 KiB file: 3 us
  // against 8); at 1 MiB the two are within 2% when the file's bytes are in
  // the CPU's caches and mapping is 5-6% faster when they are not; from 2 MiB
  // on mapping is faster either way (8-11% on a 256 MiB file). Between 256
  // KiB and 1 MiB it depends on the caches; 1 MiB keeps the mapped path, and
  // its SIGBUS handling, to the files where it clearly pays.
  static constexpr std::uint64_t kDefaultMapThreshold = std::uint64_t{1} << 20;
  // As map_threshold: always pread (for comparison in benchmarks).
  static constexpr std::uint64_t kNeverMap = UINT64_MAX;

  explicit MeasureCache(HashAlg alg = HashAlg::kSha256, std::size_t buffer_size = 256 * 1024,
                        std::chrono::milliseconds racy_window = std::chrono::milliseconds(20),
                        std::uint64_t map_threshold = kDefaultMapThreshold);

  // Measures the regular file open at `fd` (the fd's offset is not used or
  // changed). kInvalidArgument for a non-regular file; kIo naming the fd;
  // kAborted naming the fd when the file shrank while it was being hashed.
  Result<FileMeasurement> MeasureFile(int fd);
  // Opens `path` (O_RDONLY | O_CLOEXEC | O_NOCTTY), measures it through that
  // fd, closes it. Errors name the path.
  Result<FileMeasurement> MeasureFile(const std::string& path);

  void Clear();
  std::uint64_t hits() const;
  std::uint64_t misses() const;
  std::size_t size() const;

 private:
  Result<FileVersion> Stat(int fd) const;

  const HashAlg alg_;
  const std::chrono::milliseconds racy_window_;
  const std::uint64_t map_threshold_;
  mutable std::mutex mu_;
  Bytes buffer_;
  Hasher hasher_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::pair<FileVersion, Bytes>> cache_;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
};

}  // namespace immune::tsb

#endif  // IMMUNE_TSB_MEASURE_ONCE_H_
