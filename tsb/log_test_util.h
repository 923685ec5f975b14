// Test-only helpers for the measurement log tests.
#ifndef IMMUNE_TSB_LOG_TEST_UTIL_H_
#define IMMUNE_TSB_LOG_TEST_UTIL_H_

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "immune/tsb/measurement_entry.h"

namespace immune::tsb::testing {

// A fresh directory under the test temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::path(::testing::TempDir()) /
            ("tsb_log_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline MeasurementEntry HostEntry(std::string path, std::uint8_t fill) {
  MeasurementEntry e;
  e.template_kind = TemplateKind::kImaNg;
  e.path = std::move(path);
  e.file_hash_alg = HashAlg::kSha256;
  e.file_digest = Bytes(32, fill);
  e.pid = 1;
  e.exe = "/usr/sbin/init";
  e.rule = "host-default";
  return e;
}

inline MeasurementEntry CtEntry(std::string ct, std::string path, std::uint8_t fill) {
  MeasurementEntry e = HostEntry(std::move(path), fill);
  e.template_kind = TemplateKind::kImmuneCt;
  e.container_id = std::move(ct);
  e.image = "registry.example/app:" + e.container_id;
  e.pid = 4242;
  e.exe = "/usr/bin/runc";
  e.rule = "image-allowlist";
  return e;
}

}  // namespace immune::tsb::testing

#endif  // IMMUNE_TSB_LOG_TEST_UTIL_H_
