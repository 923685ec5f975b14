#include "immune/tsbd/agent_message.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "immune/core/digest.h"
#include "immune/core/hex.h"
#include "immune/core/json_bytes.h"

namespace immune::tsbd {

namespace {

using nlohmann::json;

MessageError Fail(std::string id, std::string field, std::string message) {
  return MessageError{std::move(id), ErrorCode::kInvalidArgument, std::move(field), std::move(message)};
}

std::string IdText(const json& j) {
  auto it = j.find("id");
  if (it == j.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return it->dump();
  return "";
}

// Reads an optional string member; a present member of another type fails.
std::optional<MessageError> OptString(const json& m, const char* key, const std::string& where,
                                      std::string* out) {
  auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  if (!it->is_string()) return Fail("", where + "." + key, "must be a string");
  *out = it->get<std::string>();
  if (out->find('\0') != std::string::npos) return Fail("", where + "." + key, "must not contain NUL");
  return std::nullopt;
}

std::optional<MessageError> DecodeMeasurement(const json& m, const std::string& where,
                                              tsb::MeasurementEntry* e) {
  if (!m.is_object()) return Fail("", where, "must be an object");
  auto path = m.find("path");
  if (path == m.end()) return Fail("", where + ".path", "is required");
  // A string, or an array of byte values for a name that is not UTF-8 (json_bytes.h).
  std::optional<std::string> path_bytes = BytesFromJson(*path);
  if (!path_bytes) return Fail("", where + ".path", "must be a string or an array of byte values");
  e->path = std::move(*path_bytes);
  if (e->path.find('\0') != std::string::npos) return Fail("", where + ".path", "must not contain NUL");
  if (e->path.empty()) return Fail("", where + ".path", "must not be empty");

  std::string alg_name = "sha256";
  if (auto err = OptString(m, "file_hash_alg", where, &alg_name)) return err;
  auto alg = HashAlgFromName(alg_name);
  if (!alg) return Fail("", where + ".file_hash_alg", "unknown hash algorithm '" + alg_name + "'");
  e->file_hash_alg = *alg;

  if (m.find("file_digest") == m.end()) return Fail("", where + ".file_digest", "is required");
  std::string hex;
  if (auto err = OptString(m, "file_digest", where, &hex)) return err;
  auto digest = FromHex(hex);
  if (!digest.ok()) return Fail("", where + ".file_digest", "not hex: " + digest.error().message());
  if (digest->size() != DigestSize(*alg)) {
    return Fail("", where + ".file_digest",
                "has " + std::to_string(digest->size()) + " bytes, " + alg_name + " needs " +
                    std::to_string(DigestSize(*alg)));
  }
  e->file_digest = std::move(digest).value();

  if (auto err = OptString(m, "container_id", where, &e->container_id)) return err;
  if (auto err = OptString(m, "image", where, &e->image)) return err;
  if (auto err = OptString(m, "exe", where, &e->exe)) return err;
  if (auto it = m.find("pid"); it != m.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max())
      return Fail("", where + ".pid", "must be an unsigned 32-bit number");
    e->pid = static_cast<std::uint32_t>(it->get<std::uint64_t>());
  }
  std::string tmpl = e->container_id.empty() ? "ima-ng" : "immune-ct";
  if (auto err = OptString(m, "template", where, &tmpl)) return err;
  auto kind = tsb::TemplateFromName(tmpl);
  if (!kind) return Fail("", where + ".template", "unknown template '" + tmpl + "'");
  e->template_kind = *kind;
  if (m.find("signature") != m.end()) {
    if (auto err = OptString(m, "signature", where, &hex)) return err;
    auto sig = FromHex(hex);
    if (!sig.ok()) return Fail("", where + ".signature", "not hex: " + sig.error().message());
    e->signature = std::move(sig).value();
  }
  // What the log itself would refuse, reported here with the member's path.
  Status valid = tsb::ValidateEntry(*e);
  if (!valid.ok()) return Fail("", where, valid.error().message());
  return std::nullopt;
}

DecodedRequest Decode(const json& j) {
  if (!j.is_object()) return Fail("", "", "message must be a JSON object");
  const std::string id = IdText(j);
  auto with_id = [&id](MessageError e) {
    e.id = id;
    return e;
  };
  if (auto it = j.find("id"); it != j.end() && !it->is_string() && !it->is_number_integer())
    return Fail("", "id", "must be a string or an integer");
  auto v = j.find("v");
  if (v == j.end()) return Fail(id, "v", "is required");
  if (!v->is_number_integer()) return Fail(id, "v", "must be an integer");
  if (v->get<std::int64_t>() != kAgentProtocolVersion) {
    MessageError e = Fail(id, "v", "unsupported protocol version " + v->dump() + " (this daemon speaks 1)");
    e.code = ErrorCode::kUnsupported;
    return e;
  }
  auto type = j.find("type");
  if (type == j.end()) return Fail(id, "type", "is required");
  if (!type->is_string()) return Fail(id, "type", "must be a string");
  const std::string t = type->get<std::string>();
  AgentRequest req;
  req.id = id;
  if (t == "hello") {
    req.type = AgentMessageType::kHello;
    auto a = j.find("agent");
    if (a == j.end()) return Fail(id, "agent", "is required");
    if (!a->is_string()) return Fail(id, "agent", "must be a string");
    req.agent = a->get<std::string>();
    if (req.agent.empty() || req.agent.size() > 128) return Fail(id, "agent", "must be 1..128 characters");
    return req;
  }
  if (t == "bye") {
    req.type = AgentMessageType::kBye;
    return req;
  }
  if (t != "measure") return Fail(id, "type", "unknown message type '" + t + "'");
  req.type = AgentMessageType::kMeasure;
  auto ms = j.find("measurements");
  if (ms == j.end()) return Fail(id, "measurements", "is required");
  if (!ms->is_array()) return Fail(id, "measurements", "must be an array");
  if (ms->empty()) return Fail(id, "measurements", "must not be empty");
  if (ms->size() > kMaxMeasurementsPerMessage)
    return Fail(id, "measurements", "has more than " + std::to_string(kMaxMeasurementsPerMessage) + " items");
  req.measurements.resize(ms->size());
  for (std::size_t i = 0; i < ms->size(); ++i) {
    const std::string where = "measurements[" + std::to_string(i) + "]";
    if (auto err = DecodeMeasurement((*ms)[i], where, &req.measurements[i])) return with_id(std::move(*err));
  }
  return req;
}

json Header(std::string_view type, std::string_view id) {
  json j;
  j["v"] = kAgentProtocolVersion;
  j["type"] = type;
  j["id"] = id;
  return j;
}

}  // namespace

DecodedRequest DecodeAgentRequest(std::string_view bytes) {
  if (bytes.size() > kMaxAgentMessageBytes) return Fail("", "", "message larger than 16 MiB");
  json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail("", "", "not valid JSON");
  return Decode(j);
}

std::string EncodeWelcome(std::string_view id, std::string_view agent) {
  json j = Header("welcome", id);
  j["agent"] = agent;
  return j.dump();
}

std::string EncodeDecisions(std::string_view id, const std::vector<Verdict>& verdicts) {
  json j = Header("decisions", id);
  json list = json::array();
  for (const Verdict& v : verdicts)
    list.push_back({{"seq", v.seq}, {"decision", tsb::DecisionName(v.decision)}, {"rule", v.rule}});
  j["decisions"] = std::move(list);
  return j.dump();
}

std::string EncodeBye(std::string_view id) { return Header("bye", id).dump(); }

std::string EncodeError(const MessageError& e) {
  json j = Header("error", e.id);
  if (e.id.empty()) j["id"] = nullptr;
  j["code"] = ErrorCodeName(e.code);
  j["field"] = e.field;
  j["message"] = e.message;
  // Replacement characters instead of an exception for bytes echoed from a bad message.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string EncodeHello(std::string_view id, std::string_view agent) {
  json j = Header("hello", id);
  j["agent"] = agent;
  return j.dump();
}

std::string EncodeMeasure(std::string_view id, const std::vector<tsb::MeasurementEntry>& entries) {
  json j = Header("measure", id);
  json list = json::array();
  for (const auto& e : entries) {
    json m;
    m["path"] = BytesToJson(e.path);
    m["file_hash_alg"] = HashAlgName(e.file_hash_alg);
    m["file_digest"] = ToHex(e.file_digest);
    if (!e.container_id.empty()) m["container_id"] = e.container_id;
    if (!e.image.empty()) m["image"] = e.image;
    if (e.pid != 0) m["pid"] = e.pid;
    if (!e.exe.empty()) m["exe"] = e.exe;
    m["template"] = tsb::TemplateName(e.template_kind);
    if (!e.signature.empty()) m["signature"] = ToHex(e.signature);
    list.push_back(std::move(m));
  }
  j["measurements"] = std::move(list);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string EncodeByeRequest(std::string_view id) { return Header("bye", id).dump(); }

Result<AgentReply> DecodeAgentReply(std::string_view bytes) {
  json j = json::parse(bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Corruption("agent reply: not a JSON object");
  AgentReply r;
  auto type = j.find("type");
  if (type == j.end() || !type->is_string()) return Corruption("agent reply: 'type' missing");
  r.type = type->get<std::string>();
  r.id = IdText(j);
  if (r.type == "decisions") {
    auto d = j.find("decisions");
    if (d == j.end() || !d->is_array()) return Corruption("agent reply: 'decisions' missing");
    for (const auto& x : *d) {
      if (!x.is_object() || !x.contains("seq") || !x["seq"].is_number_unsigned() || !x.contains("decision") ||
          !x["decision"].is_string())
        return Corruption("agent reply: bad decision item");
      Verdict v;
      v.seq = x["seq"].get<std::uint64_t>();
      auto dec = tsb::DecisionFromName(x["decision"].get<std::string>());
      if (!dec) return Corruption("agent reply: unknown decision");
      v.decision = *dec;
      if (x.contains("rule") && x["rule"].is_string()) v.rule = x["rule"].get<std::string>();
      r.decisions.push_back(std::move(v));
    }
  } else if (r.type == "error") {
    if (j.contains("code") && j["code"].is_string()) r.error_code = j["code"].get<std::string>();
    if (j.contains("field") && j["field"].is_string()) r.error_field = j["field"].get<std::string>();
    if (j.contains("message") && j["message"].is_string()) r.error_message = j["message"].get<std::string>();
  }
  return r;
}

}  // namespace immune::tsbd
