// Layer manifests: every regular file of one read-only overlay layer
// hashed once, with the metadata that tells whether the layer is still the
// one that was hashed.
//
// A manifest is identified by the layer directory's (st_dev, st_ino) and a
// fingerprint: the hash of the walk's (path, kind, mode, size, mtime, ctime,
// ino) records. Computing the fingerprint stats every entry but reads no
// file content, so checking a cached manifest costs a metadata walk instead
// of hashing the layer. ctime is in the fingerprint because nobody can set
// it back: a write that restores size and mtime (touch -d) still moves it.
//
// LayerManifestCache keeps manifests in memory and, when given a directory,
// as JSON files there ("layer-<dev>-<ino>.json", written atomically, with a
// format name and version, the hash algorithm and the writer), reused only
// when the fingerprint matches. The cache directory must belong to the
// caller's effective uid and not be writable by group or others: whoever can
// write it can forge every digest in it.
//
// Thread safety: LayerManifest is a value (shared as shared_ptr<const>).
// LayerManifestCache's methods may be called from any thread (a mutex
// guards the map; hashing runs outside it, so two threads asking for the
// same new layer may both hash it, and the result is the same).
#ifndef IMMUNE_AGENTS_OVERLAY_MANIFEST_H_
#define IMMUNE_AGENTS_OVERLAY_MANIFEST_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "immune/core/bytes.h"
#include "immune/core/digest.h"
#include "immune/core/error.h"

namespace immune::agents {

// What a layer entry means to overlayfs. Plain directories are not entries
// (overlayfs merges them); an opaque one is, because it hides lower layers.
enum class LayerEntryKind : std::uint8_t { kFile, kSymlink, kWhiteout, kOpaqueDir };
std::string_view LayerEntryKindName(LayerEntryKind k);  // "file", "symlink", "whiteout", "opaque"

struct LayerEntry {
  LayerEntryKind kind = LayerEntryKind::kFile;
  Bytes digest;  // kFile: H(content); kSymlink: H(target); empty otherwise
  std::uint32_t mode = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t ino = 0;
  bool operator==(const LayerEntry&) const = default;
};

inline constexpr int kLayerManifestVersion = 1;
inline constexpr const char* kLayerManifestFormat = "immune-layer-manifest";

struct LayerManifest {
  std::string layer_dir;
  std::uint64_t dev = 0;  // st_dev and st_ino of layer_dir
  std::uint64_t ino = 0;
  HashAlg alg = HashAlg::kSha256;
  Bytes fingerprint;                          // H(walk records), same algorithm
  std::map<std::string, LayerEntry> entries;  // "/usr/bin/env" -> entry
  std::uint64_t files_hashed = 0;             // regular files read to build it
  std::uint64_t bytes_hashed = 0;
};

// The fingerprint of the layer at `dir` now (stats only) and the directory's
// identity. Errors name the directory and the entry.
struct LayerIdentity {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  Bytes fingerprint;
};
Result<LayerIdentity> FingerprintLayer(const std::string& dir, HashAlg alg);

// Hashes every regular file (and symlink target) of the layer at `dir`.
// kAborted when the layer changed while it was hashed (the fingerprints
// before and after differ).
Result<LayerManifest> BuildLayerManifest(const std::string& dir, HashAlg alg);

nlohmann::json LayerManifestToJson(const LayerManifest& m);
// Checks format, version, algorithm, digest sizes and every field; errors
// are kCorruption naming `source` and the entry index ("entries[12].digest").
Result<LayerManifest> LayerManifestFromJson(const nlohmann::json& j, std::string_view source);

struct LayerCacheStats {
  std::uint64_t memory_hits = 0;
  std::uint64_t disk_hits = 0;
  std::uint64_t builds = 0;        // layers hashed
  std::uint64_t files_hashed = 0;  // by those builds
  std::uint64_t bytes_hashed = 0;
  std::uint64_t disk_rejected = 0;  // cache files unreadable, corrupt or stale
  std::uint64_t disk_write_failures = 0;
};

class LayerManifestCache {
 public:
  // `cache_dir` empty: memory only. Otherwise it is created (0700) when
  // missing; kPermissionDenied when it is not a directory owned by the
  // effective uid, or is writable by group or others.
  static Result<std::unique_ptr<LayerManifestCache>> Create(HashAlg alg, std::string cache_dir = "");

  // The manifest of the layer at `dir`: from memory or disk when the
  // fingerprint matches, else built (and stored). `from_cache` (optional)
  // says which.
  Result<std::shared_ptr<const LayerManifest>> Get(const std::string& dir, bool* from_cache = nullptr);

  LayerCacheStats stats() const;
  HashAlg alg() const { return alg_; }
  const std::string& cache_dir() const { return cache_dir_; }

 private:
  LayerManifestCache(HashAlg alg, std::string cache_dir) : alg_(alg), cache_dir_(std::move(cache_dir)) {}
  std::string DiskPath(std::uint64_t dev, std::uint64_t ino) const;

  const HashAlg alg_;
  const std::string cache_dir_;
  mutable std::mutex mu_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::shared_ptr<const LayerManifest>> memory_;
  LayerCacheStats stats_;
};

}  // namespace immune::agents

#endif  // IMMUNE_AGENTS_OVERLAY_MANIFEST_H_
