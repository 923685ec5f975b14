#include "immune/policy/learner.h"

#include <yaml-cpp/yaml.h>

#include "immune/core/file.h"
#include "immune/core/json_bytes.h"

namespace immune::policy {

void Learner::Record(const Scope& scope, std::string_view path, HashAlg alg, ByteSpan digest) {
  if (digest.size() != DigestSize(alg) || path.empty()) return;
  std::string d = DigestRef{alg, Bytes(digest.begin(), digest.end())}.ToString();
  std::lock_guard<std::mutex> lock(mu_);
  auto& digests = seen_[Key{static_cast<int>(scope.kind), scope.value}][std::string(path)];
  if (digests.insert(std::move(d)).second) ++count_;
}

void Learner::Record(const Subject& subject, const Object& object) {
  const Scope scope = subject.container_id.empty()
                          ? Scope{ScopeKind::kHost, ""}
                          : Scope{ScopeKind::kContainer, std::string(subject.container_id)};
  Record(scope, object.path, object.alg, object.digest);
}

std::size_t Learner::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

namespace {

std::string Sanitise(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 100)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    out += ok ? c : '_';
  }
  return out;
}

// Printable ASCII as it is, every other byte as \xNN.
std::string EscapedName(std::string_view name) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : name) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7f && b != '\\') {
      out.push_back(c);
    } else {
      out += "\\x";
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
  }
  return out;
}

}  // namespace

std::vector<LearnedDraft> Learner::Drafts() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LearnedDraft> out;
  for (const auto& [key, paths] : seen_) {
    LearnedDraft draft;
    draft.scope = Scope{static_cast<ScopeKind>(key.first), key.second};
    YAML::Emitter e;
    e << YAML::Comment("Draft written by Immune's learn mode: review before loading.");
    e << YAML::BeginMap;
    e << YAML::Key << "apiVersion" << YAML::Value << std::string(kApiVersion);
    e << YAML::Key << "kind" << YAML::Value << std::string(kKind);
    e << YAML::Key << "scope" << YAML::Value;
    switch (draft.scope.kind) {
      case ScopeKind::kHost:
        e << "host";
        draft.file_name = "host.yaml";
        break;
      case ScopeKind::kAllContainers:
        e << YAML::BeginMap << YAML::Key << "containers" << YAML::Value << "all" << YAML::EndMap;
        draft.file_name = "containers-all.yaml";
        break;
      case ScopeKind::kImage:
        e << YAML::BeginMap << YAML::Key << "image" << YAML::Value << key.second << YAML::EndMap;
        draft.file_name = "image-" + Sanitise(key.second) + ".yaml";
        break;
      case ScopeKind::kContainer:
        e << YAML::BeginMap << YAML::Key << "container" << YAML::Value << key.second << YAML::EndMap;
        draft.file_name = "container-" + Sanitise(key.second) + ".yaml";
        break;
    }
    e << YAML::Key << "mode" << YAML::Value << "enforce";
    e << YAML::Key << "allow" << YAML::Value << YAML::BeginSeq;
    for (const auto& [path, digests] : paths) {
      if (!IsUtf8(path)) {
        // YAML holds Unicode text only, so a file name that is not UTF-8
        // cannot be written as a path (yaml-cpp would put U+FFFD in place of
        // the bytes, and the rule would match no file). Its digests are
        // allowed at any path instead, still exactly this content; the name,
        // escaped, is in a comment for the reviewer.
        e << YAML::Comment("path not UTF-8, allowed by digest alone: " + EscapedName(path));
        for (const std::string& d : digests) e << d;
        continue;
      }
      e << YAML::BeginMap << YAML::Key << "path" << YAML::Value << YAML::DoubleQuoted << path;
      if (digests.size() == 1) {
        e << YAML::Key << "digest" << YAML::Value << *digests.begin();
      } else {
        e << YAML::Key << "digests" << YAML::Value << YAML::BeginSeq;
        for (const std::string& d : digests) e << d;
        e << YAML::EndSeq;
      }
      e << YAML::EndMap;
    }
    e << YAML::EndSeq << YAML::EndMap;
    draft.yaml = std::string(e.c_str()) + "\n";
    out.push_back(std::move(draft));
  }
  return out;
}

Status Learner::WriteDrafts(const std::string& dir) const {
  for (const LearnedDraft& d : Drafts()) {
    IMMUNE_RETURN_IF_ERROR(WriteFileAtomic(dir + "/" + d.file_name, AsBytes(d.yaml)));
  }
  return OkStatus();
}

}  // namespace immune::policy
