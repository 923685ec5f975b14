// immuned: the Trusted Software Base daemon. Thin: arguments here, the
// daemon in tsb/daemon (immune/tsbd/daemon.h).
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <string>

#include "immune/tsbd/daemon.h"

#ifndef IMMUNE_VERSION
#define IMMUNE_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  // tpm2-tss logs expected conditions as ERROR lines; TSS2_LOG overrides.
  ::setenv("TSS2_LOG", "all+none", /*overwrite=*/0);
  CLI::App app{"immuned: the Immune Trusted Software Base daemon"};
  app.set_version_flag("--version", std::string("immuned ") + IMMUNE_VERSION);
  std::string config, state_dir, tcti;
  app.add_option("-c,--config", config, "Configuration file (YAML; see dist/immuned.yaml)");
  app.add_option("--state-dir", state_dir, "Override the configuration's state_dir");
  app.add_option("-T,--tcti", tcti, "Override the configuration's tcti (\"embedded\": a private swtpm)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return immune::tsbd::RunDaemonMain(config, state_dir, tcti);
}
