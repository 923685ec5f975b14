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
