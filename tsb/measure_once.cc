#include "immune/tsb/measure_once.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "immune/core/mapped_hash.h"

namespace immune::tsb {
namespace {

std::int64_t Ns(const struct statx_timestamp& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

std::int64_t NowRealtimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

MeasureCache::MeasureCache(HashAlg alg, std::size_t buffer_size, std::chrono::milliseconds racy_window,
                           std::uint64_t map_threshold)
    : alg_(alg),
      racy_window_(racy_window),
      map_threshold_(map_threshold),
      buffer_(buffer_size == 0 ? 4096 : buffer_size),
      hasher_(alg) {}

Result<FileVersion> MeasureCache::Stat(int fd) const {
  struct statx stx {};
  unsigned mask = STATX_TYPE | STATX_INO | STATX_SIZE | STATX_MTIME | STATX_CTIME;
#ifdef STATX_CHANGE_COOKIE
  mask |= STATX_CHANGE_COOKIE;
#endif
  if (statx(fd, "", AT_EMPTY_PATH, mask, &stx) != 0) {
    return IoError("statx(fd " + std::to_string(fd) + "): " + std::strerror(errno));
  }
  if (!S_ISREG(stx.stx_mode)) return InvalidArgument("fd " + std::to_string(fd) + " is not a regular file");
  const unsigned need = STATX_INO | STATX_SIZE | STATX_MTIME | STATX_CTIME;
  if ((stx.stx_mask & need) != need) {
    return Unsupported("statx(fd " + std::to_string(fd) + ") did not report inode, size, mtime and ctime");
  }
  FileVersion v;
  v.dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
  v.ino = stx.stx_ino;
  v.size = stx.stx_size;
  v.mtime_ns = Ns(stx.stx_mtime);
  v.ctime_ns = Ns(stx.stx_ctime);
#ifdef STATX_CHANGE_COOKIE
  if (stx.stx_mask & STATX_CHANGE_COOKIE) v.change_cookie = stx.stx_change_cookie;
#endif
  return v;
}

Result<FileMeasurement> MeasureCache::MeasureFile(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  IMMUNE_ASSIGN_OR_RETURN(FileVersion before, Stat(fd));
  const auto key = std::make_pair(before.dev, before.ino);
  if (auto it = cache_.find(key); it != cache_.end() && it->second.first == before) {
    ++hits_;
    return FileMeasurement{it->second.second, alg_, before, true};
  }
  ++misses_;
  if (!hasher_.ok())
    return Unsupported("hash algorithm " + std::string(HashAlgName(alg_)) + " is not available");
  hasher_.Reset();
  const std::string what = "fd " + std::to_string(fd);
  off_t off = 0;
  if (before.size >= map_threshold_) {
    Status mapped = HashMappedRange(fd, before.size, hasher_, what);
    if (mapped.ok()) {
      off = static_cast<off_t>(before.size);
    } else if (mapped.error().code() == ErrorCode::kAborted) {
      // The file shrank under the mapping: what was hashed is no version of
      // it. Nothing to cache; the next event measures the new version.
      cache_.erase(key);
      return mapped.error();
    } else {
      // Not mappable here (a filesystem without mmap, no address space, our
      // SIGBUS handler replaced) or a page that could not be read in: pread
      // decides, from the start, with a clean hasher.
      hasher_.Reset();
    }
  }
  // Reads to end of file, also after a mapped [0, size): a file that grew
  // since the fstat is hashed as far as it is read, as pread alone would.
  for (;;) {
    const ssize_t n = pread(fd, buffer_.data(), buffer_.size(), off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("read(" + what + ") at byte " + std::to_string(off) + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    hasher_.Update(ByteSpan(buffer_.data(), static_cast<std::size_t>(n)));
    off += n;
  }
  Bytes digest(DigestSize(alg_));
  IMMUNE_RETURN_IF_ERROR(hasher_.FinalTo(digest));
  IMMUNE_ASSIGN_OR_RETURN(FileVersion after, Stat(fd));
  const bool stable = after == before && static_cast<std::uint64_t>(off) == before.size;
  const bool racy =
      !before.change_cookie && NowRealtimeNs() - before.ctime_ns <
                                   std::chrono::duration_cast<std::chrono::nanoseconds>(racy_window_).count();
  if (stable && !racy) {
    cache_.insert_or_assign(key, std::make_pair(before, digest));
  } else {
    cache_.erase(key);
  }
  return FileMeasurement{std::move(digest), alg_, after, false};
}

Result<FileMeasurement> MeasureCache::MeasureFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return IoError(path + ": open: " + std::strerror(errno));
  auto r = MeasureFile(fd);
  close(fd);
  if (!r.ok()) return r.error().WithContext(path);
  return r;
}

void MeasureCache::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  cache_.clear();
}

std::uint64_t MeasureCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}

std::uint64_t MeasureCache::misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return misses_;
}

std::size_t MeasureCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cache_.size();
}

}  // namespace immune::tsb
