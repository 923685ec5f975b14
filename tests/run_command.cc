#include "run_command.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace immune::testing {

namespace {
std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

CommandResult RunCommand(const std::string& command_line, int timeout_seconds) {
  char tmpl[] = "/tmp/immune-cmd-XXXXXX";
  CommandResult r;
  if (mkdtemp(tmpl) == nullptr) return r;
  const std::string dir = tmpl;
  const std::string out = dir + "/out", err = dir + "/err";
  const std::string full = "timeout " + std::to_string(timeout_seconds) + " sh -c " +
                           ShellQuote(command_line) + " >" + out + " 2>" + err + " </dev/null";
  int status = std::system(full.c_str());
  if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.out = Slurp(out);
  r.err = Slurp(err);
  std::remove(out.c_str());
  std::remove(err.c_str());
  rmdir(dir.c_str());
  return r;
}

std::string Immunectl(const std::string& args) {
  return ShellQuote(std::string(IMMUNE_BINARY_DIR) + "/cmd/immunectl") + " " + args;
}

TempDir::TempDir() {
  char t[] = "/tmp/immune-test-XXXXXX";
  if (mkdtemp(t) != nullptr) path_ = t;
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

}  // namespace immune::testing
