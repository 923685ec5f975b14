// PIMS test helper: overwrites the first bytes of one of its own functions in
// memory (as an injected hook would), restores the page to r-x, prints
// "patched 0xADDRESS\n" on stdout and waits until stdin reaches EOF.
//   self_patch            patch, then wait
//   self_patch --no-patch print "ready 0xADDRESS\n" and wait, unmodified
//   self_patch --patch-on-input  print "ready ...", patch when a line arrives
//                                on stdin, print "patched ...", wait
// It exits by itself after two minutes, so a failed test leaves no orphan.
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PATCH_LEN 8

__attribute__((noinline, used)) int patch_target(int x);
__attribute__((noinline, used)) int patch_target(int x) { return x * 3 + 7; }

int main(int argc, char** argv) {
  alarm(120);
  const int no_patch = argc > 1 && strcmp(argv[1], "--no-patch") == 0;
  const int on_input = argc > 1 && strcmp(argv[1], "--patch-on-input") == 0;
  uint8_t* fn = (uint8_t*)(uintptr_t)&patch_target;
  char buf[64];
  if (no_patch || on_input) {
    printf("ready %p\n", (void*)fn);
    fflush(stdout);
  }
  if (on_input && read(0, buf, sizeof buf) <= 0) return 0;
  if (!no_patch) {
    const long page = sysconf(_SC_PAGESIZE);
    uint8_t* first = (uint8_t*)((uintptr_t)fn & ~(uintptr_t)(page - 1));
    const size_t len = (size_t)(fn + PATCH_LEN - first + page - 1) / (size_t)page * (size_t)page;
    if (mprotect(first, len, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
      perror("self_patch: mprotect rwx");
      return 2;
    }
    // int3 everywhere: never equal to the compiled prologue.
    memset(fn, 0xcc, PATCH_LEN);
    if (mprotect(first, len, PROT_READ | PROT_EXEC) != 0) {
      perror("self_patch: mprotect r-x");
      return 2;
    }
  }
  if (!no_patch) {
    printf("patched %p\n", (void*)fn);
    fflush(stdout);
  }
  while (read(0, buf, sizeof buf) > 0) {
  }
  return 0;
}
