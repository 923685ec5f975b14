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

// The immunectl of this build, quoted, followed by `args`: a command line for
// RunCommand.
std::string Immunectl(const std::string& args);

// A fresh directory under /tmp, removed with everything in it on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace immune::testing

#endif  // IMMUNE_TESTS_RUN_COMMAND_H_
