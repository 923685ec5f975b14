// Private to immune_agents_overlay: a directory walk by file descriptor and
// the overlayfs metadata it reads (whiteouts, opaque directories, metacopy).
//
// Every step opens the next directory relative to its parent's fd with
// O_NOFOLLOW, so a symlink swapped in for a directory while the walk runs
// (a running container writes its upper dir) is never followed out of the
// tree. Entries that vanish between readdir and stat are skipped and
// counted, not errors: a live upper dir changes under the walk.
//
// Thread safety: free functions; each call owns its fds.
#ifndef IMMUNE_AGENTS_OVERLAY_WALK_H_
#define IMMUNE_AGENTS_OVERLAY_WALK_H_

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <string>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"

namespace immune::agents::overlay_internal {

// How overlayfs reads a directory entry.
enum class NodeKind : std::uint8_t { kFile, kSymlink, kDir, kWhiteout, kOther };

struct WalkNode {
  std::string path;  // as the container sees it: "/etc/passwd" ("/" is never visited)
  int dirfd = -1;    // the parent directory, valid during the callback
  const char* name = nullptr;
  struct stat st {};
  NodeKind kind = NodeKind::kOther;
  bool opaque = false;  // kDir: overlay.opaque=y (lower content below is hidden)
  int fd = -1;          // kDir: the directory itself, open during the callback
};

struct WalkStats {
  std::uint64_t vanished = 0;  // entries gone between readdir and stat/open
};

// Visits every entry under `root` (not root itself) in a stable order
// (names sorted bytewise, a directory before its contents). A callback
// error stops the walk and is returned. Errors name the path.
Result<WalkStats> WalkTree(const std::string& root, const std::function<Status(const WalkNode&)>& visit);

// True when the overlay xattr `leaf` ("opaque", "metacopy", "redirect",
// "whiteout") is set on fd, in the trusted. or the user. namespace (userxattr
// mounts); `value` receives its value.
bool OverlayXattr(int fd, const char* leaf, std::string* value = nullptr);

// Opens the regular file `name` under dirfd O_RDONLY|O_NOFOLLOW|O_NONBLOCK
// (a FIFO swapped in cannot block the walk) and checks it is still a
// regular file. The caller closes the fd. kNotFound when it vanished,
// kInvalidArgument when it is no longer a regular file.
Result<int> OpenRegularAt(int dirfd, const char* name, const std::string& path);

// Hashes all of the open regular file `fd` with pread (its offset is not
// used). `buffer` is reused across calls; `bytes` receives the bytes read.
Result<Bytes> HashFd(int fd, const std::string& path, HashAlg alg, Bytes& buffer, std::uint64_t* bytes);

// OpenRegularAt + HashFd. Hashes the regular file `name` under dirfd, opened O_RDONLY|O_NOFOLLOW|
// O_NONBLOCK (a FIFO swapped in cannot block the walk). kNotFound when it
// vanished, kInvalidArgument when it is no longer a regular file. `buffer`
// is reused across calls; `bytes` receives the bytes read.
Result<Bytes> HashFileAt(int dirfd, const char* name, const std::string& path, HashAlg alg, Bytes& buffer,
                         std::uint64_t* bytes);

// H(link target) of the symlink `name` under dirfd.
Result<Bytes> HashSymlinkAt(int dirfd, const char* name, const std::string& path, HashAlg alg);

}  // namespace immune::agents::overlay_internal

#endif  // IMMUNE_AGENTS_OVERLAY_WALK_H_
