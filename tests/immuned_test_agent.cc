// A loadable test agent (plugin.h): on Start it submits `count` synthetic
// measurements in batches of `batch` from its own thread. Options: name,
// count, batch, container, image, prefix. Built twice: as is, and with
// IMMUNE_TEST_AGENT_BAD_ABI to export a wrong ABI version.
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>

#include "immune/tsbd/agent.h"
#include "immune/tsbd/plugin.h"

namespace {

std::string Opt(const std::map<std::string, std::string>& o, const std::string& k, const std::string& d) {
  auto it = o.find(k);
  return it == o.end() ? d : it->second;
}

class TestAgent final : public immune::tsbd::Agent {
 public:
  std::string name() const override { return name_; }
  immune::Status Start(immune::tsbd::AgentHost& host, const std::map<std::string, std::string>& o) override {
    // name() was read before Start: the name option only matters for new agents.
    const std::size_t count = std::stoul(Opt(o, "count", "0"));
    const std::size_t batch = std::stoul(Opt(o, "batch", "100"));
    const std::string container = Opt(o, "container", "");
    const std::string image = Opt(o, "image", "");
    const std::string prefix = Opt(o, "prefix", "/plugin/file-");
    thread_ = std::thread([this, &host, count, batch, container, image, prefix] {
      std::size_t i = 0;
      while (i < count && !stop_) {
        std::vector<immune::tsb::MeasurementEntry> v;
        for (std::size_t k = 0; k < batch && i < count; ++k, ++i) {
          immune::tsb::MeasurementEntry e;
          e.template_kind =
              container.empty() ? immune::tsb::TemplateKind::kImaNg : immune::tsb::TemplateKind::kImmuneCt;
          e.container_id = container;
          e.image = image;
          e.pid = 4242;
          e.exe = "/usr/bin/test-agent";
          e.path = prefix + std::to_string(i);
          e.file_hash_alg = immune::HashAlg::kSha256;
          e.file_digest.assign(32, 0);
          for (int b = 0; b < 8; ++b) e.file_digest[b] = static_cast<std::uint8_t>(i >> (8 * b));
          e.file_digest[31] = 0xa5;
          v.push_back(std::move(e));
        }
        auto r = host.Submit(name_, std::move(v));
        if (!r.ok()) ++errors_;
      }
    });
    return immune::OkStatus();
  }
  void Stop() override {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::string name_ = "plugin-agent";
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> errors_{0};
};

}  // namespace

#ifndef IMMUNE_TEST_AGENT_BAD_ABI
IMMUNE_DEFINE_AGENT_PLUGIN(TestAgent)
#else
extern "C" __attribute__((visibility("default"))) std::uint32_t immune_agent_abi_version() {
  return immune::tsbd::kAgentAbiVersion + 98;
}
extern "C" __attribute__((visibility("default"))) immune::tsbd::Agent* immune_agent_create() {
  return new TestAgent();
}
extern "C" __attribute__((visibility("default"))) void immune_agent_destroy(immune::tsbd::Agent* a) {
  delete a;
}
#endif
