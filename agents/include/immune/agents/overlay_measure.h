// Metadata-driven measurement of a container's overlay filesystem
// (docs/overlay-measurement.md).
//
// The lower layers are the image: each is hashed once into a LayerManifest
// (overlay_manifest.h) and reused by every container made from it. A
// container's own changes are all in its upper directory, so only that is
// walked: a regular file there was created or copied up (hashed through an
// O_NOFOLLOW fd and compared with the lower digest of the same path), a
// whiteout or an opaque directory hides lower content (deleted), and every
// lower file not shadowed inherits its layer's digest without being read.
//
// Everything is read from the host: the container may be running, paused
// (frozen: nothing of it runs or is touched) or stopped with its overlay
// unmounted. Nothing enters the container's namespaces.
//
// Thread safety: OverlayMeasurer::Measure may be called from any thread
// (the layer cache is locked; each call has its own buffers). Reports and
// the free functions are values and pure.
#ifndef IMMUNE_AGENTS_OVERLAY_MEASURE_H_
#define IMMUNE_AGENTS_OVERLAY_MEASURE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "immune/agents/overlay_layout.h"
#include "immune/agents/overlay_manifest.h"
#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"
#include "immune/tsb/measurement_entry.h"

namespace immune::agents {

struct OverlayItem {
  std::string path;  // as the container sees it: "/etc/passwd"
  LayerEntryKind kind = LayerEntryKind::kFile;
  Bytes digest;        // now (empty for deleted)
  Bytes lower_digest;  // in the lower layers (empty when created)
  bool operator==(const OverlayItem&) const = default;
};

// path -> digest of every file and symlink a container sees.
using DigestMap = std::map<std::string, Bytes>;

struct OverlayReport {
  HashAlg alg = HashAlg::kSha256;
  OverlayLayout layout;
  std::vector<OverlayItem> created;  // in upper only
  std::vector<OverlayItem> changed;  // in upper and lower, digests differ
  std::vector<OverlayItem> deleted;  // lower content hidden by a whiteout, an opaque or replacing entry
  // Copied up with the same content (a chmod, a touch, an open for write
  // that wrote nothing) or metadata-only copy-ups (metacopy=on).
  std::vector<OverlayItem> unchanged_copied_up;
  std::uint64_t inherited = 0;     // lower entries visible as they are: not read
  std::uint64_t hashed_files = 0;  // regular files of the upper dir hashed now
  std::uint64_t hashed_bytes = 0;
  std::uint64_t metacopy = 0;  // upper files whose data is still in a lower layer
  std::uint64_t vanished = 0;  // upper entries gone while walked (a running container)
  // Layer manifests: how many came from the cache, how many were built now
  // and the files that building read (zero when every layer was cached).
  std::uint64_t layers_cached = 0;
  std::uint64_t layers_built = 0;
  std::uint64_t layer_files_hashed = 0;
  // What the measurement could not attribute (redirect_dir renames, entries
  // that are neither file, symlink, directory nor whiteout), one line each.
  std::vector<std::string> warnings;
  // The merged lower layers (the image as the container started with it):
  // the default baseline of DiffAgainstBaseline. Never null after Measure;
  // shared between reports of containers of the same layers (immutable).
  std::shared_ptr<const DigestMap> lower_view;
};

struct OverlayMeasureOptions {
  HashAlg alg = HashAlg::kSha256;
  std::string cache_dir;  // persisted layer manifests; empty: memory only
};

class OverlayMeasurer {
 public:
  // Errors as LayerManifestCache::Create.
  static Result<std::unique_ptr<OverlayMeasurer>> Create(const OverlayMeasureOptions& options);

  // Measures the overlay made of `layout` (from a mount or given directly).
  // Lower layers come from the cache or are hashed and cached; the upper
  // dir is walked and its regular files hashed. Errors name the layer or
  // the upper path; kAborted when a lower layer changed during the call.
  Result<OverlayReport> Measure(const OverlayLayout& layout);

  LayerManifestCache& layers() { return *layers_; }

  struct MergedLowers;  // a layer stack's merged view, kept for the next container of the same image

 private:
  explicit OverlayMeasurer(std::unique_ptr<LayerManifestCache> layers) : layers_(std::move(layers)) {}
  std::shared_ptr<const MergedLowers> Merged(
      const std::vector<std::shared_ptr<const LayerManifest>>& top_first);

  std::unique_ptr<LayerManifestCache> layers_;
  std::mutex mu_;                                            // guards merged_
  std::vector<std::shared_ptr<const MergedLowers>> merged_;  // most recent first, bounded
};

// The merged view of lower layers given top first (overlayfs's lookup
// order): whiteouts and opaque directories of a layer hide what lies below.
DigestMap MergeLowerLayers(const std::vector<std::shared_ptr<const LayerManifest>>& top_first);

// What the container sees: report.lower_view with the upper dir applied.
DigestMap ContainerView(const OverlayReport& report);

struct BaselineDifference {
  enum class Kind : std::uint8_t { kAdded, kModified, kMissing };
  Kind kind = Kind::kAdded;
  std::string path;
  Bytes digest;           // in the container (empty when missing)
  Bytes baseline_digest;  // in the baseline (empty when added)
  bool operator==(const BaselineDifference&) const = default;
};
std::string_view BaselineDifferenceKindName(BaselineDifference::Kind k);  // "added", "modified", "missing"

// The container's view against an image baseline (path -> digest, as a
// ledger publishes it), sorted by path. With `baseline` null the baseline is
// the report's own lower layers, so only the upper dir's changes appear.
std::vector<BaselineDifference> DiffAgainstBaseline(const OverlayReport& report,
                                                    const DigestMap* baseline = nullptr);

struct OverlayEntryOptions {
  std::string container_id;  // required: immune-ct entries name their container
  std::string image;
  bool include_deleted =
      false;  // also "overlay:deleted" entries, with an all-zero digest (as IMA's violations)
  tsb::Decision decision =
      tsb::Decision::kAudit;  // measured, not yet decided: the daemon's policy may override
};

// One immune-ct entry per created ("overlay:created") and changed
// ("overlay:changed") file, in path order, ready for the daemon to submit.
// kInvalidArgument when container_id is empty or an entry does not validate.
Result<std::vector<tsb::MeasurementEntry>> OverlayReportEntries(const OverlayReport& report,
                                                                const OverlayEntryOptions& options);

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_OVERLAY_MEASURE_H_
