// Test helper for the exec gate's memfd tests: copies FILE into a memfd and
// fexecve()s it with ARGS. MODE "exec" asks for an executable memfd
// (MFD_EXEC, Linux >= 6.3); "noflag" passes neither MFD_EXEC nor
// MFD_NOEXEC_SEAL, so the namespace's vm.memfd_noexec decides.
// Exit codes tell the tests which step failed: 10 memfd_create, 11 copy,
// 12 fexecve, 2 usage; otherwise the executed program's status.
// Built static so it starts in any mount namespace.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

extern char** environ;

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s exec|noflag FILE ARGV0 [ARGS...]\n", argv[0]);
    return 2;
  }
  unsigned flags = MFD_CLOEXEC;
  if (strcmp(argv[1], "exec") == 0) flags |= MFD_EXEC;
  int mfd = (int)syscall(SYS_memfd_create, "gate-test", flags);
  if (mfd < 0 && errno == EINVAL && (flags & MFD_EXEC)) {
    mfd = (int)syscall(SYS_memfd_create, "gate-test", MFD_CLOEXEC);  // a kernel before MFD_EXEC
  }
  if (mfd < 0) {
    fprintf(stderr, "memfd_exec: memfd_create: %s\n", strerror(errno));
    return 10;
  }
  int src = open(argv[2], O_RDONLY | O_CLOEXEC);
  if (src < 0) {
    fprintf(stderr, "memfd_exec: open %s: %s\n", argv[2], strerror(errno));
    return 11;
  }
  char buf[65536];
  for (;;) {
    ssize_t n = read(src, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 11;
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(mfd, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return 11;
      off += w;
    }
  }
  close(src);
  fexecve(mfd, argv + 3, environ);
  fprintf(stderr, "memfd_exec: fexecve: %s\n", strerror(errno));
  return 12;
}
