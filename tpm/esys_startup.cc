#include "esys_startup.h"

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include <string>

#include "tss_util.h"

namespace immune::tpm::internal {

Status StartupAtLocality(std::string_view tcti, std::uint8_t locality) {
  std::string conf(tcti);
  TSS2_TCTI_CONTEXT* tcti_ctx = nullptr;
  TSS2_RC rc = Tss2_TctiLdr_Initialize(conf.c_str(), &tcti_ctx);
  if (rc != TSS2_RC_SUCCESS) return TssError("Tss2_TctiLdr_Initialize(\"" + conf + "\")", rc);
  ESYS_CONTEXT* ctx = nullptr;
  Status result = OkStatus();
  // libtpms's TPM2_Startup records a locality-3 startup and then initialises
  // PCR 0 to 00..03 (PC Client PCR 0 rule), as after a real locality-3 start.
  rc = Tss2_Tcti_SetLocality(tcti_ctx, locality);
  if (rc != TSS2_RC_SUCCESS) {
    Error e = TssError("Tss2_Tcti_SetLocality(" + std::to_string(locality) + ")", rc);
    result = (rc & 0xffffu) == TSS2_BASE_RC_NOT_IMPLEMENTED
                 ? Unsupported("this TCTI cannot set the locality: " + e.message())
                 : e;
  } else if ((rc = Esys_Initialize(&ctx, tcti_ctx, nullptr)) != TSS2_RC_SUCCESS) {
    result = TssError("Esys_Initialize", rc);
  } else if ((rc = Esys_Startup(ctx, TPM2_SU_CLEAR)) != TSS2_RC_SUCCESS) {
    result = TssError("Startup(CLEAR, locality " + std::to_string(locality) + ")", rc);
  }
  // Later connections start at locality 0 anyway (the swtpm TCTI sets it on
  // initialisation); reset it for this one too.
  if (locality != 0) (void)Tss2_Tcti_SetLocality(tcti_ctx, 0);
  if (ctx != nullptr) Esys_Finalize(&ctx);
  Tss2_TctiLdr_Finalize(&tcti_ctx);
  return result;
}

}  // namespace immune::tpm::internal
