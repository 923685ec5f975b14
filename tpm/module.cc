// immune-tpm-esys.so: the ESAPI backend as a loadable module for programs
// that do not link tpm2-tss (immunectl; see loader.h). Only the table below
// is exported.
#include "immune/tpm/loader.h"

extern "C" const immune::tpm::TpmModuleV1* immune_tpm_linked_module();

extern "C" __attribute__((visibility("default"))) const immune::tpm::TpmModuleV1 immune_tpm_module_v1 =
    *immune_tpm_linked_module();
