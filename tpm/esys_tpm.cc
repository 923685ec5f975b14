// The Tpm seam on tpm2-tss ESAPI, through the TCTI loader.
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include <algorithm>
#include <set>

#include "esys_startup.h"
#include "immune/tpm/loader.h"
#include "immune/tpm/tpm.h"
#include "tss_util.h"

namespace immune::tpm {
namespace {

using internal::Hex32;
using internal::TssError;

template <typename T>
struct EsysFree {
  void operator()(T* p) const { Esys_Free(p); }
};
template <typename T>
using EsysPtr = std::unique_ptr<T, EsysFree<T>>;

class EsysTpm final : public Tpm {
 public:
  EsysTpm(TSS2_TCTI_CONTEXT* tcti, ESYS_CONTEXT* ctx) : tcti_(tcti), ctx_(ctx) {}
  ~EsysTpm() override {
    if (primary_ != ESYS_TR_NONE) Esys_FlushContext(ctx_, primary_);
    Esys_Finalize(&ctx_);
    Tss2_TctiLdr_Finalize(&tcti_);
  }
  EsysTpm(const EsysTpm&) = delete;
  EsysTpm& operator=(const EsysTpm&) = delete;

  // A cheap command that proves the TPM answers; caches TPM_PT_NV_BUFFER_MAX.
  Status Probe();

  Result<std::vector<HashAlg>> AllocatedBanks() override;
  Result<PcrValues> ReadPcrs(const PcrSelection& selection) override;
  Status Extend(std::uint32_t pcr, const std::vector<std::pair<HashAlg, Bytes>>& digests) override;
  Result<AttestationKey> CreateAttestationKey(KeyAlg alg) override;
  Result<AttestationKey> LoadAttestationKey(const AttestationKey& key) override;
  Result<Quote> QuotePcrs(const AttestationKey& key, ByteSpan nonce, const PcrSelection& selection) override;
  Result<Bytes> ReadEkCertificate(KeyAlg alg) override;
  Status Flush(AttestationKey& key) override;
  Result<Bytes> ReadNvIndex(std::uint32_t nv_index) override;

 private:
  Result<ESYS_TR> Primary();
  Result<AttestationKey> Describe(KeyAlg alg, const TPM2B_PUBLIC& pub, const TPM2B_PRIVATE& priv);
  Result<std::uint32_t> NvBufferMax();

  TSS2_TCTI_CONTEXT* tcti_;
  ESYS_CONTEXT* ctx_;
  ESYS_TR primary_ = ESYS_TR_NONE;
  std::uint32_t nv_buffer_max_ = 0;
};

Status EsysTpm::Probe() {
  auto max = NvBufferMax();
  if (!max.ok() && max.error().code() == ErrorCode::kUnavailable) return max.error();
  return OkStatus();  // a TPM error (e.g. TPM_RC_INITIALIZE before Startup) still proves it answers
}

Result<std::uint32_t> EsysTpm::NvBufferMax() {
  if (nv_buffer_max_ != 0) return nv_buffer_max_;
  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* raw = nullptr;
  TSS2_RC rc = Esys_GetCapability(ctx_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                                  TPM2_PT_NV_BUFFER_MAX, 1, &more, &raw);
  EsysPtr<TPMS_CAPABILITY_DATA> data(raw);
  if (rc != TSS2_RC_SUCCESS) return TssError("GetCapability(TPM_PROPERTIES, NV_BUFFER_MAX)", rc);
  const auto& props = data->data.tpmProperties;
  nv_buffer_max_ = 512;  // the PC Client minimum, should the TPM not report it
  if (props.count > 0 && props.tpmProperty[0].property == TPM2_PT_NV_BUFFER_MAX) {
    nv_buffer_max_ = std::min<std::uint32_t>(props.tpmProperty[0].value, TPM2_MAX_NV_BUFFER_SIZE);
  }
  return nv_buffer_max_;
}

Result<std::vector<HashAlg>> EsysTpm::AllocatedBanks() {
  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* raw = nullptr;
  TSS2_RC rc =
      Esys_GetCapability(ctx_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_PCRS, 0, 1, &more, &raw);
  EsysPtr<TPMS_CAPABILITY_DATA> data(raw);
  if (rc != TSS2_RC_SUCCESS) return TssError("GetCapability(PCRS)", rc);
  std::vector<HashAlg> banks;
  const TPML_PCR_SELECTION& sel = data->data.assignedPCR;
  for (std::uint32_t i = 0; i < sel.count && i < TPM2_NUM_PCR_BANKS; ++i) {
    const TPMS_PCR_SELECTION& s = sel.pcrSelections[i];
    bool any = false;
    for (std::uint32_t b = 0; b < s.sizeofSelect && b < TPM2_PCR_SELECT_MAX; ++b)
      any = any || s.pcrSelect[b] != 0;
    auto alg = HashAlgFromTpmId(s.hash);
    if (any && alg) banks.push_back(*alg);
  }
  return banks;
}

Result<PcrValues> EsysTpm::ReadPcrs(const PcrSelection& selection) {
  IMMUNE_ASSIGN_OR_RETURN(std::vector<HashAlg> banks, AllocatedBanks());
  PcrSelection pending;
  if (selection.empty()) {
    for (HashAlg alg : banks) {
      for (std::uint32_t i = 0; i < kNumPcrs; ++i) pending[alg].push_back(i);
    }
  } else {
    for (const auto& [alg, pcrs] : selection) {
      if (std::find(banks.begin(), banks.end(), alg) == banks.end()) {
        return NotFound("PCR_Read: bank " + std::string(HashAlgName(alg)) + " is not allocated on this TPM");
      }
      if (!pcrs.empty()) pending[alg] = pcrs;
    }
  }
  PcrValues out;
  while (!pending.empty()) {
    IMMUNE_ASSIGN_OR_RETURN(TPML_PCR_SELECTION request, internal::ToTpml(pending));
    UINT32 update_counter = 0;
    TPML_PCR_SELECTION* raw_sel = nullptr;
    TPML_DIGEST* raw_values = nullptr;
    TSS2_RC rc = Esys_PCR_Read(ctx_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &request, &update_counter,
                               &raw_sel, &raw_values);
    EsysPtr<TPML_PCR_SELECTION> got_sel(raw_sel);
    EsysPtr<TPML_DIGEST> values(raw_values);
    if (rc != TSS2_RC_SUCCESS) return TssError("PCR_Read", rc);
    IMMUNE_ASSIGN_OR_RETURN(PcrSelection got, internal::FromTpml(*got_sel));
    std::uint32_t index = 0;
    std::size_t read_now = 0;
    for (const auto& [alg, pcrs] : got) {  // TPML order equals map order: we requested in map order
      for (std::uint32_t pcr : pcrs) {
        if (index >= values->count) return TpmError("PCR_Read: fewer digests than selected PCRs");
        const TPM2B_DIGEST& d = values->digests[index++];
        out[alg][pcr] = Bytes(d.buffer, d.buffer + d.size);
        auto& list = pending[alg];
        list.erase(std::remove(list.begin(), list.end(), pcr), list.end());
        ++read_now;
      }
    }
    for (auto it = pending.begin(); it != pending.end();)
      it = it->second.empty() ? pending.erase(it) : std::next(it);
    if (read_now == 0 && !pending.empty()) {
      auto first = pending.begin();
      return TpmError("PCR_Read: the TPM returned none of the requested PCRs (first: " +
                      std::string(HashAlgName(first->first)) + ":" + std::to_string(first->second.front()) +
                      ")");
    }
  }
  return out;
}

Status EsysTpm::Extend(std::uint32_t pcr, const std::vector<std::pair<HashAlg, Bytes>>& digests) {
  std::string op = "PCR_Extend(pcr=" + std::to_string(pcr) + ")";
  if (pcr >= kNumPcrs) return InvalidArgument(op + ": PCR index out of range");
  if (digests.empty() || digests.size() > TPM2_NUM_PCR_BANKS)
    return InvalidArgument(op + ": need 1..16 digests");
  IMMUNE_ASSIGN_OR_RETURN(std::vector<HashAlg> banks, AllocatedBanks());
  TPML_DIGEST_VALUES values{};
  for (const auto& [alg, digest] : digests) {
    if (std::find(banks.begin(), banks.end(), alg) == banks.end()) {
      return NotFound(op + ": bank " + std::string(HashAlgName(alg)) + " is not allocated on this TPM");
    }
    if (digest.size() != DigestSize(alg)) {
      return InvalidArgument(op + ": " + std::string(HashAlgName(alg)) + " digest has " +
                             std::to_string(digest.size()) + " bytes, not " +
                             std::to_string(DigestSize(alg)));
    }
    TPMT_HA& ha = values.digests[values.count++];
    ha.hashAlg = TpmId(alg);
    std::copy(digest.begin(), digest.end(), reinterpret_cast<std::uint8_t*>(&ha.digest));
  }
  TSS2_RC rc =
      Esys_PCR_Extend(ctx_, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &values);
  if (rc != TSS2_RC_SUCCESS) return TssError(op, rc);
  return OkStatus();
}

Result<ESYS_TR> EsysTpm::Primary() {
  if (primary_ != ESYS_TR_NONE) return primary_;
  TPM2B_SENSITIVE_CREATE sensitive{};
  TPM2B_PUBLIC tmpl = internal::SrkTemplate();
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creation_pcr{};
  TPM2B_PUBLIC* out_pub = nullptr;
  TPM2B_CREATION_DATA* creation_data = nullptr;
  TPM2B_DIGEST* creation_hash = nullptr;
  TPMT_TK_CREATION* ticket = nullptr;
  ESYS_TR handle = ESYS_TR_NONE;
  TSS2_RC rc = Esys_CreatePrimary(ctx_, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                  &sensitive, &tmpl, &outside, &creation_pcr, &handle, &out_pub,
                                  &creation_data, &creation_hash, &ticket);
  Esys_Free(out_pub);
  Esys_Free(creation_data);
  Esys_Free(creation_hash);
  Esys_Free(ticket);
  if (rc != TSS2_RC_SUCCESS) return TssError("CreatePrimary(owner, ECC P-256 SRK)", rc);
  primary_ = handle;
  return primary_;
}

Result<AttestationKey> EsysTpm::Describe(KeyAlg alg, const TPM2B_PUBLIC& pub, const TPM2B_PRIVATE& priv) {
  AttestationKey key;
  key.alg = alg;
  IMMUNE_ASSIGN_OR_RETURN(key.public_area,
                          internal::Marshal(pub, Tss2_MU_TPM2B_PUBLIC_Marshal, "TPM2B_PUBLIC"));
  IMMUNE_ASSIGN_OR_RETURN(key.private_blob,
                          internal::Marshal(priv, Tss2_MU_TPM2B_PRIVATE_Marshal, "TPM2B_PRIVATE"));
  IMMUNE_ASSIGN_OR_RETURN(key.name, internal::TpmName(pub.publicArea));
  IMMUNE_ASSIGN_OR_RETURN(key.public_key_pem, internal::PublicKeyPem(pub.publicArea));
  return key;
}

Result<AttestationKey> EsysTpm::CreateAttestationKey(KeyAlg alg) {
  IMMUNE_ASSIGN_OR_RETURN(ESYS_TR parent, Primary());
  TPM2B_SENSITIVE_CREATE sensitive{};
  TPM2B_PUBLIC tmpl = internal::AkTemplate(alg);
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creation_pcr{};
  TPM2B_PRIVATE* raw_priv = nullptr;
  TPM2B_PUBLIC* raw_pub = nullptr;
  TPM2B_CREATION_DATA* creation_data = nullptr;
  TPM2B_DIGEST* creation_hash = nullptr;
  TPMT_TK_CREATION* ticket = nullptr;
  TSS2_RC rc =
      Esys_Create(ctx_, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &tmpl, &outside,
                  &creation_pcr, &raw_priv, &raw_pub, &creation_data, &creation_hash, &ticket);
  EsysPtr<TPM2B_PRIVATE> priv(raw_priv);
  EsysPtr<TPM2B_PUBLIC> pub(raw_pub);
  Esys_Free(creation_data);
  Esys_Free(creation_hash);
  Esys_Free(ticket);
  std::string op = "Create(attestation key, " + std::string(KeyAlgName(alg)) + ")";
  if (rc != TSS2_RC_SUCCESS) return TssError(op, rc);
  IMMUNE_ASSIGN_OR_RETURN(AttestationKey key, Describe(alg, *pub, *priv));
  return LoadAttestationKey(key);
}

Result<AttestationKey> EsysTpm::LoadAttestationKey(const AttestationKey& key) {
  IMMUNE_ASSIGN_OR_RETURN(ESYS_TR parent, Primary());
  IMMUNE_ASSIGN_OR_RETURN(
      TPM2B_PUBLIC pub,
      internal::Unmarshal<TPM2B_PUBLIC>(key.public_area, Tss2_MU_TPM2B_PUBLIC_Unmarshal, "key public area"));
  IMMUNE_ASSIGN_OR_RETURN(TPM2B_PRIVATE priv,
                          internal::Unmarshal<TPM2B_PRIVATE>(
                              key.private_blob, Tss2_MU_TPM2B_PRIVATE_Unmarshal, "key private blob"));
  ESYS_TR handle = ESYS_TR_NONE;
  TSS2_RC rc = Esys_Load(ctx_, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &handle);
  if (rc != TSS2_RC_SUCCESS)
    return TssError("Load(attestation key, " + std::string(KeyAlgName(key.alg)) + ")", rc);
  AttestationKey out = key;
  out.handle = handle;
  if (out.name.empty()) {
    IMMUNE_ASSIGN_OR_RETURN(out.name, internal::TpmName(pub.publicArea));
  }
  if (out.public_key_pem.empty()) {
    IMMUNE_ASSIGN_OR_RETURN(out.public_key_pem, internal::PublicKeyPem(pub.publicArea));
  }
  return out;
}

Result<Quote> EsysTpm::QuotePcrs(const AttestationKey& key, ByteSpan nonce, const PcrSelection& selection) {
  if (key.handle == 0) return InvalidArgument("Quote: the attestation key is not loaded");
  TPM2B_DATA qualifying{};
  if (nonce.size() > sizeof(qualifying.buffer)) {
    return InvalidArgument("Quote: nonce of " + std::to_string(nonce.size()) + " bytes is longer than " +
                           std::to_string(sizeof(qualifying.buffer)));
  }
  qualifying.size = static_cast<UINT16>(nonce.size());
  std::copy(nonce.begin(), nonce.end(), qualifying.buffer);
  IMMUNE_ASSIGN_OR_RETURN(TPML_PCR_SELECTION tpml, internal::ToTpml(selection));
  TPMT_SIG_SCHEME scheme{};
  scheme.scheme = TPM2_ALG_NULL;  // the key's own scheme
  TPM2B_ATTEST* raw_attest = nullptr;
  TPMT_SIGNATURE* raw_sig = nullptr;
  TSS2_RC rc = Esys_Quote(ctx_, key.handle, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qualifying,
                          &scheme, &tpml, &raw_attest, &raw_sig);
  EsysPtr<TPM2B_ATTEST> attest(raw_attest);
  EsysPtr<TPMT_SIGNATURE> sig(raw_sig);
  if (rc != TSS2_RC_SUCCESS) return TssError("Quote(key=" + Hex32(key.handle) + ")", rc);
  Quote q;
  q.attest.assign(attest->attestationData, attest->attestationData + attest->size);
  IMMUNE_ASSIGN_OR_RETURN(q.signature,
                          internal::Marshal(*sig, Tss2_MU_TPMT_SIGNATURE_Marshal, "TPMT_SIGNATURE"));
  q.selection = selection;
  return q;
}

Result<Bytes> EsysTpm::ReadEkCertificate(KeyAlg alg) {
  return ReadNvIndex(alg == KeyAlg::kRsa2048 ? kEkCertNvIndexRsa2048 : kEkCertNvIndexEccP256);
}

Result<Bytes> EsysTpm::ReadNvIndex(std::uint32_t nv_index) {
  std::string where = "NV index " + Hex32(nv_index);
  ESYS_TR index = ESYS_TR_NONE;
  TSS2_RC rc = Esys_TR_FromTPMPublic(ctx_, nv_index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &index);
  if (rc != TSS2_RC_SUCCESS) {
    // A format-one TPM_RC_HANDLE (any parameter/handle number) from the TPM layer.
    bool handle_error = (rc & TSS2_RC_LAYER_MASK) == 0 && (rc & TPM2_RC_FMT1) != 0 && (rc & 0x3fu) == 0x0bu;
    if (handle_error) {
      return NotFound(where + " is not defined: " + TssError("NV_ReadPublic", rc).message());
    }
    return TssError("TR_FromTPMPublic(" + where + ")", rc);
  }
  struct Closer {
    ESYS_CONTEXT* ctx;
    ESYS_TR* tr;
    ~Closer() { Esys_TR_Close(ctx, tr); }
  } closer{ctx_, &index};

  TPM2B_NV_PUBLIC* raw_pub = nullptr;
  TPM2B_NAME* raw_name = nullptr;
  rc = Esys_NV_ReadPublic(ctx_, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &raw_pub, &raw_name);
  EsysPtr<TPM2B_NV_PUBLIC> nv_pub(raw_pub);
  Esys_Free(raw_name);
  if (rc != TSS2_RC_SUCCESS) return TssError("NV_ReadPublic(" + where + ")", rc);
  const TPMA_NV attrs = nv_pub->nvPublic.attributes;
  ESYS_TR auth = index;
  if (!(attrs & TPMA_NV_AUTHREAD)) {
    if (attrs & TPMA_NV_OWNERREAD) {
      auth = ESYS_TR_RH_OWNER;
    } else if (attrs & TPMA_NV_PPREAD) {
      auth = ESYS_TR_RH_PLATFORM;
    } else {
      return Unsupported(where + " is readable only with policy authorisation");
    }
  }
  IMMUNE_ASSIGN_OR_RETURN(std::uint32_t chunk, NvBufferMax());
  const std::uint32_t size = nv_pub->nvPublic.dataSize;
  Bytes out;
  out.reserve(size);
  while (out.size() < size) {
    auto n = static_cast<UINT16>(std::min<std::size_t>(chunk, size - out.size()));
    auto offset = static_cast<UINT16>(out.size());
    TPM2B_MAX_NV_BUFFER* raw_data = nullptr;
    rc = Esys_NV_Read(ctx_, auth, index, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n, offset, &raw_data);
    EsysPtr<TPM2B_MAX_NV_BUFFER> data(raw_data);
    if (rc != TSS2_RC_SUCCESS) {
      return TssError(
          "NV_Read(" + where + ", offset=" + std::to_string(offset) + ", size=" + std::to_string(n) + ")",
          rc);
    }
    if (data->size == 0) return TpmError("NV_Read(" + where + "): the TPM returned no data");
    out.insert(out.end(), data->buffer, data->buffer + data->size);
  }
  return out;
}

Status EsysTpm::Flush(AttestationKey& key) {
  if (key.handle == 0) return InvalidArgument("FlushContext: the key is not loaded");
  TSS2_RC rc = Esys_FlushContext(ctx_, key.handle);
  if (rc != TSS2_RC_SUCCESS) return TssError("FlushContext(" + Hex32(key.handle) + ")", rc);
  key.handle = 0;
  return OkStatus();
}

}  // namespace

Result<std::unique_ptr<Tpm>> OpenTpm(std::string_view tcti) {
  std::string conf(tcti);
  TSS2_TCTI_CONTEXT* tcti_ctx = nullptr;
  TSS2_RC rc = Tss2_TctiLdr_Initialize(conf.c_str(), &tcti_ctx);
  if (rc != TSS2_RC_SUCCESS) {
    Error e = TssError("Tss2_TctiLdr_Initialize(\"" + conf + "\")", rc);
    return Unavailable("cannot open TPM: " + e.message());
  }
  ESYS_CONTEXT* ctx = nullptr;
  rc = Esys_Initialize(&ctx, tcti_ctx, nullptr);
  if (rc != TSS2_RC_SUCCESS) {
    Tss2_TctiLdr_Finalize(&tcti_ctx);
    return TssError("Esys_Initialize(\"" + conf + "\")", rc);
  }
  auto tpm = std::make_unique<EsysTpm>(tcti_ctx, ctx);
  Status probe = tpm->Probe();
  if (!probe.ok()) return probe.error().WithContext("open TPM \"" + conf + "\"");
  return std::unique_ptr<Tpm>(std::move(tpm));
}

}  // namespace immune::tpm

// Defined in the object that defines OpenTpm, so any program that links the
// ESAPI backend statically has it; swtpm.cc refers to it weakly and falls back
// to loading the module when it is absent (immunectl).
// A function-local static: module.cc copies the table during the module's
// static initialisation, whose order across files is unspecified.
extern "C" const immune::tpm::TpmModuleV1* immune_tpm_linked_module() {
  using namespace immune::tpm;
  static const TpmModuleV1 table = {kTpmModuleAbi, TpmModuleBuildId(), &OpenTpm,
                                    &internal::StartupAtLocality};
  return &table;
}
