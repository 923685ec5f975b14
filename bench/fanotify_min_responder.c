// fanotify_min_responder MOUNT [exec|exec+open] [pidfd]: the least a
// permission-event responder can do: mark MOUNT (FAN_MARK_MOUNT) for
// FAN_OPEN_EXEC_PERM (and FAN_OPEN_PERM with exec+open, the mask Immune's gate
// uses), read events, allow each at once, close its fd. With pidfd, the group
// asks for FAN_REPORT_PIDFD and closes each event's pidfd too: what the
// kernel's pidfd costs, with nothing else around it. The peer that
// bench/exec_gate_bench.sh measures Immune's added cost against. Prints
// "ready" once marked; stops on SIGTERM/SIGINT (the kernel allows anything
// pending when the fd closes).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested = 0;
static void OnSignal(int sig) {
  (void)sig;
  stop_requested = 1;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: fanotify_min_responder MOUNT [exec|exec+open] [pidfd]\n");
    return 2;
  }
  unsigned int report = 0;
  if (argc == 4) {
    if (strcmp(argv[3], "pidfd") != 0) {
      fprintf(stderr, "fanotify_min_responder: the third argument must be pidfd, got '%s'\n", argv[3]);
      return 2;
    }
    report = FAN_REPORT_PIDFD;
  }
  unsigned long long mask = FAN_OPEN_EXEC_PERM;
  if (argc >= 3 && strcmp(argv[2], "exec+open") == 0) mask |= FAN_OPEN_PERM;
  else if (argc >= 3 && strcmp(argv[2], "exec") != 0) {
    fprintf(stderr, "fanotify_min_responder: mask must be exec or exec+open, got '%s'\n", argv[2]);
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSignal;  // no SA_RESTART: read() returns EINTR
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | report, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (fd < 0) {
    perror("fanotify_min_responder: fanotify_init");
    return 1;
  }
  if (fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_MOUNT, mask, AT_FDCWD, argv[1]) < 0) {
    fprintf(stderr, "fanotify_min_responder: mark %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  char buf[4096] __attribute__((aligned(8)));
  while (!stop_requested) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    struct fanotify_event_metadata* m = (struct fanotify_event_metadata*)buf;
    for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
      if (report) {  // the pidfd record follows the metadata
        const struct fanotify_event_info_pidfd* info = (const void*)(m + 1);
        if (m->event_len >= sizeof *m + sizeof *info && info->hdr.info_type == FAN_EVENT_INFO_TYPE_PIDFD &&
            info->pidfd >= 0)
          close(info->pidfd);
      }
      if (m->fd < 0) continue;
      struct fanotify_response r = {.fd = m->fd, .response = FAN_ALLOW};
      if (write(fd, &r, sizeof r) != sizeof r) perror("fanotify_min_responder: response");
      close(m->fd);
    }
  }
  close(fd);
  return 0;
}
