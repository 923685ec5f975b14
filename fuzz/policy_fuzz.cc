// Fuzzes every parser of untrusted bytes in immune_policy: policy documents
// (YAML and JSON), DSSE envelopes, signed digest lists (parsed after a
// verification that fails here, so only the envelope parser is reached),
// Keylime runtime policies, logs replayed by `policy test`, and lint.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "immune/core/ima_signature.h"
#include "immune/policy/bundle.h"
#include "immune/policy/document.h"
#include "immune/policy/dsse.h"
#include "immune/policy/keylime.h"
#include "immune/policy/lint.h"
#include "immune/policy/replay.h"
#include "immune/policy/snapshot.h"

namespace {

const immune::policy::Snapshot& EmptySnapshot() {
  static const auto* const kSnap = [] {
    auto docs = immune::policy::ParseDocuments("apiVersion: immune/v1\nkind: Policy\nscope: host\n", "fuzz");
    return new std::shared_ptr<const immune::policy::Snapshot>(
        *immune::policy::Compile(std::move(docs).value()));
  }();
  return **kSnap;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace immune::policy;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto docs = ParseDocuments(text, "fuzz.yaml");
  if (docs.ok()) {
    // Compiling without files on disk: file-backed entries fail cleanly.
    (void)Compile(std::move(docs).value());
  }
  (void)LintPolicy(text, "fuzz.yaml");
  (void)ParseDsseEnvelope(text, "fuzz.dsse");
  static const DsseTrustedKeys* const kNoKeys = new DsseTrustedKeys();
  (void)OpenPolicyBundle(text, "fuzz.dsse", *kNoKeys);
  (void)OpenDigestList(text, "fuzz.list", *kNoKeys);
  auto keylime = ImportKeylimeRuntimePolicy(text, "fuzz.json");
  if (keylime.ok()) {
    const Document one[] = {*keylime};
    (void)ExportKeylimeRuntimePolicy(one);
  }
  (void)ReplayLog(EmptySnapshot(), text, "fuzz.log");
  (void)immune::ParseImaSignature(immune::ByteSpan(data, size));
  return 0;
}
