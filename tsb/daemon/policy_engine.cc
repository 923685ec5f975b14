#include "immune/tsbd/policy_engine.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "immune/chain/ledger_policy.h"
#include "immune/chain/store.h"
#include "immune/chain/trust.h"
#include "immune/core/file.h"
#include "immune/core/log.h"
#include "immune/policy/bundle.h"

namespace immune::tsbd {

namespace {

using json = nlohmann::json;

bool LooksLikeDsse(std::string_view text) {
  const auto p = text.find_first_not_of(" \t\r\n");
  return p != std::string_view::npos && text[p] == '{' && text.find("\"payloadType\"") != std::string_view::npos &&
         text.find("\"signatures\"") != std::string_view::npos;
}

bool PolicyFileName(const std::filesystem::path& p) {
  const auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

}  // namespace

tsb::Decision ToTsbDecision(policy::Verdict v) {
  switch (v) {
    case policy::Verdict::kAllow:
      return tsb::Decision::kAllow;
    case policy::Verdict::kAuditDeny:
      return tsb::Decision::kAudit;
    case policy::Verdict::kDeny:
      break;
  }
  return tsb::Decision::kDeny;
}

PolicyEngine::PolicyEngine(PolicySection section, std::string state_dir, std::unique_ptr<PolicyHook> fallback)
    : section_(std::move(section)),
      learn_dir_(section_.learn_dir.empty() ? state_dir + "/learned" : section_.learn_dir),
      fallback_(std::move(fallback)) {}

Result<std::unique_ptr<PolicyEngine>> PolicyEngine::Create(PolicySection section, std::string state_dir,
                                                           std::unique_ptr<PolicyHook> fallback) {
  std::unique_ptr<PolicyEngine> e(new PolicyEngine(std::move(section), std::move(state_dir), std::move(fallback)));
  for (const auto& k : e->section_.bundle_keys) {
    Status s = e->bundle_keys_.AddPemFile(k);
    if (!s.ok()) return s.error().WithContext("policy.bundle_keys");
  }
  if (!e->section_.paths.empty() || !e->section_.ledger.empty()) {
    IMMUNE_ASSIGN_OR_RETURN(auto docs, e->LoadPaths());
    auto gen = e->Install(std::move(docs), "configuration");
    if (!gen.ok()) return gen.error();
  }
  return e;
}

Result<std::vector<policy::Document>> PolicyEngine::LoadText(std::string_view text, std::string_view source) const {
  if (LooksLikeDsse(text)) {
    if (bundle_keys_.size() == 0)
      return PermissionDenied(std::string(source) +
                              ": a signed bundle, but no policy.bundle_keys are configured to verify it");
    return policy::OpenPolicyBundle(text, source, bundle_keys_);
  }
  if (bundle_keys_.size() != 0)
    return PermissionDenied(std::string(source) +
                            ": not a signed bundle; policy.bundle_keys is set, so only `immunectl policy sign`ed "
                            "bundles load");
  return policy::ParseDocuments(text, source);
}

Result<std::vector<policy::Document>> PolicyEngine::LoadPaths() const {
  std::vector<policy::Document> all;
  for (const auto& p : section_.paths) {
    std::vector<std::string> files;
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (const auto& de : std::filesystem::directory_iterator(p, ec))
        if (de.is_regular_file() && PolicyFileName(de.path())) files.push_back(de.path().string());
      if (ec) return IoError("policy.paths: " + p + ": " + ec.message());
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(p);
    }
    for (const auto& f : files) {
      IMMUNE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(f));
      IMMUNE_ASSIGN_OR_RETURN(auto docs, LoadText(text, f));
      for (auto& d : docs) all.push_back(std::move(d));
    }
  }
  IMMUNE_ASSIGN_OR_RETURN(auto ledger, LoadLedger());
  for (auto& d : ledger) all.push_back(std::move(d));
  return all;
}

Result<std::vector<policy::Document>> PolicyEngine::LoadLedger() const {
  std::vector<policy::Document> all;
  if (!section_.ledger.empty()) {
    const std::string where = "policy.ledger " + section_.ledger;
    IMMUNE_ASSIGN_OR_RETURN(std::string trust_text, ReadTextFile(section_.ledger_trust));
    auto trust = chain::TrustConfig::FromJson(trust_text);
    if (!trust.ok()) return trust.error().WithContext(section_.ledger_trust);
    auto store = chain::OpenStore(section_.ledger, /*create=*/false);
    if (!store.ok()) return store.error().WithContext(where);
    chain::LedgerPolicyOptions opt;
    opt.host_image = section_.ledger_host_image;
    if (bundle_keys_.size() != 0) opt.bundle_keys = &bundle_keys_;
    auto lp = chain::PolicyFromLedger(**store, *trust, opt);
    if (!lp.ok()) return lp.error().WithContext(where);
    LogInfo(where + ": " + std::to_string(lp->blocks) + " verified blocks, " + std::to_string(lp->file_baselines) +
            " file baselines, " + std::to_string(lp->policy_bundles) + " policy bundles, " +
            std::to_string(lp->revoked) + " revoked records left out");
    for (auto& d : lp->documents) all.push_back(std::move(d));
  }
  return all;
}

namespace {

constexpr std::string_view kLedgerBaselines = "ledger:file-baselines/";

// `baseline-of: IMAGE` entries become the ledger's {path, digest} entries of
// that image (the documents PolicyFromLedger made); an image the ledger has
// no baseline of is an error naming the entry.
Status ResolveBaselineReferences(std::vector<policy::Document>& docs) {
  std::map<std::string, std::vector<policy::Rule>> baselines;
  for (const auto& d : docs)
    if (d.where.file.starts_with(kLedgerBaselines))
      baselines[d.where.file.substr(kLedgerBaselines.size())] = d.allow;
  for (auto& d : docs) {
    bool refers = false;
    for (const auto& r : d.allow) refers = refers || r.kind == policy::RuleKind::kBaselineOf;
    if (!refers) continue;
    std::vector<policy::Rule> expanded;
    for (auto& r : d.allow) {
      if (r.kind != policy::RuleKind::kBaselineOf) {
        expanded.push_back(std::move(r));
        continue;
      }
      auto it = baselines.find(r.path);
      if (it == baselines.end())
        return InvalidArgument(r.where.ToString() + ": baseline-of '" + r.path +
                               "': the ledger (policy.ledger) has no file baselines of that image");
      for (policy::Rule b : it->second) {
        b.where = r.where;  // decisions name the referencing entry
        expanded.push_back(std::move(b));
      }
    }
    d.allow = std::move(expanded);
  }
  return OkStatus();
}

}  // namespace

Result<std::uint64_t> PolicyEngine::Install(std::vector<policy::Document> docs, std::string origin) {
  IMMUNE_RETURN_IF_ERROR(ResolveBaselineReferences(docs));
  std::lock_guard lock(mu_);
  IMMUNE_ASSIGN_OR_RETURN(auto snap, policy::Compile(std::move(docs)));
  const std::uint64_t gen = snap->generation();
  for (const auto& l : listeners_) l(*snap);
  store_.Swap(std::move(snap));
  origin_ = std::move(origin);
  LogInfo("policy generation " + std::to_string(gen) + " from " + origin_);
  return gen;
}

void PolicyEngine::AddInstallListener(std::function<void(const policy::Snapshot&)> listener) {
  std::lock_guard lock(mu_);
  if (auto snap = store_.Current()) listener(*snap);
  listeners_.push_back(std::move(listener));
}

Result<std::uint64_t> PolicyEngine::Reload() {
  IMMUNE_ASSIGN_OR_RETURN(auto docs, LoadPaths());
  return Install(std::move(docs), "configuration");
}

Result<std::uint64_t> PolicyEngine::Apply(std::string_view text, std::string_view source) {
  IMMUNE_ASSIGN_OR_RETURN(auto docs, LoadText(text, source));
  // The ledger's baselines stay: an applied text replaces the files' part.
  IMMUNE_ASSIGN_OR_RETURN(auto ledger, LoadLedger());
  for (auto& d : ledger) docs.push_back(std::move(d));
  return Install(std::move(docs), std::string(source));
}

Result<std::vector<std::string>> PolicyEngine::WriteLearned() {
  std::error_code ec;
  std::filesystem::create_directories(learn_dir_, ec);
  if (ec) return IoError("learn directory " + learn_dir_ + ": " + ec.message());
  ::chmod(learn_dir_.c_str(), 0700);
  IMMUNE_RETURN_IF_ERROR(learner_.WriteDrafts(learn_dir_));
  std::vector<std::string> paths;
  for (const auto& d : learner_.Drafts()) paths.push_back(learn_dir_ + "/" + d.file_name);
  return paths;
}

std::string PolicyEngine::StatusJson() const {
  json j;
  auto snap = store_.Current();
  j["loaded"] = snap != nullptr;
  j["generation"] = snap ? snap->generation() : 0;
  {
    std::lock_guard lock(mu_);
    j["origin"] = origin_;
  }
  json docs = json::array();
  if (snap) {
    for (const auto& d : snap->documents())
      docs.push_back({{"scope", d.scope.ToString()},
                      {"mode", std::string(policy::ModeName(d.mode.value_or(policy::Mode::kEnforce)))},
                      {"source", d.where.ToString()},
                      {"allow", d.allow.size()},
                      {"deny", d.deny.size()}});
  }
  j["documents"] = docs;
  j["signed_bundles_required"] = bundle_keys_.size() != 0;
  j["learned"] = learner_.size();
  j["learn_dir"] = learn_dir_;
  return j.dump();
}

Verdict PolicyEngine::Decide(const tsb::MeasurementEntry& e) {
  auto snap = store_.Current();
  if (!snap) return fallback_->Decide(e);
  policy::Subject subject{e.container_id, e.image, e.exe, e.pid};
  policy::Object object{e.path, e.file_hash_alg, e.file_digest, e.signature};
  const policy::Decision d = snap->Decide(subject, object);
  if (d.mode == policy::Mode::kLearn) learner_.Record(subject, object);
  return Verdict{0, ToTsbDecision(d.verdict), std::string(d.rule)};
}

}  // namespace immune::tsbd
