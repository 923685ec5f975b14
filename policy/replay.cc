#include "immune/policy/replay.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "immune/core/hex.h"
#include "immune/core/json_bytes.h"

namespace immune::policy {
namespace {

using nlohmann::json;

Result<std::string> OptString(const json& e, const char* key) {
  auto it = e.find(key);
  if (it == e.end() || it->is_null()) return std::string();
  if (!it->is_string()) return InvalidArgument(std::string("'") + key + "' is not a string");
  return it->get<std::string>();
}

// A path member: a string, or an array of byte values (core/json_bytes.h).
Result<std::string> OptBytes(const json& e, const char* key) {
  auto it = e.find(key);
  if (it == e.end() || it->is_null()) return std::string();
  std::optional<std::string> s = BytesFromJson(*it);
  if (!s) return InvalidArgument(std::string("'") + key + "' is not a string or an array of byte values");
  return *s;
}

Result<LoggedEntry> ReadOne(const json& e, std::size_t index) {
  if (!e.is_object()) return InvalidArgument("entry is not a JSON object");
  LoggedEntry out;
  out.index = index;
  IMMUNE_ASSIGN_OR_RETURN(out.path, OptBytes(e, "path"));
  if (out.path.empty()) return InvalidArgument("'path' is missing");
  IMMUNE_ASSIGN_OR_RETURN(std::string alg_name, OptString(e, "file_hash_alg"));
  auto alg = HashAlgFromName(alg_name);
  if (!alg)
    return InvalidArgument("'file_hash_alg' '" + alg_name.substr(0, 40) + "' is not a known algorithm");
  out.alg = *alg;
  IMMUNE_ASSIGN_OR_RETURN(std::string digest_hex, OptString(e, "file_digest"));
  auto digest = FromHex(digest_hex);
  if (!digest.ok()) return InvalidArgument("'file_digest': " + digest.error().message());
  if (digest->size() != DigestSize(*alg)) {
    return InvalidArgument("'file_digest' has " + std::to_string(digest->size()) + " bytes, not a " +
                           alg_name + " digest");
  }
  out.digest = std::move(digest).value();
  IMMUNE_ASSIGN_OR_RETURN(std::string sig_hex, OptString(e, "signature"));
  auto sig = FromHex(sig_hex);
  if (!sig.ok()) return InvalidArgument("'signature': " + sig.error().message());
  out.signature = std::move(sig).value();
  IMMUNE_ASSIGN_OR_RETURN(out.container_id, OptString(e, "container_id"));
  IMMUNE_ASSIGN_OR_RETURN(out.image, OptString(e, "image"));
  IMMUNE_ASSIGN_OR_RETURN(out.exe, OptBytes(e, "exe"));
  IMMUNE_ASSIGN_OR_RETURN(out.decision, OptString(e, "decision"));
  if (auto p = e.find("pid"); p != e.end() && !p->is_null()) {
    if (!p->is_number_unsigned() || p->get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max()) {
      return InvalidArgument("'pid' is not a 32-bit unsigned number");
    }
    out.pid = static_cast<std::uint32_t>(p->get<std::uint64_t>());
  }
  return out;
}

}  // namespace

Result<std::vector<LoggedEntry>> ReadRecordedLog(std::string_view text, std::string_view source) {
  const std::string src(source);
  std::vector<LoggedEntry> entries;
  const json whole = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!whole.is_discarded() && (whole.is_array() || (whole.is_object() && whole.contains("entries")))) {
    const json& list = whole.is_array() ? whole : whole["entries"];
    if (!list.is_array()) return InvalidArgument(src + ": 'entries' is not a list");
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto e = ReadOne(list[i], i);
      if (!e.ok()) return InvalidArgument(src + ": entry " + std::to_string(i) + ": " + e.error().message());
      entries.push_back(std::move(e).value());
    }
    return entries;
  }
  // JSON lines.
  std::size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const json e = json::parse(line, nullptr, /*allow_exceptions=*/false);
    const std::string where = src + ":" + std::to_string(line_no) + ": ";
    if (e.is_discarded()) return InvalidArgument(where + "not a JSON object");
    auto entry = ReadOne(e, entries.size());
    if (!entry.ok()) return InvalidArgument(where + entry.error().message());
    entries.push_back(std::move(entry).value());
  }
  if (entries.empty()) return InvalidArgument(src + ": no log entries");
  return entries;
}

Result<ReplayReport> ReplayLog(const Snapshot& snapshot, std::string_view text, std::string_view source) {
  IMMUNE_ASSIGN_OR_RETURN(std::vector<LoggedEntry> entries, ReadRecordedLog(text, source));
  ReplayReport report;
  for (LoggedEntry& e : entries) {
    const Subject subject{e.container_id, e.image, e.exe, e.pid};
    const Object object{e.path, e.alg, e.digest, e.signature};
    const Decision d = snapshot.Decide(subject, object);
    ReplayedEntry out;
    out.index = e.index;
    out.path = std::move(e.path);
    out.container_id = std::move(e.container_id);
    out.recorded = std::move(e.decision);
    out.verdict = d.verdict;
    out.rule = std::string(d.rule);
    out.mode = d.mode;
    switch (d.verdict) {
      case Verdict::kAllow: ++report.allowed; break;
      case Verdict::kDeny: ++report.denied; break;
      case Verdict::kAuditDeny: ++report.audit_denied; break;
    }
    report.entries.push_back(std::move(out));
  }
  return report;
}

}  // namespace immune::policy
