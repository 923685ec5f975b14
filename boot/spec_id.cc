#include "immune/boot/spec_id.h"

#include <cstring>
#include <string>

#include "immune/core/digest.h"

namespace immune::boot {
namespace {

constexpr char kSignature[] = "Spec ID Event03";  // 15 chars + NUL = 16 bytes

Error Bad(std::size_t offset, const std::string& what) {
  return Corruption("event 0 at byte " + std::to_string(offset) + ": Spec ID header: " + what);
}

std::string Hex16(std::uint16_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "0x";
  for (int k = 0; k < 4; ++k) s += kDigits[(v >> (12 - 4 * k)) & 0xF];
  return s;
}

}  // namespace

bool LooksLikeSpecIdEvent03(ByteSpan data) {
  return data.size() >= sizeof(kSignature) && std::memcmp(data.data(), kSignature, sizeof(kSignature)) == 0;
}

std::size_t SpecIdStructSize(const SpecId& spec) {
  return 16 + 4 + 4 + 4 + 4 * spec.algorithms.size() + 1 + spec.vendor_info.size();
}

Result<SpecId> ParseSpecIdEvent(ByteSpan data, std::size_t base_offset) {
  ByteReader r(data, base_offset);
  SpecId spec;
  auto sig = r.Take(16);
  if (!sig) return Bad(r.offset(), "signature is cut short");
  // The signature is NUL-terminated inside its 16 bytes.
  std::size_t len = 0;
  while (len < sig->size() && (*sig)[len] != 0) ++len;
  spec.signature.assign(reinterpret_cast<const char*>(sig->data()), len);

  const std::size_t fixed_offset = r.offset();
  auto platform_class = r.U32Le();
  auto minor = r.U8();
  auto major = r.U8();
  auto errata = r.U8();
  auto uintn = r.U8();
  const std::size_t count_offset = r.offset();
  auto count = r.U32Le();
  if (!platform_class || !minor || !major || !errata || !uintn || !count) {
    return Bad(fixed_offset,
               "fixed fields are cut short (" + std::to_string(data.size()) + " bytes of data)");
  }
  spec.platform_class = *platform_class;
  spec.spec_version_minor = *minor;
  spec.spec_version_major = *major;
  spec.spec_errata = *errata;
  spec.uintn_size = *uintn;
  if (*count == 0) return Bad(count_offset, "numberOfAlgorithms is 0");
  if (*count > r.remaining() / 4) {
    return Bad(count_offset, "numberOfAlgorithms " + std::to_string(*count) +
                                 " runs past the end of the event (" + std::to_string(r.remaining()) +
                                 " bytes left)");
  }
  spec.algorithms.reserve(*count);
  for (std::uint32_t i = 0; i < *count; ++i) {
    const std::size_t alg_offset = r.offset();
    SpecIdAlgorithm a;
    a.alg_id = *r.U16Le();
    a.digest_size = *r.U16Le();
    const auto alg = HashAlgFromTpmId(a.alg_id);
    if (!alg) {
      return Unsupported("event 0 at byte " + std::to_string(alg_offset) +
                         ": Spec ID header lists algorithm " + Hex16(a.alg_id) + " (digest size " +
                         std::to_string(a.digest_size) + ") which Immune does not support");
    }
    if (DigestSize(*alg) != a.digest_size) {
      return Bad(alg_offset, "algorithm " + std::string(HashAlgName(*alg)) + " has digest size " +
                                 std::to_string(a.digest_size) + ", expected " +
                                 std::to_string(DigestSize(*alg)));
    }
    for (const SpecIdAlgorithm& prev : spec.algorithms) {
      if (prev.alg_id == a.alg_id)
        return Bad(alg_offset, "algorithm " + Hex16(a.alg_id) + " is listed twice");
    }
    spec.algorithms.push_back(a);
  }
  const std::size_t vendor_offset = r.offset();
  auto vendor_size = r.U8();
  if (!vendor_size) return Bad(vendor_offset, "vendorInfoSize is missing");
  auto vendor = r.Take(*vendor_size);
  if (!vendor) {
    return Bad(vendor_offset, "vendorInfoSize " + std::to_string(*vendor_size) +
                                  " runs past the end of the event (" + std::to_string(r.remaining()) +
                                  " bytes left)");
  }
  spec.vendor_info.assign(vendor->begin(), vendor->end());
  return spec;
}

}  // namespace immune::boot
