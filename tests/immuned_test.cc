// Integration tests of immuned against a real (software) TPM: the daemon runs
// as a child process on a private state directory, with a fixture swtpm (via
// tcti) or its own embedded one. Agents: a loaded .so agent in process and
// ZeroMQ clients on several threads. Replay is checked by the verifier of
// partition views against the PCR read from the TPM by the test itself.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <zmq_addon.hpp>

#include "immune/tpm/testing/swtpm_fixture.h"
#include "immune/tsb/cpcr.h"
#include "immune/tsbd/agent_message.h"
#include "immune/tsbd/daemon.h"
#include "immuned_test_util.h"

namespace immune::tsbd::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct Env {
  TempDir dir;
  std::string state;
  std::string config;
  std::string log;
  zmq::context_t ctx{1};
  std::string Ep(const std::string& name) const { return "ipc://" + state + "/" + name + ".sock"; }

  explicit Env(const std::string& body) {
    state = dir.path() + "/state";
    config = dir.path() + "/immuned.yaml";
    log = dir.path() + "/immuned.log";
    std::ofstream(config) << "state_dir: " << state << "\n" << body;
  }
  std::string DaemonLog() const {
    std::ifstream f(log);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  json Control(const std::string& cmd, json args = json::object()) {
    auto r = ControlCall(ctx, Ep("control"), cmd, std::move(args));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().ToString());
    if (!r.ok()) return json::object();
    EXPECT_TRUE((*r)["ok"].get<bool>()) << r->dump();
    return (*r)["result"];
  }
  bool Ready() {
    auto r = ControlCall(ctx, Ep("control"), "status", json::object(), 500);
    return r.ok() && (*r)["ok"].get<bool>();
  }
};

// Alive and not a zombie.
bool Runs(pid_t pid) {
  if (pid <= 1 || ::kill(pid, 0) != 0) return false;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string st((std::istreambuf_iterator<char>(f)), {});
  const auto paren = st.rfind(')');
  return paren == std::string::npos || paren + 2 >= st.size() || st[paren + 2] != 'Z';
}

std::string TctiConfig(const tpm::SwtpmProcess& sw) { return "tcti: \"" + sw.tcti() + "\"\n"; }

tpm::SwtpmOptions SmallSwtpm() {
  tpm::SwtpmOptions o;
  o.pcr_banks = {HashAlg::kSha1, HashAlg::kSha256};
  o.create_ek_cert = false;
  return o;
}

// Every partition's view verifies against the PCR the test reads itself.
void ExpectReplayMatchesTpm(Env& env, tpm::Tpm& tpm, std::uint64_t expected_entries) {
  json containers = env.Control("containers");
  PcrSelection sel = {{HashAlg::kSha1, {13}}, {HashAlg::kSha256, {13}}};
  auto pcrs = tpm.ReadPcrs(sel);
  ASSERT_TRUE(pcrs.ok()) << pcrs.error().ToString();
  std::uint64_t total = 0;
  for (const auto& c : containers["containers"]) {
    const std::string id = c["container_id"].get<std::string>();
    json view = env.Control("view", {{"container", id}});
    auto parsed = tsb::PartitionViewFromJson(view.dump());
    ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
    auto verified = tsb::VerifyPartitionView(*parsed, *pcrs);
    ASSERT_TRUE(verified.ok()) << "partition '" << id << "': " << verified.error().ToString();
    EXPECT_EQ(verified->entries.size(), c["entries"].get<std::uint64_t>());
    total += verified->entries.size();
    EXPECT_EQ(verified->total_entries, expected_entries);
  }
  EXPECT_EQ(total, expected_entries);
  json pcr = env.Control("pcr");
  EXPECT_TRUE(pcr["match"].get<bool>()) << pcr.dump();
}

// Receives events on topic `prefix` in the background.
class Subscriber {
 public:
  Subscriber(zmq::context_t& ctx, const std::string& ep) : sock_(ctx, zmq::socket_type::sub) {
    sock_.set(zmq::sockopt::linger, 0);
    sock_.set(zmq::sockopt::rcvtimeo, 100);
    sock_.set(zmq::sockopt::subscribe, "alarm");
    sock_.set(zmq::sockopt::subscribe, "measurement");
    sock_.connect(ep);
    thread_ = std::thread([this] {
      while (!stop_) {
        std::vector<zmq::message_t> frames;
        try {
          if (!zmq::recv_multipart(sock_, std::back_inserter(frames))) continue;
        } catch (const zmq::error_t&) {
          continue;
        }
        if (frames.size() != 2) continue;
        std::lock_guard lock(mu_);
        const std::string topic = frames[0].to_string();
        json j = json::parse(frames[1].to_string(), nullptr, false);
        if (topic == "alarm") alarms_.push_back(j);
        if (topic == "measurement") paths_.insert(j.value("path", ""));
      }
    });
  }
  ~Subscriber() {
    stop_ = true;
    thread_.join();
  }
  std::vector<json> alarms() {
    std::lock_guard lock(mu_);
    return alarms_;
  }
  bool saw(const std::string& path) {
    std::lock_guard lock(mu_);
    return paths_.count(path) > 0;
  }

 private:
  zmq::socket_t sock_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<json> alarms_;
  std::set<std::string> paths_;
  std::thread thread_;
};

TEST(ImmunedTest, BurstFromPluginAndZmqAgentsReplaysToTpm) {
  auto sw = tpm::testing::StartSwtpm(SmallSwtpm());
  ASSERT_TRUE(sw.ok()) << sw.error().ToString();
  constexpr int kPlugin = 4000, kClients = 3, kPerClient = 2000, kBatch = 100, kDeniedPerClient = 5;
  Env env(TctiConfig(*sw->process) +
          "deny_paths: [/denied/]\nagents:\n  - path: " IMMUNED_TEST_AGENT "\n    options: {count: " +
          std::to_string(kPlugin) + ", batch: 50, container: ct-plugin, image: busybox}\n");
  auto d = DaemonProcess::Spawn(env.config, env.log);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(WaitFor([&] { return env.Ready(); }, seconds(60))) << env.DaemonLog();

  // Subscribe, and make sure the subscription is live before alarms happen.
  Subscriber sub(env.ctx, env.Ep("events"));
  int probes = 0;
  {
    AgentClient probe(env.ctx, env.Ep("agent"));
    ASSERT_TRUE(probe.Hello("probe").ok());
    ASSERT_TRUE(WaitFor(
        [&] {
          ++probes;
          EXPECT_TRUE(probe.Measure({TestEntry("/probe/" + std::to_string(probes), probes)}).ok());
          return WaitFor([&] { return sub.saw("/probe/" + std::to_string(probes)); }, milliseconds(300));
        },
        seconds(20)));
  }

  const auto t0 = std::chrono::steady_clock::now();
  std::atomic<int> failures{0};
  std::atomic<int> denied_seen{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      AgentClient cl(env.ctx, env.Ep("agent"));
      if (!cl.Hello("zmq-" + std::to_string(c)).ok()) {
        ++failures;
        return;
      }
      for (int i = 0; i < kPerClient; i += kBatch) {
        std::vector<tsb::MeasurementEntry> v;
        for (int k = i; k < i + kBatch; ++k) {
          const bool deny = k % (kPerClient / kDeniedPerClient) == 7;
          const std::string path =
              (deny ? "/denied/c" : "/zmq/c") + std::to_string(c) + "/" + std::to_string(k);
          v.push_back(TestEntry(path, static_cast<std::uint32_t>(c * 100000 + k),
                                c == 0 ? "" : "ct-" + std::to_string(c)));
        }
        auto r = cl.Measure(v);
        if (!r.ok() || r->size() != v.size()) {
          ++failures;
          return;
        }
        for (std::size_t k = 0; k < v.size(); ++k) {
          const bool deny = v[k].path.starts_with("/denied/");
          if (((*r)[k].decision == tsb::Decision::kDeny) != deny) ++failures;
          if (deny) ++denied_seen;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0);
  const std::uint64_t total = kPlugin + kClients * kPerClient + probes;
  ASSERT_TRUE(
      WaitFor([&] { return env.Control("status")["entries"].get<std::uint64_t>() == total; }, seconds(120)))
      << env.Control("status").dump();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("immuned: %llu measurements (plugin + %d zmq clients) in %.2f s: %.0f/s\n",
              static_cast<unsigned long long>(total - probes), kClients, secs, (total - probes) / secs);
  json ws = env.Control("status")["writer"];
  std::printf("immuned writer: %s batches, %.0f entries per busy second\n", ws["batches"].dump().c_str(),
              ws["entries_per_busy_second"].get<double>());
  std::ifstream statm("/proc/" + std::to_string((*d)->pid()) + "/status");
  for (std::string line; std::getline(statm, line);)
    if (line.starts_with("VmRSS") || line.starts_with("VmHWM")) std::printf("immuned %s\n", line.c_str());

  ExpectReplayMatchesTpm(env, *sw->tpm, total);

  // Every denial became an alarm a subscriber could act on without the log.
  EXPECT_EQ(denied_seen.load(), kClients * kDeniedPerClient);
  ASSERT_TRUE(WaitFor([&] { return static_cast<int>(sub.alarms().size()) >= kClients * kDeniedPerClient; },
                      seconds(10)));
  auto alarms = sub.alarms();
  EXPECT_EQ(alarms.size(), static_cast<std::size_t>(kClients * kDeniedPerClient));
  std::set<std::string> ids;
  for (const auto& a : alarms) {
    EXPECT_EQ(a["v"], 1);
    EXPECT_EQ(a["severity"], "high");
    EXPECT_TRUE(a["file"]["path"].get<std::string>().starts_with("/denied/")) << a.dump();
    EXPECT_EQ(a["file"]["digest"].get<std::string>().size(), 64u);
    EXPECT_TRUE(a["process"]["pid"].is_number());
    EXPECT_TRUE(a["container_id"].is_string());
    EXPECT_TRUE(a["why"].get<std::string>().find("builtin:deny-path:/denied/") != std::string::npos);
    // The daemon decided these for remote agents: it says what it did.
    EXPECT_EQ(a["what"], "measurement denied by policy");
    EXPECT_EQ(a["action"], "logged; agent " + a["agent"].get<std::string>() + " was answered deny")
        << a.dump();
    EXPECT_GT(a["when_ns"].get<std::int64_t>(), 0);
    EXPECT_TRUE(a["where"]["seq"].is_number());
    EXPECT_FALSE(a["where"]["node"].get<std::string>().empty());
    ids.insert(a["id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), alarms.size());

  // immunectl tsb against the running daemon.
  std::string out;
  ASSERT_EQ(
      RunCapture({IMMUNECTL_TSB_BIN, "tsb", "--state-dir", env.state, "status", "--json"}, &out, seconds(30)),
      0);
  json st = json::parse(out, nullptr, false);
  ASSERT_FALSE(st.is_discarded()) << out;
  EXPECT_EQ(st["entries"].get<std::uint64_t>(), total);
  EXPECT_EQ(st["agents"]["plugin-agent"]["submitted"].get<std::uint64_t>(),
            static_cast<std::uint64_t>(kPlugin));
  EXPECT_EQ(st["agents"]["zmq-1"]["kind"], "remote");
  ASSERT_EQ(
      RunCapture({IMMUNECTL_TSB_BIN, "tsb", "--state-dir", env.state, "pcr", "--json"}, &out, seconds(30)),
      0);
  json pcr = json::parse(out, nullptr, false);
  EXPECT_TRUE(pcr["match"].get<bool>());
  EXPECT_EQ(pcr["tpm"]["sha256"].get<std::string>(), pcr["journal_replay"]["sha256"].get<std::string>());
  ASSERT_EQ(RunCapture({IMMUNECTL_TSB_BIN, "tsb", "--state-dir", env.state, "pcr"}, &out, seconds(30)), 0);
  EXPECT_NE(out.find("match: the journal replays"), std::string::npos) << out;
  ASSERT_EQ(RunCapture({IMMUNECTL_TSB_BIN, "tsb", "--state-dir", env.state, "containers"}, &out, seconds(30)),
            0);
  EXPECT_NE(out.find("ct-plugin  4000 entries"), std::string::npos) << out;
  ASSERT_EQ(RunCapture({IMMUNECTL_TSB_BIN, "tsb", "--state-dir", env.state, "log", "--container", "ct-2",
                        "--limit", "3"},
                       &out, seconds(30)),
            0);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 3) << out;
  // No daemon: exit 3, not a hang.
  EXPECT_EQ(RunCapture({IMMUNECTL_TSB_BIN, "tsb", "--state-dir", env.dir.path() + "/none", "status"}, &out,
                       seconds(30)),
            3);

  (*d)->Kill(SIGTERM);
  EXPECT_EQ((*d)->Wait(seconds(30)), 0) << env.DaemonLog();
}

TEST(ImmunedTest, KillNineLosesNoAcknowledgedEntry) {
  auto sw = tpm::testing::StartSwtpm(SmallSwtpm());
  ASSERT_TRUE(sw.ok()) << sw.error().ToString();
  Env env(TctiConfig(*sw->process) + "agents:\n  - path: " IMMUNED_TEST_AGENT
                                     "\n    options: {count: 3000, batch: 20, container: ct-plugin}\n");
  auto d = DaemonProcess::Spawn(env.config, env.log);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(WaitFor([&] { return env.Ready(); }, seconds(60))) << env.DaemonLog();

  std::mutex mu;
  std::map<std::uint64_t, std::string> acked;  // seq -> path
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      AgentClient cl(env.ctx, env.Ep("agent"), 3000);
      if (!cl.Hello("crash-" + std::to_string(c)).ok()) return;
      for (int i = 0; !stop && i < 100000; i += 25) {
        std::vector<tsb::MeasurementEntry> v;
        for (int k = i; k < i + 25; ++k)
          v.push_back(TestEntry("/crash/c" + std::to_string(c) + "/" + std::to_string(k), k,
                                "ct-" + std::to_string(c)));
        auto r = cl.Measure(v);
        if (!r.ok()) return;  // the daemon died: this message is not acknowledged
        std::lock_guard lock(mu);
        for (std::size_t k = 0; k < v.size(); ++k) acked[(*r)[k].seq] = v[k].path;
      }
    });
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard lock(mu);
        return acked.size() >= 2000;
      },
      seconds(60)));
  (*d)->Kill(SIGKILL);
  EXPECT_EQ((*d)->Wait(seconds(10)), 128 + SIGKILL);
  stop = true;
  for (auto& t : clients) t.join();

  // Restart without the plugin, on the same state directory and TPM.
  std::ofstream(env.config) << "state_dir: " << env.state << "\n" << TctiConfig(*sw->process);
  auto d2 = DaemonProcess::Spawn(env.config, env.log);
  ASSERT_TRUE(d2.ok());
  ASSERT_TRUE(WaitFor([&] { return env.Ready(); }, seconds(60))) << env.DaemonLog();
  json st = env.Control("status");
  EXPECT_FALSE(st["recovery"]["new_epoch"].get<bool>()) << st.dump();  // the PCR was explained by the journal
  EXPECT_EQ(st["epoch"], 0);
  EXPECT_EQ(st["alarms"], 0);
  const std::uint64_t entries = st["entries"].get<std::uint64_t>();

  json log = env.Control("log", {{"format", "json"}});
  std::map<std::uint64_t, std::string> logged;
  for (const auto& e : log["entries"]) logged[e["seq"].get<std::uint64_t>()] = e["path"].get<std::string>();
  EXPECT_EQ(logged.size(), entries);
  std::size_t lost = 0;
  for (const auto& [seq, path] : acked) {
    auto it = logged.find(seq);
    if (it == logged.end() || it->second != path) ++lost;
  }
  EXPECT_EQ(lost, 0u) << "of " << acked.size() << " acknowledged";
  std::printf("kill -9: %zu acknowledged, %llu in the journal after restart (%llu extended at open)\n",
              acked.size(), static_cast<unsigned long long>(entries),
              static_cast<unsigned long long>(st["recovery"]["extended_now"].get<std::uint64_t>()));
  // Nothing unjournaled was extended: the replay of the journal is the PCR.
  ExpectReplayMatchesTpm(env, *sw->tpm, entries);
}

TEST(ImmunedTest, SamePathInTwoContainersGivesTwoEntries) {
  auto sw = tpm::testing::StartSwtpm(SmallSwtpm());
  ASSERT_TRUE(sw.ok()) << sw.error().ToString();
  Env env(TctiConfig(*sw->process));
  auto d = DaemonProcess::Spawn(env.config, env.log);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(WaitFor([&] { return env.Ready(); }, seconds(60))) << env.DaemonLog();
  AgentClient cl(env.ctx, env.Ep("agent"));
  ASSERT_TRUE(cl.Hello("ct-agent").ok());
  auto r = cl.Measure({TestEntry("/usr/bin/python3", 1, "ct-a"), TestEntry("/usr/bin/python3", 1, "ct-b")});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_NE((*r)[0].seq, (*r)[1].seq);
  json log = env.Control("log", {{"format", "json"}});
  ASSERT_EQ(log["entries"].size(), 2u);
  EXPECT_EQ(log["entries"][0]["container_id"], "ct-a");
  EXPECT_EQ(log["entries"][1]["container_id"], "ct-b");
  EXPECT_NE(log["entries"][0]["template_hash"]["sha256"], log["entries"][1]["template_hash"]["sha256"]);
  ExpectReplayMatchesTpm(env, *sw->tpm, 2);
}

TEST(ImmunedTest, BadAgentMessagesGetErrorsAndTheDaemonCarriesOn) {
  auto sw = tpm::testing::StartSwtpm(SmallSwtpm());
  ASSERT_TRUE(sw.ok()) << sw.error().ToString();
  Env env(TctiConfig(*sw->process));
  auto d = DaemonProcess::Spawn(env.config, env.log);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(WaitFor([&] { return env.Ready(); }, seconds(60))) << env.DaemonLog();
  AgentClient cl(env.ctx, env.Ep("agent"));
  auto field = [&](const std::string& body) {
    auto raw = cl.Raw(body);
    EXPECT_TRUE(raw.ok());
    if (!raw.ok()) return std::string("<no reply>");
    auto rep = DecodeAgentReply(*raw);
    EXPECT_TRUE(rep.ok());
    EXPECT_EQ(rep->type, "error") << *raw;
    return rep->error_field;
  };
  EXPECT_EQ(field("\xff\xfe garbage"), "");
  EXPECT_EQ(field(R"({"v":1,"type":"measure","measurements":[{"path":"/a","file_digest":"00"}]})"),
            "measurements[0].file_digest");
  // measure before hello: the state machine refuses it.
  EXPECT_EQ(field(EncodeMeasure("1", {TestEntry("/a", 1)})), "type");
  ASSERT_TRUE(cl.Hello("dup").ok());
  AgentClient other(env.ctx, env.Ep("agent"));
  auto dup = other.Hello("dup");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message().find("already registered"), std::string::npos);
  auto ok = cl.Measure({TestEntry("/after/garbage", 2)});
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(env.Control("status")["entries"], 1);
  // Control endpoint: errors name the field too.
  auto bad = ControlCall(env.ctx, env.Ep("control"), "log", {{"limit", "x"}});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ((*bad)["error"]["field"], "args.limit");
}

// `immunectl tsb alarms` lists what the daemon kept; with --follow it then
// prints new alarms as they are raised, each once.
TEST(ImmunedTest, ImmunectlAlarmsListsAndFollows) {
  Env env("tcti: embedded\ndeny_paths: [/denied/]\n");
  auto d = DaemonProcess::Spawn(env.config, env.log);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(WaitFor([&] { return env.Ready(); }, seconds(90))) << env.DaemonLog();
  AgentClient agent(env.ctx, env.Ep("agent"));
  ASSERT_TRUE(agent.Hello("alarm-agent").ok());
  ASSERT_TRUE(agent.Measure({TestEntry("/allowed/x", 1), TestEntry("/denied/first", 2)}).ok());
  ASSERT_TRUE(WaitFor([&] { return env.Control("alarms")["alarms"].size() == 1; }, seconds(10)));

  std::string out;
  ASSERT_EQ(RunCapture({IMMUNECTL_TSB_BIN, "tsb", "--state-dir", env.state, "alarms"}, &out, seconds(30)), 0);
  EXPECT_NE(
      out.find(" high host: measurement denied by policy: rule builtin:deny-path:/denied/: /denied/first ("),
      std::string::npos)
      << out;
  EXPECT_NE(out.find(" -> logged; agent alarm-agent was answered deny (seq 1)\n"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  ASSERT_EQ(
      RunCapture({IMMUNECTL_TSB_BIN, "tsb", "--state-dir", env.state, "alarms", "--json"}, &out, seconds(30)),
      0);
  json listed = json::parse(out, nullptr, false);
  ASSERT_TRUE(listed.is_object()) << out;
  ASSERT_EQ(listed["alarms"].size(), 1u);
  EXPECT_EQ(listed["alarms"][0]["file"]["path"], "/denied/first");

  // Following: the kept alarm, then two new ones, then it exits (--count 2).
  std::string followed;
  std::atomic<int> rc{-100};
  std::thread follower([&] {
    rc = RunCapture(
        {IMMUNECTL_TSB_BIN, "tsb", "--state-dir", env.state, "alarms", "--follow", "--json", "--count", "2"},
        &followed, seconds(60));
  });
  for (int n = 0; rc == -100 && n < 200; ++n) {
    EXPECT_TRUE(agent.Measure({TestEntry("/denied/live" + std::to_string(n), 10 + n)}).ok());
    std::this_thread::sleep_for(milliseconds(100));
  }
  follower.join();
  ASSERT_EQ(rc.load(), 0) << followed;
  std::vector<json> lines;
  std::istringstream in(followed);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(json::parse(line, nullptr, false));
    ASSERT_TRUE(lines.back().is_object()) << line;
  }
  // The kept ones (the first, and any live one raised before the follower
  // read the ring), then two more: none missed, none twice.
  ASSERT_GE(lines.size(), 3u) << followed;
  EXPECT_EQ(lines[0]["file"]["path"], "/denied/first");
  std::set<std::string> ids;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["type"], "alarm");
    ids.insert(lines[i]["id"].get<std::string>());
    EXPECT_EQ(lines[i]["where"]["seq"], i + 1) << followed;  // seq 0 is /allowed/x
    if (i > 0) {
      EXPECT_EQ(lines[i]["file"]["path"], "/denied/live" + std::to_string(i - 1)) << followed;
    }
  }
  EXPECT_EQ(ids.size(), lines.size()) << followed;

  // No daemon: a clear error, exit 3, at once.
  d->reset();
  EXPECT_EQ(RunCapture({IMMUNECTL_TSB_BIN, "tsb", "--state-dir", env.state, "alarms", "--follow"}, &out,
                       seconds(30),
                       /*with_stderr=*/true),
            3);
  EXPECT_NE(out.find("events endpoint ipc://" + env.state + "/events.sock: "), std::string::npos) << out;
  EXPECT_NE(out.find("(is immuned running?"), std::string::npos) << out;
  // The control endpoint likewise, whether its socket file is left or not.
  EXPECT_EQ(RunCapture({IMMUNECTL_TSB_BIN, "tsb", "--state-dir", env.state, "--timeout", "60000", "alarms"},
                       &out, seconds(30), /*with_stderr=*/true),
            3);
  EXPECT_NE(out.find("control endpoint ipc://" + env.state + "/control.sock: "), std::string::npos) << out;
  EXPECT_NE(out.find("(is immuned running?"), std::string::npos) << out;
}

TEST(ImmunedTest, EmbeddedSwtpmAndCleanShutdown) {
  Env env("tcti: embedded\n");
  auto d = DaemonProcess::Spawn(env.config, env.log);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(WaitFor([&] { return env.Ready(); }, seconds(90))) << env.DaemonLog();
  json st = env.Control("status");
  ASSERT_TRUE(st["tpm"]["embedded"].get<bool>());
  const pid_t swtpm_pid = st["tpm"]["swtpm_pid"].get<pid_t>();
  ASSERT_GT(swtpm_pid, 0);
  AgentClient cl(env.ctx, env.Ep("agent"));
  ASSERT_TRUE(cl.Hello("e").ok());
  ASSERT_TRUE(cl.Measure({TestEntry("/x", 1), TestEntry("/y", 2, "c")}).ok());
  EXPECT_TRUE(env.Control("pcr")["match"].get<bool>());
  // Socket and directory permissions.
  struct stat sb {};
  ASSERT_EQ(::stat(env.state.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat((env.state + "/control.sock").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat((env.state + "/agent.sock").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
  // Control is for root and the daemon's user only: even with the file
  // permissions opened up, another uid is refused by its SO_PEERCRED.
  if (::geteuid() == 0 && ::access("/usr/bin/setpriv", X_OK) == 0) {
    ASSERT_EQ(::chmod(env.dir.path().c_str(), 0711), 0);
    ASSERT_EQ(::chmod(env.state.c_str(), 0711), 0);
    ASSERT_EQ(::chmod((env.state + "/control.sock").c_str(), 0666), 0);
    std::string out;
    EXPECT_EQ(RunCapture({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          IMMUNECTL_TSB_BIN, "tsb", "--state-dir", env.state, "status"},
                         &out, seconds(30), /*with_stderr=*/true),
              3);
    EXPECT_NE(out.find("uid 65534 is not allowed"), std::string::npos) << out;
    ASSERT_EQ(::chmod((env.state + "/control.sock").c_str(), 0600), 0);
    ASSERT_EQ(::chmod(env.state.c_str(), 0700), 0);
  }
  (*d)->Kill(SIGTERM);
  EXPECT_EQ((*d)->Wait(seconds(30)), 0) << env.DaemonLog();
  EXPECT_FALSE(Runs(swtpm_pid)) << "embedded swtpm " << swtpm_pid << " still runs";
  // A second daemon on the same directory is refused while one runs.
  auto a = DaemonProcess::Spawn(env.config, env.log);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(WaitFor([&] { return env.Ready(); }, seconds(90))) << env.DaemonLog();
  // A clean restart reuses the swtpm state; the journal still replays to the PCR.
  EXPECT_TRUE(env.Control("pcr")["match"].get<bool>());
  EXPECT_EQ(env.Control("status")["entries"], 2);
  // kill -9 leaves the embedded swtpm running (it is not told its parent
  // died): the next immuned adopts it, PCRs intact, and no epoch is lost.
  const pid_t orphan = env.Control("status")["tpm"]["swtpm_pid"].get<pid_t>();
  (*a)->Kill(SIGKILL);
  EXPECT_EQ((*a)->Wait(seconds(10)), 128 + SIGKILL);
  ASSERT_TRUE(Runs(orphan));
  auto c = DaemonProcess::Spawn(env.config, env.log);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(WaitFor([&] { return env.Ready(); }, seconds(90))) << env.DaemonLog();
  json st3 = env.Control("status");
  EXPECT_TRUE(st3["tpm"]["swtpm_adopted"].get<bool>()) << st3.dump();
  EXPECT_EQ(st3["tpm"]["swtpm_pid"].get<pid_t>(), orphan);
  EXPECT_FALSE(st3["recovery"]["new_epoch"].get<bool>());
  EXPECT_EQ(st3["alarms"], 0);
  EXPECT_TRUE(env.Control("pcr")["match"].get<bool>());
  auto b = DaemonProcess::Spawn(env.config, env.log);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->Wait(seconds(30)), 1);
  EXPECT_NE(env.DaemonLog().find("another immuned runs on this state directory"), std::string::npos);
  (*c)->Kill(SIGTERM);
  EXPECT_EQ((*c)->Wait(seconds(30)), 0) << env.DaemonLog();
  EXPECT_TRUE(WaitFor([&] { return !Runs(orphan); }, seconds(10)))
      << "adopted swtpm " << orphan << " still runs";
}

}  // namespace
}  // namespace immune::tsbd::testing

namespace immune::tsbd::testing {
namespace {

// An in-process agent: measures every file of a directory through the
// daemon's measure-once cache and submits the misses, `rounds` times.
class FileAgent final : public Agent {
 public:
  FileAgent(std::string name, std::vector<std::string> files)
      : name_(std::move(name)), files_(std::move(files)) {}
  std::string name() const override { return name_; }
  Status Start(AgentHost& host, const std::map<std::string, std::string>&) override {
    host_ = &host;
    return OkStatus();
  }
  void Stop() override {}
  // One pass: returns (submitted, hits).
  std::pair<std::size_t, std::size_t> Pass() {
    std::vector<tsb::MeasurementEntry> batch;
    std::size_t submitted = 0, hits = 0;
    auto flush = [&] {
      if (batch.empty()) return;
      auto r = host_->Submit(name_, std::move(batch));
      EXPECT_TRUE(r.ok()) << r.error().ToString();
      batch.clear();
    };
    for (const auto& f : files_) {
      auto m = host_->MeasureFile(f);
      EXPECT_TRUE(m.ok());
      if (!m.ok()) continue;
      if (m->hit) {
        ++hits;
        continue;
      }
      tsb::MeasurementEntry e;
      e.path = f;
      e.file_digest = m->digest;
      e.file_hash_alg = m->alg;
      batch.push_back(std::move(e));
      ++submitted;
      if (batch.size() == 256) flush();
    }
    flush();
    return {submitted, hits};
  }

 private:
  std::string name_;
  std::vector<std::string> files_;
  AgentHost* host_ = nullptr;
};

TEST(ImmunedInProcessTest, RegistryAndMeasureOnceThroughTheDaemon) {
  auto sw = tpm::testing::StartSwtpm(SmallSwtpm());
  ASSERT_TRUE(sw.ok()) << sw.error().ToString();
  TempDir dir;
  std::vector<std::string> files;
  constexpr int kFiles = 3000;
  for (int i = 0; i < kFiles; ++i) {
    files.push_back(dir.path() + "/f" + std::to_string(i));
    std::ofstream(files.back()) << std::string(4096, static_cast<char>('a' + i % 26)) << i;
  }
  // Older than the measure-once racy window, so they are cached.
  std::this_thread::sleep_for(milliseconds(50));
  DaemonConfig cfg;
  cfg.state_dir = dir.path() + "/state";
  cfg.tcti = sw->process->tcti();
  auto d = Daemon::Start(cfg);
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  auto agent = std::make_unique<FileAgent>("files", files);
  FileAgent* fa = agent.get();
  ASSERT_TRUE((*d)->RegisterAgent(std::move(agent)).ok());
  auto dup = (*d)->RegisterAgent(std::make_unique<FileAgent>("files", files));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code(), ErrorCode::kInvalidArgument);

  auto t0 = std::chrono::steady_clock::now();
  auto [sub1, hits1] = fa->Pass();
  const double s1 = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t0 = std::chrono::steady_clock::now();
  auto [sub2, hits2] = fa->Pass();
  const double s2 = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(sub1, static_cast<std::size_t>(kFiles));
  EXPECT_EQ(hits1, 0u);
  EXPECT_EQ(sub2, 0u);
  EXPECT_EQ(hits2, static_cast<std::size_t>(kFiles));
  std::printf(
      "in process: %d new files hashed+journaled+extended in %.3f s (%.0f/s); repeated: %.3f s (%.0f/s, "
      "cache hits)\n",
      kFiles, s1, kFiles / s1, s2, kFiles / s2);
  EXPECT_EQ((*d)->log().size(), static_cast<std::size_t>(kFiles));
  auto pcrs = sw->tpm->ReadPcrs({{HashAlg::kSha256, {13}}});
  ASSERT_TRUE(pcrs.ok());
  EXPECT_EQ((*pcrs)[HashAlg::kSha256][13], (*d)->log().ExpectedPcr()[HashAlg::kSha256]);
  (*d)->Stop();
}

}  // namespace
}  // namespace immune::tsbd::testing
