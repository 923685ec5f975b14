#include "immune/policy/keylime.h"

#include <map>
#include <nlohmann/json.hpp>

#include "immune/core/hex.h"
#include "text_position.h"

namespace immune::policy {
namespace {

using nlohmann::json;

constexpr std::string_view kKeptMembers[] = {"meta", "release", "keyrings",
                                             "ima",  "ima-buf", "verification-keys"};

Result<DigestRef> KeylimeDigest(const std::string& s) {
  if (s.find(':') != std::string::npos) return ParseDigestRef(s);
  auto bytes = FromHex(s);
  if (!bytes.ok()) return InvalidArgument("digest '" + s.substr(0, 140) + "': " + bytes.error().message());
  HashAlg alg;
  switch (bytes->size()) {
    case 20: alg = HashAlg::kSha1; break;
    case 32: alg = HashAlg::kSha256; break;
    case 48: alg = HashAlg::kSha384; break;
    case 64: alg = HashAlg::kSha512; break;
    default:
      return InvalidArgument("digest '" + s.substr(0, 140) + "' has " + std::to_string(bytes->size()) +
                             " bytes, which is no sha1/sha256/sha384/sha512 size");
  }
  return DigestRef{alg, std::move(bytes).value()};
}

// Keylime writes sha1 digests bare and others with their algorithm, as its
// own generator does; the verifier accepts both.
std::string KeylimeDigestText(const DigestRef& d) {
  return d.alg == HashAlg::kSha1 ? ToHex(d.digest) : d.ToString();
}

// fnmatch glob -> an anchored ECMAScript/Python regex.
std::string GlobToRegex(std::string_view glob) {
  std::string re = "^";
  for (char c : glob) {
    switch (c) {
      case '*': re += ".*"; break;
      case '?': re += '.'; break;
      case '.':
      case '+':
      case '(':
      case ')':
      case '{':
      case '}':
      case '^':
      case '$':
      case '|':
      case '\\':
        re += '\\';
        re += c;
        break;
      default: re += c;  // '[' ']' carry over as character classes
    }
  }
  return re + "$";
}

}  // namespace

Result<Document> ImportKeylimeRuntimePolicy(std::string_view text, std::string_view source) {
  const std::string src(source);
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return InvalidArgument(src + ":" + internal::JsonSyntaxError(text) + " (invalid JSON)");
  if (!j.is_object()) return InvalidArgument(src + ": a Keylime runtime policy must be a JSON object");
  Document doc;
  doc.where = Location{src, 0, 0};
  doc.scope = Scope{ScopeKind::kHost, ""};
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    if (key == "digests") {
      if (!it->is_object()) return InvalidArgument(src + ": 'digests' must be an object");
      for (auto d = it->begin(); d != it->end(); ++d) {
        const std::string where = src + ": digests['" + d.key().substr(0, 200) + "']";
        if (!d->is_array()) return InvalidArgument(where + " must be a list");
        Rule r;
        r.kind = RuleKind::kPathDigest;
        r.path = d.key();
        r.where = doc.where;
        for (const json& v : *d) {
          if (!v.is_string()) return InvalidArgument(where + " holds a non-string");
          auto ref = KeylimeDigest(v.get<std::string>());
          if (!ref.ok()) return InvalidArgument(where + ": " + ref.error().message());
          r.digests.push_back(std::move(ref).value());
        }
        if (!r.digests.empty()) doc.allow.push_back(std::move(r));
      }
    } else if (key == "excludes") {
      if (!it->is_array()) return InvalidArgument(src + ": 'excludes' must be a list");
      for (const json& v : *it) {
        if (!v.is_string()) return InvalidArgument(src + ": 'excludes' holds a non-string");
        Rule r;
        r.kind = RuleKind::kPathRegex;
        r.path = v.get<std::string>();
        r.where = doc.where;
        doc.allow.push_back(std::move(r));
      }
    } else if (std::find(std::begin(kKeptMembers), std::end(kKeptMembers), key) != std::end(kKeptMembers)) {
      doc.keylime_extra.emplace_back(key, it->dump());
    } else {
      return InvalidArgument(src + ": unknown Keylime runtime policy member '" + key.substr(0, 100) + "'");
    }
  }
  if (j.find("digests") == j.end()) return InvalidArgument(src + ": 'digests' is missing");
  return doc;
}

Result<KeylimeExport> ExportKeylimeRuntimePolicy(std::span<const Document> docs) {
  KeylimeExport out;
  // std::map keeps the output stable; Keylime does not care about order.
  std::map<std::string, std::vector<std::string>> digests;
  json excludes = json::array();
  std::map<std::string, json> extra;
  for (const Document& doc : docs) {
    for (const auto& [name, text] : doc.keylime_extra) {
      json v = json::parse(text, nullptr, false);
      if (!v.is_discarded() && !extra.contains(name)) extra[name] = std::move(v);
    }
    for (const Rule& r : doc.deny) {
      out.dropped.push_back(r.where.ToString() + ": deny entry (Keylime policies only allow)");
    }
    for (const Rule& r : doc.allow) {
      switch (r.kind) {
        case RuleKind::kPathDigest: {
          auto& list = digests[r.path];
          for (const DigestRef& d : r.digests) {
            std::string t = KeylimeDigestText(d);
            if (std::find(list.begin(), list.end(), t) == list.end()) list.push_back(std::move(t));
          }
          break;
        }
        case RuleKind::kPathRegex: excludes.push_back(r.path); break;
        case RuleKind::kPathGlob: excludes.push_back(GlobToRegex(r.path)); break;
        case RuleKind::kDigest:
          out.dropped.push_back(r.where.ToString() + ": digest without a path " + r.digests[0].ToString());
          break;
        case RuleKind::kSignedLists:
          out.dropped.push_back(r.where.ToString() + ": signed-lists entry");
          break;
        case RuleKind::kImaSignatures:
          out.dropped.push_back(r.where.ToString() + ": ima-signatures entry (use Keylime keyrings)");
          break;
        case RuleKind::kBaselineOf:
          out.dropped.push_back(r.where.ToString() + ": baseline-of " + r.path + " (a ledger reference)");
          break;
      }
    }
  }
  json j;
  j["meta"] = extra.contains("meta") ? extra["meta"] : json{{"version", 1}, {"generator", 0}};
  j["release"] = extra.contains("release") ? extra["release"] : json(0);
  j["digests"] = json::object();
  for (auto& [path, list] : digests) j["digests"][path] = list;
  j["excludes"] = std::move(excludes);
  j["keyrings"] = extra.contains("keyrings") ? extra["keyrings"] : json::object();
  j["ima"] =
      extra.contains("ima")
          ? extra["ima"]
          : json{{"ignored_keyrings", json::array()}, {"log_hash_alg", "sha1"}, {"dm_policy", nullptr}};
  j["ima-buf"] = extra.contains("ima-buf") ? extra["ima-buf"] : json::object();
  j["verification-keys"] = extra.contains("verification-keys") ? extra["verification-keys"] : json("");
  out.json = j.dump();
  return out;
}

}  // namespace immune::policy
