// Unit tests of immuned's pieces that need no TPM: the agent registry, .so
// agents and their ABI check, the agent message decoder, the configuration.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <variant>

#include "immune/tsbd/agent.h"
#include "immune/tsbd/agent_message.h"
#include "immune/tsbd/config.h"
#include "immune/tsbd/curve.h"
#include "immune/tsbd/plugin.h"

namespace immune::tsbd {
namespace {

TEST(AgentRegistryTest, RejectsDuplicateNames) {
  AgentRegistry r;
  ASSERT_TRUE(r.Register("exec", AgentRegistry::Kind::kInProcess).ok());
  Status dup = r.Register("exec", AgentRegistry::Kind::kRemote);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(dup.error().message().find("'exec': already registered"), std::string::npos);
  EXPECT_FALSE(r.Register("", AgentRegistry::Kind::kInProcess).ok());
  ASSERT_TRUE(r.Register("files", AgentRegistry::Kind::kRemote).ok());
  r.Unregister("exec");
  EXPECT_TRUE(r.Register("exec", AgentRegistry::Kind::kRemote).ok());
  EXPECT_EQ(r.Snapshot().size(), 2u);
}

TEST(BuiltinPolicyTest, DeniesListedPathsAndDirectories) {
  auto p = NewBuiltinPolicy({"/usr/bin/xmrig", "/tmp/evil/"});
  tsb::MeasurementEntry e;
  e.path = "/usr/bin/ls";
  EXPECT_EQ(p->Decide(e).decision, tsb::Decision::kAllow);
  e.path = "/usr/bin/xmrig";
  EXPECT_EQ(p->Decide(e).decision, tsb::Decision::kDeny);
  e.path = "/tmp/evil/x";
  EXPECT_EQ(p->Decide(e).decision, tsb::Decision::kDeny);
  e.path = "/tmp/evilx";
  EXPECT_EQ(p->Decide(e).decision, tsb::Decision::kAllow);
}

TEST(PluginTest, LoadsAgentWithMatchingAbi) {
  auto a = LoadAgentPlugin(IMMUNED_TEST_AGENT);
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_EQ((*a)->agent().name(), "plugin-agent");
}

TEST(PluginTest, RefusesWrongAbiVersion) {
  auto a = LoadAgentPlugin(IMMUNED_TEST_AGENT_BAD_ABI);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(a.error().message().find("agent ABI version 99, this daemon needs 1"), std::string::npos)
      << a.error().message();
}

TEST(PluginTest, RefusesMissingFileAndNonModule) {
  EXPECT_EQ(LoadAgentPlugin("/nonexistent/agent.so").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(LoadAgentPlugin("/etc/hostname").error().code(), ErrorCode::kUnsupported);
}

const std::string kDigest(64, 'a');

MessageError ExpectError(const std::string& text) {
  DecodedRequest d = DecodeAgentRequest(text);
  EXPECT_TRUE(std::holds_alternative<MessageError>(d)) << text;
  if (!std::holds_alternative<MessageError>(d)) return {};
  return std::get<MessageError>(d);
}

TEST(AgentMessageTest, DecodesHelloMeasureBye) {
  auto h = DecodeAgentRequest(R"({"v":1,"type":"hello","id":"1","agent":"exec"})");
  ASSERT_TRUE(std::holds_alternative<AgentRequest>(h));
  EXPECT_EQ(std::get<AgentRequest>(h).agent, "exec");
  auto m = DecodeAgentRequest(
      R"({"v":1,"type":"measure","id":7,"measurements":[{"path":"/bin/sh","file_digest":")" + kDigest +
      R"(","container_id":"c1","image":"alpine","pid":12,"exe":"/bin/sh"}]})");
  ASSERT_TRUE(std::holds_alternative<AgentRequest>(m));
  const auto& req = std::get<AgentRequest>(m);
  EXPECT_EQ(req.id, "7");
  ASSERT_EQ(req.measurements.size(), 1u);
  EXPECT_EQ(req.measurements[0].template_kind, tsb::TemplateKind::kImmuneCt);
  EXPECT_EQ(req.measurements[0].pid, 12u);
  auto b = DecodeAgentRequest(R"({"v":1,"type":"bye"})");
  ASSERT_TRUE(std::holds_alternative<AgentRequest>(b));
}

TEST(AgentMessageTest, RejectsMalformedMessagesNamingTheField) {
  EXPECT_EQ(ExpectError("not json").field, "");
  EXPECT_EQ(ExpectError("[1,2]").field, "");
  EXPECT_EQ(ExpectError(R"({"type":"hello"})").field, "v");
  EXPECT_EQ(ExpectError(R"({"v":"1","type":"hello"})").field, "v");
  EXPECT_EQ(ExpectError(R"({"v":2,"type":"hello","agent":"a"})").code, ErrorCode::kUnsupported);
  EXPECT_EQ(ExpectError(R"({"v":1})").field, "type");
  EXPECT_EQ(ExpectError(R"({"v":1,"type":"launch"})").field, "type");
  EXPECT_EQ(ExpectError(R"({"v":1,"type":"hello"})").field, "agent");
  EXPECT_EQ(ExpectError(R"({"v":1,"type":"hello","agent":5})").field, "agent");
  EXPECT_EQ(ExpectError(R"({"v":1,"type":"hello","agent":"a","id":[1]})").field, "id");
  EXPECT_EQ(ExpectError(R"({"v":1,"type":"measure"})").field, "measurements");
  EXPECT_EQ(ExpectError(R"({"v":1,"type":"measure","measurements":{}})").field, "measurements");
  EXPECT_EQ(ExpectError(R"({"v":1,"type":"measure","measurements":[]})").field, "measurements");
  EXPECT_EQ(ExpectError(R"({"v":1,"type":"measure","measurements":[7]})").field, "measurements[0]");
  const std::string ok = R"({"path":"/a","file_digest":")" + kDigest + R"("})";
  EXPECT_EQ(ExpectError(R"({"v":1,"type":"measure","id":"x","measurements":[)" + ok + R"(,{"file_digest":")" +
                        kDigest + R"("}]})")
                .field,
            "measurements[1].path");
  MessageError e =
      ExpectError(R"({"v":1,"type":"measure","id":"x","measurements":[{"path":"/a","file_digest":"abcd"}]})");
  EXPECT_EQ(e.field, "measurements[0].file_digest");
  EXPECT_EQ(e.id, "x");
  EXPECT_NE(e.message.find("2 bytes, sha256 needs 32"), std::string::npos) << e.message;
  EXPECT_EQ(
      ExpectError(R"({"v":1,"type":"measure","measurements":[{"path":"/a","file_digest":"zz"}]})").field,
      "measurements[0].file_digest");
  EXPECT_EQ(ExpectError(R"({"v":1,"type":"measure","measurements":[{"path":"/a","file_digest":")" + kDigest +
                        R"(","file_hash_alg":"md5"}]})")
                .field,
            "measurements[0].file_hash_alg");
  EXPECT_EQ(ExpectError(R"({"v":1,"type":"measure","measurements":[{"path":"/a","file_digest":")" + kDigest +
                        R"(","pid":-1}]})")
                .field,
            "measurements[0].pid");
  EXPECT_EQ(ExpectError(R"({"v":1,"type":"measure","measurements":[{"path":"/a","file_digest":")" + kDigest +
                        R"(","template":"ima-ng","container_id":"c"}]})")
                .field,
            "measurements[0]");
  EXPECT_EQ(ExpectError(R"({"v":1,"type":"measure","measurements":[{"path":"/a\u0000b","file_digest":")" +
                        kDigest + R"("}]})")
                .field,
            "measurements[0].path");
}

TEST(AgentMessageTest, RoundTripsThroughClientEncoders) {
  tsb::MeasurementEntry e;
  e.path = "/x";
  e.file_digest.assign(32, 1);
  e.container_id = "c";
  e.template_kind = tsb::TemplateKind::kImmuneCt;
  auto d = DecodeAgentRequest(EncodeMeasure("9", {e}));
  ASSERT_TRUE(std::holds_alternative<AgentRequest>(d));
  EXPECT_EQ(std::get<AgentRequest>(d).measurements[0].file_digest, e.file_digest);
  auto r = DecodeAgentReply(EncodeDecisions("9", {Verdict{5, tsb::Decision::kDeny, "r"}}));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->decisions.size(), 1u);
  EXPECT_EQ(r->decisions[0].seq, 5u);
  auto err = DecodeAgentReply(EncodeError({"9", ErrorCode::kInvalidArgument, "measurements[0].path", "bad"}));
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->error_field, "measurements[0].path");
}

TEST(AgentMessageTest, FileNamesThatAreNotUtf8TravelAsBytes) {
  // Linux file names are bytes; a JSON string must be UTF-8. Such a path goes
  // as an array of byte values and comes back the same (json_bytes.h).
  tsb::MeasurementEntry e;
  e.path = "/tmp/caf\xe9-\xff";
  e.file_digest.assign(32, 1);
  const std::string wire = EncodeMeasure("9", {e});
  EXPECT_NE(wire.find("\"path\":[47,"), std::string::npos) << wire;
  auto d = DecodeAgentRequest(wire);
  ASSERT_TRUE(std::holds_alternative<AgentRequest>(d));
  EXPECT_EQ(std::get<AgentRequest>(d).measurements[0].path, e.path);
  // Neither a string nor bytes: refused, naming the field.
  auto bad = DecodeAgentRequest(R"({"v":1,"type":"measure","id":"1","measurements":[{"path":[300],"file_digest":""}]})");
  ASSERT_TRUE(std::holds_alternative<MessageError>(bad));
  EXPECT_EQ(std::get<MessageError>(bad).field, "measurements[0].path");
}

TEST(ConfigTest, ParsesAndRejectsNamingTheLine) {
  auto c = ParseConfig(
      "state_dir: /tmp/x\ntcti: embedded\npcr: 14\nbanks: [sha256]\ndeny_paths: [/bad]\n"
      "agents:\n  - path: /a.so\n    options: {count: 5}\n",
      "t.yaml");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->pcr, 14u);
  EXPECT_EQ(c->agents.at(0).options.at("count"), "5");
  EXPECT_EQ(AgentEndpoint(*c), "ipc:///tmp/x/agent.sock");
  auto bad = ParseConfig("state_dir: /tmp/x\npcr: 99\n", "t.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("t.yaml:2: pcr"), std::string::npos) << bad.error().message();
  auto unk = ParseConfig("state_dir: /tmp/x\nfoo: 1\n", "t.yaml");
  ASSERT_FALSE(unk.ok());
  EXPECT_NE(unk.error().message().find("foo: unknown setting"), std::string::npos);
  auto syntax = ParseConfig("a: [1,\n", "t.yaml");
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.error().message().find("t.yaml:"), std::string::npos);
  auto mode = ParseConfig("agent_socket_mode: 0666\n", "t.yaml");
  ASSERT_FALSE(mode.ok());
}

}  // namespace
}  // namespace immune::tsbd

namespace immune::tsbd {
namespace {

TEST(ConfigTest, SampleConfigurationParses) {
  auto c = LoadConfig(std::string(IMMUNE_SOURCE_DIR) + "/dist/immuned.yaml");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->state_dir, "/var/lib/immune/tsb");
  EXPECT_EQ(c->agent_socket_mode, 0600u);
  EXPECT_EQ(c->events_socket_mode, 0660u);
  EXPECT_EQ(c->deny_paths.size(), 2u);
  EXPECT_EQ(c->policy.paths, std::vector<std::string>{"/etc/immune/policy.d"});
  EXPECT_FALSE(c->gate.enabled);
  EXPECT_FALSE(c->gate.fail_open);
  EXPECT_FALSE(c->gate.overload_allow);
  EXPECT_EQ(c->gate.memfd_noexec, 2);
  EXPECT_EQ(c->gate.reader_nice, -10);
}

TEST(ConfigTest, GateAndPolicySections) {
  auto c = ParseConfig(
      "state_dir: /s\npolicy: {paths: [/p], bundle_keys: /k.pub}\ngate:\n  enabled: true\n"
      "  mounts: [/a, {path: /b, mark: filesystem}]\n  on_overload: allow\n  on_failure: fail-open\n"
      "  memfd_noexec: leave\n  workers: 4\n  report_pidfd: false\n  reader_nice: -15\n",
      "t.yaml");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->policy.bundle_keys, std::vector<std::string>{"/k.pub"});
  ASSERT_EQ(c->gate.mounts.size(), 2u);
  EXPECT_FALSE(c->gate.mounts[0].filesystem);
  EXPECT_TRUE(c->gate.mounts[1].filesystem);
  EXPECT_TRUE(c->gate.overload_allow);
  EXPECT_TRUE(c->gate.fail_open);
  EXPECT_EQ(c->gate.memfd_noexec, -1);
  EXPECT_EQ(c->gate.workers, 4u);
  EXPECT_FALSE(c->gate.report_pidfd);
  EXPECT_EQ(c->gate.reader_nice, -15);
  const std::pair<const char*, const char*> bad[] = {
      {"gate:\n  on_failure: maybe\n", "t.yaml:3: gate.on_failure: expected fail-closed or fail-open"},
      {"gate:\n  mounts: [relative]\n", "t.yaml:3: gate.mounts: needs an absolute path"},
      {"gate:\n  mounts: [{path: /a, mark: inode}]\n", "t.yaml:3: gate.mounts.mark: expected mount or filesystem"},
      {"gate:\n  enable: true\n", "t.yaml:3: gate.enable: unknown setting"},
      {"gate:\n  reader_nice: -21\n", "t.yaml:3: gate.reader_nice: out of range: -21 (-20 to 19)"},
      {"gate:\n  reader_nice: high\n", "t.yaml:3: gate.reader_nice: not a number: high"},
      {"policy:\n  path: /p\n", "t.yaml:3: policy.path: unknown setting"},
      {"policy:\n  ledger: sqlite:/l\n", "policy.ledger_trust: is required with policy.ledger"},
  };
  for (const auto& [yaml, want] : bad) {
    auto r = ParseConfig(std::string("state_dir: /s\n") + yaml, "t.yaml");
    ASSERT_FALSE(r.ok()) << yaml;
    EXPECT_NE(r.error().message().find(want), std::string::npos) << r.error().message();
  }
}

TEST(ConfigTest, CurveSettings) {
  auto c = ParseConfig(
      "state_dir: /s\nagent_endpoint: tcp://127.0.0.1:7710\ncurve_agent_clients: /k\n"
      "curve_control_clients: [/a.pub, /b]\n",
      "t.yaml");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->curve_agent_clients, std::vector<std::string>{"/k"});
  EXPECT_EQ(c->curve_control_clients.size(), 2u);
  EXPECT_EQ(CurveSecretKeyPath(*c), "/s/curve_server.secret");
  EXPECT_EQ(CurvePublicKeyPath(*c), "/s/curve_server.pub");
  c->curve_server_secret_key = "/etc/immune/server.secret";
  EXPECT_EQ(CurvePublicKeyPath(*c), "/etc/immune/server.pub");
  auto bad = ParseConfig("curve_agent_clients: {a: b}\n", "t.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("t.yaml:1: curve_agent_clients"), std::string::npos);
}

TEST(CurveTest, GeneratesLoadsAndRefusesKeys) {
  if (!CurveAvailable()) GTEST_SKIP() << "libzmq without CURVE";
  std::string tmpl = (std::filesystem::temp_directory_path() / "immuned-curve-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl;
  const std::string sec = dir + "/s.secret", pub = dir + "/s.pub";
  EXPECT_FALSE(LoadOrCreateServerKeys(sec, pub, /*create=*/false).ok());
  auto kp = LoadOrCreateServerKeys(sec, pub, /*create=*/true);
  ASSERT_TRUE(kp.ok()) << kp.error().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(sec.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto again = LoadOrCreateServerKeys(sec, pub, true);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->public_z85, kp->public_z85);
  EXPECT_EQ(*ReadPublicKeyFile(pub), kp->public_z85);
  ASSERT_EQ(::chmod(sec.c_str(), 0644), 0);
  auto open = LoadOrCreateServerKeys(sec, pub, true);
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.error().message().find(sec), std::string::npos);
  // Allow-lists: a directory's *.pub files; a malformed key names its file.
  std::filesystem::create_directories(dir + "/clients");
  std::ofstream(dir + "/clients/a.pub") << kp->public_z85 << "\n";
  std::ofstream(dir + "/clients/readme.txt") << "not a key\n";
  auto keys = LoadClientKeys({dir + "/clients"}, "curve_agent_clients");
  ASSERT_TRUE(keys.ok()) << keys.error().ToString();
  EXPECT_EQ(keys->size(), 1u);
  std::ofstream(dir + "/bad.pub") << "short\n";
  auto bad = LoadClientKeys({dir + "/bad.pub"}, "curve_agent_clients");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().ToString().find(dir + "/bad.pub"), std::string::npos);
  EXPECT_NE(bad.error().ToString().find("curve_agent_clients"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace immune::tsbd
