#include "policy_command.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control_call.h"
#include "exit_codes.h"
#include "immune/core/file.h"
#include "immune/core/hex.h"
#include "immune/core/json_bytes.h"
#include "immune/core/log.h"
#include "immune/policy/bundle.h"
#include "immune/policy/dsse.h"
#include "immune/policy/emit.h"
#include "immune/policy/keylime.h"
#include "immune/policy/learner.h"
#include "immune/policy/lint.h"
#include "immune/policy/replay.h"
#include "immune/policy/snapshot.h"

namespace immune::cli {

namespace {

using nlohmann::json;

struct PolicyArgs {
  std::vector<std::string> files;
  std::string log;
  std::string key;                // sign: private key; test/import: public key for bundles
  std::string output;             // -o
  bool json = false;
  bool all = false;               // test: every entry, not only those not allowed
  bool keylime = false;           // import/export: Keylime runtime policy
  bool from_daemon = false;       // learn: the daemon's learn-mode recordings
  DaemonAddress daemon;
};

bool IsBundle(const std::string& text) {
  return text.find("\"payloadType\"") != std::string::npos && text.find("\"signatures\"") != std::string::npos;
}

// Documents from files: plain YAML/JSON, or DSSE bundles verified with --key.
Result<std::vector<policy::Document>> LoadDocuments(const PolicyArgs& a) {
  std::vector<policy::Document> docs;
  policy::DsseTrustedKeys keys;
  if (!a.key.empty()) IMMUNE_RETURN_IF_ERROR(keys.AddPemFile(a.key));
  for (const auto& f : a.files) {
    IMMUNE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(f));
    std::vector<policy::Document> part;
    if (IsBundle(text)) {
      if (a.key.empty()) return InvalidArgument(f + ": a signed bundle: give the public key with --key");
      IMMUNE_ASSIGN_OR_RETURN(part, policy::OpenPolicyBundle(text, f, keys));
    } else {
      IMMUNE_ASSIGN_OR_RETURN(part, policy::ParseDocuments(text, f));
    }
    for (auto& d : part) docs.push_back(std::move(d));
  }
  return docs;
}

Status WriteOutput(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    WriteOut(text);
    return OkStatus();
  }
  return WriteFileAtomic(path, ByteSpan(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), 0644);
}

int RunLint(const PolicyArgs& a) {
  bool errors = false;
  json out = json::array();
  for (const auto& f : a.files) {
    const auto findings = policy::LintPolicyFile(f);
    errors = errors || policy::HasErrors(findings);
    for (const auto& x : findings) {
      if (a.json) {
        out.push_back({{"file", x.where.file},
                       {"line", x.where.line},
                       {"column", x.where.column},
                       {"severity", x.severity == policy::Severity::kError ? "error" : "warning"},
                       {"message", x.message}});
      } else {
        std::fprintf(stderr, "%s\n", x.ToString().c_str());
      }
    }
  }
  if (a.json) WriteOut(json{{"ok", !errors}, {"findings", out}}.dump(2) + "\n");
  return errors ? kExitMismatch : kExitOk;
}

int RunTest(const PolicyArgs& a) {
  auto docs = LoadDocuments(a);
  if (!docs.ok()) return ReportError(docs.error());
  auto snap = policy::Compile(std::move(docs).value());
  if (!snap.ok()) return ReportError(snap.error());
  auto log = ReadTextFile(a.log);
  if (!log.ok()) return ReportError(log.error());
  auto report = policy::ReplayLog(**snap, *log, a.log);
  if (!report.ok()) return ReportError(report.error());
  if (a.json) {
    json entries = json::array();
    for (const auto& e : report->entries) {
      if (!a.all && e.verdict == policy::Verdict::kAllow) continue;
      entries.push_back({{"index", e.index},
                         {"path", BytesToJson(e.path)},  // a byte array when not UTF-8 (json_bytes.h)
                         {"container", e.container_id},
                         {"verdict", std::string(policy::VerdictName(e.verdict))},
                         {"rule", e.rule},
                         {"recorded", e.recorded}});
    }
    WriteOut(json{{"allowed", report->allowed},
                  {"denied", report->denied},
                  {"audit_denied", report->audit_denied},
                  {"entries", entries}}
                 .dump(2) +
             "\n");
  } else {
    std::string out;
    for (const auto& e : report->entries) {
      if (!a.all && e.verdict == policy::Verdict::kAllow) continue;
      // One line per entry whatever the recorded names hold (EscapeForLog).
      out += std::string(policy::VerdictName(e.verdict)) + "  " +
             (e.container_id.empty() ? std::string("host") : EscapeForLog(e.container_id)) + "  " +
             EscapeForLog(e.path) + "  (" + EscapeForLog(e.rule) + ")\n";
    }
    out += std::to_string(report->entries.size()) + " entries: " + std::to_string(report->allowed) + " allowed, " +
           std::to_string(report->denied) + " denied, " + std::to_string(report->audit_denied) +
           " denied in permissive mode\n";
    WriteOut(out);
  }
  return report->denied + report->audit_denied > 0 ? kExitMismatch : kExitOk;
}

// Entries of a recorded log (the TSB JSON export, a JSON array or JSON
// lines; read as `policy test` reads them) into the learner: (container or
// host, path, digest).
Status LearnFromLog(const std::string& text, const std::string& source, policy::Learner& learner) {
  IMMUNE_ASSIGN_OR_RETURN(std::vector<policy::LoggedEntry> entries, policy::ReadRecordedLog(text, source));
  for (const policy::LoggedEntry& e : entries) {
    const policy::Scope scope = e.container_id.empty() ? policy::Scope{policy::ScopeKind::kHost, ""}
                                                       : policy::Scope{policy::ScopeKind::kContainer, e.container_id};
    learner.Record(scope, e.path, e.alg, e.digest);
  }
  return OkStatus();
}

int RunLearn(const GlobalOptions& g, const PolicyArgs& a) {
  if (a.from_daemon) {
    auto r = CallDaemon(g, a.daemon, "policy.learned", json::object());
    if (!r.ok()) return ReportError(r.error());
    if (a.json) {
      WriteOut(r->dump(2) + "\n");
      return kExitOk;
    }
    std::string out;
    for (const auto& d : (*r)["drafts"]) out += (out.empty() ? "" : "---\n") + d["yaml"].get<std::string>();
    Status s = WriteOutput(a.output, out);
    return s.ok() ? kExitOk : ReportError(s.error());
  }
  if (a.log.empty()) return ReportError(InvalidArgument("policy learn: give --log LOG or --daemon"));
  auto text = ReadTextFile(a.log);
  if (!text.ok()) return ReportError(text.error());
  policy::Learner learner;
  if (Status s = LearnFromLog(*text, a.log, learner); !s.ok()) return ReportError(s.error());
  std::string out;
  for (const auto& d : learner.Drafts()) out += (out.empty() ? "" : "---\n") + d.yaml;
  Status s = WriteOutput(a.output, out);
  if (!s.ok()) return ReportError(s.error());
  if (!a.output.empty() && a.output != "-")
    std::fprintf(stderr, "immunectl: %zu (scope, path, digest) entries learned into %s\n", learner.size(),
                 a.output.c_str());
  return kExitOk;
}

int RunSign(const PolicyArgs& a) {
  if (a.files.size() != 1) return ReportError(InvalidArgument("policy sign: exactly one FILE"));
  auto text = ReadTextFile(a.files[0]);
  if (!text.ok()) return ReportError(text.error());
  auto signer = policy::DsseSigner::FromPemFile(a.key);
  if (!signer.ok()) return ReportError(signer.error());
  auto bundle = policy::SignPolicyBundle(*text, a.files[0], *signer);
  if (!bundle.ok()) return ReportError(bundle.error());
  Status s = WriteOutput(a.output.empty() ? a.files[0] + ".dsse.json" : a.output, *bundle + "\n");
  return s.ok() ? kExitOk : ReportError(s.error());
}

int RunApply(const GlobalOptions& g, const PolicyArgs& a) {
  if (a.files.size() != 1) return ReportError(InvalidArgument("policy apply: exactly one FILE"));
  auto text = ReadTextFile(a.files[0]);
  if (!text.ok()) return ReportError(text.error());
  auto r = CallDaemon(g, a.daemon, "policy.apply", {{"text", *text}, {"source", a.files[0]}});
  if (!r.ok()) return ReportError(r.error());
  if (a.json) {
    WriteOut(r->dump(2) + "\n");
  } else {
    WriteOut("policy generation " + (*r)["generation"].dump() + " in force\n");
  }
  return kExitOk;
}

int RunReload(const GlobalOptions& g, const PolicyArgs& a) {
  auto r = CallDaemon(g, a.daemon, "policy.reload", json::object());
  if (!r.ok()) return ReportError(r.error());
  WriteOut(a.json ? r->dump(2) + "\n" : "policy generation " + (*r)["generation"].dump() + " in force\n");
  return kExitOk;
}

int RunStatus(const GlobalOptions& g, const PolicyArgs& a) {
  auto r = CallDaemon(g, a.daemon, "policy.status", json::object());
  if (!r.ok()) return ReportError(r.error());
  if (a.json) {
    WriteOut(r->dump(2, ' ', false, json::error_handler_t::replace) + "\n");
    return kExitOk;
  }
  const json& st = *r;
  std::string out;
  if (!st.value("loaded", false)) {
    out += "no operator policy loaded: the daemon's built-in deny_paths decide\n";
  } else {
    out += "policy generation " + st.value("generation", json(0)).dump() + " from " +
           EscapeForLog(st.value("origin", std::string("?"))) + "\n";
  }
  out += std::string("signed bundles ") +
         (st.value("signed_bundles_required", false) ? "required" : "not required") + "; " +
         st.value("learned", json(0)).dump() + " learned in learn mode\n";
  for (const auto& d : st.value("documents", json::array())) {
    const auto text = [&](const char* key) {
      return d.contains(key) && d[key].is_string() ? EscapeForLog(d[key].get<std::string>())
                                                   : std::string("?");
    };
    out += "  " + text("scope") + "  " + text("mode") + ", " +
           (d.contains("allow") ? d["allow"].dump() : "?") + " allow, " +
           (d.contains("deny") ? d["deny"].dump() : "?") + " deny  (" + text("source") + ")\n";
  }
  WriteOut(out);
  return kExitOk;
}

int RunImport(const PolicyArgs& a) {
  if (!a.keylime) return ReportError(InvalidArgument("policy import: say the format (--keylime)"));
  if (a.files.size() != 1) return ReportError(InvalidArgument("policy import: exactly one FILE"));
  auto text = ReadTextFile(a.files[0]);
  if (!text.ok()) return ReportError(text.error());
  std::vector<policy::Document> docs;
  if (IsBundle(*text)) {
    // Keylime's signed runtime policies are DSSE envelopes.
    if (a.key.empty()) return ReportError(InvalidArgument(a.files[0] + ": signed: give Keylime's public key with --key"));
    policy::DsseTrustedKeys keys;
    if (Status s = keys.AddPemFile(a.key); !s.ok()) return ReportError(s.error());
    auto opened = policy::OpenPolicyBundle(*text, a.files[0], keys);
    if (!opened.ok()) return ReportError(opened.error());
    docs = std::move(opened).value();
  } else {
    auto doc = policy::ImportKeylimeRuntimePolicy(*text, a.files[0]);
    if (!doc.ok()) return ReportError(doc.error());
    docs.push_back(std::move(doc).value());
  }
  Status s = WriteOutput(a.output, policy::DocumentsToYaml(docs));
  return s.ok() ? kExitOk : ReportError(s.error());
}

int RunExport(const PolicyArgs& a) {
  if (!a.keylime) return ReportError(InvalidArgument("policy export: say the format (--keylime)"));
  auto docs = LoadDocuments(a);
  if (!docs.ok()) return ReportError(docs.error());
  auto out = policy::ExportKeylimeRuntimePolicy(*docs);
  if (!out.ok()) return ReportError(out.error());
  for (const auto& d : out->dropped) std::fprintf(stderr, "immunectl: not expressible in Keylime: %s\n", d.c_str());
  Status s = WriteOutput(a.output, out->json + "\n");
  return s.ok() ? kExitOk : ReportError(s.error());
}

void AddDaemonOptions(CLI::App* cmd, PolicyArgs* a) {
  cmd->add_option("--socket", a->daemon.socket, "immuned's control endpoint or socket (default: STATE_DIR/control.sock)");
  cmd->add_option("--state-dir", a->daemon.state_dir, "immuned's state directory")->capture_default_str();
  cmd->add_option("--timeout", a->daemon.timeout_ms, "Milliseconds to wait for the daemon")->capture_default_str();
}

}  // namespace

void AddPolicyCommands(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* pol = app.add_subcommand("policy",
                                     "Operator policy: lint, test on a recorded log, learn, sign, apply, "
                                     "status, reload, Keylime import/export");
  pol->require_subcommand(1);
  auto a = std::make_shared<PolicyArgs>();
  const GlobalOptions* g = &global;

  CLI::App* lint = pol->add_subcommand("lint", "Check policy files; errors as FILE:LINE:COLUMN: message (exit 1)");
  lint->add_option("FILE", a->files, "Policy files (YAML or JSON)")->required()->check(CLI::ExistingFile);
  lint->add_flag("--json", a->json, "Findings as JSON");
  lint->callback([a, exit_code] { *exit_code = RunLint(*a); });

  CLI::App* test = pol->add_subcommand("test", "What the policy would decide for each entry of a recorded log");
  test->add_option("FILE", a->files, "Policy files or signed bundles")->required()->check(CLI::ExistingFile);
  test->add_option("--log", a->log, "The log: `immunectl tsb log --json` output, a JSON array or JSON lines")
      ->required()
      ->check(CLI::ExistingFile);
  test->add_option("--key", a->key, "Public key (PEM) that signed bundles verify with");
  test->add_flag("--all", a->all, "List allowed entries too");
  test->add_flag("--json", a->json, "As JSON");
  test->callback([a, exit_code] { *exit_code = RunTest(*a); });

  CLI::App* learn = pol->add_subcommand("learn", "A draft policy that allows exactly what a log or the daemon saw");
  learn->add_option("--log", a->log, "Learn from this recorded log")->check(CLI::ExistingFile);
  learn->add_flag("--daemon", a->from_daemon, "Take the running immuned's learn-mode recordings");
  learn->add_option("-o,--output", a->output, "Write the draft here (default: stdout)");
  learn->add_flag("--json", a->json, "With --daemon: the daemon's answer as JSON");
  AddDaemonOptions(learn, a.get());
  learn->callback([a, g, exit_code] { *exit_code = RunLearn(*g, *a); });

  CLI::App* sign = pol->add_subcommand("sign", "Sign a policy into a DSSE bundle (FILE.dsse.json)");
  sign->add_option("FILE", a->files, "The policy file")->required()->check(CLI::ExistingFile);
  sign->add_option("--key", a->key, "Private key (PEM: Ed25519, ECDSA or RSA)")->required()->check(CLI::ExistingFile);
  sign->add_option("-o,--output", a->output, "Where the bundle goes (default: FILE.dsse.json)");
  sign->callback([a, exit_code] { *exit_code = RunSign(*a); });

  CLI::App* apply = pol->add_subcommand("apply", "Load a policy or signed bundle into the running immuned");
  apply->add_option("FILE", a->files, "The policy file or bundle")->required()->check(CLI::ExistingFile);
  apply->add_flag("--json", a->json, "As JSON");
  AddDaemonOptions(apply, a.get());
  apply->callback([a, g, exit_code] { *exit_code = RunApply(*g, *a); });

  CLI::App* status =
      pol->add_subcommand("status", "The policy in force in the running immuned: generation, documents");
  status->add_flag("--json", a->json, "As JSON");
  AddDaemonOptions(status, a.get());
  status->callback([a, g, exit_code] { *exit_code = RunStatus(*g, *a); });

  CLI::App* reload = pol->add_subcommand("reload", "Make the running immuned load its policy.paths again");
  reload->add_flag("--json", a->json, "As JSON");
  AddDaemonOptions(reload, a.get());
  reload->callback([a, g, exit_code] { *exit_code = RunReload(*g, *a); });

  CLI::App* import = pol->add_subcommand("import", "Convert another tool's policy to Immune's YAML");
  import->add_option("FILE", a->files, "The policy to import")->required()->check(CLI::ExistingFile);
  import->add_flag("--keylime", a->keylime, "A Keylime runtime policy (plain or DSSE-signed)");
  import->add_option("--key", a->key, "Public key of a signed Keylime policy");
  import->add_option("-o,--output", a->output, "Write here (default: stdout)");
  import->callback([a, exit_code] { *exit_code = RunImport(*a); });

  CLI::App* exp = pol->add_subcommand("export", "Convert Immune policy files to another tool's format");
  exp->add_option("FILE", a->files, "Policy files")->required()->check(CLI::ExistingFile);
  exp->add_flag("--keylime", a->keylime, "As a Keylime runtime policy (JSON)");
  exp->add_option("--key", a->key, "Public key that signed bundles verify with");
  exp->add_option("-o,--output", a->output, "Write here (default: stdout)");
  exp->callback([a, exit_code] { *exit_code = RunExport(*a); });
}

}  // namespace immune::cli
