// immune-oci-hook: the OCI hook that registers a container with immuned
// before its first exec (docs/containers.md). Thin: the steps are in
// agents/ (immune/agents/container_hook.h), the transport is the daemon's
// control client.
//
// Exit 0 when the daemon accepted; 1 with a message on stderr otherwise,
// which makes the runtime refuse to start the container (fail-closed),
// unless --fail-open, which turns a failure into a warning and exit 0.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "immune/agents/container_hook.h"
#include "immune/core/log.h"
#include "immune/tsbd/control_client.h"

#ifndef IMMUNE_VERSION
#define IMMUNE_VERSION "unknown"
#endif

namespace {

constexpr std::size_t kMaxStateBytes = 1 << 20;  // a state is a few hundred bytes

immune::Result<std::string> ReadStdin() {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) return out;
    if (n < 0) {
      if (errno == EINTR) continue;
      return immune::IoError(std::string("stdin: ") + std::strerror(errno));
    }
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxStateBytes)
      return immune::InvalidArgument("stdin: more than " + std::to_string(kMaxStateBytes) +
                                     " bytes: not an OCI state");
  }
}

struct Outcome {
  immune::Status status;
  std::string cmd;
  std::string id;
};

Outcome Run(const std::string& stage, const std::string& endpoint, int timeout_ms) {
  Outcome o;
  auto state = ReadStdin();
  if (!state.ok()) return {state.error(), "", ""};
  immune::agents::HookOptions options;
  options.stage = stage;
  auto request = immune::agents::BuildHookRequest(*state, options);
  if (!request.ok()) return {request.error(), "", ""};
  o.cmd = (*request)["cmd"].get<std::string>();
  const auto& args = (*request)["args"];
  o.id =
      args.contains("container") ? args["container"]["id"].get<std::string>() : args["id"].get<std::string>();
  auto reply = immune::tsbd::ControlRequest(endpoint, request->dump(), timeout_ms);
  if (!reply.ok()) {
    o.status = reply.error().WithContext(endpoint);
    return o;
  }
  o.status = immune::agents::CheckControlReply(*reply);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "immune-oci-hook: register an OCI container with immuned before its first exec.\n"
      "Run by the OCI runtime with the container's state on stdin (runtime-spec \"hooks\")."};
  app.set_version_flag("--version", std::string("immune-oci-hook ") + IMMUNE_VERSION);
  std::string endpoint = "ipc:///var/lib/immune/tsb/control.sock";
  int timeout_ms = 10000;
  bool fail_open = false;
  bool json = false;
  std::string stage;
  app.add_option("--control", endpoint, "immuned's control endpoint")->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "How long to wait for the daemon's reply")
      ->capture_default_str()
      ->check(CLI::Range(1, 600000));
  app.add_flag("--fail-open", fail_open, "On failure warn and exit 0 (the container starts unregistered)");
  app.add_flag("--json", json, "Print the outcome as JSON on stdout");
  app.add_option("STAGE", stage,
                 "createRuntime, createContainer, prestart (register) or poststop (unregister); "
                 "default: from the state's status");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 1;
  }

  const Outcome o = Run(stage, endpoint, timeout_ms);
  if (json) {
    nlohmann::json out{{"ok", o.status.ok()}, {"cmd", o.cmd}, {"id", o.id}, {"fail_open", fail_open}};
    if (!o.status.ok()) out["error"] = o.status.error().ToString();
    std::printf("%s\n", out.dump().c_str());
  }
  if (o.status.ok()) return 0;
  const std::string what = "immune-oci-hook: " + o.status.error().ToString();
  if (fail_open) {
    immune::LogWarning(what + " (--fail-open: the container starts unregistered)");
    return 0;
  }
  immune::LogError(what);
  return 1;
}
