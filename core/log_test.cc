#include "immune/core/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace immune {
namespace {

TEST(EscapeForLog, PrintableUtf8IsUnchanged) {
  EXPECT_EQ(EscapeForLog("exec /usr/bin/ls (rule a.yaml:3)"), "exec /usr/bin/ls (rule a.yaml:3)");
  EXPECT_EQ(EscapeForLog("/srv/caf\xc3\xa9/\xe6\x96\x87"), "/srv/caf\xc3\xa9/\xe6\x96\x87");
  EXPECT_EQ(EscapeForLog("regex ^/opt/.*\\.so$"), "regex ^/opt/.*\\.so$");
}

TEST(EscapeForLog, ControlBytesAreEscaped) {
  EXPECT_EQ(EscapeForLog("/tmp/a\nimmune: info: forged"), "/tmp/a\\x0aimmune: info: forged");
  EXPECT_EQ(EscapeForLog(std::string("x\0y\r\t\x7f", 6)), "x\\x00y\\x0d\\x09\\x7f");
}

TEST(EscapeForLog, HighBytesOfANameThatIsNotUtf8AreEscaped) {
  // Latin-1 e-acute: not UTF-8, so the whole string is treated as bytes.
  EXPECT_EQ(EscapeForLog("/tmp/caf\xe9 \xc3\xa9"), "/tmp/caf\\xe9 \\xc3\\xa9");
}

TEST(Log, AMessageIsOneLineWhateverItHolds) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  const int saved = ::dup(STDERR_FILENO);
  ASSERT_GE(saved, 0);
  ASSERT_EQ(::dup2(pipe_fds[1], STDERR_FILENO), STDERR_FILENO);
  LogError("denied /tmp/a\nimmune: info: forged");
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(pipe_fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  EXPECT_EQ(out, "immune: error: denied /tmp/a\\x0aimmune: info: forged\n");
}

}  // namespace
}  // namespace immune
