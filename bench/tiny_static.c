// The small static binary bench/exec_gate_bench.sh executes in a loop.
int main(void) { return 0; }
