#include "runc_harness.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace immune::testing {

namespace fs = std::filesystem;

namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

bool OnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  std::string d;
  while (std::getline(ss, d, ':'))
    if (!d.empty() && ::access((d + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

std::string ReadAllFd(int fd) {
  std::string out;
  char buf[8192];
  off_t off = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  return out;
}

std::string JoinArgs(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

}  // namespace

std::string RuncHarnessMissing() {
  std::string missing;
  if (::geteuid() != 0) missing += "root; ";
  if (!OnPath("runc")) missing += "runc; ";
  if (::access("/usr/bin/busybox", X_OK) != 0) missing += "busybox-static (/usr/bin/busybox); ";
  return missing;
}

Status EnterPrivateMountNamespace() {
  if (::unshare(CLONE_NEWNS) != 0)
    return Error(errno == EPERM ? ErrorCode::kPermissionDenied : ErrorCode::kIo,
                 Errno("unshare(CLONE_NEWNS) (root needed; the process must be single-threaded)"));
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return IoError(Errno("mount --make-rprivate /"));
  return OkStatus();
}

const std::vector<std::string>& BusyboxApplets() {
  static const std::vector<std::string> kApplets = {
      "sh", "ls",    "cat",   "cp", "mv", "sleep", "echo", "true", "false", "chmod",
      "rm", "mkdir", "touch", "id", "ps", "head",  "wc",   "grep", "env",   "test"};
  return kApplets;
}

Status BusyboxRootfs(const std::string& dir) {
  std::error_code ec;
  for (const char* sub : {"bin", "proc", "sys", "dev", "tmp", "etc", "root"}) {
    fs::create_directories(dir + "/" + sub, ec);
    if (ec) return IoError(dir + "/" + sub + ": " + ec.message());
  }
  fs::copy_file("/usr/bin/busybox", dir + "/bin/busybox", fs::copy_options::overwrite_existing, ec);
  if (ec) return IoError("copy /usr/bin/busybox to " + dir + "/bin/busybox: " + ec.message());
  ::chmod((dir + "/bin/busybox").c_str(), 0755);
  ::chmod((dir + "/tmp").c_str(), 01777);
  for (const auto& applet : BusyboxApplets()) {
    const std::string link = dir + "/bin/" + applet;
    fs::remove(link, ec);
    fs::create_symlink("busybox", link, ec);
    if (ec) return IoError(link + ": " + ec.message());
  }
  std::ofstream(dir + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n";
  std::ofstream(dir + "/etc/group") << "root:x:0:\n";
  return OkStatus();
}

Result<ProcessResult> RunProcess(const std::vector<std::string>& argv, int timeout_ms,
                                 const std::string& input) {
  if (argv.empty()) return InvalidArgument("RunProcess: empty argv");
  const int out_fd = ::memfd_create("immune-out", MFD_CLOEXEC);
  const int err_fd = ::memfd_create("immune-err", MFD_CLOEXEC);
  int in_fd = -1;
  if (input.empty()) {
    in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  } else {
    in_fd = ::memfd_create("immune-in", MFD_CLOEXEC);
    if (in_fd >= 0 && ::write(in_fd, input.data(), input.size()) != static_cast<ssize_t>(input.size())) {
      ::close(in_fd);
      in_fd = -1;
    }
    if (in_fd >= 0) ::lseek(in_fd, 0, SEEK_SET);
  }
  auto close_all = [&] {
    for (int fd : {out_fd, err_fd, in_fd})
      if (fd >= 0) ::close(fd);
  };
  if (out_fd < 0 || err_fd < 0 || in_fd < 0) {
    const std::string e = Errno("memfd_create");
    close_all();
    return IoError(e);
  }
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) {
    const std::string e = Errno("fork");
    close_all();
    return IoError(e);
  }
  if (pid == 0) {
    // Only async-signal-safe calls until exec: the parent may have threads.
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::setpgid(0, 0);  // so a timeout kills the whole group
    ::execvp(cargv[0], cargv.data());
    _exit(127);
  }
  ProcessResult r;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  bool exited = false;
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    int rc;
    do rc = ::poll(&p, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    exited = rc == 1;
    ::close(pidfd);
  }
  if (!exited) {
    r.timed_out = true;
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!r.timed_out && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.out = ReadAllFd(out_fd);
  r.err = ReadAllFd(err_fd);
  close_all();
  return r;
}

Result<std::unique_ptr<OverlayBundle>> OverlayBundle::Create(const std::string& dir, const std::string& lower,
                                                             const BundleOptions& options) {
  std::error_code ec;
  for (const char* sub : {"upper", "work", "rootfs"}) {
    fs::create_directories(dir + "/" + sub, ec);
    if (ec) return IoError(dir + "/" + sub + ": " + ec.message());
  }
  std::unique_ptr<OverlayBundle> b(new OverlayBundle(fs::absolute(dir).lexically_normal().string()));
  const std::string data = "lowerdir=" + lower + ",upperdir=" + b->upper() + ",workdir=" + b->dir_ + "/work";
  if (::mount("overlay", b->rootfs().c_str(), "overlay", 0, data.c_str()) != 0)
    return IoError(Errno("mount overlay on " + b->rootfs() + " (" + data + ")"));
  b->mounted_ = true;
  IMMUNE_RETURN_IF_ERROR(b->Configure(options));
  return b;
}

OverlayBundle::~OverlayBundle() {
  if (mounted_) ::umount2(rootfs().c_str(), MNT_DETACH);
}

Status OverlayBundle::Configure(const BundleOptions& options) {
  std::error_code ec;
  fs::remove(config_path(), ec);
  auto spec = RunProcess({"runc", "spec", "--bundle", dir_}, 30000);
  if (!spec.ok()) return spec.error();
  if (spec->exit_code != 0) return IoError("runc spec --bundle " + dir_ + ": " + spec->err);
  std::ifstream in(config_path());
  nlohmann::json cfg = nlohmann::json::parse(in, nullptr, false);
  if (cfg.is_discarded()) return Corruption(config_path() + ": runc spec wrote invalid JSON");
  cfg["process"]["terminal"] = false;
  cfg["process"]["args"] = options.args;
  for (const auto& e : options.env) cfg["process"]["env"].push_back(e);
  cfg["root"]["path"] = rootfs();
  cfg["root"]["readonly"] = options.readonly_root;
  if (!options.annotations.empty()) cfg["annotations"] = options.annotations;
  if (!options.hooks.empty()) {
    nlohmann::json hooks = nlohmann::json::object();
    for (const auto& [stage, list] : options.hooks) {
      for (const HookSpec& h : list) {
        nlohmann::json j{{"path", h.path}, {"timeout", h.timeout_s}};
        if (!h.args.empty()) j["args"] = h.args;
        hooks[stage].push_back(j);
      }
    }
    cfg["hooks"] = hooks;
  }
  std::ofstream out(config_path(), std::ios::trunc);
  out << cfg.dump(2);
  out.close();
  if (!out) return IoError(config_path() + ": write failed");
  return OkStatus();
}

Result<RuncScene> MakeRuncScene(const std::string& dir) {
  if (dir.empty()) return InvalidArgument("runc scene: no scratch directory");
  RuncScene scene;
  scene.lower = dir + "/lower";
  IMMUNE_RETURN_IF_ERROR(BusyboxRootfs(scene.lower));
  IMMUNE_ASSIGN_OR_RETURN(scene.runc, Runc::Open(dir + "/runc-root"));
  return scene;
}

Result<std::unique_ptr<Runc>> Runc::Open(const std::string& root, const std::string& binary, int timeout_ms) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return IoError(root + ": " + ec.message());
  return std::unique_ptr<Runc>(new Runc(fs::absolute(root).lexically_normal().string(), binary, timeout_ms));
}

Runc::~Runc() {
  for (const auto& id : created_) (void)Command({"delete", "--force", id});
}

Result<ProcessResult> Runc::Command(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {binary_, "--root", root_};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, timeout_ms_);
}

Status Runc::Simple(const std::vector<std::string>& args) {
  IMMUNE_ASSIGN_OR_RETURN(ProcessResult r, Command(args));
  if (r.timed_out) return Unavailable(binary_ + " " + JoinArgs(args) + ": timed out");
  if (r.exit_code != 0)
    return Error(ErrorCode::kAborted,
                 binary_ + " " + JoinArgs(args) + ": exit " + std::to_string(r.exit_code) + ": " + r.err);
  return OkStatus();
}

Status Runc::Create(const std::string& id, const std::string& bundle) {
  created_.push_back(id);
  return Simple({"create", "--bundle", bundle, id});
}

Status Runc::Start(const std::string& id) { return Simple({"start", id}); }

Status Runc::Run(const std::string& id, const std::string& bundle) {
  created_.push_back(id);
  return Simple({"run", "--detach", "--bundle", bundle, id});
}

Status Runc::Pause(const std::string& id) { return Simple({"pause", id}); }
Status Runc::Resume(const std::string& id) { return Simple({"resume", id}); }
Status Runc::Kill(const std::string& id, const std::string& signal) { return Simple({"kill", id, signal}); }

Status Runc::Delete(const std::string& id, bool force) {
  if (force) return Simple({"delete", "--force", id});
  return Simple({"delete", id});
}

Result<nlohmann::json> Runc::State(const std::string& id) {
  IMMUNE_ASSIGN_OR_RETURN(ProcessResult r, Command({"state", id}));
  if (r.exit_code != 0) return NotFound(binary_ + " state " + id + ": " + r.err);
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) return Corruption(binary_ + " state " + id + ": not JSON: " + r.out);
  return j;
}

Status Runc::WaitForStatus(const std::string& id, const std::string& status) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto s = State(id);
    if (s.ok() && s->value("status", "") == status) return OkStatus();
    last = s.ok() ? s->value("status", "") : s.error().message();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Unavailable("container " + id + " did not reach status " + status + " (last: " + last + ")");
}

Result<ProcessResult> Runc::Exec(const std::string& id, const std::vector<std::string>& args) {
  std::vector<std::string> a = {"exec", id};
  a.insert(a.end(), args.begin(), args.end());
  return Command(a);
}

Result<pid_t> Runc::ExecDetached(const std::string& id, const std::vector<std::string>& args) {
  const std::string pid_file =
      root_ + "/exec-" + std::to_string(::getpid()) + "-" + std::to_string(++scratch_counter_) + ".pid";
  std::vector<std::string> a = {"exec", "--detach", "--pid-file", pid_file, id};
  a.insert(a.end(), args.begin(), args.end());
  IMMUNE_RETURN_IF_ERROR(Simple(a));
  std::ifstream in(pid_file);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return Corruption(pid_file + ": no pid");
  std::error_code ec;
  fs::remove(pid_file, ec);
  return static_cast<pid_t>(pid);
}

ScratchDir::ScratchDir() {
  char t[] = "/tmp/immune-ct-XXXXXX";
  if (::mkdtemp(t) != nullptr) path_ = t;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  if (!path_.empty()) fs::remove_all(path_, ignored);
}

std::string UniqueContainerId(const std::string& tag) {
  static std::atomic<int> counter{0};
  return "immune-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + "-" + tag;
}

Result<std::unique_ptr<SyslogCapture>> SyslogCapture::Start(const std::string& dir) {
  std::unique_ptr<SyslogCapture> c(new SyslogCapture());
  c->dev_ = dir + "/dev";
  std::error_code ec;
  fs::create_directories(c->dev_, ec);
  if (ec) return IoError(c->dev_ + ": " + ec.message());
  if (::mount("immune-test-dev", c->dev_.c_str(), "tmpfs", 0, "mode=0755") != 0)
    return IoError(Errno("mount tmpfs on " + c->dev_));
  for (const auto& entry : fs::directory_iterator("/dev", ec)) {
    const std::string name = entry.path().filename().string();
    if (name == "log") continue;  // ours instead
    const std::string from = entry.path().string(), to = c->dev_ + "/" + name;
    const auto st = entry.symlink_status(ec);
    if (ec) return IoError(from + ": " + ec.message());
    if (fs::is_symlink(st)) {
      fs::create_symlink(fs::read_symlink(from, ec), to, ec);
      if (ec) return IoError(to + ": " + ec.message());
      continue;
    }
    if (fs::is_directory(st)) {
      fs::create_directory(to, ec);
    } else {
      std::ofstream(to).close();  // a file to bind the node over
    }
    if (ec || ::access(to.c_str(), F_OK) != 0) return IoError(to + ": cannot create");
    if (::mount(from.c_str(), to.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      // Some machines have entries that cannot be bound (an unbindable
      // mount): left out, unless the tests need them.
      const int err = errno;
      fs::remove(to, ec);
      ec.clear();
      for (const char* needed : {"null", "zero", "random", "urandom", "full", "tty", "ptmx", "pts", "shm"})
        if (name == needed) return IoError("mount --rbind " + from + " " + to + ": " + std::strerror(err));
    }
  }
  if (ec) return IoError("/dev: " + ec.message());

  c->fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (c->fd_ < 0) return IoError(Errno("socket(AF_UNIX, SOCK_DGRAM)"));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string log = c->dev_ + "/log";
  if (log.size() >= sizeof addr.sun_path) return InvalidArgument(log + ": path too long for a socket");
  std::memcpy(addr.sun_path, log.c_str(), log.size() + 1);
  if (::bind(c->fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return IoError(Errno("bind " + log));
  ::chmod(log.c_str(), 0666);
  if (::mount(c->dev_.c_str(), "/dev", nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return IoError(Errno("mount --rbind " + c->dev_ + " /dev"));
  c->over_dev_ = true;
  return c;
}

SyslogCapture::~SyslogCapture() {
  if (over_dev_) ::umount2("/dev", MNT_DETACH);
  if (fd_ >= 0) ::close(fd_);
  if (!dev_.empty()) ::umount2(dev_.c_str(), MNT_DETACH);
}

std::vector<std::string> SyslogCapture::Messages() {
  char buf[8192];
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) break;  // EAGAIN: nothing more now
    messages_.emplace_back(buf, static_cast<std::size_t>(n));
  }
  return messages_;
}

}  // namespace immune::testing
