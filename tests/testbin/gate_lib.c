// A tiny shared library for the exec gate's tests: a program dlopen()s a copy
// of it from the gated filesystem.
int gate_lib_answer(void);
int gate_lib_answer(void) { return 42; }
