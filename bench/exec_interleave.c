// exec_interleave ROUNDS BASE PEER...: fork + execve (no arguments) of each
// binary once per round, in an order that rotates every round, timing each
// fork + exec + wait, and prints one JSON line per PEER with the distribution
// of (PEER's time - BASE's time in the same round): median, p25, p75, mean,
// in microseconds, plus BASE's own median and the failures (children that did
// not exit 0).
//
// Why interleaved: on a VM the cost of a fork + exec drifts by tens of
// microseconds within a minute. Runs of one watcher after another mix that
// drift into the comparison; pairing each peer's exec with the base's exec a
// millisecond apart cancels it. So each peer watches its own mount, all run
// at once, and BASE (an unwatched mount) is the reference. The driver of
// bench/exec_gate_bench.sh; plain C so it adds nothing of its own.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static double NowUs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int CompareDoubles(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

// One fork + exec + wait of `path`; returns the time in us, counts a failure.
static double TimeOneExec(char* path, long* failures) {
  char* child_argv[] = {path, NULL};
  const double start = NowUs();
  const pid_t pid = fork();
  if (pid < 0) {
    perror("exec_interleave: fork");
    exit(1);
  }
  if (pid == 0) {
    execve(path, child_argv, environ);
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) {
    perror("exec_interleave: waitpid");
    exit(1);
  }
  const double t = NowUs() - start;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++*failures;
  return t;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: exec_interleave ROUNDS BASE PEER...\n");
    return 2;
  }
  const long rounds = strtol(argv[1], NULL, 10);
  if (rounds <= 0) {
    fprintf(stderr, "exec_interleave: ROUNDS must be a positive number, got '%s'\n", argv[1]);
    return 2;
  }
  const int k = argc - 2;  // binaries, BASE first
  double* t = calloc((size_t)(rounds * k), sizeof(double));
  long* failures = calloc((size_t)k, sizeof(long));
  double* d = calloc((size_t)rounds, sizeof(double));
  if (!t || !failures || !d) {
    fprintf(stderr, "exec_interleave: out of memory\n");
    return 1;
  }
  for (long r = 0; r < rounds; ++r)
    for (int i = 0; i < k; ++i) {
      const int b = (int)((i + r) % k);
      t[b * rounds + r] = TimeOneExec(argv[2 + b], &failures[b]);
    }
  for (long r = 0; r < rounds; ++r) d[r] = t[r];
  qsort(d, (size_t)rounds, sizeof(double), CompareDoubles);
  const double base_median = d[rounds / 2];
  int bad = failures[0] != 0;
  for (int b = 1; b < k; ++b) {
    double sum = 0;
    for (long r = 0; r < rounds; ++r) {
      d[r] = t[b * rounds + r] - t[r];
      sum += d[r];
    }
    qsort(d, (size_t)rounds, sizeof(double), CompareDoubles);
    printf("{\"binary\":\"%s\",\"rounds\":%ld,\"added_median_us\":%.2f,\"added_p25_us\":%.2f,"
           "\"added_p75_us\":%.2f,\"added_mean_us\":%.2f,\"base_median_us\":%.2f,\"failures\":%ld}\n",
           argv[2 + b], rounds, d[rounds / 2], d[rounds / 4], d[3 * rounds / 4], sum / (double)rounds,
           base_median, failures[b]);
    bad |= failures[b] != 0;
  }
  free(t);
  free(failures);
  free(d);
  return bad ? 1 : 0;
}
