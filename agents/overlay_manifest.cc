#include "immune/agents/overlay_manifest.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "immune/core/file.h"
#include "immune/core/hex.h"
#include "immune/core/json_bytes.h"
#include "overlay_walk.h"

namespace immune::agents {

namespace {

using overlay_internal::NodeKind;
using overlay_internal::WalkNode;

std::int64_t Ns(const struct timespec& ts) {
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

template <typename T>
void Put(std::uint8_t*& out, T v) {
  std::memcpy(out, &v, sizeof(T));
  out += sizeof(T);
}

// One walk record into the fingerprint. Every entry counts, plain
// directories included: a rename inside the layer changes a path here.
// Packed into one buffer: one hasher update per entry.
void AddRecord(Hasher& h, std::vector<std::uint8_t>& rec, const WalkNode& n) {
  rec.resize(n.path.size() + 1 + 2 + 4 + 8 * 4);
  std::memcpy(rec.data(), n.path.data(), n.path.size());
  std::uint8_t* out = rec.data() + n.path.size();
  *out++ = 0;
  Put(out, static_cast<std::uint8_t>(n.kind));
  Put(out, static_cast<std::uint8_t>(n.opaque));
  Put(out, static_cast<std::uint32_t>(n.st.st_mode));
  Put(out, static_cast<std::uint64_t>(n.st.st_size));
  Put(out, Ns(n.st.st_mtim));
  Put(out, Ns(n.st.st_ctim));
  Put(out, static_cast<std::uint64_t>(n.st.st_ino));
  h.Update(ByteSpan(rec.data(), rec.size()));
}

struct Scan {
  LayerIdentity id;
  LayerManifest manifest;
};

Result<Scan> ScanLayer(const std::string& dir, HashAlg alg, bool hash) {
  Scan scan;
  struct stat root {};
  if (::stat(dir.c_str(), &root) != 0) {
    const std::string msg = dir + ": layer directory: " + std::strerror(errno);
    return errno == ENOENT ? NotFound(msg) : IoError(msg);
  }
  if (!S_ISDIR(root.st_mode)) return InvalidArgument(dir + ": layer is not a directory");
  scan.id.dev = root.st_dev;
  scan.id.ino = root.st_ino;
  Hasher fp(alg);
  Bytes buffer;
  std::vector<std::uint8_t> record;
  LayerManifest& m = scan.manifest;
  auto visit = [&](const WalkNode& n) -> Status {
    AddRecord(fp, record, n);
    if (!hash) return OkStatus();
    LayerEntry e;
    e.mode = n.st.st_mode;
    e.size = static_cast<std::uint64_t>(n.st.st_size);
    e.mtime_ns = Ns(n.st.st_mtim);
    e.ino = n.st.st_ino;
    switch (n.kind) {
      case NodeKind::kFile: {
        std::uint64_t bytes = 0;
        IMMUNE_ASSIGN_OR_RETURN(e.digest,
                                overlay_internal::HashFileAt(n.dirfd, n.name, n.path, alg, buffer, &bytes));
        ++m.files_hashed;
        m.bytes_hashed += bytes;
        break;
      }
      case NodeKind::kSymlink: {
        e.kind = LayerEntryKind::kSymlink;
        IMMUNE_ASSIGN_OR_RETURN(e.digest, overlay_internal::HashSymlinkAt(n.dirfd, n.name, n.path, alg));
        break;
      }
      case NodeKind::kWhiteout: e.kind = LayerEntryKind::kWhiteout; break;
      case NodeKind::kDir:
        if (!n.opaque) return OkStatus();
        e.kind = LayerEntryKind::kOpaqueDir;
        break;
      case NodeKind::kOther: return OkStatus();  // devices, fifos, sockets: no content to measure
    }
    m.entries.emplace(n.path, std::move(e));
    return OkStatus();
  };
  IMMUNE_ASSIGN_OR_RETURN(auto stats, overlay_internal::WalkTree(dir, visit));
  // A read-only layer does not change: an entry vanishing mid-walk means
  // something is writing it, and the result would describe no real state.
  if (stats.vanished != 0) return Aborted(dir + ": layer changed while it was walked");
  IMMUNE_ASSIGN_OR_RETURN(scan.id.fingerprint, fp.Final());
  m.layer_dir = dir;
  m.dev = scan.id.dev;
  m.ino = scan.id.ino;
  m.alg = alg;
  m.fingerprint = scan.id.fingerprint;
  return scan;
}

Result<std::uint64_t> U64(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  // A parsed non-negative number is unsigned; one built in memory from an
  // int is signed: accept both when not negative.
  if (it == j.end() || !it->is_number_integer() ||
      (!it->is_number_unsigned() && it->get<std::int64_t>() < 0)) {
    return Corruption(where + "." + key + ": missing or not an unsigned integer");
  }
  return it->get<std::uint64_t>();
}

Result<std::string> Str(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return Corruption(where + "." + key + ": missing or not a string");
  return it->get<std::string>();
}

Result<Bytes> HexField(const nlohmann::json& j, const char* key, const std::string& where, std::size_t size) {
  IMMUNE_ASSIGN_OR_RETURN(std::string s, Str(j, key, where));
  auto b = FromHex(s);
  if (!b.ok()) return Corruption(where + "." + key + ": " + b.error().message());
  if (b->size() != size) {
    return Corruption(where + "." + key + ": " + std::to_string(b->size()) + " bytes, expected " +
                      std::to_string(size));
  }
  return b;
}

}  // namespace

std::string_view LayerEntryKindName(LayerEntryKind k) {
  switch (k) {
    case LayerEntryKind::kFile: return "file";
    case LayerEntryKind::kSymlink: return "symlink";
    case LayerEntryKind::kWhiteout: return "whiteout";
    case LayerEntryKind::kOpaqueDir: return "opaque";
  }
  return "unknown";
}

Result<LayerIdentity> FingerprintLayer(const std::string& dir, HashAlg alg) {
  IMMUNE_ASSIGN_OR_RETURN(Scan s, ScanLayer(dir, alg, false));
  return std::move(s.id);
}

Result<LayerManifest> BuildLayerManifest(const std::string& dir, HashAlg alg) {
  IMMUNE_ASSIGN_OR_RETURN(Scan s, ScanLayer(dir, alg, true));
  // The hashing walk's fingerprint covers the metadata seen while reading;
  // a second, stat-only walk after it shows whether anything moved since.
  IMMUNE_ASSIGN_OR_RETURN(LayerIdentity after, FingerprintLayer(dir, alg));
  if (after.fingerprint != s.id.fingerprint || after.ino != s.id.ino || after.dev != s.id.dev) {
    return Aborted(dir + ": layer changed while it was hashed");
  }
  return std::move(s.manifest);
}

nlohmann::json LayerManifestToJson(const LayerManifest& m) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& [path, e] : m.entries) {
    // A layer's file names are bytes: not UTF-8 ones are written as byte arrays (json_bytes.h).
    nlohmann::json je = {{"path", BytesToJson(path)}, {"kind", LayerEntryKindName(e.kind)},
                         {"mode", e.mode},         {"size", e.size},
                         {"mtime_ns", e.mtime_ns}, {"ino", e.ino}};
    if (!e.digest.empty()) je["digest"] = ToHex(e.digest);
    entries.push_back(std::move(je));
  }
  return {{"format", kLayerManifestFormat},
          {"version", kLayerManifestVersion},
          {"writer", "immune_agents_overlay"},
          {"hash_alg", HashAlgName(m.alg)},
          {"layer_dir", BytesToJson(m.layer_dir)},
          {"dev", m.dev},
          {"ino", m.ino},
          {"fingerprint", ToHex(m.fingerprint)},
          {"files_hashed", m.files_hashed},
          {"bytes_hashed", m.bytes_hashed},
          {"entries", std::move(entries)}};
}

Result<LayerManifest> LayerManifestFromJson(const nlohmann::json& j, std::string_view source) {
  const std::string src(source);
  if (!j.is_object()) return Corruption(src + ": not a JSON object");
  IMMUNE_ASSIGN_OR_RETURN(std::string format, Str(j, "format", src));
  if (format != kLayerManifestFormat)
    return Corruption(src + ": format '" + format + "' is not a layer manifest");
  IMMUNE_ASSIGN_OR_RETURN(std::uint64_t version, U64(j, "version", src));
  if (version != kLayerManifestVersion) {
    return Corruption(src + ": version " + std::to_string(version) + ", this reader knows " +
                      std::to_string(kLayerManifestVersion));
  }
  IMMUNE_ASSIGN_OR_RETURN(std::string alg_name, Str(j, "hash_alg", src));
  const auto alg = HashAlgFromName(alg_name);
  if (!alg) return Corruption(src + ".hash_alg: unknown algorithm '" + alg_name + "'");
  LayerManifest m;
  m.alg = *alg;
  const std::size_t dsize = DigestSize(*alg);
  {
    auto dir = j.find("layer_dir");
    std::optional<std::string> d = dir == j.end() ? std::nullopt : BytesFromJson(*dir);
    if (!d) return Corruption(src + ".layer_dir: missing or not a string or byte array");
    m.layer_dir = std::move(*d);
  }
  IMMUNE_ASSIGN_OR_RETURN(m.dev, U64(j, "dev", src));
  IMMUNE_ASSIGN_OR_RETURN(m.ino, U64(j, "ino", src));
  IMMUNE_ASSIGN_OR_RETURN(m.fingerprint, HexField(j, "fingerprint", src, dsize));
  IMMUNE_ASSIGN_OR_RETURN(m.files_hashed, U64(j, "files_hashed", src));
  IMMUNE_ASSIGN_OR_RETURN(m.bytes_hashed, U64(j, "bytes_hashed", src));
  auto it = j.find("entries");
  if (it == j.end() || !it->is_array()) return Corruption(src + ".entries: missing or not an array");
  for (std::size_t i = 0; i < it->size(); ++i) {
    const nlohmann::json& je = (*it)[i];
    const std::string where = src + ".entries[" + std::to_string(i) + "]";
    if (!je.is_object()) return Corruption(where + ": not an object");
    auto path_member = je.find("path");
    std::optional<std::string> path_bytes = path_member == je.end() ? std::nullopt : BytesFromJson(*path_member);
    if (!path_bytes) return Corruption(where + ".path: missing or not a string or byte array");
    const std::string path = std::move(*path_bytes);
    if (path.size() < 2 || path.front() != '/' || path.find('\0') != std::string::npos) {
      return Corruption(where + ".path: '" + path + "' is not an absolute path inside the layer");
    }
    IMMUNE_ASSIGN_OR_RETURN(std::string kind, Str(je, "kind", where));
    LayerEntry e;
    if (kind == "file") {
      e.kind = LayerEntryKind::kFile;
    } else if (kind == "symlink") {
      e.kind = LayerEntryKind::kSymlink;
    } else if (kind == "whiteout") {
      e.kind = LayerEntryKind::kWhiteout;
    } else if (kind == "opaque") {
      e.kind = LayerEntryKind::kOpaqueDir;
    } else {
      return Corruption(where + ".kind: unknown kind '" + kind + "'");
    }
    if (e.kind == LayerEntryKind::kFile || e.kind == LayerEntryKind::kSymlink) {
      IMMUNE_ASSIGN_OR_RETURN(e.digest, HexField(je, "digest", where, dsize));
    }
    IMMUNE_ASSIGN_OR_RETURN(std::uint64_t mode, U64(je, "mode", where));
    if (mode > 0xFFFFFFFFu) return Corruption(where + ".mode: out of range");
    e.mode = static_cast<std::uint32_t>(mode);
    IMMUNE_ASSIGN_OR_RETURN(e.size, U64(je, "size", where));
    auto mt = je.find("mtime_ns");
    if (mt == je.end() || !mt->is_number_integer())
      return Corruption(where + ".mtime_ns: missing or not an integer");
    e.mtime_ns = mt->get<std::int64_t>();
    IMMUNE_ASSIGN_OR_RETURN(e.ino, U64(je, "ino", where));
    if (!m.entries.emplace(std::move(path), std::move(e)).second) {
      return Corruption(where + ".path: duplicate path");
    }
  }
  return m;
}

Result<std::unique_ptr<LayerManifestCache>> LayerManifestCache::Create(HashAlg alg, std::string cache_dir) {
  if (!cache_dir.empty()) {
    if (::mkdir(cache_dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return IoError(cache_dir + ": cannot create the layer manifest cache: " + std::strerror(errno));
    }
    struct stat st {};
    if (::lstat(cache_dir.c_str(), &st) != 0) return IoError(cache_dir + ": " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode))
      return PermissionDenied(cache_dir + ": layer manifest cache is not a directory");
    if (st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      return PermissionDenied(cache_dir + ": layer manifest cache must be owned by uid " +
                              std::to_string(::geteuid()) + " and not group/other-writable");
    }
  }
  return std::unique_ptr<LayerManifestCache>(new LayerManifestCache(alg, std::move(cache_dir)));
}

std::string LayerManifestCache::DiskPath(std::uint64_t dev, std::uint64_t ino) const {
  return cache_dir_ + "/layer-" + std::to_string(dev) + "-" + std::to_string(ino) + ".json";
}

Result<std::shared_ptr<const LayerManifest>> LayerManifestCache::Get(const std::string& dir,
                                                                     bool* from_cache) {
  if (from_cache != nullptr) *from_cache = false;
  IMMUNE_ASSIGN_OR_RETURN(LayerIdentity id, FingerprintLayer(dir, alg_));
  const auto key = std::make_pair(id.dev, id.ino);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = memory_.find(key);
    if (it != memory_.end() && it->second->fingerprint == id.fingerprint) {
      ++stats_.memory_hits;
      if (from_cache != nullptr) *from_cache = true;
      return it->second;
    }
  }
  if (!cache_dir_.empty()) {
    const std::string path = DiskPath(id.dev, id.ino);
    auto text = ReadTextFile(path);
    if (text.ok()) {
      auto j = nlohmann::json::parse(*text, nullptr, false);
      auto m = j.is_discarded() ? Result<LayerManifest>(Corruption(path + ": not JSON"))
                                : LayerManifestFromJson(j, path);
      const bool usable = m.ok() && m->alg == alg_ && m->dev == id.dev && m->ino == id.ino &&
                          m->fingerprint == id.fingerprint;
      std::lock_guard<std::mutex> lock(mu_);
      if (usable) {
        ++stats_.disk_hits;
        auto shared = std::make_shared<const LayerManifest>(std::move(*m));
        memory_[key] = shared;
        if (from_cache != nullptr) *from_cache = true;
        return shared;
      }
      ++stats_.disk_rejected;
    }
  }
  IMMUNE_ASSIGN_OR_RETURN(LayerManifest built, BuildLayerManifest(dir, alg_));
  if (built.fingerprint != id.fingerprint)
    return Aborted(dir + ": layer changed while it was being measured");
  auto shared = std::make_shared<const LayerManifest>(std::move(built));
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.builds;
  stats_.files_hashed += shared->files_hashed;
  stats_.bytes_hashed += shared->bytes_hashed;
  memory_[key] = shared;
  if (!cache_dir_.empty()) {
    // Written under the lock: WriteFileAtomic's temporary name is per
    // process, so two threads must not write the same layer at once.
    const std::string text = LayerManifestToJson(*shared).dump();
    if (!WriteFileAtomic(DiskPath(id.dev, id.ino), AsBytes(text), 0600).ok()) ++stats_.disk_write_failures;
  }
  return shared;
}

LayerCacheStats LayerManifestCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace immune::agents
