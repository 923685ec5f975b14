#include "gate_classify.h"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace immune::agents {

Result<Content> SniffContent(int fd) {
  std::array<unsigned char, 4> head{};
  ssize_t n;
  do {
    n = pread(fd, head.data(), head.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return IoError("read of the first bytes of fd " + std::to_string(fd) + ": " + std::strerror(errno));
  if (n == 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F') return Content::kElf;
  if (n >= 2 && head[0] == '#' && head[1] == '!') return Content::kScript;
  return Content::kOther;
}

bool MatchesInterpreter(std::string_view name, const std::vector<std::string>& patterns) {
  if (name.empty()) return false;
  for (const std::string& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (name.substr(0, p.size() - 1) == std::string_view(p).substr(0, p.size() - 1)) return true;
    } else if (name == p) {
      return true;
    }
  }
  return false;
}

namespace {

// Reads a short /proc file into buf; returns the length (0 on failure).
std::size_t ReadSmall(const char* path, char* buf, std::size_t cap) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n;
  do {
    n = read(fd, buf, cap);
  } while (n < 0 && errno == EINTR);
  close(fd);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

}  // namespace

bool IsInterpreterProcess(pid_t pid, const std::vector<std::string>& patterns) {
  if (pid <= 0 || patterns.empty()) return false;
  char path[64];
  char buf[4096];
  std::snprintf(path, sizeof path, "/proc/%d/exe", static_cast<int>(pid));
  const ssize_t n = readlink(path, buf, sizeof buf - 1);
  if (n > 0) {
    std::string_view exe(buf, static_cast<std::size_t>(n));
    // A replaced or deleted executable reads "/path (deleted)".
    constexpr std::string_view kDeleted = " (deleted)";
    if (exe.size() > kDeleted.size() && exe.substr(exe.size() - kDeleted.size()) == kDeleted) {
      exe.remove_suffix(kDeleted.size());
    }
    const auto slash = exe.rfind('/');
    if (MatchesInterpreter(slash == std::string_view::npos ? exe : exe.substr(slash + 1), patterns))
      return true;
  }
  std::snprintf(path, sizeof path, "/proc/%d/comm", static_cast<int>(pid));
  std::size_t len = ReadSmall(path, buf, 64);
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\0')) --len;
  return MatchesInterpreter(std::string_view(buf, len), patterns);
}

std::string FdPath(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char buf[4096];
  const ssize_t n = readlink(link, buf, sizeof buf);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buf) return "fd " + std::to_string(fd);
  return std::string(buf, static_cast<std::size_t>(n));
}

std::optional<Bytes> ReadImaXattr(int fd) {
  Bytes value(512);
  const ssize_t n = fgetxattr(fd, "security.ima", value.data(), value.size());
  if (n < 0) return std::nullopt;  // ENODATA (absent), ENOTSUP, ERANGE: none usable
  value.resize(static_cast<std::size_t>(n));
  return value;
}

}  // namespace immune::agents
