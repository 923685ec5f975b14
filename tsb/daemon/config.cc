#include "immune/tsbd/config.h"

#include <yaml-cpp/yaml.h>

#include <string>

#include "immune/core/file.h"

namespace immune::tsbd {

namespace {

std::string Where(std::string_view source, const YAML::Node& n) {
  return std::string(source) + ":" + std::to_string(n.Mark().line + 1);
}

Error Bad(std::string_view source, const YAML::Node& n, const std::string& key, const std::string& what) {
  return InvalidArgument(Where(source, n) + ": " + key + ": " + what);
}

Result<std::string> Str(std::string_view src, const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) return Bad(src, n, key, "expected a string");
  return n.as<std::string>();
}

Result<std::uint64_t> Uint(std::string_view src, const YAML::Node& n, const std::string& key,
                           std::uint64_t max) {
  if (!n.IsScalar()) return Bad(src, n, key, "expected a number");
  const std::string s = n.Scalar();
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(s, &used, 0);
  } catch (const std::exception&) {
    return Bad(src, n, key, "not a number: " + s);
  }
  if (used != s.size() || v > max) return Bad(src, n, key, "out of range: " + s);
  return static_cast<std::uint64_t>(v);
}

Result<std::int64_t> Int(std::string_view src, const YAML::Node& n, const std::string& key, std::int64_t min,
                         std::int64_t max) {
  if (!n.IsScalar()) return Bad(src, n, key, "expected a number");
  const std::string s = n.Scalar();
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used, 10);
  } catch (const std::exception&) {
    return Bad(src, n, key, "not a number: " + s);
  }
  if (used != s.size() || v < min || v > max)
    return Bad(src, n, key, "out of range: " + s + " (" + std::to_string(min) + " to " + std::to_string(max) + ")");
  return static_cast<std::int64_t>(v);
}

Result<bool> Bool(std::string_view src, const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) return Bad(src, n, key, "expected true or false");
  const std::string& s = n.Scalar();
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  return Bad(src, n, key, "expected true or false, got '" + s + "'");
}

Result<std::vector<std::string>> StrList(std::string_view src, const YAML::Node& n, const std::string& key) {
  std::vector<std::string> out;
  if (n.IsScalar()) {
    out.push_back(n.Scalar());
    return out;
  }
  if (!n.IsSequence()) return Bad(src, n, key, "expected a string or a list of strings");
  for (const auto& e : n) {
    IMMUNE_ASSIGN_OR_RETURN(auto s, Str(src, e, key));
    out.push_back(std::move(s));
  }
  return out;
}

Status ParsePolicy(std::string_view src, const YAML::Node& v, PolicySection& p) {
  if (!v.IsMap()) return Bad(src, v, "policy", "expected a mapping");
  for (const auto& kv : v) {
    const std::string key = "policy." + kv.first.Scalar();
    if (key == "policy.paths") {
      IMMUNE_ASSIGN_OR_RETURN(p.paths, StrList(src, kv.second, key));
    } else if (key == "policy.bundle_keys") {
      IMMUNE_ASSIGN_OR_RETURN(p.bundle_keys, StrList(src, kv.second, key));
    } else if (key == "policy.learn_dir") {
      IMMUNE_ASSIGN_OR_RETURN(p.learn_dir, Str(src, kv.second, key));
    } else if (key == "policy.ledger") {
      IMMUNE_ASSIGN_OR_RETURN(p.ledger, Str(src, kv.second, key));
    } else if (key == "policy.ledger_trust") {
      IMMUNE_ASSIGN_OR_RETURN(p.ledger_trust, Str(src, kv.second, key));
    } else if (key == "policy.ledger_host_image") {
      IMMUNE_ASSIGN_OR_RETURN(p.ledger_host_image, Str(src, kv.second, key));
    } else {
      return Bad(src, kv.first, key, "unknown setting");
    }
  }
  if (!p.ledger.empty() && p.ledger_trust.empty())
    return Bad(src, v, "policy.ledger_trust", "is required with policy.ledger (the operator's trust configuration)");
  return OkStatus();
}

Status ParseGate(std::string_view src, const YAML::Node& v, GateSection& g) {
  if (!v.IsMap()) return Bad(src, v, "gate", "expected a mapping");
  for (const auto& kv : v) {
    const std::string key = "gate." + kv.first.Scalar();
    const YAML::Node& n = kv.second;
    if (key == "gate.enabled") {
      IMMUNE_ASSIGN_OR_RETURN(g.enabled, Bool(src, n, key));
    } else if (key == "gate.mounts") {
      if (!n.IsSequence()) return Bad(src, n, key, "expected a list");
      for (const auto& m : n) {
        GateMount gm;
        if (m.IsScalar()) {
          gm.path = m.Scalar();
        } else if (m.IsMap() && m["path"]) {
          for (const auto& mk : m) {
            const std::string k2 = key + "." + mk.first.Scalar();
            if (k2 == "gate.mounts.path") {
              IMMUNE_ASSIGN_OR_RETURN(gm.path, Str(src, mk.second, k2));
            } else if (k2 == "gate.mounts.mark") {
              IMMUNE_ASSIGN_OR_RETURN(auto mark, Str(src, mk.second, k2));
              if (mark != "mount" && mark != "filesystem")
                return Bad(src, mk.second, k2, "expected mount or filesystem, got '" + mark + "'");
              gm.filesystem = mark == "filesystem";
            } else {
              return Bad(src, mk.first, k2, "unknown setting");
            }
          }
        } else {
          return Bad(src, m, key, "each entry is a path or {path, mark}");
        }
        if (gm.path.empty() || gm.path[0] != '/') return Bad(src, m, key, "needs an absolute path");
        g.mounts.push_back(std::move(gm));
      }
    } else if (key == "gate.code_opens") {
      IMMUNE_ASSIGN_OR_RETURN(g.code_opens, Bool(src, n, key));
    } else if (key == "gate.report_pidfd") {
      IMMUNE_ASSIGN_OR_RETURN(g.report_pidfd, Bool(src, n, key));
    } else if (key == "gate.reader_nice") {
      IMMUNE_ASSIGN_OR_RETURN(auto nice, Int(src, n, key, -20, 19));
      g.reader_nice = static_cast<int>(nice);
    } else if (key == "gate.workers") {
      IMMUNE_ASSIGN_OR_RETURN(auto w, Uint(src, n, key, 64));
      if (w == 0) return Bad(src, n, key, "must be positive");
      g.workers = w;
    } else if (key == "gate.queue_capacity") {
      IMMUNE_ASSIGN_OR_RETURN(auto q, Uint(src, n, key, 1u << 20));
      if (q == 0) return Bad(src, n, key, "must be positive");
      g.queue_capacity = q;
    } else if (key == "gate.on_overload") {
      IMMUNE_ASSIGN_OR_RETURN(auto o, Str(src, n, key));
      if (o != "deny" && o != "allow") return Bad(src, n, key, "expected deny or allow, got '" + o + "'");
      g.overload_allow = o == "allow";
    } else if (key == "gate.on_failure") {
      IMMUNE_ASSIGN_OR_RETURN(auto o, Str(src, n, key));
      if (o != "fail-closed" && o != "fail-open")
        return Bad(src, n, key, "expected fail-closed or fail-open, got '" + o + "'");
      g.fail_open = o == "fail-open";
    } else if (key == "gate.memfd_noexec") {
      IMMUNE_ASSIGN_OR_RETURN(auto m, Str(src, n, key));
      if (m == "leave") {
        g.memfd_noexec = -1;
      } else {
        IMMUNE_ASSIGN_OR_RETURN(auto lv, Uint(src, n, key, 2));
        g.memfd_noexec = static_cast<int>(lv);
      }
    } else if (key == "gate.runtime_roots") {
      IMMUNE_ASSIGN_OR_RETURN(g.runtime_roots, StrList(src, n, key));
    } else {
      return Bad(src, kv.first, key, "unknown setting");
    }
  }
  return OkStatus();
}

Status ParseIntegrity(std::string_view src, const YAML::Node& v, IntegritySection& in) {
  if (!v.IsMap()) return Bad(src, v, "integrity", "expected a mapping");
  for (const auto& kv : v) {
    const std::string key = "integrity." + kv.first.Scalar();
    const YAML::Node& n = kv.second;
    if (key == "integrity.pims_interval_ms") {
      IMMUNE_ASSIGN_OR_RETURN(auto ms, Uint(src, n, key, 86400000));
      in.pims_interval_ms = static_cast<std::uint32_t>(ms);
    } else if (key == "integrity.pims_host") {
      IMMUNE_ASSIGN_OR_RETURN(in.pims_host, Bool(src, n, key));
    } else if (key == "integrity.watch_critical_files") {
      IMMUNE_ASSIGN_OR_RETURN(in.watch_critical_files, Bool(src, n, key));
    } else if (key == "integrity.critical_files") {
      IMMUNE_ASSIGN_OR_RETURN(in.critical_files, StrList(src, n, key));
      for (const auto& f : in.critical_files)
        if (f.empty() || f[0] != '/') return Bad(src, n, key, "needs absolute paths");
    } else if (key == "integrity.poll_interval_ms") {
      IMMUNE_ASSIGN_OR_RETURN(auto ms, Uint(src, n, key, 86400000));
      if (ms == 0) return Bad(src, n, key, "must be positive");
      in.poll_interval_ms = static_cast<std::uint32_t>(ms);
    } else {
      return Bad(src, kv.first, key, "unknown setting");
    }
  }
  return OkStatus();
}

Result<DaemonConfig> ParseNode(const YAML::Node& root, std::string_view src) {
  DaemonConfig c;
  if (root.IsNull()) return c;
  if (!root.IsMap()) return Bad(src, root, "(top level)", "expected a mapping");
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (key == "state_dir") {
      IMMUNE_ASSIGN_OR_RETURN(c.state_dir, Str(src, v, key));
    } else if (key == "tcti") {
      IMMUNE_ASSIGN_OR_RETURN(c.tcti, Str(src, v, key));
    } else if (key == "pcr") {
      IMMUNE_ASSIGN_OR_RETURN(auto p, Uint(src, v, key, 23));
      c.pcr = static_cast<std::uint32_t>(p);
    } else if (key == "banks") {
      if (!v.IsSequence() || v.size() == 0) return Bad(src, v, key, "expected a non-empty list");
      c.banks.clear();
      for (const auto& b : v) {
        auto alg = HashAlgFromName(b.Scalar());
        if (!alg) return Bad(src, b, key, "unknown hash algorithm '" + b.Scalar() + "'");
        c.banks.push_back(*alg);
      }
    } else if (key == "agent_endpoint") {
      IMMUNE_ASSIGN_OR_RETURN(c.agent_endpoint, Str(src, v, key));
    } else if (key == "control_endpoint") {
      IMMUNE_ASSIGN_OR_RETURN(c.control_endpoint, Str(src, v, key));
    } else if (key == "events_endpoint") {
      IMMUNE_ASSIGN_OR_RETURN(c.events_endpoint, Str(src, v, key));
    } else if (key == "curve_server_secret_key") {
      IMMUNE_ASSIGN_OR_RETURN(c.curve_server_secret_key, Str(src, v, key));
    } else if (key == "curve_agent_clients" || key == "curve_control_clients") {
      auto& list = key == "curve_agent_clients" ? c.curve_agent_clients : c.curve_control_clients;
      list.clear();
      if (v.IsScalar()) {
        list.push_back(v.Scalar());
      } else if (v.IsSequence()) {
        for (const auto& p : v) {
          IMMUNE_ASSIGN_OR_RETURN(auto s, Str(src, p, key));
          list.push_back(std::move(s));
        }
      } else {
        return Bad(src, v, key, "expected a path or a list of paths");
      }
    } else if (key == "agent_socket_mode") {
      IMMUNE_ASSIGN_OR_RETURN(auto m, Uint(src, v, key, 0777));
      if (m & 0007) return Bad(src, v, key, "must not grant access to others");
      c.agent_socket_mode = static_cast<unsigned>(m);
    } else if (key == "events_socket_mode") {
      IMMUNE_ASSIGN_OR_RETURN(auto m, Uint(src, v, key, 0777));
      if (m & 0007) return Bad(src, v, key, "must not grant access to others");
      c.events_socket_mode = static_cast<unsigned>(m);
    } else if (key == "queue_capacity") {
      IMMUNE_ASSIGN_OR_RETURN(auto q, Uint(src, v, key, 1u << 24));
      if (q == 0) return Bad(src, v, key, "must be positive");
      c.queue_capacity = q;
    } else if (key == "max_batch") {
      IMMUNE_ASSIGN_OR_RETURN(auto q, Uint(src, v, key, 1u << 20));
      if (q == 0) return Bad(src, v, key, "must be positive");
      c.max_batch = q;
    } else if (key == "deny_paths") {
      if (!v.IsSequence()) return Bad(src, v, key, "expected a list");
      for (const auto& p : v) {
        IMMUNE_ASSIGN_OR_RETURN(auto s, Str(src, p, key));
        c.deny_paths.push_back(std::move(s));
      }
    } else if (key == "policy") {
      IMMUNE_RETURN_IF_ERROR(ParsePolicy(src, v, c.policy));
    } else if (key == "gate") {
      IMMUNE_RETURN_IF_ERROR(ParseGate(src, v, c.gate));
    } else if (key == "integrity") {
      IMMUNE_RETURN_IF_ERROR(ParseIntegrity(src, v, c.integrity));
    } else if (key == "agents") {
      if (!v.IsSequence()) return Bad(src, v, key, "expected a list");
      for (const auto& a : v) {
        if (!a.IsMap() || !a["path"]) return Bad(src, a, key, "each agent needs a 'path'");
        AgentPluginConfig pc;
        IMMUNE_ASSIGN_OR_RETURN(pc.path, Str(src, a["path"], "agents.path"));
        if (a["options"]) {
          if (!a["options"].IsMap()) return Bad(src, a["options"], "agents.options", "expected a mapping");
          for (const auto& o : a["options"]) pc.options[o.first.Scalar()] = o.second.Scalar();
        }
        c.agents.push_back(std::move(pc));
      }
    } else if (key == "log_level") {
      IMMUNE_ASSIGN_OR_RETURN(c.log_level, Str(src, v, key));
      if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warning" &&
          c.log_level != "error")
        return Bad(src, v, key, "expected debug, info, warning or error");
    } else {
      return Bad(src, kv.first, key, "unknown setting");
    }
  }
  if (c.state_dir.empty()) return InvalidArgument(std::string(src) + ": state_dir: must not be empty");
  if (c.max_batch > c.queue_capacity) c.max_batch = c.queue_capacity;
  return c;
}

std::string Default(const DaemonConfig& c, const std::string& set, const char* name) {
  return set.empty() ? "ipc://" + c.state_dir + "/" + name + ".sock" : set;
}

}  // namespace

Result<DaemonConfig> ParseConfig(std::string_view yaml_text, std::string_view source) {
  try {
    return ParseNode(YAML::Load(std::string(yaml_text)), source);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string(source) + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

Result<DaemonConfig> LoadConfig(const std::string& path) {
  IMMUNE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  return ParseConfig(text, path);
}

std::string AgentEndpoint(const DaemonConfig& c) { return Default(c, c.agent_endpoint, "agent"); }
std::string ControlEndpoint(const DaemonConfig& c) { return Default(c, c.control_endpoint, "control"); }
std::string EventsEndpoint(const DaemonConfig& c) { return Default(c, c.events_endpoint, "events"); }

std::string CurveSecretKeyPath(const DaemonConfig& c) {
  return c.curve_server_secret_key.empty() ? c.state_dir + "/curve_server.secret" : c.curve_server_secret_key;
}

std::string CurvePublicKeyPath(const DaemonConfig& c) {
  std::string p = CurveSecretKeyPath(c);
  if (p.ends_with(".secret")) p.resize(p.size() - 7);
  return p + ".pub";
}

}  // namespace immune::tsbd
