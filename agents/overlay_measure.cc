#include "immune/agents/overlay_measure.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include "overlay_walk.h"

namespace immune::agents {

namespace {

using overlay_internal::NodeKind;
using overlay_internal::WalkNode;

using LowerMap = std::map<std::string, const LayerEntry*>;

// Calls f(path, entry) for every entry of `m` strictly below directory `dir`.
template <typename Map, typename F>
void ForEachBelow(Map& m, const std::string& dir, F f) {
  const std::string prefix = dir + "/";
  for (auto it = m.lower_bound(prefix); it != m.end() && it->first.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    f(it->first, it->second);
  }
}

template <typename Map>
void EraseBelow(Map& m, const std::string& dir) {
  const std::string prefix = dir + "/";
  auto first = m.lower_bound(prefix);
  auto last = first;
  while (last != m.end() && last->first.compare(0, prefix.size(), prefix) == 0) ++last;
  m.erase(first, last);
}

// overlayfs's lookup, applied bottom-up: a layer's whiteouts and opaque
// directories remove what the layers below put there, then its own files
// and symlinks land on top (a file also replaces a lower directory).
LowerMap MergeLayers(const std::vector<std::shared_ptr<const LayerManifest>>& top_first) {
  LowerMap view;
  for (auto layer = top_first.rbegin(); layer != top_first.rend(); ++layer) {
    for (const auto& [path, e] : (*layer)->entries) {
      switch (e.kind) {
        case LayerEntryKind::kWhiteout:
        case LayerEntryKind::kOpaqueDir:
          view.erase(path);
          EraseBelow(view, path);
          break;
        case LayerEntryKind::kFile:
        case LayerEntryKind::kSymlink:
          EraseBelow(view, path);
          view[path] = &e;
          break;
      }
    }
  }
  return view;
}

struct UpperNode {
  NodeKind kind = NodeKind::kOther;
  bool opaque = false;
  bool metacopy = false;
  std::string redirect;  // metacopy: where the data is (overlay.redirect), else empty
  Bytes digest;
};

OverlayItem Item(const std::string& path, LayerEntryKind kind, Bytes digest, const LayerEntry* lower) {
  OverlayItem it;
  it.path = path;
  it.kind = kind;
  it.digest = std::move(digest);
  if (lower != nullptr) it.lower_digest = lower->digest;
  return it;
}

// The upper dir's metadata, read in one walk; regular files are hashed
// unless their data is still in a lower layer (metacopy).
Status WalkUpper(const std::string& upper, HashAlg alg, std::map<std::string, UpperNode>& nodes,
                 OverlayReport& report) {
  Bytes buffer;
  auto visit = [&](const WalkNode& n) -> Status {
    UpperNode u;
    u.kind = n.kind;
    switch (n.kind) {
      case NodeKind::kFile: {
        auto fd = overlay_internal::OpenRegularAt(n.dirfd, n.name, n.path);
        if (!fd.ok()) {
          if (fd.error().code() == ErrorCode::kNotFound) {
            ++report.vanished;
            return OkStatus();
          }
          return fd.error();
        }
        std::string redirect;
        u.metacopy = overlay_internal::OverlayXattr(*fd, "metacopy");
        if (u.metacopy) {
          if (overlay_internal::OverlayXattr(*fd, "redirect", &redirect) && !redirect.empty()) {
            const std::string parent = n.path.substr(0, n.path.rfind('/'));
            u.redirect = redirect.front() == '/' ? redirect : parent + "/" + redirect;
          }
        } else {
          std::uint64_t bytes = 0;
          auto d = overlay_internal::HashFd(*fd, n.path, alg, buffer, &bytes);
          ::close(*fd);
          if (!d.ok()) return d.error();
          u.digest = std::move(*d);
          ++report.hashed_files;
          report.hashed_bytes += bytes;
          break;
        }
        ::close(*fd);
        break;
      }
      case NodeKind::kSymlink: {
        auto d = overlay_internal::HashSymlinkAt(n.dirfd, n.name, n.path, alg);
        if (!d.ok()) {
          if (d.error().code() == ErrorCode::kNotFound) {
            ++report.vanished;
            return OkStatus();
          }
          return d.error();
        }
        u.digest = std::move(*d);
        break;
      }
      case NodeKind::kDir:
        u.opaque = n.opaque;
        if (overlay_internal::OverlayXattr(n.fd, "redirect")) {
          report.warnings.push_back(n.path +
                                    ": renamed directory (overlay.redirect): the lower content it shows "
                                    "is not attributed to this path");
        }
        break;
      case NodeKind::kWhiteout: break;
      case NodeKind::kOther:
        report.warnings.push_back(n.path + ": device, fifo or socket in the upper dir: not measured");
        break;
    }
    nodes.emplace(n.path, std::move(u));
    return OkStatus();
  };
  IMMUNE_ASSIGN_OR_RETURN(auto stats, overlay_internal::WalkTree(upper, visit));
  report.vanished += stats.vanished;
  return OkStatus();
}

}  // namespace

struct OverlayMeasurer::MergedLowers {
  std::vector<std::shared_ptr<const LayerManifest>> manifests;  // keeps `low`'s pointers valid
  LowerMap low;
  std::shared_ptr<const DigestMap> view;
};

std::shared_ptr<const OverlayMeasurer::MergedLowers> OverlayMeasurer::Merged(
    const std::vector<std::shared_ptr<const LayerManifest>>& top_first) {
  // Many containers share an image: merging its layers once per image
  // (not per measurement) keeps an unchanged container's cost at the walks.
  constexpr std::size_t kKeep = 32;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = merged_.begin(); it != merged_.end(); ++it) {
      if ((*it)->manifests == top_first) {
        auto hit = *it;
        merged_.erase(it);
        merged_.insert(merged_.begin(), hit);
        return hit;
      }
    }
  }
  auto m = std::make_shared<MergedLowers>();
  m->manifests = top_first;
  m->low = MergeLayers(top_first);
  auto view = std::make_shared<DigestMap>();
  for (const auto& [path, e] : m->low) view->emplace_hint(view->end(), path, e->digest);
  m->view = std::move(view);
  std::lock_guard<std::mutex> lock(mu_);
  merged_.insert(merged_.begin(), m);
  if (merged_.size() > kKeep) merged_.pop_back();
  return m;
}

Result<std::unique_ptr<OverlayMeasurer>> OverlayMeasurer::Create(const OverlayMeasureOptions& options) {
  IMMUNE_ASSIGN_OR_RETURN(auto cache, LayerManifestCache::Create(options.alg, options.cache_dir));
  return std::unique_ptr<OverlayMeasurer>(new OverlayMeasurer(std::move(cache)));
}

Result<OverlayReport> OverlayMeasurer::Measure(const OverlayLayout& layout) {
  if (layout.lowers.empty()) return InvalidArgument("overlay layout has no lower layer");
  OverlayReport report;
  report.alg = layers_->alg();
  report.layout = layout;

  std::vector<std::shared_ptr<const LayerManifest>> manifests;
  for (const std::string& dir : layout.lowers) {
    bool cached = false;
    auto m = layers_->Get(dir, &cached);
    if (!m.ok()) return m.error().WithContext("lower layer");
    if (cached) {
      ++report.layers_cached;
    } else {
      ++report.layers_built;
      report.layer_files_hashed += (*m)->files_hashed;
    }
    manifests.push_back(std::move(*m));
  }
  const std::shared_ptr<const MergedLowers> merged = Merged(manifests);
  const LowerMap& low = merged->low;
  report.lower_view = merged->view;

  std::map<std::string, UpperNode> upper;
  if (!layout.upper.empty()) {
    Status s = WalkUpper(layout.upper, report.alg, upper, report);
    if (!s.ok()) return s.error().WithContext("upper dir");
  }

  std::set<std::string> deleted;
  std::uint64_t shadowed = 0;
  auto hide = [&](const std::string& p, const LayerEntry*) { deleted.insert(p); };
  for (const auto& [path, u] : upper) {
    const auto lit = low.find(path);
    const LayerEntry* lower = lit == low.end() ? nullptr : lit->second;
    switch (u.kind) {
      case NodeKind::kWhiteout:
        if (lower != nullptr) deleted.insert(path);
        ForEachBelow(low, path, hide);
        break;
      case NodeKind::kDir:
        if (lower != nullptr) deleted.insert(path);  // a directory replaced a lower file
        if (u.opaque) {
          ForEachBelow(low, path, [&](const std::string& p, const LayerEntry*) {
            if (upper.find(p) == upper.end()) deleted.insert(p);
          });
        }
        break;
      case NodeKind::kFile:
      case NodeKind::kSymlink: {
        ForEachBelow(low, path, hide);  // a file replaced a lower directory
        const LayerEntryKind kind =
            u.kind == NodeKind::kFile ? LayerEntryKind::kFile : LayerEntryKind::kSymlink;
        Bytes digest = u.digest;
        if (u.metacopy) {
          const auto src = low.find(u.redirect.empty() ? path : u.redirect);
          if (src == low.end()) {
            report.warnings.push_back(path + ": metacopy upper file whose lower data was not found");
            continue;
          }
          digest = src->second->digest;
          ++report.metacopy;
        }
        if (lower != nullptr) ++shadowed;
        if (lower == nullptr) {
          report.created.push_back(Item(path, kind, std::move(digest), nullptr));
        } else if (lower->kind == kind && lower->digest == digest) {
          report.unchanged_copied_up.push_back(Item(path, kind, std::move(digest), lower));
        } else {
          report.changed.push_back(Item(path, kind, std::move(digest), lower));
        }
        break;
      }
      case NodeKind::kOther: break;
    }
  }
  for (const std::string& p : deleted) report.deleted.push_back(Item(p, low.at(p)->kind, {}, low.at(p)));
  report.inherited = low.size() - shadowed - deleted.size();
  return report;
}

DigestMap MergeLowerLayers(const std::vector<std::shared_ptr<const LayerManifest>>& top_first) {
  DigestMap out;
  for (const auto& [path, e] : MergeLayers(top_first)) out.emplace(path, e->digest);
  return out;
}

DigestMap ContainerView(const OverlayReport& report) {
  DigestMap view = report.lower_view ? *report.lower_view : DigestMap{};
  for (const auto& it : report.deleted) view.erase(it.path);
  for (const auto* items : {&report.created, &report.changed, &report.unchanged_copied_up}) {
    for (const auto& it : *items) view[it.path] = it.digest;
  }
  return view;
}

std::string_view BaselineDifferenceKindName(BaselineDifference::Kind k) {
  switch (k) {
    case BaselineDifference::Kind::kAdded: return "added";
    case BaselineDifference::Kind::kModified: return "modified";
    case BaselineDifference::Kind::kMissing: return "missing";
  }
  return "unknown";
}

std::vector<BaselineDifference> DiffAgainstBaseline(const OverlayReport& report, const DigestMap* baseline) {
  const DigestMap now = ContainerView(report);
  static const DigestMap kEmpty;
  const DigestMap& base = baseline != nullptr ? *baseline : report.lower_view ? *report.lower_view : kEmpty;
  std::vector<BaselineDifference> out;
  auto a = now.begin();
  auto b = base.begin();
  using Kind = BaselineDifference::Kind;
  while (a != now.end() || b != base.end()) {
    if (b == base.end() || (a != now.end() && a->first < b->first)) {
      out.push_back({Kind::kAdded, a->first, a->second, {}});
      ++a;
    } else if (a == now.end() || b->first < a->first) {
      out.push_back({Kind::kMissing, b->first, {}, b->second});
      ++b;
    } else {
      if (a->second != b->second) out.push_back({Kind::kModified, a->first, a->second, b->second});
      ++a;
      ++b;
    }
  }
  return out;
}

Result<std::vector<tsb::MeasurementEntry>> OverlayReportEntries(const OverlayReport& report,
                                                                const OverlayEntryOptions& options) {
  if (options.container_id.empty()) return InvalidArgument("overlay entries: container_id is empty");
  std::vector<std::pair<const OverlayItem*, const char*>> items;
  for (const auto& it : report.created) items.emplace_back(&it, "overlay:created");
  for (const auto& it : report.changed) items.emplace_back(&it, "overlay:changed");
  if (options.include_deleted) {
    for (const auto& it : report.deleted) items.emplace_back(&it, "overlay:deleted");
  }
  std::sort(items.begin(), items.end(),
            [](const auto& x, const auto& y) { return x.first->path < y.first->path; });
  std::vector<tsb::MeasurementEntry> out;
  out.reserve(items.size());
  for (const auto& [item, rule] : items) {
    tsb::MeasurementEntry e;
    e.template_kind = tsb::TemplateKind::kImmuneCt;
    e.container_id = options.container_id;
    e.image = options.image;
    e.path = item->path;
    e.file_hash_alg = report.alg;
    e.file_digest = item->digest.empty() ? Bytes(DigestSize(report.alg), 0) : item->digest;
    e.decision = options.decision;
    e.rule = rule;
    Status s = tsb::ValidateEntry(e);
    if (!s.ok()) return s.error().WithContext("overlay entry for " + item->path);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace immune::agents
