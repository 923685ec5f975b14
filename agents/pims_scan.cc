// ScanProcess: memory against file for every executable mapping (pims.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "immune/core/fd.h"
#include "immune/agents/pims.h"
#include "immune/core/digest.h"
#include "immune/core/file.h"

namespace immune::agents {
namespace {

// Closes a descriptor when it goes out of scope.
using Fd = UniqueFd;

std::string Errno() { return std::strerror(errno); }

std::string Hex64(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

// Reads exactly buf.size() bytes at `offset`, retrying short reads. Returns
// the number read before EOF or an error (errno kept).
Result<std::size_t> PreadFull(int fd, std::span<std::uint8_t> buf, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < buf.size()) {
    // /proc/PID/mem takes the address as the file offset; addresses above
    // 2^63 (the kernel's [vsyscall]) cannot be one.
    if (offset + done > static_cast<std::uint64_t>(INT64_MAX)) return IoError("offset beyond off_t");
    const ssize_t n = ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(Errno());
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

struct ScanContext {
  const ScanOptions& opts;
  std::string pid_dir;  // "/proc/PID"
  int mem_fd;
  int pagemap_fd;  // -1: not used
  ProcessIntegrity& out;
  Bytes mem_buf;
  Bytes file_buf;
};

// Digest of process memory [start, end); reads in chunks.
Result<Bytes> DigestMemory(ScanContext& ctx, const MapsEntry& m) {
  Hasher h(HashAlg::kSha256);
  for (std::uint64_t pos = 0; pos < m.size();) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(ctx.opts.chunk_size, m.size() - pos));
    std::span<std::uint8_t> buf(ctx.mem_buf.data(), n);
    auto got = PreadFull(ctx.mem_fd, buf, m.start + pos);
    if (!got.ok())
      return IoError("reading memory at 0x" + Hex64(m.start + pos) + ": " + got.error().message());
    if (*got != n) return IoError("short read of memory at 0x" + Hex64(m.start + pos + *got));
    h.Update(buf);
    ctx.out.bytes_mem += n;
    pos += n;
  }
  return h.Final();
}

// Reads the file range for mapping bytes [pos, pos+n), zero-filling past EOF.
Status ReadFileChunk(ScanContext& ctx, int file_fd, const MapsEntry& m, std::uint64_t pos, std::size_t n) {
  std::span<std::uint8_t> buf(ctx.file_buf.data(), n);
  auto got = PreadFull(file_fd, buf, m.offset + pos);
  if (!got.ok())
    return IoError("reading file at offset " + std::to_string(m.offset + pos) + ": " + got.error().message());
  std::fill(buf.begin() + static_cast<std::ptrdiff_t>(*got), buf.end(), 0);
  ctx.out.bytes_file += *got;
  return OkStatus();
}

// Digest of the file range the mapping covers.
Result<Bytes> DigestFileRange(ScanContext& ctx, int file_fd, const MapsEntry& m) {
  Hasher h(HashAlg::kSha256);
  for (std::uint64_t pos = 0; pos < m.size();) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(ctx.opts.chunk_size, m.size() - pos));
    IMMUNE_RETURN_IF_ERROR(ReadFileChunk(ctx, file_fd, m, pos, n));
    h.Update(ByteSpan(ctx.file_buf.data(), n));
    pos += n;
  }
  return h.Final();
}

// Offset of the first byte where memory and file differ, or nullopt when a
// byte-by-byte pass finds them equal (the process changed between passes).
Result<std::optional<std::uint64_t>> FirstDifference(ScanContext& ctx, int file_fd, const MapsEntry& m) {
  for (std::uint64_t pos = 0; pos < m.size();) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(ctx.opts.chunk_size, m.size() - pos));
    IMMUNE_RETURN_IF_ERROR(ReadFileChunk(ctx, file_fd, m, pos, n));
    auto got = PreadFull(ctx.mem_fd, std::span<std::uint8_t>(ctx.mem_buf.data(), n), m.start + pos);
    if (!got.ok() || *got != n) return IoError("re-reading memory at 0x" + Hex64(m.start + pos));
    ctx.out.bytes_mem += n;
    auto mm = std::mismatch(ctx.mem_buf.begin(), ctx.mem_buf.begin() + static_cast<std::ptrdiff_t>(n),
                            ctx.file_buf.begin());
    if (mm.first != ctx.mem_buf.begin() + static_cast<std::ptrdiff_t>(n))
      return std::optional<std::uint64_t>(pos + static_cast<std::uint64_t>(mm.first - ctx.mem_buf.begin()));
    pos += n;
  }
  return std::optional<std::uint64_t>();
}

// Opens the file a mapping maps. map_files/START-END is the mapped inode
// itself (even if unlinked); without CAP_SYS_ADMIN it is refused and the
// path is opened inside the process's root instead, after which the inode
// may not be the one mapped: `by_identity` tells which it was.
int OpenMappedFile(const ScanContext& ctx, const MapsEntry& m, bool* by_identity, std::string* why,
                   int* err) {
  const std::string map_file = ctx.pid_dir + "/map_files/" + Hex64(m.start) + "-" + Hex64(m.end);
  int fd = ::open(map_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    *by_identity = true;
    return fd;
  }
  *by_identity = false;
  const std::string by_path = ctx.pid_dir + "/root" + m.path;
  fd = ::open(by_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    *err = errno;
    *why = "cannot open " + map_file + " or " + by_path + ": " + std::strerror(*err);
  }
  return fd;
}

// True when every page of the mapping is still the file's (or not present):
// no private copy exists, so memory equals the file. False when a page is a
// private anonymous copy or swapped out, or pagemap cannot be read.
bool AllPagesShared(ScanContext& ctx, const MapsEntry& m) {
  if (ctx.pagemap_fd < 0) return false;
  constexpr std::uint64_t kPresent = 1ULL << 63, kSwapped = 1ULL << 62, kFilePage = 1ULL << 61;
  const long page = ::sysconf(_SC_PAGESIZE);
  std::uint64_t entries[512];
  for (std::uint64_t va = m.start; va < m.end;) {
    const std::uint64_t n = std::min<std::uint64_t>(512, (m.end - va) / static_cast<std::uint64_t>(page));
    if (n == 0) break;
    const off_t off = static_cast<off_t>(va / static_cast<std::uint64_t>(page) * 8);
    const ssize_t got = ::pread(ctx.pagemap_fd, entries, n * 8, off);
    if (got != static_cast<ssize_t>(n * 8)) return false;
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t e = entries[i];
      if (e & kSwapped) return false;
      if ((e & kPresent) && !(e & kFilePage)) return false;
    }
    va += n * static_cast<std::uint64_t>(page);
  }
  return true;
}

void CompareFileMapping(ScanContext& ctx, MappingIntegrity& mi) {
  const MapsEntry& m = mi.map;
  if (ctx.opts.use_pagemap && !m.deleted && AllPagesShared(ctx, m)) {
    // Still check that the mapped inode is the file at its path (a replaced
    // file is reported, as below), without reading any content.
    bool by_identity = false;
    std::string why;
    int open_errno = 0;
    Fd file(OpenMappedFile(ctx, m, &by_identity, &why, &open_errno));
    struct stat st {};
    if (file.get() >= 0 && ::fstat(file.get(), &st) == 0 &&
        (by_identity || (st.st_dev == m.dev() && st.st_ino == m.inode))) {
      mi.status = MappingStatus::kIntact;
      mi.detail = "every page is the file's own (pagemap): no private copy to compare";
      ++ctx.out.pagemap_intact;
      return;
    }
  }
  auto mem = DigestMemory(ctx, m);
  if (!mem.ok()) {
    mi.status = MappingStatus::kUnreadable;
    mi.detail = mem.error().message();
    return;
  }
  mi.digest_mem = std::move(mem).value();

  bool by_identity = false;
  std::string why;
  int open_errno = 0;
  Fd file(OpenMappedFile(ctx, m, &by_identity, &why, &open_errno));
  if (file.get() < 0) {
    // A file that is gone from its path is a replaced or deleted file, not
    // an unreadable one.
    mi.status =
        (m.deleted || open_errno == ENOENT) ? MappingStatus::kFileChanged : MappingStatus::kUnreadable;
    mi.detail = why;
    return;
  }
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) {
    mi.status = MappingStatus::kUnreadable;
    mi.detail = "fstat: " + Errno();
    return;
  }
  // Opened by path: only meaningful if it is still the inode that was mapped.
  if (!by_identity && (st.st_dev != m.dev() || st.st_ino != m.inode || m.deleted)) {
    mi.status = MappingStatus::kFileChanged;
    mi.detail = m.deleted ? "the mapped file was deleted or replaced"
                          : "the file at the path is not the mapped inode (replaced since it was mapped)";
    return;
  }

  const FileDigestCache::Key key{st.st_dev, st.st_ino, m.offset, m.size()};
  const FileDigestCache::Stamp stamp{
      static_cast<std::int64_t>(st.st_size),
      static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec};
  std::optional<Bytes> cached = ctx.opts.cache ? ctx.opts.cache->Find(key, stamp) : std::nullopt;
  if (cached) {
    mi.digest_file = std::move(*cached);
  } else {
    auto fd_digest = DigestFileRange(ctx, file.get(), m);
    if (!fd_digest.ok()) {
      mi.status = MappingStatus::kUnreadable;
      mi.detail = fd_digest.error().message();
      return;
    }
    mi.digest_file = std::move(fd_digest).value();
    if (ctx.opts.cache) ctx.opts.cache->Insert(key, stamp, mi.digest_file);
  }

  if (mi.digest_mem != mi.digest_file) {
    mi.status = MappingStatus::kModified;
    auto diff = FirstDifference(ctx, file.get(), m);
    if (diff.ok() && *diff) {
      mi.first_difference = **diff;
      mi.detail =
          "first difference at offset 0x" + Hex64(**diff) + " (address 0x" + Hex64(m.start + **diff) + ")";
    } else {
      mi.detail = diff.ok() ? "memory changed while being compared" : diff.error().message();
    }
    return;
  }
  // Identical to the mapped inode, which is no longer what the path names.
  if (m.deleted && MappingKind::kFile == mi.kind) {
    mi.status = MappingStatus::kFileChanged;
    mi.detail = "memory matches the mapped inode, but that file was deleted or replaced on disk";
    return;
  }
  mi.status = MappingStatus::kIntact;
}

}  // namespace

std::string_view MappingKindName(MappingKind kind) {
  switch (kind) {
    case MappingKind::kFile: return "file";
    case MappingKind::kMemfd: return "memfd";
    case MappingKind::kAnon: return "anon";
    case MappingKind::kVdso: return "vdso";
    case MappingKind::kVsyscall: return "vsyscall";
    case MappingKind::kUprobes: return "uprobes";
    case MappingKind::kOther: return "other";
  }
  return "other";
}

std::string_view MappingStatusName(MappingStatus status) {
  switch (status) {
    case MappingStatus::kIntact: return "intact";
    case MappingStatus::kModified: return "modified";
    case MappingStatus::kFileChanged: return "file-changed";
    case MappingStatus::kUnreadable: return "unreadable";
    case MappingStatus::kNotCompared: return "not-compared";
  }
  return "unreadable";
}

MappingKind ClassifyMapping(const MapsEntry& e) {
  if (e.path == "[vdso]") return MappingKind::kVdso;
  if (e.path == "[vsyscall]") return MappingKind::kVsyscall;
  if (e.path == "[uprobes]") return MappingKind::kUprobes;
  if (e.path.starts_with("[")) return MappingKind::kOther;
  if (e.path.empty() && e.inode == 0) return MappingKind::kAnon;
  // memfd_create files, SysV shm and the like: file-backed, never on a path.
  if (e.path.starts_with("/memfd:") || e.path.starts_with("/SYSV") || e.path.starts_with("/dev/zero"))
    return MappingKind::kMemfd;
  if (e.path.starts_with("/") && e.inode != 0) return MappingKind::kFile;
  return MappingKind::kOther;
}

std::optional<Bytes> FileDigestCache::Find(const Key& key, const Stamp& stamp) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.first != stamp) return std::nullopt;
  ++hits_;
  return it->second.second;
}

void FileDigestCache::Insert(const Key& key, const Stamp& stamp, Bytes digest) {
  std::lock_guard lock(mu_);
  entries_[key] = {stamp, std::move(digest)};
}

void FileDigestCache::Clear() {
  std::lock_guard lock(mu_);
  entries_.clear();
}

std::size_t FileDigestCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::uint64_t FileDigestCache::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

Result<ProcessIntegrity> ScanProcess(pid_t pid, const ScanOptions& options) {
  const std::string pid_dir = options.proc_root + "/" + std::to_string(pid);
  const std::string maps_path = pid_dir + "/maps";
  // mem is opened first: the descriptor stays bound to this process, so if
  // the pid is reused before maps is read, reads through it fail (the old
  // mm is gone) and mappings come out unreadable rather than compared
  // against another process's memory.
  Fd mem(::open((pid_dir + "/mem").c_str(), O_RDONLY | O_CLOEXEC));
  if (mem.get() < 0) {
    if (errno == ENOENT || errno == ESRCH) return NotFound(pid_dir + "/mem: no such process");
    if (errno == EACCES || errno == EPERM) return PermissionDenied(pid_dir + "/mem: " + Errno());
    return IoError(pid_dir + "/mem: " + Errno());
  }
  auto text = ReadTextFile(maps_path);
  if (!text.ok()) {
    if (text.error().code() == ErrorCode::kPermissionDenied) return text.error();
    return NotFound(maps_path + ": " + text.error().message());
  }
  IMMUNE_ASSIGN_OR_RETURN(std::vector<MapsEntry> maps, ParseProcMaps(*text, maps_path));

  ProcessIntegrity out;
  out.pid = pid;
  char exe[4096];
  const ssize_t n = ::readlink((pid_dir + "/exe").c_str(), exe, sizeof exe - 1);
  if (n > 0) out.exe.assign(exe, static_cast<std::size_t>(n));

  // pagemap, like mem, is bound to this process's mm when opened.
  Fd pagemap(options.use_pagemap ? ::open((pid_dir + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC) : -1);
  ScanContext ctx{options,
                  pid_dir,
                  mem.get(),
                  pagemap.get(),
                  out,
                  Bytes(std::max<std::size_t>(options.chunk_size, 4096)),
                  Bytes(std::max<std::size_t>(options.chunk_size, 4096))};
  for (MapsEntry& m : maps) {
    if (!m.executable()) continue;
    MappingIntegrity mi;
    mi.kind = ClassifyMapping(m);
    mi.map = std::move(m);
    switch (mi.kind) {
      case MappingKind::kFile:
      case MappingKind::kMemfd: CompareFileMapping(ctx, mi); break;
      case MappingKind::kAnon:
        if (options.hash_anonymous) {
          if (auto d = DigestMemory(ctx, mi.map); d.ok()) mi.digest_mem = std::move(d).value();
        }
        break;
      case MappingKind::kVdso: {
        // The vDSO is one page or two of kernel-supplied code; its digest
        // identifies the kernel build and is cheap to take.
        if (auto d = DigestMemory(ctx, mi.map); d.ok()) mi.digest_mem = std::move(d).value();
        break;
      }
      case MappingKind::kVsyscall:
      case MappingKind::kUprobes:
      case MappingKind::kOther: break;
    }
    if (mi.status == MappingStatus::kModified) ++out.modified;
    if (mi.status == MappingStatus::kFileChanged) ++out.file_changed;
    if (mi.status == MappingStatus::kUnreadable) ++out.unreadable;
    out.mappings.push_back(std::move(mi));
  }
  return out;
}

}  // namespace immune::agents
