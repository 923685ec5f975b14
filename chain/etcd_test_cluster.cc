#include "etcd_test_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "etcd_client.h"

namespace immune::chain::testing {

namespace {

// Binds `n` sockets to 127.0.0.1:0 at once, so the ports are distinct, and
// returns the ports the kernel chose.
std::vector<int> FreePorts(int n) {
  std::vector<int> fds, ports;
  for (int i = 0; i < n; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      if (fd >= 0) ::close(fd);
      break;
    }
    fds.push_back(fd);
    ports.push_back(ntohs(a.sin_port));
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

}  // namespace

std::string EtcdTestCluster::FindEtcd() {
  if (const char* e = std::getenv("IMMUNE_ETCD"); e != nullptr && ::access(e, X_OK) == 0) return e;
  if (::access("/usr/bin/etcd", X_OK) == 0) return "/usr/bin/etcd";
  if (const char* path = std::getenv("PATH")) {
    std::string p = path;
    std::size_t start = 0;
    while (start <= p.size()) {
      const std::size_t end = std::min(p.find(':', start), p.size());
      const std::string cand = p.substr(start, end - start) + "/etcd";
      if (::access(cand.c_str(), X_OK) == 0) return cand;
      start = end + 1;
    }
  }
  return "";
}

Result<std::unique_ptr<EtcdTestCluster>> EtcdTestCluster::Start(int members) {
  std::unique_ptr<EtcdTestCluster> c(new EtcdTestCluster());
  c->etcd_ = FindEtcd();
  if (c->etcd_.empty()) return NotFound("no etcd binary (install etcd-server or set IMMUNE_ETCD)");
  char t[] = "/tmp/chain-etcd-XXXXXX";
  if (::mkdtemp(t) == nullptr) return IoError("mkdtemp failed");
  c->dir_ = t;
  const std::vector<int> ports = FreePorts(2 * members);
  if (ports.size() != static_cast<std::size_t>(2 * members)) return IoError("no free loopback ports");
  for (int i = 0; i < members; ++i) {
    Member m;
    m.name = "m" + std::to_string(i);
    m.client_url = "http://127.0.0.1:" + std::to_string(ports[static_cast<std::size_t>(2 * i)]);
    m.peer_url = "http://127.0.0.1:" + std::to_string(ports[static_cast<std::size_t>(2 * i + 1)]);
    m.data_dir = c->dir_ + "/" + m.name + ".etcd";
    m.log = c->dir_ + "/" + m.name + ".log";
    c->initial_cluster_ += (i == 0 ? "" : ",") + m.name + "=" + m.peer_url;
    c->members_.push_back(std::move(m));
  }
  for (int i = 0; i < members; ++i) IMMUNE_RETURN_IF_ERROR(c->StartMember(i));
  IMMUNE_RETURN_IF_ERROR(c->WaitForQuorum(30000));
  return c;
}

EtcdTestCluster::~EtcdTestCluster() {
  for (int i = 0; i < size(); ++i) StopMember(i);
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string EtcdTestCluster::ClientUrls() const {
  std::string s;
  for (const auto& m : members_) s += (s.empty() ? "" : ",") + m.client_url;
  return s;
}

std::string EtcdTestCluster::Location(int timeout_ms) const {
  return "etcd:" + ClientUrls() + "?timeout_ms=" + std::to_string(timeout_ms);
}

Status EtcdTestCluster::StartMember(int i) {
  Member& m = members_[static_cast<std::size_t>(i)];
  if (m.pid > 0) return OkStatus();
  std::vector<std::string> args = {etcd_,
                                   "--name=" + m.name,
                                   "--data-dir=" + m.data_dir,
                                   "--listen-client-urls=" + m.client_url,
                                   "--advertise-client-urls=" + m.client_url,
                                   "--listen-peer-urls=" + m.peer_url,
                                   "--initial-advertise-peer-urls=" + m.peer_url,
                                   "--initial-cluster=" + initial_cluster_,
                                   "--initial-cluster-state=new",
                                   "--initial-cluster-token=immune-chain-test",
                                   "--heartbeat-interval=50",
                                   "--election-timeout=500",
                                   "--max-request-bytes=8388608",
                                   "--log-level=warn",
                                   "--logger=zap"};
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return IoError("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
    if (::getppid() != parent) ::_exit(127);
    const int fd = ::open(m.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  m.pid = pid;
  return OkStatus();
}

void EtcdTestCluster::StopMember(int i) {
  Member& m = members_[static_cast<std::size_t>(i)];
  if (m.pid <= 0) return;
  ::kill(m.pid, SIGTERM);
  for (int waited = 0; waited < 500; ++waited) {
    if (::waitpid(m.pid, nullptr, WNOHANG) == m.pid) {
      m.pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(m.pid, SIGKILL);
  ::waitpid(m.pid, nullptr, 0);
  m.pid = -1;
}

Status EtcdTestCluster::WaitForQuorum(int timeout_ms) {
  std::vector<std::string> urls;
  for (const auto& m : members_) urls.push_back(m.client_url);
  IMMUNE_ASSIGN_OR_RETURN(std::unique_ptr<EtcdClient> client, EtcdClient::Make(urls, 1000));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  Status last = OkStatus();
  while (std::chrono::steady_clock::now() < deadline) {
    last = client->Put("/immune-test/ping", "1");
    if (last.ok()) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Unavailable("the test etcd cluster has no quorum after " + std::to_string(timeout_ms) +
                     " ms (logs in " + dir_ + "): " + last.error().message());
}

}  // namespace immune::chain::testing
