// Runs a command line through /bin/sh for command-line tests, capturing
// stdout, stderr and the exit code.
#ifndef IMMUNE_TESTS_RUN_COMMAND_H_
#define IMMUNE_TESTS_RUN_COMMAND_H_

#include <string>

namespace immune::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

// `timeout_seconds` bounds the run (coreutils timeout(1)); a command that
// hangs ends with exit code 124.
CommandResult RunCommand(const std::string& command_line, int timeout_seconds = 60);

// Quotes a string for /bin/sh.
std::string ShellQuote(const std::string& s);

}  // namespace immune::testing

#endif  // IMMUNE_TESTS_RUN_COMMAND_H_
