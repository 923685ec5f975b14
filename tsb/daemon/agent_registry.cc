#include <memory>
#include <string>
#include <utility>

#include "immune/tsbd/agent.h"

namespace immune::tsbd {

namespace {

class BuiltinPolicy final : public PolicyHook {
 public:
  explicit BuiltinPolicy(std::vector<std::string> deny) : deny_(std::move(deny)) {}
  Verdict Decide(const tsb::MeasurementEntry& e) override {
    for (const auto& d : deny_) {
      const bool dir = !d.empty() && d.back() == '/';
      if (e.path == d || (dir && e.path.starts_with(d))) {
        return Verdict{0, tsb::Decision::kDeny, "builtin:deny-path:" + d};
      }
    }
    return Verdict{0, tsb::Decision::kAllow, "builtin:allow"};
  }

 private:
  std::vector<std::string> deny_;
};

}  // namespace

std::unique_ptr<PolicyHook> NewBuiltinPolicy(std::vector<std::string> deny_paths) {
  return std::make_unique<BuiltinPolicy>(std::move(deny_paths));
}

Status AgentRegistry::Register(std::string_view name, Kind kind) {
  if (name.empty()) return InvalidArgument("agent name: must not be empty");
  std::lock_guard lock(mu_);
  if (agents_.find(name) != agents_.end())
    return InvalidArgument("agent name '" + std::string(name) + "': already registered");
  agents_.emplace(std::string(name), Info{kind, 0, 0});
  return OkStatus();
}

void AgentRegistry::Unregister(std::string_view name) {
  std::lock_guard lock(mu_);
  auto it = agents_.find(name);
  if (it != agents_.end()) agents_.erase(it);
}

bool AgentRegistry::Contains(std::string_view name) const {
  std::lock_guard lock(mu_);
  return agents_.find(name) != agents_.end();
}

void AgentRegistry::Count(std::string_view name, std::uint64_t submitted, std::uint64_t denied) {
  std::lock_guard lock(mu_);
  auto it = agents_.find(name);
  if (it == agents_.end()) return;
  it->second.submitted += submitted;
  it->second.denied += denied;
}

std::map<std::string, AgentRegistry::Info> AgentRegistry::Snapshot() const {
  std::lock_guard lock(mu_);
  return {agents_.begin(), agents_.end()};
}

}  // namespace immune::tsbd
