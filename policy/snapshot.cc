#include "immune/policy/snapshot.h"

#include <fnmatch.h>
#include <limits.h>

#include <array>
#include <cstring>
#include <optional>
#include <regex>
#include <unordered_map>

#include "immune/core/file.h"
#include "immune/core/ima_signature.h"
#include "immune/policy/bundle.h"

namespace immune::policy {

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kAllow: return "allow";
    case Verdict::kDeny: return "deny";
    case Verdict::kAuditDeny: return "audit-deny";
  }
  return "?";
}

namespace {

// Transparent hashing so Decide looks maps up by string_view without
// building a std::string.
struct SvHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using SvMap = std::unordered_map<std::string, V, SvHash, std::equal_to<>>;

constexpr std::uint32_t kNoRule = UINT32_MAX;

struct PathRule {
  std::string path;
  std::uint32_t rule;
};

struct DigestEntry {
  std::uint32_t any_path = kNoRule;  // allowed/denied wherever it is
  std::vector<PathRule> at;          // only at these paths
};

struct RegexRule {
  std::regex re;
  std::uint32_t rule;
};

struct ImaRule {
  std::shared_ptr<const ImaTrustedKeys> keys;
  std::uint32_t rule;
};

// One side (allow or deny) of a layer.
struct RuleSet {
  SvMap<DigestEntry> digests;  // key: 2-byte TPM alg id, then the digest
  std::vector<PathRule> globs;
  std::vector<RegexRule> regexes;
  std::vector<ImaRule> ima;
};

// The key of (alg, digest) in a caller's buffer; empty if the digest is too long.
std::string_view DigestKey(HashAlg alg, ByteSpan digest, std::array<char, 2 + kMaxDigestSize>& buf) {
  if (digest.size() > kMaxDigestSize) return {};
  buf[0] = static_cast<char>(TpmId(alg) >> 8);
  buf[1] = static_cast<char>(TpmId(alg) & 0xff);
  std::memcpy(buf.data() + 2, digest.data(), digest.size());
  return {buf.data(), 2 + digest.size()};
}

// fnmatch needs a NUL-terminated path; a stack copy keeps Decide
// allocation-free for paths up to PATH_MAX.
bool GlobMatches(const std::string& pattern, std::string_view path) {
  if (path.size() < PATH_MAX) {
    char buf[PATH_MAX];
    std::memcpy(buf, path.data(), path.size());
    buf[path.size()] = '\0';
    return fnmatch(pattern.c_str(), buf, 0) == 0;
  }
  return fnmatch(pattern.c_str(), std::string(path).c_str(), 0) == 0;
}

std::uint32_t Match(const RuleSet& set, const Object& obj, std::string_view key) {
  if (!key.empty()) {
    auto it = set.digests.find(key);
    if (it != set.digests.end()) {
      if (it->second.any_path != kNoRule) return it->second.any_path;
      for (const PathRule& p : it->second.at) {
        if (p.path == obj.path) return p.rule;
      }
    }
  }
  for (const PathRule& g : set.globs) {
    if (GlobMatches(g.path, obj.path)) return g.rule;
  }
  for (const RegexRule& r : set.regexes) {
    // Keylime matches excludes with Python's re.match: anchored at the start only.
    if (std::regex_search(obj.path.begin(), obj.path.end(), r.re, std::regex_constants::match_continuous)) {
      return r.rule;
    }
  }
  if (!obj.ima_signature.empty()) {
    for (const ImaRule& r : set.ima) {
      if (VerifyImaFileSignature(obj.ima_signature, obj.alg, obj.digest, *r.keys).ok()) return r.rule;
    }
  }
  return kNoRule;
}

void AddDigest(RuleSet& set, const DigestRef& d, const std::string& path, std::uint32_t rule) {
  std::array<char, 2 + kMaxDigestSize> buf;
  DigestEntry& e = set.digests[std::string(DigestKey(d.alg, d.digest, buf))];
  if (path.empty()) {
    if (e.any_path == kNoRule) e.any_path = rule;
  } else {
    e.at.push_back(PathRule{path, rule});
  }
}

}  // namespace

struct Snapshot::Layer {
  RuleSet allow;
  RuleSet deny;
  std::optional<Mode> mode;
  std::optional<ActionSet> actions;
  std::optional<std::vector<std::string>> interpreters;
  Location mode_where;
  Location actions_where;
};

struct Snapshot::Impl {
  std::vector<std::string> rule_ids;
  std::optional<Layer> host;
  std::optional<Layer> all_containers;
  SvMap<Layer> images;
  SvMap<Layer> containers;

  // The applicable layers, most specific first; returns how many.
  std::size_t Resolve(const Subject& s, std::array<const Layer*, 3>& out) const {
    std::size_t n = 0;
    if (s.container_id.empty()) {
      if (host) out[n++] = &*host;
      return n;
    }
    if (auto it = containers.find(s.container_id); it != containers.end()) out[n++] = &it->second;
    if (const Layer* image = FindImage(s.image)) out[n++] = image;
    if (all_containers) out[n++] = &*all_containers;
    return n;
  }

  // Exact reference first; "name@sha256:..." also matches a document
  // scoped to the name or to the digest alone.
  const Layer* FindImage(std::string_view image) const {
    if (image.empty() || images.empty()) return nullptr;
    if (auto it = images.find(image); it != images.end()) return &it->second;
    const std::size_t at = image.find('@');
    if (at == std::string_view::npos) return nullptr;
    if (auto it = images.find(image.substr(at + 1)); it != images.end()) return &it->second;
    if (auto it = images.find(image.substr(0, at)); it != images.end()) return &it->second;
    return nullptr;
  }
};

Snapshot::Snapshot() : impl_(std::make_unique<Impl>()) {}
Snapshot::~Snapshot() = default;

Decision Snapshot::Decide(const Subject& subject, const Object& object) const {
  std::array<const Layer*, 3> layers{};
  const std::size_t n = impl_->Resolve(subject, layers);
  Decision d;
  bool have_mode = false, have_actions = false;
  for (std::size_t i = 0; i < n; ++i) {
    if (!have_mode && layers[i]->mode) {
      d.mode = *layers[i]->mode;
      have_mode = true;
    }
    if (!have_actions && layers[i]->actions) {
      d.actions = *layers[i]->actions;
      have_actions = true;
    }
  }
  if (d.mode == Mode::kLearn) {
    d.verdict = Verdict::kAllow;
    d.rule = kRuleLearn;
    return d;
  }
  const Verdict deny = d.mode == Mode::kPermissive ? Verdict::kAuditDeny : Verdict::kDeny;
  std::array<char, 2 + kMaxDigestSize> buf;
  const std::string_view key = DigestKey(object.alg, object.digest, buf);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t r = Match(layers[i]->deny, object, key);
    if (r != kNoRule) {
      d.verdict = deny;
      d.rule = impl_->rule_ids[r];
      return d;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t r = Match(layers[i]->allow, object, key);
    if (r != kNoRule) {
      d.verdict = Verdict::kAllow;
      d.rule = impl_->rule_ids[r];
      return d;
    }
  }
  d.verdict = deny;
  d.rule = kRuleDefaultDeny;
  return d;
}

Mode Snapshot::ModeFor(const Subject& subject) const {
  std::array<const Layer*, 3> layers{};
  const std::size_t n = impl_->Resolve(subject, layers);
  for (std::size_t i = 0; i < n; ++i) {
    if (layers[i]->mode) return *layers[i]->mode;
  }
  return Mode::kEnforce;
}

bool Snapshot::IsInterpreter(const Subject& subject, std::string_view exe) const {
  std::array<const Layer*, 3> layers{};
  const std::size_t n = impl_->Resolve(subject, layers);
  const std::vector<std::string>* list = &DefaultInterpreters();
  for (std::size_t i = 0; i < n; ++i) {
    if (layers[i]->interpreters) {
      list = &*layers[i]->interpreters;
      break;
    }
  }
  const std::size_t slash = exe.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? exe : exe.substr(slash + 1);
  for (const std::string& pattern : *list) {
    if (GlobMatches(pattern, pattern.starts_with('/') ? exe : base)) return true;
  }
  return false;
}

namespace {

std::atomic<std::uint64_t> g_generation{0};

Error At(const Location& where, const std::string& msg) {
  return InvalidArgument(where.ToString() + ": " + msg);
}

Status AddRule(const Rule& r, std::uint32_t id, RuleSet& set, const CompileOptions& options) {
  switch (r.kind) {
    case RuleKind::kDigest:
    case RuleKind::kPathDigest:
      for (const DigestRef& d : r.digests)
        AddDigest(set, d, r.kind == RuleKind::kPathDigest ? r.path : "", id);
      return OkStatus();
    case RuleKind::kPathGlob: set.globs.push_back(PathRule{r.path, id}); return OkStatus();
    case RuleKind::kPathRegex:
      try {
        set.regexes.push_back(
            RegexRule{std::regex(r.path, std::regex::ECMAScript | std::regex::optimize), id});
      } catch (const std::regex_error& e) {
        return At(r.where, "path-regex '" + r.path.substr(0, 100) + "' does not compile: " + e.what());
      }
      return OkStatus();
    case RuleKind::kSignedLists: {
      DsseTrustedKeys own;
      const DsseTrustedKeys* keys = options.list_keys;
      if (!r.keys.empty()) {
        for (const std::string& k : r.keys) {
          Status s = own.AddPemFile(k);
          if (!s.ok()) return At(r.where, s.error().message());
        }
        keys = &own;
      }
      if (keys == nullptr || keys->size() == 0) {
        return At(r.where, "signed-lists has no keys: give 'keys: [FILE]' or trusted list keys");
      }
      for (const std::string& f : r.files) {
        auto text = ReadTextFile(f);
        if (!text.ok()) return At(r.where, text.error().message());
        auto list = OpenDigestList(*text, f, *keys);
        if (!list.ok()) return Error(list.error().code(), r.where.ToString() + ": " + list.error().message());
        for (const DigestListEntry& e : *list) AddDigest(set, e.digest, e.path, id);
      }
      return OkStatus();
    }
    case RuleKind::kBaselineOf:
      return At(r.where, "baseline-of '" + r.path +
                             "' is resolved from the baseline ledger (immuned's policy.ledger); nothing resolved it here");
    case RuleKind::kImaSignatures: {
      auto ring = std::make_shared<ImaTrustedKeys>();
      for (const std::string& k : r.keys) {
        Status s = ring->AddKeyFile(k);
        if (!s.ok()) return At(r.where, s.error().message());
      }
      set.ima.push_back(ImaRule{std::move(ring), id});
      return OkStatus();
    }
  }
  return Internal("unknown rule kind");
}

}  // namespace

Result<std::shared_ptr<const Snapshot>> Compile(std::vector<Document> docs, const CompileOptions& options) {
  std::shared_ptr<Snapshot> snap(new Snapshot());
  Snapshot::Impl& impl = *snap->impl_;
  for (const Document& doc : docs) {
    std::optional<Snapshot::Layer>* slot = nullptr;
    Snapshot::Layer* layer = nullptr;
    switch (doc.scope.kind) {
      case ScopeKind::kHost: slot = &impl.host; break;
      case ScopeKind::kAllContainers: slot = &impl.all_containers; break;
      case ScopeKind::kImage: layer = &impl.images[doc.scope.value]; break;
      case ScopeKind::kContainer: layer = &impl.containers[doc.scope.value]; break;
    }
    if (slot != nullptr) {
      if (!*slot) slot->emplace();
      layer = &**slot;
    }
    const std::string scope = doc.scope.ToString();
    if (doc.mode) {
      if (layer->mode && *layer->mode != *doc.mode) {
        return At(doc.where, "mode " + std::string(ModeName(*doc.mode)) + " for " + scope +
                                 " conflicts with mode " + std::string(ModeName(*layer->mode)) + " at " +
                                 layer->mode_where.ToString());
      }
      layer->mode = doc.mode;
      layer->mode_where = doc.where;
    }
    if (doc.actions) {
      if (layer->actions && *layer->actions != *doc.actions) {
        return At(doc.where,
                  "actions for " + scope + " conflict with those at " + layer->actions_where.ToString());
      }
      layer->actions = doc.actions;
      layer->actions_where = doc.where;
    }
    if (doc.interpreters) {
      if (!layer->interpreters) layer->interpreters.emplace();
      layer->interpreters->insert(layer->interpreters->end(), doc.interpreters->begin(),
                                  doc.interpreters->end());
    }
    for (int side = 0; side < 2; ++side) {
      const std::vector<Rule>& rules = side == 0 ? doc.deny : doc.allow;
      for (const Rule& r : rules) {
        const auto id = static_cast<std::uint32_t>(impl.rule_ids.size());
        impl.rule_ids.push_back(r.where.RuleId());
        IMMUNE_RETURN_IF_ERROR(AddRule(r, id, side == 0 ? layer->deny : layer->allow, options));
      }
    }
  }
  snap->generation_ = options.generation != 0 ? options.generation : g_generation.fetch_add(1) + 1;
  snap->documents_ = std::move(docs);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

}  // namespace immune::policy
