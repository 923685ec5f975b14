// A private swtpm: the embedded default TPM where a machine has none, and the
// TPM of integration tests.
//
// Start() creates a state directory, manufactures the TPM with swtpm_setup
// (EK and platform certificates from a private swtpm-localca whose files stay
// inside the state directory, the requested PCR banks allocated), then runs
// `swtpm socket` on two free loopback ports (command, control) and waits
// until it answers. The destructor stops that process by its PID (SIGTERM,
// then SIGKILL after a grace period), reaps it and removes a temporary state
// directory. No other process is ever signalled.
//
// Files in the state directory: tpm/ (swtpm's TPM state), localca/ (the
// private CA's keys and certificates), swtpm_setup.conf,
// swtpm-localca.conf, swtpm-localca.options, swtpm_setup.log and
// swtpm_setup.out (manufacturing), swtpm.log (swtpm's stdout and stderr).
//
// Thread safety: an object is used by one thread at a time; several may be
// started concurrently (each gets its own ports and directory).
#ifndef IMMUNE_TPM_SWTPM_H_
#define IMMUNE_TPM_SWTPM_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "immune/core/digest.h"
#include "immune/core/error.h"

namespace immune::tpm {

struct SwtpmOptions {
  // Empty: a fresh temporary directory, removed on stop. Otherwise the state
  // persists there (manufactured only when it holds no state yet).
  std::string state_dir;
  std::vector<HashAlg> pcr_banks = {HashAlg::kSha1, HashAlg::kSha256, HashAlg::kSha384, HashAlg::kSha512};
  bool create_ek_cert = true;
  // When true, swtpm is left waiting for TPM2_Startup, so the caller can send
  // it at a chosen locality (PCR 0 then starts at 00..0L, as after an H-CRTM
  // or a locality-3 startup). When false swtpm starts itself (startup-clear).
  bool defer_startup = false;
};

class SwtpmProcess {
 public:
  static Result<std::unique_ptr<SwtpmProcess>> Start(const SwtpmOptions& options = {});
  ~SwtpmProcess();
  SwtpmProcess(const SwtpmProcess&) = delete;
  SwtpmProcess& operator=(const SwtpmProcess&) = delete;

  pid_t pid() const { return pid_; }
  int port() const { return port_; }  // command port; control is port() + 1
  const std::string& state_dir() const { return state_dir_; }
  std::string tcti() const;  // "swtpm:host=127.0.0.1,port=N"

  // Sends TPM2_Startup(CLEAR) at `locality` (0..4) over the TCTI; only
  // meaningful with defer_startup.
  //
  // Works on swtpm 0.7.1 / tpm2-tss 3.2.1: the swtpm TCTI sets the locality
  // with swtpm's CMD_SET_LOCALITY control command, and libtpms then starts
  // PCR 0 at 00..03 for locality 3 (tested). A PC Client TPM accepts Startup
  // only at localities 0 and 3: others give kTpm (TPM_RC_LOCALITY); a TCTI
  // without SetLocality gives kUnsupported. Uses ESAPI: linked in when the
  // program links immune_tpm, else through the immune-tpm-esys module
  // (loader.h).
  Status Startup(std::uint8_t locality);

  // Stops the process now and removes a temporary state directory
  // (idempotent); the destructor calls it.
  void Stop();

 private:
  SwtpmProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string state_dir_;
  bool remove_state_dir_ = false;
};

}  // namespace immune::tpm

#endif  // IMMUNE_TPM_SWTPM_H_
