#include "immune/core/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "immune/core/fd.h"

namespace immune {

namespace {
std::string Errno(const std::string& what, const std::string& path) {
  return path + ": " + what + ": " + std::strerror(errno);
}

using Fd = UniqueFd;
}  // namespace

Result<Bytes> ReadFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return NotFound(path + ": no such file");
    if (errno == EACCES || errno == EPERM)
      return Error(ErrorCode::kPermissionDenied, Errno("cannot open", path));
    return IoError(Errno("cannot open", path));
  }
  Bytes out;
  std::size_t chunk = 64 * 1024;
  for (;;) {
    std::size_t old = out.size();
    out.resize(old + chunk);
    ssize_t n = ::read(fd.get(), out.data() + old, chunk);
    if (n < 0) {
      if (errno == EINTR) {
        out.resize(old);
        continue;
      }
      return IoError(Errno("cannot read", path));
    }
    out.resize(old + static_cast<std::size_t>(n));
    if (n == 0) break;
  }
  return out;
}

Result<std::string> ReadTextFile(const std::string& path) {
  IMMUNE_ASSIGN_OR_RETURN(Bytes b, ReadFile(path));
  return std::string(b.begin(), b.end());
}

Status WriteFileAtomic(const std::string& path, ByteSpan data, unsigned mode) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (fd.get() < 0) return IoError(Errno("cannot create", tmp));
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        Error e = IoError(Errno("cannot write", tmp));
        ::unlink(tmp.c_str());
        return e;
      }
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
      Error e = IoError(Errno("cannot fsync", tmp));
      ::unlink(tmp.c_str());
      return e;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = IoError(Errno("cannot rename into place", path));
    ::unlink(tmp.c_str());
    return e;
  }
  std::string dir = ".";
  if (auto slash = path.rfind('/'); slash != std::string::npos)
    dir = slash == 0 ? "/" : path.substr(0, slash);
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0) ::fsync(dfd.get());
  return OkStatus();
}

}  // namespace immune
