#include "immune/policy/emit.h"

#include <yaml-cpp/yaml.h>

namespace immune::policy {

namespace {

void EmitScope(YAML::Emitter& e, const Scope& s) {
  switch (s.kind) {
    case ScopeKind::kHost:
      e << "host";
      return;
    case ScopeKind::kAllContainers:
      e << YAML::Flow << YAML::BeginMap << YAML::Key << "containers" << YAML::Value << "all" << YAML::EndMap;
      return;
    case ScopeKind::kImage:
      e << YAML::Flow << YAML::BeginMap << YAML::Key << "image" << YAML::Value << s.value << YAML::EndMap;
      return;
    case ScopeKind::kContainer:
      e << YAML::Flow << YAML::BeginMap << YAML::Key << "container" << YAML::Value << s.value << YAML::EndMap;
      return;
  }
}

void EmitStrings(YAML::Emitter& e, const std::vector<std::string>& list) {
  e << YAML::Flow << YAML::BeginSeq;
  for (const auto& s : list) e << s;
  e << YAML::EndSeq;
}

void EmitRule(YAML::Emitter& e, const Rule& r) {
  switch (r.kind) {
    case RuleKind::kDigest:
      e << (r.digests.empty() ? std::string() : r.digests[0].ToString());
      return;
    case RuleKind::kPathDigest:
      e << YAML::BeginMap << YAML::Key << "path" << YAML::Value << r.path;
      if (r.digests.size() == 1) {
        e << YAML::Key << "digest" << YAML::Value << r.digests[0].ToString();
      } else {
        e << YAML::Key << "digests" << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (const auto& d : r.digests) e << d.ToString();
        e << YAML::EndSeq;
      }
      e << YAML::EndMap;
      return;
    case RuleKind::kPathGlob:
      e << YAML::BeginMap << YAML::Key << "path" << YAML::Value << r.path << YAML::Key << "unsafe-path-only"
        << YAML::Value << true << YAML::EndMap;
      return;
    case RuleKind::kPathRegex:
      e << YAML::BeginMap << YAML::Key << "path-regex" << YAML::Value << r.path << YAML::EndMap;
      return;
    case RuleKind::kSignedLists:
      e << YAML::BeginMap << YAML::Key << "signed-lists" << YAML::Value;
      EmitStrings(e, r.files);
      if (!r.keys.empty()) {
        e << YAML::Key << "keys" << YAML::Value;
        EmitStrings(e, r.keys);
      }
      e << YAML::EndMap;
      return;
    case RuleKind::kBaselineOf:
      e << YAML::BeginMap << YAML::Key << "baseline-of" << YAML::Value << r.path << YAML::EndMap;
      return;
    case RuleKind::kImaSignatures:
      e << YAML::BeginMap << YAML::Key << "ima-signatures" << YAML::Value << YAML::BeginMap << YAML::Key << "keys"
        << YAML::Value;
      EmitStrings(e, r.keys);
      e << YAML::EndMap << YAML::EndMap;
      return;
  }
}

void EmitRules(YAML::Emitter& e, const char* key, const std::vector<Rule>& rules) {
  if (rules.empty()) return;
  e << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const auto& r : rules) EmitRule(e, r);
  e << YAML::EndSeq;
}

}  // namespace

std::string DocumentsToYaml(std::span<const Document> docs) {
  std::string out;
  for (const auto& d : docs) {
    YAML::Emitter e;
    e << YAML::BeginMap;
    e << YAML::Key << "apiVersion" << YAML::Value << std::string(kApiVersion);
    e << YAML::Key << "kind" << YAML::Value << std::string(kKind);
    e << YAML::Key << "scope" << YAML::Value;
    EmitScope(e, d.scope);
    if (d.mode) e << YAML::Key << "mode" << YAML::Value << std::string(ModeName(*d.mode));
    EmitRules(e, "allow", d.allow);
    EmitRules(e, "deny", d.deny);
    if (d.interpreters) {
      e << YAML::Key << "interpreters" << YAML::Value;
      EmitStrings(e, *d.interpreters);
    }
    if (!d.critical_files.empty()) {
      e << YAML::Key << "critical-files" << YAML::Value;
      EmitStrings(e, d.critical_files);
    }
    if (d.actions) {
      e << YAML::Key << "actions" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (Action a : {Action::kDeny, Action::kKill, Action::kFreeze, Action::kStop, Action::kAlarm}) {
        if (!Has(*d.actions, a)) continue;
        e << (a == Action::kDeny     ? "deny"
              : a == Action::kKill   ? "kill"
              : a == Action::kFreeze ? "freeze"
              : a == Action::kStop   ? "stop"
                                     : "alarm");
      }
      e << YAML::EndSeq;
    }
    e << YAML::EndMap;
    if (!out.empty()) out += "---\n";
    out += e.c_str();
    out += "\n";
  }
  return out;
}

}  // namespace immune::policy
