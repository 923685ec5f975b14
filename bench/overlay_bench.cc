// Overlay metadata measurement of an unchanged container against hashing
// every file of its merged tree (docs/overlay-measurement.md).
//
// Builds a synthetic image layer (default 5,000 files of 4-64 KiB in 50
// directories) and an empty upper dir under $TMPDIR, then times, with warm
// page cache for both:
//   full:    walk the tree and hash every regular file (what an IMM without
//            layer metadata does for every measurement);
//   overlay: OverlayMeasurer::Measure with the layer manifest cached (a
//            stat-only fingerprint walk of the layer + the upper dir walk).
// Prints one JSON object; "ratio" is full / overlay (goal: >= 10).
//
// Usage: overlay_bench [files] [rounds]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "immune/agents/overlay_measure.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::uint64_t MakeLayer(const std::string& dir, int files) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::size_t> size(4 * 1024, 64 * 1024);
  std::vector<char> data(64 * 1024);
  for (auto& c : data) c = static_cast<char>(rng());
  std::uint64_t bytes = 0;
  for (int i = 0; i < files; ++i) {
    const std::string sub = dir + "/d" + std::to_string(i % 50);
    fs::create_directories(sub);
    const std::size_t n = size(rng);
    data[static_cast<std::size_t>(i) % data.size()] ^= 1;  // distinct contents
    std::ofstream(sub + "/f" + std::to_string(i), std::ios::binary)
        .write(data.data(), static_cast<std::streamsize>(n));
    bytes += n;
  }
  return bytes;
}

// Hashes every regular file under `root`; returns the number hashed.
std::uint64_t HashEverything(const std::string& root) {
  std::vector<std::uint8_t> buf(256 * 1024);
  std::uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.symlink_status().type() != fs::file_type::regular) continue;
    const int fd = ::open(e.path().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    immune::Hasher h(immune::HashAlg::kSha256);
    ssize_t r;
    while ((r = ::read(fd, buf.data(), buf.size())) > 0)
      h.Update(immune::ByteSpan(buf.data(), static_cast<std::size_t>(r)));
    ::close(fd);
    if (h.Final().ok()) ++n;
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  const int files = argc > 1 ? std::atoi(argv[1]) : 5000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  const char* tmp = std::getenv("TMPDIR");
  std::string base = std::string(tmp != nullptr ? tmp : "/tmp") + "/immune-overlay-bench-XXXXXX";
  if (::mkdtemp(base.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string lower = base + "/lower";
  const std::string upper = base + "/upper";
  fs::create_directories(upper);
  const std::uint64_t bytes = MakeLayer(lower, files);

  auto measurer = immune::agents::OverlayMeasurer::Create({});
  if (!measurer.ok()) {
    std::fprintf(stderr, "%s\n", measurer.error().ToString().c_str());
    return 1;
  }
  immune::agents::OverlayLayout layout;
  layout.lowers = {lower};
  layout.upper = upper;
  // Warm-up: the page cache for both, and the manifest (hashed once here).
  HashEverything(lower);
  const auto first = Clock::now();
  auto built = (*measurer)->Measure(layout);
  const double build_ms = Ms(Clock::now() - first);
  if (!built.ok()) {
    std::fprintf(stderr, "%s\n", built.error().ToString().c_str());
    return 1;
  }

  double full_ms = 1e300, overlay_ms = 1e300;
  std::uint64_t hashed_full = 0, hashed_overlay = 0, inherited = 0;
  for (int i = 0; i < rounds; ++i) {
    auto t0 = Clock::now();
    hashed_full = HashEverything(lower);
    full_ms = std::min(full_ms, Ms(Clock::now() - t0));
    t0 = Clock::now();
    auto r = (*measurer)->Measure(layout);
    overlay_ms = std::min(overlay_ms, Ms(Clock::now() - t0));
    if (!r.ok() || r->layer_files_hashed != 0) {
      std::fprintf(stderr, "overlay measurement failed or re-hashed the layer\n");
      return 1;
    }
    hashed_overlay = r->hashed_files;
    inherited = r->inherited;
  }
  std::error_code ec;
  fs::remove_all(base, ec);

  nlohmann::json out = {{"benchmark", "overlay_unchanged_container"},
                        {"files", files},
                        {"bytes", bytes},
                        {"rounds", rounds},
                        {"first_measurement_ms", build_ms},
                        {"full_hash_ms", full_ms},
                        {"full_hash_files", hashed_full},
                        {"overlay_ms", overlay_ms},
                        {"overlay_hashed_files", hashed_overlay},
                        {"overlay_inherited", inherited},
                        {"ratio", full_ms / overlay_ms}};
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
