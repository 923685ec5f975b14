#include "immuned_test_util.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <filesystem>
#include <thread>

#include "immune/tsbd/agent_message.h"

extern char** environ;

namespace immune::tsbd::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/immuned-test-XXXXXX";
  const char* p = ::mkdtemp(tmpl);
  path_ = p ? p : "";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

Result<std::unique_ptr<DaemonProcess>> DaemonProcess::Spawn(const std::string& config_path,
                                                            const std::string& log_path,
                                                            const std::vector<std::string>& extra_args) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::string bin = IMMUNED_BIN;
  std::string c = "--config";
  std::vector<char*> argv = {bin.data(), c.data(), const_cast<char*>(config_path.c_str())};
  for (const auto& a : extra_args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return IoError("posix_spawn " + bin + " failed");
  std::unique_ptr<DaemonProcess> d(new DaemonProcess());
  d->pid_ = pid;
  return d;
}

DaemonProcess::~DaemonProcess() {
  if (pid_ <= 0) return;
  Kill(SIGTERM);
  if (!Wait(std::chrono::seconds(10))) {
    Kill(SIGKILL);
    Wait(std::chrono::seconds(10));
  }
}

void DaemonProcess::Kill(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> DaemonProcess::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    if (std::chrono::steady_clock::now() > end) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

Result<nlohmann::json> ControlCall(zmq::context_t& ctx, const std::string& endpoint, const std::string& cmd,
                                   nlohmann::json args, int timeout_ms) {
  try {
    zmq::socket_t s(ctx, zmq::socket_type::req);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::rcvtimeo, timeout_ms);
    s.connect(endpoint);
    nlohmann::json req = {{"v", 1}, {"cmd", cmd}, {"args", std::move(args)}};
    s.send(zmq::buffer(req.dump()), zmq::send_flags::none);
    zmq::message_t m;
    if (!s.recv(m, zmq::recv_flags::none)) return Unavailable("control: no reply to " + cmd);
    auto j = nlohmann::json::parse(m.to_string(), nullptr, false);
    if (j.is_discarded()) return Corruption("control: bad reply");
    return j;
  } catch (const zmq::error_t& e) {
    return Unavailable(std::string("control: ") + e.what());
  }
}

AgentClient::AgentClient(zmq::context_t& ctx, const std::string& endpoint, int timeout_ms,
                         const CurveClientKeys* curve)
    : sock_(ctx, zmq::socket_type::dealer) {
  sock_.set(zmq::sockopt::linger, 0);
  if (curve) {
    sock_.set(zmq::sockopt::curve_serverkey, curve->server_public);
    sock_.set(zmq::sockopt::curve_publickey, curve->public_key);
    sock_.set(zmq::sockopt::curve_secretkey, curve->secret_key);
  }
  sock_.set(zmq::sockopt::rcvtimeo, timeout_ms);
  sock_.set(zmq::sockopt::sndtimeo, timeout_ms);
  sock_.connect(endpoint);
}

Result<std::string> AgentClient::Raw(const std::string& body) {
  try {
    if (!sock_.send(zmq::buffer(body), zmq::send_flags::none)) return Unavailable("send timed out");
    zmq::message_t m;
    if (!sock_.recv(m, zmq::recv_flags::none)) return Unavailable("no reply");
    return m.to_string();
  } catch (const zmq::error_t& e) {
    return Unavailable(e.what());
  }
}

Status AgentClient::Hello(const std::string& agent) {
  IMMUNE_ASSIGN_OR_RETURN(std::string raw, Raw(EncodeHello(std::to_string(++n_), agent)));
  IMMUNE_ASSIGN_OR_RETURN(AgentReply r, DecodeAgentReply(raw));
  if (r.type != "welcome") return InvalidArgument(r.error_field + ": " + r.error_message);
  return OkStatus();
}

Result<std::vector<Verdict>> AgentClient::Measure(const std::vector<tsb::MeasurementEntry>& entries) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const std::string id = std::to_string(++n_);
    IMMUNE_ASSIGN_OR_RETURN(std::string raw, Raw(EncodeMeasure(id, entries)));
    IMMUNE_ASSIGN_OR_RETURN(AgentReply r, DecodeAgentReply(raw));
    if (r.id != id) return Corruption("reply id " + r.id + " != " + id);
    if (r.type == "decisions") return r.decisions;
    if (r.error_code == "unavailable" && r.error_message.find("retry") != std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    return InvalidArgument(r.error_code + ": " + r.error_field + ": " + r.error_message);
  }
  return Unavailable("queue stayed full");
}

tsb::MeasurementEntry TestEntry(const std::string& path, std::uint32_t n, const std::string& container) {
  tsb::MeasurementEntry e;
  e.container_id = container;
  e.template_kind = container.empty() ? tsb::TemplateKind::kImaNg : tsb::TemplateKind::kImmuneCt;
  if (!container.empty()) e.image = "registry.example/app:1";
  e.pid = 1000 + n % 100;
  e.exe = "/usr/bin/app";
  e.path = path;
  e.file_hash_alg = HashAlg::kSha256;
  e.file_digest.assign(32, 0);
  for (int b = 0; b < 4; ++b) e.file_digest[b] = static_cast<std::uint8_t>(n >> (8 * b));
  e.file_digest[31] = 0x5a;
  return e;
}

int RunCapture(const std::vector<std::string>& argv, std::string* out, std::chrono::seconds timeout,
               bool with_stderr) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  if (with_stderr) posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  std::vector<char*> av;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return -1;
  }
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  out->clear();
  const auto end = std::chrono::steady_clock::now() + timeout;
  int st = 0;
  for (;;) {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) out->append(buf, static_cast<std::size_t>(n));
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > end) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      ::close(fds[0]);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ssize_t n;
  char buf[65536];
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) out->append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::map<std::string, long> ThreadSwitches(pid_t pid) {
  std::map<std::string, long> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator(dir, ec)) {
    std::ifstream comm(t.path() / "comm"), status(t.path() / "status");
    std::string name, line;
    if (!std::getline(comm, name)) continue;
    long n = 0;
    while (std::getline(status, line)) {
      for (const char* key : {"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"})
        if (line.rfind(key, 0) == 0) n += std::stol(line.substr(std::strlen(key)));
    }
    out[name] += n;
  }
  return out;
}

}  // namespace immune::tsbd::testing
