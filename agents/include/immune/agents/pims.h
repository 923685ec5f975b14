// Process code-segment integrity (PIMS): is the code a process runs the code
// of the files it mapped?
//
// ScanProcess(pid) reads /proc/PID/maps and, for every executable mapping of
// a file, compares the bytes in the process's memory (/proc/PID/mem) with
// the same range of the file (at the mapping's file offset; bytes past the
// end of the file read as zero, as the kernel maps them). x86-64 code of
// executables and shared objects is position independent and never
// relocated in place, so the two are expected to be byte-identical; any
// difference is code modified in memory (a patched function, an injected
// hook). Anonymous executable memory (JIT code) and the kernel's [vdso] have
// no file to compare with: they are listed as kinds of their own.
// docs/process-integrity.md describes the method and its limits.
//
// Privileges: reading another process's mem needs ptrace read access over it
// (root with CAP_SYS_PTRACE, or the same user under Yama scope 0), and
// /proc/PID/map_files needs CAP_SYS_ADMIN; without the latter the file is
// opened by its path inside the process's root (/proc/PID/root/PATH).
//
// Thread safety: ScanProcess may be called from any number of threads at
// once, also with one shared FileDigestCache (which locks internally).
#ifndef IMMUNE_AGENTS_PIMS_H_
#define IMMUNE_AGENTS_PIMS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "immune/agents/pims_maps.h"
#include "immune/core/bytes.h"
#include "immune/core/error.h"

namespace immune::agents {

enum class MappingKind : std::uint8_t {
  kFile,      // a file on a file system (executable, shared object)
  kMemfd,     // a memfd or other unlinked in-memory file ("/memfd:NAME")
  kAnon,      // anonymous executable memory: JIT code, trampolines, shellcode
  kVdso,      // the kernel's [vdso]
  kVsyscall,  // the legacy [vsyscall] page (kernel address, not readable)
  kUprobes,   // the [uprobes] trampoline page
  kOther,     // another [bracketed] special mapping
};

enum class MappingStatus : std::uint8_t {
  kIntact,       // memory and file are byte-identical
  kModified,     // memory differs from the mapped file: tampering
  kFileChanged,  // the file on disk is not the one mapped (replaced, deleted)
  kUnreadable,   // memory or file could not be read (see MappingIntegrity::detail)
  kNotCompared,  // nothing to compare with (anon, vdso, ...)
};

// Stable lower-case names used in logs and JSON: "file", "memfd", "anon",
// "vdso", "vsyscall", "uprobes", "other"; "intact", "modified",
// "file-changed", "unreadable", "not-compared".
std::string_view MappingKindName(MappingKind kind);
std::string_view MappingStatusName(MappingStatus status);

struct MappingIntegrity {
  MapsEntry map;
  MappingKind kind = MappingKind::kOther;
  MappingStatus status = MappingStatus::kNotCompared;
  Bytes digest_mem;   // SHA-256 of the mapped bytes; empty when not read
  Bytes digest_file;  // SHA-256 of the file range; empty when not read
  // For kModified, the offset from `map.start` of the first differing byte.
  std::optional<std::uint64_t> first_difference;
  std::string detail;  // why unreadable / file-changed, in words
};

struct ProcessIntegrity {
  pid_t pid = 0;
  std::string exe;                         // readlink(/proc/PID/exe); empty for a kernel thread
  std::vector<MappingIntegrity> mappings;  // executable mappings only, in address order
  std::size_t modified = 0;                // mappings with status kModified
  std::size_t file_changed = 0;            // mappings with status kFileChanged
  std::size_t unreadable = 0;              // mappings with status kUnreadable
  std::uint64_t bytes_mem = 0;             // process memory read
  std::uint64_t bytes_file = 0;            // file bytes read (not counting cache hits)
  std::size_t pagemap_intact = 0;          // mappings found intact from pagemap alone
};

// SHA-256 digests of file ranges, keyed by (dev, inode, offset, length) and
// checked against the file's size and change time, so that a library mapped
// by many processes is read and hashed once per scan period. Callers clear
// it (or make a new one) each period so a file rewritten in place without a
// ctime change is still seen within a period.
//
// Thread safety: all members may be called from any thread.
class FileDigestCache {
 public:
  struct Key {
    dev_t dev;
    ino_t ino;
    std::uint64_t offset;
    std::uint64_t length;
    auto operator<=>(const Key&) const = default;
  };
  struct Stamp {
    std::int64_t size;
    std::int64_t ctime_ns;
    bool operator==(const Stamp&) const = default;
  };

  std::optional<Bytes> Find(const Key& key, const Stamp& stamp) const;
  void Insert(const Key& key, const Stamp& stamp, Bytes digest);
  void Clear();
  std::size_t size() const;
  std::uint64_t hits() const;

 private:
  mutable std::mutex mu_;
  std::map<Key, std::pair<Stamp, Bytes>> entries_;  // guarded by mu_
  mutable std::uint64_t hits_ = 0;                  // guarded by mu_
};

struct ScanOptions {
  std::string proc_root = "/proc";
  FileDigestCache* cache = nullptr;  // not owned; nullptr: no caching
  // Hash anonymous executable memory too (digest_mem). Off by default: JIT
  // regions can be large and their digest has nothing to be compared with.
  bool hash_anonymous = false;
  std::size_t chunk_size = 256 * 1024;  // read granularity
  // Before reading a file mapping's memory, look at its pages in
  // /proc/PID/pagemap: when every present page is still the file's own page
  // (bit 61, "file page or shared anonymous") and none is swapped out, the
  // mapping cannot differ from the file (a write, even after mprotect, makes
  // a private anonymous copy first), so it is intact without reading it.
  // Only mappings with a private copy are read and compared. 8 bytes per
  // page instead of 4096, and the target's mmap lock is held far shorter,
  // which is what a forking target waits on.
  bool use_pagemap = true;
};

// Scans the executable mappings of process `pid`. Per-mapping problems (a
// page that cannot be read, a file that is gone) are statuses, not errors.
// Errors: kNotFound when the process does not exist (or exited before its
// maps could be read), kPermissionDenied when its maps or mem may not be
// read, kCorruption when the maps text does not parse (naming line:column).
Result<ProcessIntegrity> ScanProcess(pid_t pid, const ScanOptions& options = {});

// Classifies a maps entry (no I/O).
MappingKind ClassifyMapping(const MapsEntry& entry);

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_PIMS_H_
