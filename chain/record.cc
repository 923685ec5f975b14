#include "immune/chain/record.h"

#include <algorithm>
#include <limits>

#include "codec.h"
#include "immune/core/hex.h"

namespace immune::chain {

namespace {

constexpr std::size_t kMaxString = 0xFFFF;
constexpr std::size_t kMaxContent = 16u << 20;
constexpr std::size_t kMaxItems = 0xFFFF;

std::string At(std::string_view field, std::size_t offset) {
  return std::string(field) + " at byte " + std::to_string(offset);
}

// Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF):
// strings are shown as JSON, which must be valid UTF-8.
bool IsUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i < n + 1) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

void PutString(Bytes& out, std::string_view s) {
  codec::PutU16(out, static_cast<std::uint16_t>(s.size()));
  codec::PutRaw(out, AsBytes(s));
}
void PutDigest(Bytes& out, const TaggedDigest& d) {
  codec::PutU16(out, TpmId(d.alg));
  codec::PutU8(out, static_cast<std::uint8_t>(d.value.size()));
  codec::PutRaw(out, d.value);
}

Result<std::string> GetString(codec::Reader& r, std::string_view field, bool allow_empty) {
  const std::size_t at = r.offset();
  auto n = r.U16();
  if (!n) return Corruption(At(field, at) + ": truncated length");
  auto s = r.Take(*n);
  if (!s) return Corruption(At(field, at) + ": " + std::to_string(*n) + " bytes run past the end");
  if (!allow_empty && s->empty()) return Corruption(At(field, at) + ": empty");
  if (!IsUtf8(AsString(*s))) return Corruption(At(field, at) + ": not valid UTF-8");
  return std::string(AsString(*s));
}

Result<TaggedDigest> GetDigest(codec::Reader& r, std::string_view field) {
  const std::size_t at = r.offset();
  auto id = r.U16();
  auto n = r.U8();
  if (!id || !n) return Corruption(At(field, at) + ": truncated digest");
  auto alg = HashAlgFromTpmId(*id);
  if (!alg)
    return Corruption(At(field, at) + ": unknown hash algorithm 0x" +
                      ToHex(Bytes{Bytes::value_type(*id >> 8), Bytes::value_type(*id)}));
  if (*n != DigestSize(*alg))
    return Corruption(At(field, at) + ": " + std::string(HashAlgName(*alg)) + " digest of " +
                      std::to_string(*n) + " bytes");
  auto v = r.Take(*n);
  if (!v) return Corruption(At(field, at) + ": digest runs past the end");
  return TaggedDigest{*alg, Bytes(v->begin(), v->end())};
}

Status CheckString(std::string_view s, std::string_view field, bool allow_empty) {
  if (s.size() > kMaxString) return InvalidArgument(std::string(field) + ": longer than 65535 bytes");
  if (!allow_empty && s.empty()) return InvalidArgument(std::string(field) + ": empty");
  if (!IsUtf8(s)) return InvalidArgument(std::string(field) + ": not valid UTF-8");
  return OkStatus();
}
Status CheckDigest(const TaggedDigest& d, std::string_view field) {
  if (d.value.size() != DigestSize(d.alg))
    return InvalidArgument(std::string(field) + ": " + std::string(HashAlgName(d.alg)) + " digest of " +
                           std::to_string(d.value.size()) + " bytes");
  return OkStatus();
}

bool PcrLess(const PcrReference& a, const PcrReference& b) {
  return std::pair(TpmId(a.bank), a.index) < std::pair(TpmId(b.bank), b.index);
}

}  // namespace

std::string_view RecordTypeName(RecordType t) {
  switch (t) {
    case RecordType::kBootReference: return "boot_reference";
    case RecordType::kFileBaseline: return "file_baseline";
    case RecordType::kPolicyBundle: return "policy_bundle";
    case RecordType::kRevocation: return "revocation";
    case RecordType::kLogCheckpoint: return "log_checkpoint";
  }
  return "unknown";
}

RecordType TypeOf(const Record& r) { return static_cast<RecordType>(r.index() + 1); }

std::string TaggedDigestText(const TaggedDigest& d) {
  return std::string(HashAlgName(d.alg)) + ":" + ToHex(d.value);
}

Result<TaggedDigest> ParseTaggedDigest(std::string_view text) {
  TaggedDigest d;
  std::string_view hex = text;
  const auto colon = text.find(':');
  if (colon != std::string_view::npos) {
    auto alg = HashAlgFromName(text.substr(0, colon));
    if (!alg) return InvalidArgument("digest \"" + std::string(text) + "\": unknown hash algorithm");
    d.alg = *alg;
    hex = text.substr(colon + 1);
  }
  auto v = FromHex(hex);
  if (!v.ok()) return InvalidArgument("digest \"" + std::string(text) + "\": " + v.error().message());
  d.value = std::move(v).value();
  if (colon == std::string_view::npos) {
    switch (d.value.size()) {
      case 20: d.alg = HashAlg::kSha1; break;
      case 32: d.alg = HashAlg::kSha256; break;
      case 48: d.alg = HashAlg::kSha384; break;
      case 64: d.alg = HashAlg::kSha512; break;
      default:
        return InvalidArgument("digest \"" + std::string(text) + "\": " + std::to_string(d.value.size()) +
                               " bytes is no known digest size; write alg:hex");
    }
  }
  IMMUNE_RETURN_IF_ERROR(CheckDigest(d, "digest \"" + std::string(text) + "\""));
  return d;
}

Status ValidateRecord(const Record& rec) {
  if (const auto* b = std::get_if<BootReference>(&rec)) {
    IMMUNE_RETURN_IF_ERROR(CheckString(b->image, "image", false));
    if (b->pcrs.size() > kMaxItems || b->boot_chain.size() > kMaxItems)
      return InvalidArgument("more than 65535 PCRs or boot-chain digests");
    for (std::size_t i = 0; i < b->pcrs.size(); ++i) {
      const auto& p = b->pcrs[i];
      if (p.index > 23) return InvalidArgument("pcrs: PCR index " + std::to_string(p.index) + " above 23");
      IMMUNE_RETURN_IF_ERROR(CheckDigest({p.bank, p.value}, "pcrs: PCR " + std::to_string(p.index)));
      if (i > 0 && !PcrLess(b->pcrs[i - 1], p))
        return InvalidArgument("pcrs: not sorted by (bank, index) or a PCR repeats at " + std::to_string(i));
    }
    for (std::size_t i = 0; i < b->boot_chain.size(); ++i)
      IMMUNE_RETURN_IF_ERROR(CheckDigest(b->boot_chain[i], "boot_chain[" + std::to_string(i) + "]"));
  } else if (const auto* f = std::get_if<FileBaseline>(&rec)) {
    IMMUNE_RETURN_IF_ERROR(CheckString(f->image, "image", false));
    IMMUNE_RETURN_IF_ERROR(CheckString(f->path, "path", false));
    IMMUNE_RETURN_IF_ERROR(CheckDigest(f->digest, "digest"));
  } else if (const auto* p = std::get_if<PolicyBundle>(&rec)) {
    IMMUNE_RETURN_IF_ERROR(CheckString(p->name, "name", false));
    IMMUNE_RETURN_IF_ERROR(CheckDigest(p->digest, "digest"));
    if (p->content.size() > kMaxContent) return InvalidArgument("content: larger than 16 MiB");
  } else if (const auto* v = std::get_if<Revocation>(&rec)) {
    IMMUNE_RETURN_IF_ERROR(CheckString(v->reason, "reason", true));
  } else if (const auto* c = std::get_if<LogCheckpoint>(&rec)) {
    IMMUNE_RETURN_IF_ERROR(CheckString(c->host, "host", false));
    IMMUNE_RETURN_IF_ERROR(CheckString(c->log, "log", false));
    IMMUNE_RETURN_IF_ERROR(CheckDigest(c->aggregate, "aggregate"));
  }
  return OkStatus();
}

Bytes EncodeRecord(const Record& rec) {
  Bytes out;
  out.reserve(96);
  codec::PutU8(out, kRecordVersion);
  codec::PutU8(out, static_cast<std::uint8_t>(TypeOf(rec)));
  if (const auto* b = std::get_if<BootReference>(&rec)) {
    PutString(out, b->image);
    codec::PutU16(out, static_cast<std::uint16_t>(b->pcrs.size()));
    for (const auto& p : b->pcrs) {
      codec::PutU8(out, p.index);
      PutDigest(out, {p.bank, p.value});
    }
    codec::PutU16(out, static_cast<std::uint16_t>(b->boot_chain.size()));
    for (const auto& d : b->boot_chain) PutDigest(out, d);
  } else if (const auto* f = std::get_if<FileBaseline>(&rec)) {
    PutString(out, f->image);
    PutString(out, f->path);
    PutDigest(out, f->digest);
  } else if (const auto* p = std::get_if<PolicyBundle>(&rec)) {
    PutString(out, p->name);
    codec::PutU64(out, p->version);
    PutDigest(out, p->digest);
    codec::PutU32(out, static_cast<std::uint32_t>(p->content.size()));
    codec::PutRaw(out, p->content);
  } else if (const auto* v = std::get_if<Revocation>(&rec)) {
    codec::PutHash(out, v->target);
    PutString(out, v->reason);
  } else if (const auto* c = std::get_if<LogCheckpoint>(&rec)) {
    PutString(out, c->host);
    PutString(out, c->log);
    codec::PutU64(out, c->entries);
    PutDigest(out, c->aggregate);
  }
  return out;
}

Result<Record> DecodeRecord(ByteSpan bytes) {
  codec::Reader r(bytes);
  auto version = r.U8();
  auto type = r.U8();
  if (!version || !type) return Corruption("record header at byte 0: truncated");
  if (*version != kRecordVersion)
    return Corruption("record version " + std::to_string(*version) + " at byte 0: only version 1 is known");
  Record rec;
  switch (static_cast<RecordType>(*type)) {
    case RecordType::kBootReference: {
      BootReference b;
      IMMUNE_ASSIGN_OR_RETURN(b.image, GetString(r, "image", false));
      const std::size_t at = r.offset();
      auto n = r.U16();
      if (!n) return Corruption(At("PCR count", at) + ": truncated");
      for (std::uint16_t i = 0; i < *n; ++i) {
        const std::size_t pat = r.offset();
        auto index = r.U8();
        if (!index) return Corruption(At("PCR", pat) + ": truncated");
        IMMUNE_ASSIGN_OR_RETURN(TaggedDigest d, GetDigest(r, "PCR value"));
        PcrReference p{d.alg, *index, std::move(d.value)};
        if (p.index > 23)
          return Corruption(At("PCR", pat) + ": index " + std::to_string(p.index) + " above 23");
        if (!b.pcrs.empty() && !PcrLess(b.pcrs.back(), p))
          return Corruption(At("PCR", pat) + ": not sorted by (bank, index) or repeated");
        b.pcrs.push_back(std::move(p));
      }
      const std::size_t cat = r.offset();
      auto m = r.U16();
      if (!m) return Corruption(At("boot-chain count", cat) + ": truncated");
      for (std::uint16_t i = 0; i < *m; ++i) {
        IMMUNE_ASSIGN_OR_RETURN(TaggedDigest d, GetDigest(r, "boot-chain digest"));
        b.boot_chain.push_back(std::move(d));
      }
      rec = std::move(b);
      break;
    }
    case RecordType::kFileBaseline: {
      FileBaseline f;
      IMMUNE_ASSIGN_OR_RETURN(f.image, GetString(r, "image", false));
      IMMUNE_ASSIGN_OR_RETURN(f.path, GetString(r, "path", false));
      IMMUNE_ASSIGN_OR_RETURN(f.digest, GetDigest(r, "digest"));
      rec = std::move(f);
      break;
    }
    case RecordType::kPolicyBundle: {
      PolicyBundle p;
      IMMUNE_ASSIGN_OR_RETURN(p.name, GetString(r, "name", false));
      const std::size_t vat = r.offset();
      auto v = r.U64();
      if (!v) return Corruption(At("version", vat) + ": truncated");
      p.version = *v;
      IMMUNE_ASSIGN_OR_RETURN(p.digest, GetDigest(r, "digest"));
      const std::size_t cat = r.offset();
      auto n = r.U32();
      if (!n) return Corruption(At("content length", cat) + ": truncated");
      if (*n > kMaxContent) return Corruption(At("content", cat) + ": larger than 16 MiB");
      auto c = r.Take(*n);
      if (!c) return Corruption(At("content", cat) + ": " + std::to_string(*n) + " bytes run past the end");
      p.content.assign(c->begin(), c->end());
      rec = std::move(p);
      break;
    }
    case RecordType::kRevocation: {
      Revocation v;
      const std::size_t at = r.offset();
      auto t = r.Hash();
      if (!t) return Corruption(At("revocation target", at) + ": truncated");
      v.target = *t;
      IMMUNE_ASSIGN_OR_RETURN(v.reason, GetString(r, "reason", true));
      rec = std::move(v);
      break;
    }
    case RecordType::kLogCheckpoint: {
      LogCheckpoint c;
      IMMUNE_ASSIGN_OR_RETURN(c.host, GetString(r, "host", false));
      IMMUNE_ASSIGN_OR_RETURN(c.log, GetString(r, "log", false));
      const std::size_t at = r.offset();
      auto e = r.U64();
      if (!e) return Corruption(At("entries", at) + ": truncated");
      c.entries = *e;
      IMMUNE_ASSIGN_OR_RETURN(c.aggregate, GetDigest(r, "aggregate"));
      rec = std::move(c);
      break;
    }
    default: return Corruption("record type " + std::to_string(*type) + " at byte 1: unknown");
  }
  if (!r.empty())
    return Corruption(std::to_string(r.remaining()) + " trailing bytes after the record at byte " +
                      std::to_string(r.offset()));
  return rec;
}

}  // namespace immune::chain
