#include "overlay_walk.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "immune/core/fd.h"

namespace immune::agents::overlay_internal {

namespace {

// Deeper trees than this are refused: one fd is open per level.
constexpr int kMaxDepth = 512;

using Fd = UniqueFd;

std::string Errno(const std::string& path, const char* what) {
  return path + ": " + what + ": " + std::strerror(errno);
}

NodeKind KindOf(const struct stat& st) {
  if (S_ISREG(st.st_mode)) return NodeKind::kFile;
  if (S_ISLNK(st.st_mode)) return NodeKind::kSymlink;
  if (S_ISDIR(st.st_mode)) return NodeKind::kDir;
  // overlayfs marks a deleted lower entry with a 0/0 character device.
  if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 0 && minor(st.st_rdev) == 0) return NodeKind::kWhiteout;
  return NodeKind::kOther;
}

Result<std::vector<std::string>> ListDir(int dirfd, const std::string& path) {
  // fdopendir takes ownership of the fd it is given: hand it a duplicate.
  const int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return IoError(Errno(path, "dup"));
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return IoError(Errno(path, "fdopendir"));
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) {
    errno = err;
    return IoError(Errno(path, "readdir"));
  }
  std::sort(names.begin(), names.end());
  return names;
}

Status WalkDir(int dirfd, const std::string& prefix, int depth,
               const std::function<Status(const WalkNode&)>& visit, WalkStats& stats) {
  if (depth > kMaxDepth)
    return Unsupported(prefix + ": directory tree deeper than " + std::to_string(kMaxDepth));
  IMMUNE_ASSIGN_OR_RETURN(auto names, ListDir(dirfd, prefix.empty() ? "/" : prefix));
  for (const std::string& name : names) {
    WalkNode node;
    node.path = prefix + "/" + name;
    node.dirfd = dirfd;
    node.name = name.c_str();
    if (::fstatat(dirfd, name.c_str(), &node.st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) {
        ++stats.vanished;
        continue;
      }
      return IoError(Errno(node.path, "fstatat"));
    }
    node.kind = KindOf(node.st);
    if (node.kind != NodeKind::kDir) {
      IMMUNE_RETURN_IF_ERROR(visit(node));
      continue;
    }
    const int sub = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) {
      // Gone, or replaced by a non-directory since the stat.
      if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) {
        ++stats.vanished;
        continue;
      }
      return IoError(Errno(node.path, "open directory"));
    }
    Fd subfd(sub);
    std::string opaque;
    node.opaque = OverlayXattr(sub, "opaque", &opaque) && opaque == "y";
    node.fd = sub;
    IMMUNE_RETURN_IF_ERROR(visit(node));
    IMMUNE_RETURN_IF_ERROR(WalkDir(sub, node.path, depth + 1, visit, stats));
  }
  return OkStatus();
}

}  // namespace

Result<WalkStats> WalkTree(const std::string& root, const std::function<Status(const WalkNode&)>& visit) {
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(Errno(root, "open directory"));
    if (errno == EACCES || errno == EPERM) return PermissionDenied(Errno(root, "open directory"));
    return IoError(Errno(root, "open directory"));
  }
  Fd rootfd(fd);
  WalkStats stats;
  Status s = WalkDir(fd, "", 0, visit, stats);
  if (!s.ok()) return s.error().WithContext(root);
  return stats;
}

bool OverlayXattr(int fd, const char* leaf, std::string* value) {
  for (const char* ns : {"trusted.overlay.", "user.overlay."}) {
    const std::string key = std::string(ns) + leaf;
    char buf[256];
    const ssize_t n = ::fgetxattr(fd, key.c_str(), buf, sizeof(buf));
    if (n >= 0) {
      if (value != nullptr) value->assign(buf, static_cast<std::size_t>(n));
      return true;
    }
    if (errno == ERANGE) {  // set, with a value longer than we care to read
      if (value != nullptr) value->clear();
      return true;
    }
  }
  return false;
}

Result<int> OpenRegularAt(int dirfd, const char* name, const std::string& path) {
  const int fd = ::openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(Errno(path, "open"));
    if (errno == ELOOP) return InvalidArgument(path + ": replaced by a symlink while being measured");
    return IoError(Errno(path, "open"));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Error e = IoError(Errno(path, "fstat"));
    ::close(fd);
    return e;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + ": no longer a regular file");
  }
  return fd;
}

Result<Bytes> HashFd(int fd, const std::string& path, HashAlg alg, Bytes& buffer, std::uint64_t* bytes) {
  if (buffer.empty()) buffer.resize(256 * 1024);
  Hasher h(alg);
  std::uint64_t total = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(total));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(Errno(path, "read"));
    }
    if (n == 0) break;
    h.Update(ByteSpan(buffer.data(), static_cast<std::size_t>(n)));
    total += static_cast<std::uint64_t>(n);
  }
  if (bytes != nullptr) *bytes = total;
  return h.Final();
}

Result<Bytes> HashFileAt(int dirfd, const char* name, const std::string& path, HashAlg alg, Bytes& buffer,
                         std::uint64_t* bytes) {
  IMMUNE_ASSIGN_OR_RETURN(int fd, OpenRegularAt(dirfd, name, path));
  Fd file(fd);
  return HashFd(fd, path, alg, buffer, bytes);
}

Result<Bytes> HashSymlinkAt(int dirfd, const char* name, const std::string& path, HashAlg alg) {
  std::vector<char> target(4096);
  const ssize_t n = ::readlinkat(dirfd, name, target.data(), target.size());
  if (n < 0) {
    if (errno == ENOENT) return NotFound(Errno(path, "readlink"));
    return IoError(Errno(path, "readlink"));
  }
  return Hash(alg, AsBytes(std::string_view(target.data(), static_cast<std::size_t>(n))));
}

}  // namespace immune::agents::overlay_internal
