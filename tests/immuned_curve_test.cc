// Integration tests of immuned's tcp:// agent endpoint with ZeroMQ CURVE
// (docs/tsb-daemon.md, "CURVE"): a client whose public key is on the
// allow-list submits and gets decisions; an unlisted key and a plain client
// get nothing (refused at the handshake), and the daemon logs the refusal.
// Loopback only; the daemon and the swtpm are stopped by their PIDs.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <fstream>
#include <map>
#include <thread>
#include <optional>

#include "immune/tpm/testing/swtpm_fixture.h"
#include "immuned_test_util.h"

namespace immune::tsbd::testing {
namespace {

using std::chrono::seconds;

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

struct KeyPair {
  std::string pub, sec;
};

KeyPair NewKeyPair() {
  char pub[41] = {}, sec[41] = {};
  EXPECT_EQ(zmq_curve_keypair(pub, sec), 0);
  return {pub, sec};
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// One "status" request on a CURVE control endpoint; nullopt without a reply.
std::optional<nlohmann::json> CurveStatus(zmq::context_t& ctx, const std::string& ep,
                                          const CurveClientKeys& k, int timeout_ms) {
  try {
    zmq::socket_t s(ctx, zmq::socket_type::req);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::rcvtimeo, timeout_ms);
    s.set(zmq::sockopt::sndtimeo, timeout_ms);
    s.set(zmq::sockopt::curve_serverkey, k.server_public);
    s.set(zmq::sockopt::curve_publickey, k.public_key);
    s.set(zmq::sockopt::curve_secretkey, k.secret_key);
    s.connect(ep);
    if (!s.send(zmq::str_buffer(R"({"v":1,"cmd":"status","args":{}})"), zmq::send_flags::none))
      return std::nullopt;
    zmq::message_t m;
    if (!s.recv(m, zmq::recv_flags::none)) return std::nullopt;
    return nlohmann::json::parse(m.to_string(), nullptr, false);
  } catch (const zmq::error_t&) {
    return std::nullopt;
  }
}

TEST(ImmunedCurveTest, ListedClientIsServedUnlistedAndPlainAreRefused) {
  if (!zmq_has("curve")) GTEST_SKIP() << "libzmq without CURVE";
  auto sw = tpm::testing::StartSwtpm([] {
    tpm::SwtpmOptions o;
    o.pcr_banks = {HashAlg::kSha1, HashAlg::kSha256};
    o.create_ek_cert = false;
    return o;
  }());
  ASSERT_TRUE(sw.ok()) << sw.error().ToString();
  TempDir dir;
  const std::string state = dir.path() + "/state";
  const std::string clients = dir.path() + "/clients";
  ASSERT_EQ(::mkdir(clients.c_str(), 0700), 0);
  const KeyPair listed = NewKeyPair(), unlisted = NewKeyPair(), admin = NewKeyPair();
  std::ofstream(dir.path() + "/admin.pub") << admin.pub << "\n";
  std::ofstream(clients + "/agent-1.pub") << listed.pub << "\n";
  std::ofstream(clients + "/not-a-key.txt") << unlisted.pub << "\n";  // only *.pub files count
  const int port = FreeLoopbackPort();
  ASSERT_GT(port, 0);
  const std::string agent_ep = "tcp://127.0.0.1:" + std::to_string(port);
  const int control_port = FreeLoopbackPort();
  ASSERT_GT(control_port, 0);
  ASSERT_NE(control_port, port);
  const std::string control_ep = "tcp://127.0.0.1:" + std::to_string(control_port);
  const std::string config = dir.path() + "/immuned.yaml";
  const std::string log = dir.path() + "/immuned.log";
  std::ofstream(config) << "state_dir: " << state << "\ntcti: \"" << sw->process->tcti()
                        << "\"\nagent_endpoint: " << agent_ep << "\ncurve_agent_clients: [" << clients
                        << "]\ncontrol_endpoint: " << control_ep << "\ncurve_control_clients: " << dir.path()
                        << "/admin.pub\n";
  zmq::context_t ctx(1);
  auto d = DaemonProcess::Spawn(config, log);
  ASSERT_TRUE(d.ok());
  // The server's public key is known once it has been written.
  const std::string server_pub_path = state + "/curve_server.pub";
  ASSERT_TRUE(WaitFor([&] { return Trimmed(ReadAll(server_pub_path)).size() == 40; }, seconds(60)))
      << ReadAll(log);
  const std::string server_pub0 = Trimmed(ReadAll(server_pub_path));
  const CurveClientKeys admin_keys{server_pub0, admin.pub, admin.sec};
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = CurveStatus(ctx, control_ep, admin_keys, 500);
        return r && r->value("ok", false);
      },
      seconds(30)))
      << ReadAll(log);

  // An idle daemon does not wake up: the endpoint threads and the ZAP handler
  // block until a request, a handshake event or Stop (they used to poll every
  // 100 or 200 ms to notice a stop, five to ten wake-ups a second each).
  // First the last status client's disconnection is let through (it wakes
  // the control socket and the ZAP handler once or twice).
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const std::map<std::string, long> before = ThreadSwitches((*d)->pid());
  for (const char* name : {"immuned-agent", "immuned-ctl", "immuned-zap"})
    ASSERT_TRUE(before.count(name)) << "no thread named " << name;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const std::map<std::string, long> after = ThreadSwitches((*d)->pid());
  for (const char* name : {"immuned-agent", "immuned-ctl", "immuned-zap"})
    EXPECT_LE(after.at(name) - before.at(name), 1) << name << " woke up while the daemon was idle";

  // The server's key pair: generated on first start, the secret key 0600.
  struct stat st {};
  ASSERT_EQ(::stat((state + "/curve_server.secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  const std::string server_pub = Trimmed(ReadAll(state + "/curve_server.pub"));
  ASSERT_EQ(server_pub.size(), 40u);
  char derived[41] = {};
  ASSERT_EQ(zmq_curve_public(derived, Trimmed(ReadAll(state + "/curve_server.secret")).c_str()), 0);
  EXPECT_EQ(server_pub, derived);

  // A listed client: hello, measure, decisions.
  const CurveClientKeys good{server_pub, listed.pub, listed.sec};
  AgentClient cl(ctx, agent_ep, 10000, &good);
  ASSERT_TRUE(cl.Hello("curve-agent").ok());
  auto r = cl.Measure({TestEntry("/usr/bin/curve-1", 1), TestEntry("/usr/bin/curve-2", 2)});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].decision, tsb::Decision::kAllow);
  EXPECT_LT((*r)[0].seq, (*r)[1].seq);

  // An unlisted key and a plain client get no reply.
  const CurveClientKeys bad{server_pub, unlisted.pub, unlisted.sec};
  AgentClient stranger(ctx, agent_ep, 1500, &bad);
  auto s = stranger.Hello("stranger");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kUnavailable) << s.error().ToString();
  AgentClient plain(ctx, agent_ep, 1500);
  auto p = plain.Hello("plain");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), ErrorCode::kUnavailable) << p.error().ToString();
  // A client that knows a wrong server key does not get through either.
  const CurveClientKeys wrong_server{unlisted.pub, listed.pub, listed.sec};
  AgentClient fooled(ctx, agent_ep, 1500, &wrong_server);
  EXPECT_FALSE(fooled.Hello("fooled").ok());

  EXPECT_TRUE(
      WaitFor([&] { return ReadAll(log).find("refused agent client " + unlisted.pub) != std::string::npos; },
              seconds(10)))
      << ReadAll(log);
  // Only the listed client's entries were journaled; it still works.
  // The control endpoint takes its own allow-list: an agent key gets nothing.
  EXPECT_FALSE(CurveStatus(ctx, control_ep, good, 1500).has_value());
  auto st2 = CurveStatus(ctx, control_ep, admin_keys, 10000);
  ASSERT_TRUE(st2.has_value());
  EXPECT_EQ((*st2)["result"]["entries"], 2) << st2->dump();
  // The plain client's and the wrong server key's failed handshakes are logged too.
  EXPECT_TRUE(
      WaitFor([&] { return ReadAll(log).find("refused a client at the handshake") != std::string::npos; },
              seconds(10)))
      << ReadAll(log);
  EXPECT_TRUE(cl.Measure({TestEntry("/usr/bin/curve-3", 3)}).ok());
}

TEST(ImmunedCurveTest, TcpWithoutAllowListIsRefusedAtStart) {
  TempDir dir;
  const std::string config = dir.path() + "/immuned.yaml";
  const std::string log = dir.path() + "/immuned.log";
  std::ofstream(config) << "state_dir: " << dir.path() << "/state\ntcti: \"swtpm:port=1\"\n"
                        << "agent_endpoint: tcp://127.0.0.1:" << FreeLoopbackPort() << "\n";
  auto d = DaemonProcess::Spawn(config, log);
  ASSERT_TRUE(d.ok());
  auto code = (*d)->Wait(std::chrono::milliseconds(30000));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1);
  EXPECT_NE(ReadAll(log).find("needs curve_agent_clients"), std::string::npos) << ReadAll(log);
}

}  // namespace
}  // namespace immune::tsbd::testing
