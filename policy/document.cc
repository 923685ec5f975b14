#include "immune/policy/document.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "immune/core/file.h"
#include "immune/core/hex.h"
#include "text_position.h"

namespace immune::policy {

std::string Location::ToString() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Location::RuleId() const {
  const std::size_t slash = file.rfind('/');
  std::string base = slash == std::string::npos ? file : file.substr(slash + 1);
  if (line <= 0) return base;
  return base + ":" + std::to_string(line);
}

std::string Scope::ToString() const {
  switch (kind) {
    case ScopeKind::kHost: return "host";
    case ScopeKind::kImage: return "image:" + value;
    case ScopeKind::kContainer: return "container:" + value;
    case ScopeKind::kAllContainers: return "containers:all";
  }
  return "?";
}

std::string_view ModeName(Mode m) {
  switch (m) {
    case Mode::kEnforce: return "enforce";
    case Mode::kPermissive: return "permissive";
    case Mode::kLearn: return "learn";
  }
  return "?";
}

namespace {

constexpr std::pair<std::string_view, Action> kActionNames[] = {
    {"deny", Action::kDeny}, {"kill", Action::kKill},   {"freeze", Action::kFreeze},
    {"stop", Action::kStop}, {"alarm", Action::kAlarm},
};

}  // namespace

std::string ActionSetToString(ActionSet set) {
  std::string out;
  for (const auto& [name, a] : kActionNames) {
    if (!Has(set, a)) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

std::string DigestRef::ToString() const { return std::string(HashAlgName(alg)) + ":" + ToHex(digest); }

Result<DigestRef> ParseDigestRef(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return InvalidArgument("digest '" + std::string(text.substr(0, 80)) + "' is not ALGORITHM:HEX");
  }
  std::string_view name = text.substr(0, colon);
  std::optional<HashAlg> alg = HashAlgFromName(name);
  if (!alg && name == "sm3") alg = HashAlg::kSm3_256;
  if (!alg && name.starts_with("sha3-")) {
    alg = HashAlgFromName("sha3_" + std::string(name.substr(5)));
  }
  if (!alg) return InvalidArgument("unknown digest algorithm '" + std::string(name.substr(0, 40)) + "'");
  auto bytes = FromHex(text.substr(colon + 1));
  if (!bytes.ok()) return InvalidArgument("digest: " + bytes.error().message());
  if (bytes->size() != DigestSize(*alg)) {
    return InvalidArgument(std::string(name) + " digest has " + std::to_string(bytes->size()) +
                           " bytes, expected " + std::to_string(DigestSize(*alg)));
  }
  return DigestRef{*alg, std::move(bytes).value()};
}

const std::vector<std::string>& DefaultInterpreters() {
  static const std::vector<std::string>* const kList = new std::vector<std::string>{
      "sh", "ash", "bash", "dash", "zsh", "ksh", "python*", "perl", "ruby", "php", "node", "lua", "tclsh"};
  return *kList;
}

namespace {

// Reads one document tree. Member functions return errors with the place.
class DocReader {
 public:
  DocReader(std::string_view source, std::string base_dir)
      : source_(source), base_dir_(std::move(base_dir)) {}

  // The line the current document's text starts at in the whole file (its
  // nodes' marks count from its own start).
  void set_line_offset(int lines) { line_offset_ = lines; }

  Result<Document> Read(const YAML::Node& root) {
    Document doc;
    doc.where = Where(root);
    if (!root.IsMap()) return Err(root, "a policy document must be a mapping");
    bool have_api = false, have_kind = false, have_scope = false;
    IMMUNE_RETURN_IF_ERROR(CheckDuplicates(root));
    for (auto it = root.begin(); it != root.end(); ++it) {
      // Copies: yaml-cpp's iterator yields a temporary pair, so references
      // into it dangle.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      const std::string k = key.IsScalar() ? key.Scalar() : std::string();
      if (k == "apiVersion") {
        IMMUNE_ASSIGN_OR_RETURN(std::string v, Scalar(value, "apiVersion"));
        if (v != kApiVersion) return Err(value, "apiVersion '" + v + "' is not " + std::string(kApiVersion));
        have_api = true;
      } else if (k == "kind") {
        IMMUNE_ASSIGN_OR_RETURN(std::string v, Scalar(value, "kind"));
        if (v != kKind) return Err(value, "kind '" + v + "' is not " + std::string(kKind));
        have_kind = true;
      } else if (k == "name" || k == "description") {
        IMMUNE_RETURN_IF_ERROR(Scalar(value, k));
      } else if (k == "scope") {
        IMMUNE_ASSIGN_OR_RETURN(doc.scope, ReadScope(value));
        have_scope = true;
      } else if (k == "mode") {
        IMMUNE_ASSIGN_OR_RETURN(std::string v, Scalar(value, "mode"));
        if (v == "enforce")
          doc.mode = Mode::kEnforce;
        else if (v == "permissive")
          doc.mode = Mode::kPermissive;
        else if (v == "learn")
          doc.mode = Mode::kLearn;
        else
          return Err(value, "mode '" + v + "' is not enforce, permissive or learn");
      } else if (k == "allow" || k == "deny") {
        IMMUNE_RETURN_IF_ERROR(ReadRules(value, k == "deny", k == "allow" ? doc.allow : doc.deny));
      } else if (k == "interpreters") {
        IMMUNE_ASSIGN_OR_RETURN(doc.interpreters, StringList(value, "interpreters"));
      } else if (k == "critical-files") {
        IMMUNE_ASSIGN_OR_RETURN(doc.critical_files, StringList(value, "critical-files"));
        for (std::size_t i = 0; i < doc.critical_files.size(); ++i)
          if (!doc.critical_files[i].starts_with('/'))
            return Err(value[i], "critical file '" + doc.critical_files[i] + "' is not an absolute path");
      } else if (k == "actions") {
        IMMUNE_ASSIGN_OR_RETURN(std::vector<std::string> names, StringList(value, "actions"));
        ActionSet set = 0;
        for (std::size_t i = 0; i < names.size(); ++i) {
          auto found = std::find_if(std::begin(kActionNames), std::end(kActionNames),
                                    [&](const auto& p) { return p.first == names[i]; });
          if (found == std::end(kActionNames)) {
            return Err(value[i], "action '" + names[i] + "' is not deny, kill, freeze, stop or alarm");
          }
          set |= static_cast<ActionSet>(found->second);
        }
        if (set == 0) return Err(value, "actions must name at least one action");
        doc.actions = set;
      } else {
        return Err(key, "unknown key '" + k +
                            "' (expected apiVersion, kind, name, description, scope, mode, "
                            "allow, deny, interpreters, actions, critical-files)");
      }
    }
    if (!have_api) return Err(root, "missing 'apiVersion: " + std::string(kApiVersion) + "'");
    if (!have_kind) return Err(root, "missing 'kind: Policy'");
    if (!have_scope)
      return Err(root, "missing 'scope' (host, {image: REF}, {container: ID}, {containers: all})");
    return doc;
  }

 private:
  Location Where(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    if (m.line < 0) return Location{std::string(source_), 0, 0};
    return Location{std::string(source_), m.line + 1 + line_offset_, m.column + 1};
  }
  Error Err(const YAML::Node& n, const std::string& msg) const {
    return InvalidArgument(Where(n).ToString() + ": " + msg);
  }

  Status CheckDuplicates(const YAML::Node& map) const {
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) return Err(it->first, "a key must be a plain string");
      if (!seen.insert(it->first.Scalar()).second) {
        return Err(it->first, "duplicate key '" + it->first.Scalar() + "'");
      }
    }
    return OkStatus();
  }

  Result<std::string> Scalar(const YAML::Node& n, std::string_view what) const {
    if (!n.IsScalar()) return Err(n, std::string(what) + " must be a string");
    return n.Scalar();
  }

  Result<std::vector<std::string>> StringList(const YAML::Node& n, std::string_view what) const {
    if (!n.IsSequence()) return Err(n, std::string(what) + " must be a list");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n.size(); ++i) {
      IMMUNE_ASSIGN_OR_RETURN(std::string s, Scalar(n[i], std::string(what) + " entry"));
      if (s.empty()) return Err(n[i], std::string(what) + " entry is empty");
      out.push_back(std::move(s));
    }
    return out;
  }

  Result<std::vector<std::string>> FileList(const YAML::Node& n, std::string_view what) const {
    IMMUNE_ASSIGN_OR_RETURN(std::vector<std::string> files, StringList(n, what));
    if (files.empty()) return Err(n, std::string(what) + " must name at least one file");
    for (std::string& f : files) {
      if (!f.starts_with('/') && !base_dir_.empty()) f = base_dir_ + "/" + f;
    }
    return files;
  }

  Result<Scope> ReadScope(const YAML::Node& n) const {
    if (n.IsScalar()) {
      if (n.Scalar() == "host") return Scope{ScopeKind::kHost, ""};
      return Err(
          n, "scope '" + n.Scalar() + "' is not host, {image: REF}, {container: ID} or {containers: all}");
    }
    if (!n.IsMap() || n.size() != 1) {
      return Err(n, "scope must be host or a mapping with one of image, container, containers");
    }
    auto it = n.begin();
    const YAML::Node key_node = it->first;
    const YAML::Node value_node = it->second;
    IMMUNE_ASSIGN_OR_RETURN(std::string key, Scalar(key_node, "scope key"));
    IMMUNE_ASSIGN_OR_RETURN(std::string value, Scalar(value_node, "scope " + key));
    if (key == "image" || key == "container") {
      if (value.empty()) return Err(value_node, "scope " + key + " is empty");
      return Scope{key == "image" ? ScopeKind::kImage : ScopeKind::kContainer, value};
    }
    if (key == "containers") {
      if (value != "all") return Err(value_node, "scope containers must be 'all'");
      return Scope{ScopeKind::kAllContainers, ""};
    }
    return Err(key_node, "unknown scope key '" + key + "' (expected image, container or containers)");
  }

  Result<DigestRef> Digest(const YAML::Node& n) const {
    IMMUNE_ASSIGN_OR_RETURN(std::string s, Scalar(n, "digest"));
    auto d = ParseDigestRef(s);
    if (!d.ok()) return Err(n, d.error().message());
    return std::move(d).value();
  }

  Status ReadRules(const YAML::Node& list, bool deny, std::vector<Rule>& out) const {
    if (list.IsNull()) return OkStatus();
    if (!list.IsSequence()) return Err(list, std::string(deny ? "deny" : "allow") + " must be a list");
    for (std::size_t i = 0; i < list.size(); ++i) {
      IMMUNE_ASSIGN_OR_RETURN(Rule r, ReadRule(list[i], deny));
      out.push_back(std::move(r));
    }
    return OkStatus();
  }

  Result<Rule> ReadRule(const YAML::Node& n, bool deny) const {
    Rule r;
    r.where = Where(n);
    if (n.IsScalar()) {
      IMMUNE_ASSIGN_OR_RETURN(DigestRef d, Digest(n));
      r.kind = RuleKind::kDigest;
      r.digests.push_back(std::move(d));
      return r;
    }
    if (!n.IsMap()) return Err(n, "an entry must be a digest or a mapping");
    IMMUNE_RETURN_IF_ERROR(CheckDuplicates(n));
    std::optional<YAML::Node> path, regex, unsafe;  // copies, see Read()
    bool have_digest = false, have_lists = false, have_ima = false, have_keys = false, have_baseline = false;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string k = it->first.Scalar();
      const YAML::Node v = it->second;
      if (k == "path") {
        path = v;
      } else if (k == "path-regex") {
        regex = v;
      } else if (k == "digest") {
        IMMUNE_ASSIGN_OR_RETURN(DigestRef d, Digest(v));
        r.digests.push_back(std::move(d));
        have_digest = true;
      } else if (k == "digests") {
        if (!v.IsSequence() || v.size() == 0) return Err(v, "digests must be a non-empty list");
        for (std::size_t i = 0; i < v.size(); ++i) {
          IMMUNE_ASSIGN_OR_RETURN(DigestRef d, Digest(v[i]));
          r.digests.push_back(std::move(d));
        }
        have_digest = true;
      } else if (k == "unsafe-path-only") {
        unsafe = v;
        if (!v.IsScalar() || (v.Scalar() != "true" && v.Scalar() != "false")) {
          return Err(v, "unsafe-path-only must be true or false");
        }
      } else if (k == "signed-lists") {
        IMMUNE_ASSIGN_OR_RETURN(r.files, FileList(v, "signed-lists"));
        have_lists = true;
      } else if (k == "keys") {
        IMMUNE_ASSIGN_OR_RETURN(r.keys, FileList(v, "keys"));
        have_keys = true;
      } else if (k == "baseline-of") {
        IMMUNE_ASSIGN_OR_RETURN(r.path, Scalar(v, "baseline-of"));
        if (r.path.empty()) return Err(v, "baseline-of names an image");
        have_baseline = true;
      } else if (k == "ima-signatures") {
        if (!v.IsMap()) return Err(v, "ima-signatures must be a mapping {keys: [FILE...]}");
        IMMUNE_RETURN_IF_ERROR(CheckDuplicates(v));
        for (auto kt = v.begin(); kt != v.end(); ++kt) {
          const YAML::Node ik = kt->first;
          const YAML::Node iv = kt->second;
          if (ik.Scalar() != "keys") {
            return Err(ik, "unknown key '" + ik.Scalar() + "' in ima-signatures (expected keys)");
          }
          IMMUNE_ASSIGN_OR_RETURN(r.keys, FileList(iv, "ima-signatures keys"));
        }
        if (r.keys.empty()) return Err(v, "ima-signatures needs keys: [FILE...]");
        have_ima = true;
      } else {
        return Err(it->first, "unknown key '" + k +
                                  "' in an entry (expected path, digest, digests, unsafe-path-only, "
                                  "path-regex, signed-lists, keys, ima-signatures, baseline-of)");
      }
    }
    const bool is_unsafe = unsafe.has_value() && unsafe->Scalar() == "true";
    const int forms = (have_lists ? 1 : 0) + (have_ima ? 1 : 0) + (have_baseline ? 1 : 0) +
                      ((path || regex || have_digest) ? 1 : 0);
    if (forms != 1) {
      return Err(n,
                 "an entry must be exactly one of: a digest, a path with digests, an unsafe path, "
                 "signed-lists, ima-signatures, baseline-of");
    }
    if (have_baseline) {
      if (deny) return Err(n, "baseline-of allows a baseline; it cannot be a deny entry");
      r.kind = RuleKind::kBaselineOf;
      return r;
    }
    if (have_keys && !have_lists) return Err(n, "keys belongs to a signed-lists entry");
    if (unsafe && (have_lists || have_ima || have_digest)) {
      return Err(*unsafe, "unsafe-path-only applies only to an entry with a path and no digest");
    }
    if (have_lists) {
      r.kind = RuleKind::kSignedLists;
      return r;
    }
    if (have_ima) {
      r.kind = RuleKind::kImaSignatures;
      return r;
    }
    if (path && regex) return Err(*regex, "path and path-regex exclude each other");
    const YAML::Node p = path ? *path : regex ? *regex : n;
    if (path || regex) {
      IMMUNE_ASSIGN_OR_RETURN(r.path, Scalar(p, path ? "path" : "path-regex"));
      if (r.path.empty()) return Err(p, "path is empty");
    }
    // "boot_aggregate" is IMA's pseudo-path for the boot aggregate entry
    // (Keylime policies carry it); anything else must be absolute.
    if (path && !r.path.starts_with('/') && r.path != "boot_aggregate")
      return Err(p, "path '" + r.path + "' is not absolute");
    if (have_digest) {
      r.kind = path ? RuleKind::kPathDigest : RuleKind::kDigest;
      if (regex) return Err(*regex, "path-regex cannot carry digests");
      if (!path && r.digests.size() != 1) return Err(n, "without a path, an entry has one digest");
      return r;
    }
    // Path only: weak for allow (any content at that path passes), so it
    // must be asked for explicitly; a path-only deny narrows and needs no flag.
    if (!deny && !is_unsafe) {
      return Err(p,
                 "an allow entry with a path and no digest needs 'unsafe-path-only: true' "
                 "(any content at that path would be allowed)");
    }
    r.kind = regex ? RuleKind::kPathRegex : RuleKind::kPathGlob;
    return r;
  }

  std::string_view source_;
  std::string base_dir_;
  int line_offset_ = 0;
};

// One YAML document of a multi-document stream and the line it starts at.
struct YamlChunk {
  std::string text;
  int first_line = 0;  // 0-based
};

// Splits a stream at its document markers: a line that starts with "---"
// (followed by a blank or the end of the line) begins a document, a line
// "..." ends one; markers at column 0 end any block scalar, so splitting
// there is what a YAML parser does. Each document is then loaded on its own:
// yaml-cpp 0.7's LoadAll never returns on some inputs (",-" loops forever),
// its Load of one document does.
std::vector<YamlChunk> SplitYamlDocuments(std::string_view text) {
  std::vector<YamlChunk> chunks(1);
  int line = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    const std::size_t next = end == std::string_view::npos ? text.size() : end + 1;
    const std::string_view l = text.substr(pos, next - pos);
    const bool starts = l.starts_with("---") && (l.size() == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r' ||
                                                 l[3] == '\n');
    const bool ends = l.starts_with("...") && (l.size() == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r' ||
                                               l[3] == '\n');
    if (starts && !chunks.back().text.empty()) chunks.push_back(YamlChunk{"", line});
    if (chunks.back().text.empty()) chunks.back().first_line = line;
    chunks.back().text.append(l);
    if (ends) chunks.push_back(YamlChunk{"", line + 1});
    pos = next;
    ++line;
  }
  return chunks;
}

std::string_view TrimLeft(std::string_view s) {
  if (s.starts_with("\xEF\xBB\xBF")) s.remove_prefix(3);
  while (!s.empty() && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n')) s.remove_prefix(1);
  return s;
}

}  // namespace

Result<std::vector<Document>> ParseDocuments(std::string_view text, std::string_view source) {
  const std::size_t slash = source.rfind('/');
  std::string base_dir = slash == std::string_view::npos ? "" : std::string(source.substr(0, slash));
  if (base_dir.empty() && slash == 0) base_dir = "/";
  if (TrimLeft(text).starts_with('{')) {
    // JSON: nlohmann checks the syntax strictly (YAML would accept more),
    // then the same text is read as YAML, of which JSON is a subset, so
    // every later error has a line and column too.
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      return InvalidArgument(std::string(source) + ":" + internal::JsonSyntaxError(text) + " (invalid JSON)");
    }
  }
  std::vector<std::pair<YAML::Node, int>> roots;  // (document, its first line)
  for (const YamlChunk& chunk : SplitYamlDocuments(text)) {
    try {
      roots.emplace_back(YAML::Load(chunk.text), chunk.first_line);
    } catch (const YAML::Exception& e) {
      return InvalidArgument(std::string(source) + ":" + std::to_string(e.mark.line + 1 + chunk.first_line) + ":" +
                             std::to_string(e.mark.column + 1) + ": invalid YAML: " + e.msg);
    }
  }
  std::vector<Document> docs;
  try {
    DocReader reader(source, base_dir);
    for (const auto& [root, first_line] : roots) {
      if (root.IsNull()) continue;  // an empty document between "---" separators
      reader.set_line_offset(first_line);
      IMMUNE_ASSIGN_OR_RETURN(Document d, reader.Read(root));
      docs.push_back(std::move(d));
    }
  } catch (const YAML::Exception& e) {
    // Not expected (the reader checks node types first); kept so that no
    // yaml-cpp exception crosses this library's boundary.
    return InvalidArgument(std::string(source) + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (docs.empty()) return InvalidArgument(std::string(source) + ": no policy document");
  return docs;
}

Result<std::vector<Document>> ParseDocumentFile(const std::string& path) {
  IMMUNE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  return ParseDocuments(text, path);
}

}  // namespace immune::policy
