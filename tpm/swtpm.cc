// SwtpmProcess: manufactures a private swtpm with swtpm_setup and runs
// `swtpm socket` on two free loopback ports.
#include "immune/tpm/swtpm.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "immune/tpm/loader.h"

// Defined by the ESAPI backend (esys_tpm.cc) when it is linked in.
extern "C" [[gnu::weak]] const immune::tpm::TpmModuleV1* immune_tpm_linked_module();

namespace immune::tpm {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr auto kReadyTimeout = std::chrono::seconds(10);
constexpr auto kSetupTimeout = std::chrono::seconds(60);
constexpr auto kStopGrace = std::chrono::seconds(3);
constexpr int kLaunchAttempts = 5;

std::string ErrnoText(int err) { return std::strerror(err); }

// The last `max` bytes of a text file ("" when unreadable).
std::string Tail(const fs::path& path, std::size_t max = 2000) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > max) s = "..." + s.substr(s.size() - max);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Status WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return IoError("cannot write " + path.string());
  return OkStatus();
}

// Starts argv[0] (looked up in PATH) with stdin from /dev/null and stdout and
// stderr appended to `log`; no other descriptor is inherited.
//
// With `reap_descendants`, the returned pid is an intermediate process that
// makes itself a child subreaper, runs the command, and exits with its status
// only after every process the command left behind has exited and been
// reaped. swtpm_setup exits before the swtpm it started for manufacturing is
// reaped; without this, that swtpm would be re-parented to init and linger as
// a zombie until init gets round to it.
Result<pid_t> Spawn(const std::vector<std::string>& args, const fs::path& log, bool reap_descendants = false) {
  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return IoError("open " + log.string() + ": " + ErrnoText(errno));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    ::close(log_fd);
    return IoError("open /dev/null: " + ErrnoText(errno));
  }
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec. The caller may block
    // signals or ignore SIGPIPE (immuned blocks SIGTERM and SIGINT for its
    // sigwait): swtpm gets neither, or Stop's SIGTERM would wait out the grace.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::closefrom(3);
    if (reap_descendants) {
      ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
      pid_t command = ::fork();
      if (command == 0) {
        ::execvp(argv[0], argv.data());
        ::_exit(127);
      }
      if (command < 0) ::_exit(126);
      int command_status = 0;
      while (::waitpid(command, &command_status, 0) < 0 && errno == EINTR) {
      }
      int ignored = 0;
      while (::waitpid(-1, &ignored, 0) > 0 || errno == EINTR) {
      }
      if (WIFEXITED(command_status)) ::_exit(WEXITSTATUS(command_status));
      ::_exit(128 + (WIFSIGNALED(command_status) ? WTERMSIG(command_status) : 0));
    }
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  int fork_errno = errno;
  ::close(log_fd);
  ::close(null_fd);
  if (pid < 0) return IoError("fork for " + args[0] + ": " + ErrnoText(fork_errno));
  return pid;
}

// Waits for `pid` up to `timeout`; kills (SIGKILL) and reaps it on timeout.
// Returns the wait status, or nullopt on timeout.
std::optional<int> WaitFor(pid_t pid, Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return status;  // already reaped (should not happen)
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return std::nullopt;
}

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  return addr;
}

bool CanBind(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr = Loopback(port);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// A port P from the kernel such that P and P+1 are both free on 127.0.0.1
// right now (another process may still take them before swtpm binds them).
Result<int> PickPortPair() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return IoError("socket: " + ErrnoText(errno));
    sockaddr_in addr = Loopback(0);  // port 0: the kernel picks
    socklen_t len = sizeof(addr);
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    if (port > 0 && port < 65535 && CanBind(port + 1)) return port;
  }
  return Unavailable("no two consecutive free TCP ports on 127.0.0.1");
}

bool Accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr = Loopback(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// The absolute path of `name` in $PATH, or `name` itself when not found.
std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return name;
}

std::string BankList(const std::vector<HashAlg>& banks) {
  std::string out;
  for (HashAlg alg : banks) {
    if (!out.empty()) out += ",";
    out += HashAlgName(alg);
  }
  return out;
}

// Runs swtpm_setup with configuration files (and so the local CA) kept
// inside `dir`; the TPM state goes to dir/tpm.
Status Manufacture(const fs::path& dir, const SwtpmOptions& options) {
  fs::path tpm_dir = dir / "tpm";
  fs::path ca_dir = dir / "localca";
  std::error_code ec;
  fs::create_directories(tpm_dir, ec);
  if (!ec) fs::create_directories(ca_dir, ec);
  if (ec) return IoError("create " + tpm_dir.string() + ": " + ec.message());
  IMMUNE_RETURN_IF_ERROR(WriteFile(dir / "swtpm-localca.conf",
                                   "statedir = " + ca_dir.string() + "\n" +                          //
                                       "signingkey = " + (ca_dir / "signkey.pem").string() + "\n" +  //
                                       "issuercert = " + (ca_dir / "issuercert.pem").string() + "\n" +
                                       "certserial = " + (ca_dir / "certserial").string() + "\n"));
  IMMUNE_RETURN_IF_ERROR(WriteFile(dir / "swtpm-localca.options",
                                   "--platform-manufacturer Immune\n--platform-version 2.1\n"
                                   "--platform-model swtpm\n"));
  IMMUNE_RETURN_IF_ERROR(
      WriteFile(dir / "swtpm_setup.conf",
                "create_certs_tool = " + FindInPath("swtpm_localca") + "\n" +
                    "create_certs_tool_config = " + (dir / "swtpm-localca.conf").string() + "\n" +
                    "create_certs_tool_options = " + (dir / "swtpm-localca.options").string() + "\n" +
                    "active_pcr_banks = " + BankList(options.pcr_banks) + "\n"));
  std::vector<std::string> args = {"swtpm_setup",    "--tpm2",
                                   "--tpmstate",     tpm_dir.string(),
                                   "--config",       (dir / "swtpm_setup.conf").string(),
                                   "--logfile",      (dir / "swtpm_setup.log").string(),
                                   "--pcr-banks",    BankList(options.pcr_banks),
                                   "--not-overwrite"};
  if (options.create_ek_cert) {
    // --ecc adds an ECC EK (NIST P-384 on swtpm 0.7.1) and its certificate
    // next to the RSA-2048 one.
    for (const char* a : {"--ecc", "--create-ek-cert", "--create-platform-cert"}) args.emplace_back(a);
  }
  fs::path out = dir / "swtpm_setup.out";
  IMMUNE_ASSIGN_OR_RETURN(pid_t pid, Spawn(args, out, /*reap_descendants=*/true));
  std::optional<int> status = WaitFor(pid, kSetupTimeout);
  if (!status)
    return Unavailable("swtpm_setup did not finish within 60 s; log: " + Tail(dir / "swtpm_setup.log"));
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return Unavailable("swtpm_setup failed (" + DescribeStatus(*status) + "): " + Tail(out) + " " +
                       Tail(dir / "swtpm_setup.log"));
  }
  return OkStatus();
}

}  // namespace

Result<std::unique_ptr<SwtpmProcess>> SwtpmProcess::Start(const SwtpmOptions& options) {
  if (options.pcr_banks.empty()) return InvalidArgument("swtpm: no PCR banks requested");
  std::unique_ptr<SwtpmProcess> proc(new SwtpmProcess());
  std::error_code ec;
  if (options.state_dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/immune-swtpm-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) return IoError("mkdtemp " + templ + ": " + ErrnoText(errno));
    proc->state_dir_ = templ;
    proc->remove_state_dir_ = true;
  } else {
    proc->state_dir_ = fs::absolute(options.state_dir, ec).string();
    fs::create_directories(proc->state_dir_, ec);
    if (ec) return IoError("create " + options.state_dir + ": " + ec.message());
  }
  fs::path dir = proc->state_dir_;
  if (!fs::exists(dir / "tpm" / "tpm2-00.permall", ec)) {
    IMMUNE_RETURN_IF_ERROR(Manufacture(dir, options));
  }

  fs::path log = dir / "swtpm.log";
  std::string last_error;
  for (int attempt = 0; attempt < kLaunchAttempts; ++attempt) {
    IMMUNE_ASSIGN_OR_RETURN(int port, PickPortPair());
    std::string flags = options.defer_startup ? "not-need-init" : "not-need-init,startup-clear";
    std::vector<std::string> args = {"swtpm",
                                     "socket",
                                     "--tpm2",
                                     "--server",
                                     "type=tcp,port=" + std::to_string(port) + ",bindaddr=127.0.0.1",
                                     "--ctrl",
                                     "type=tcp,port=" + std::to_string(port + 1) + ",bindaddr=127.0.0.1",
                                     "--tpmstate",
                                     "dir=" + (dir / "tpm").string(),
                                     "--flags",
                                     flags};
    std::error_code ignored;
    fs::remove(log, ignored);
    IMMUNE_ASSIGN_OR_RETURN(pid_t pid, Spawn(args, log));
    proc->pid_ = pid;
    proc->port_ = port;
    auto deadline = Clock::now() + kReadyTimeout;
    bool exited = false;
    int status = 0;
    while (Clock::now() < deadline) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      if (Accepts(port)) return proc;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!exited) {
      proc->Stop();
      return Unavailable("swtpm (pid " + std::to_string(pid) + ") did not accept connections on 127.0.0.1:" +
                         std::to_string(port) + " within 10 s; stderr: " + Tail(log));
    }
    proc->pid_ = -1;
    last_error = "swtpm exited (" + DescribeStatus(status) + "): " + Tail(log);
    // A lost race for the ports is retried with new ones; anything else is final.
    if (last_error.find("in use") == std::string::npos && last_error.find("bind") == std::string::npos) break;
  }
  return Unavailable("cannot start swtpm in " + dir.string() + ": " + last_error);
}

SwtpmProcess::~SwtpmProcess() { Stop(); }

void SwtpmProcess::Stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    WaitFor(pid_, kStopGrace);  // SIGKILLs after the grace period
    pid_ = -1;
  }
  if (remove_state_dir_ && !state_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(state_dir_, ec);
    remove_state_dir_ = false;
  }
}

std::string SwtpmProcess::tcti() const { return "swtpm:host=127.0.0.1,port=" + std::to_string(port_); }

Status SwtpmProcess::Startup(std::uint8_t locality) {
  if (locality > 4) return InvalidArgument("Startup: locality " + std::to_string(locality) + " is not 0..4");
  if (pid_ <= 0) return Unavailable("Startup: swtpm is not running");
  // TPM2_Startup needs ESAPI: the statically linked backend when this program
  // has it, the loaded module otherwise (see loader.h).
  const TpmModuleV1* module = immune_tpm_linked_module != nullptr ? immune_tpm_linked_module() : nullptr;
  if (module == nullptr) {
    IMMUNE_ASSIGN_OR_RETURN(module, LoadTpmModule());
  }
  return module->startup(tcti(), locality);
}

}  // namespace immune::tpm
