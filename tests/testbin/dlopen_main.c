// Test helper: dlopen()s LIBRARY and calls gate_lib_answer. Exit 0 when it
// loaded and answered 42, 3 when dlopen failed, 4 when the symbol is wrong.
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s LIBRARY\n", argv[0]);
    return 2;
  }
  void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    fprintf(stderr, "gate_dlopen: %s\n", dlerror());
    return 3;
  }
  int (*answer)(void) = (int (*)(void))dlsym(h, "gate_lib_answer");
  return answer != NULL && answer() == 42 ? 0 : 4;
}
