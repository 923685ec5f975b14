// Documents back to YAML (what `immunectl policy import` writes): the form
// ParseDocuments reads, one YAML document per Document, "---" between them.
// Keylime members Immune does not enforce (Document::keylime_extra) are not
// written: they live in the Keylime export only.
//
// Thread safety: a pure function.
#ifndef IMMUNE_POLICY_EMIT_H_
#define IMMUNE_POLICY_EMIT_H_

#include <span>
#include <string>

#include "immune/policy/document.h"

namespace immune::policy {

std::string DocumentsToYaml(std::span<const Document> docs);

}  // namespace immune::policy

#endif  // IMMUNE_POLICY_EMIT_H_
