// exec_loop BINARY COUNT: fork + execve BINARY (no arguments) COUNT times,
// waiting for each, and prints one JSON line: execs, seconds, us_per_exec,
// failures (children that did not exit 0). The driver of
// bench/exec_gate_bench.sh; plain C so it adds nothing of its own.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: exec_loop BINARY COUNT\n");
    return 2;
  }
  const long count = strtol(argv[2], NULL, 10);
  if (count <= 0) {
    fprintf(stderr, "exec_loop: COUNT must be a positive number, got '%s'\n", argv[2]);
    return 2;
  }
  char* child_argv[] = {argv[1], NULL};
  long failures = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < count; ++i) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("exec_loop: fork");
      return 1;
    }
    if (pid == 0) {
      execve(argv[1], child_argv, environ);
      _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) {
      perror("exec_loop: waitpid");
      return 1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("{\"execs\":%ld,\"seconds\":%.6f,\"us_per_exec\":%.3f,\"failures\":%ld}\n", count, secs,
         secs * 1e6 / (double)count, failures);
  return failures == count ? 1 : 0;
}
