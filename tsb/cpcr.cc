#include "immune/tsb/cpcr.h"

#include <openssl/rand.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "entry_json.h"
#include "immune/core/hex.h"

namespace immune::tsb {
namespace {

constexpr std::string_view kOwnerDomain = "immune-cpcr-owner-v1";
constexpr std::string_view kStateDomain = "immune-cpcr-state-v1";
constexpr std::string_view kBindDomain = "immune-cpcr-bind-v1";
constexpr std::string_view kBatchDomain = "immune-cpcr-batch-v1";

void PutU64Be(std::uint8_t out[8], std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * (7 - i)));
}

Result<Bytes> Finish(Hasher& h) {
  if (!h.ok())
    return Unsupported("hash algorithm " + std::string(HashAlgName(h.alg())) + " is not available");
  return h.Final();
}

std::string BankName(HashAlg b) { return std::string(HashAlgName(b)); }

}  // namespace

Result<Bytes> NewPartitionSalt() {
  Bytes salt(kPartitionSaltSize);
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1)
    return Internal("RAND_bytes failed for a partition salt");
  return salt;
}

Result<Bytes> PartitionBlind(HashAlg bank, ByteSpan salt, std::string_view container_id) {
  Hasher h(bank);
  h.Update(salt).Update(AsBytes(container_id));
  return Finish(h);
}

Result<Bytes> CpcrExtend(HashAlg bank, ByteSpan cpcr, ByteSpan template_hash) {
  return ExtendDigest(bank, cpcr, template_hash);
}

Result<Bytes> OwnerTag(HashAlg bank, ByteSpan blind, std::uint64_t epoch, std::uint64_t position) {
  std::uint8_t ep[8], pos[8];
  PutU64Be(ep, epoch);
  PutU64Be(pos, position);
  Hasher h(bank);
  h.Update(AsBytes(kOwnerDomain)).Update(blind).Update(ByteSpan(ep, 8)).Update(ByteSpan(pos, 8));
  return Finish(h);
}

Result<Bytes> StateTag(HashAlg bank, ByteSpan blind, ByteSpan cpcr_after) {
  Hasher h(bank);
  h.Update(AsBytes(kStateDomain)).Update(blind).Update(cpcr_after);
  return Finish(h);
}

Result<Bytes> BindingDigest(HashAlg bank, ByteSpan owner, ByteSpan state) {
  Hasher h(bank);
  h.Update(AsBytes(kBindDomain)).Update(owner).Update(state);
  return Finish(h);
}

Result<BankDigests> BatchExtendDigest(std::span<const HashAlg> banks, std::span<const BankDigests> xs) {
  if (xs.empty()) return Internal("empty batch");
  for (const BankDigests& x : xs) {
    for (HashAlg b : banks) {
      auto it = x.find(b);
      if (it == x.end() || it->second.size() != DigestSize(b))
        return Internal("batch member lacks a " + BankName(b) + " digest");
    }
  }
  if (xs.size() == 1) return xs[0];
  BankDigests out;
  for (HashAlg b : banks) {
    Hasher h(b);
    h.Update(AsBytes(kBatchDomain));
    for (const BankDigests& x : xs) h.Update(x.at(b));
    IMMUNE_ASSIGN_OR_RETURN(out[b], Finish(h));
  }
  return out;
}

Result<BankDigests> TemplateHashes(std::span<const HashAlg> banks, ByteSpan template_data) {
  BankDigests out;
  for (HashAlg b : banks) {
    IMMUNE_ASSIGN_OR_RETURN(out[b], TemplateHash(b, template_data));
  }
  return out;
}

Result<PartitionState> PartitionState::Create(std::string container_id, Bytes salt,
                                              std::span<const HashAlg> banks) {
  if (salt.size() != kPartitionSaltSize) {
    return Corruption("partition '" + container_id + "': salt has " + std::to_string(salt.size()) +
                      " bytes, not " + std::to_string(kPartitionSaltSize));
  }
  if (banks.empty()) return InvalidArgument("partition '" + container_id + "': no banks");
  PartitionState s;
  for (HashAlg b : banks) {
    IMMUNE_ASSIGN_OR_RETURN(s.blind_[b], PartitionBlind(b, salt, container_id));
    s.cpcr_[b] = Bytes(DigestSize(b), 0);
  }
  s.container_id_ = std::move(container_id);
  s.salt_ = std::move(salt);
  return s;
}

void PartitionState::ResetCpcrs() {
  for (auto& [b, v] : cpcr_) v.assign(DigestSize(b), 0);
}

Result<EntryBinding> PartitionState::Extend(const BankDigests& template_hashes, std::uint64_t epoch,
                                            std::uint64_t position) {
  EntryBinding out;
  BankDigests next;
  for (const auto& [b, cur] : cpcr_) {
    auto th = template_hashes.find(b);
    if (th == template_hashes.end() || th->second.size() != DigestSize(b)) {
      return Internal("template hash missing for bank " + BankName(b));
    }
    IMMUNE_ASSIGN_OR_RETURN(next[b], CpcrExtend(b, cur, th->second));
    IMMUNE_ASSIGN_OR_RETURN(out.owner[b], OwnerTag(b, blind_.at(b), epoch, position));
    IMMUNE_ASSIGN_OR_RETURN(out.state[b], StateTag(b, blind_.at(b), next[b]));
    IMMUNE_ASSIGN_OR_RETURN(out.x[b], BindingDigest(b, out.owner[b], out.state[b]));
  }
  cpcr_ = std::move(next);  // only after every bank succeeded
  return out;
}

Result<VerifiedPartition> VerifyPartitionView(const PartitionView& view, const PcrValues& pcrs) {
  if (view.banks.empty()) return Corruption("partition view has no banks");
  if (view.pcr >= kNumPcrs) return Corruption("partition view names PCR " + std::to_string(view.pcr));
  for (HashAlg b : view.banks) {
    auto s = view.start_pcr.find(b);
    if (s == view.start_pcr.end() || s->second.size() != DigestSize(b)) {
      return Corruption("partition view: start PCR value of bank " + BankName(b) +
                        " is missing or has the wrong size");
    }
  }
  auto state = PartitionState::Create(view.container_id, view.salt, view.banks);
  if (!state.ok()) return Corruption("partition view: " + state.error().message());
  VerifiedPartition out;
  BankDigests pcr = view.start_pcr;
  std::uint64_t last_seq = 0;
  bool have_seq = false;
  std::vector<BankDigests> group;  // x_e of the current batch
  auto flush = [&]() -> Status {
    if (group.empty()) return OkStatus();
    IMMUNE_ASSIGN_OR_RETURN(BankDigests d, BatchExtendDigest(view.banks, group));
    for (HashAlg b : view.banks) {
      IMMUNE_ASSIGN_OR_RETURN(pcr[b], ExtendDigest(b, pcr[b], d.at(b)));
    }
    group.clear();
    return OkStatus();
  };
  for (std::size_t i = 0; i < view.items.size(); ++i) {
    const ViewItem& item = view.items[i];
    const std::string where = "partition view position " + std::to_string(i);
    if (item.position != i) {
      return Corruption(where + ": item says position " + std::to_string(item.position) +
                        " (missing or reordered items)");
    }
    BankDigests x;
    if (item.entry) {
      const MeasurementEntry& e = *item.entry;
      if (e.container_id != view.container_id) {
        return Corruption(where + ": entry of container '" + e.container_id + "' in the view of '" +
                          view.container_id + "'");
      }
      if (e.epoch != view.epoch || e.pcr != view.pcr)
        return Corruption(where + ": entry's epoch or PCR differs from the view's");
      if (have_seq && e.seq <= last_seq)
        return Corruption(where + ": sequence number " + std::to_string(e.seq) + " is not increasing");
      last_seq = e.seq;
      have_seq = true;
      auto data = BuildTemplateData(e);
      if (!data.ok()) return Corruption(where + ": " + data.error().message());
      IMMUNE_ASSIGN_OR_RETURN(BankDigests th, TemplateHashes(view.banks, *data));
      IMMUNE_ASSIGN_OR_RETURN(EntryBinding bind, state->Extend(th, view.epoch, i));
      x = std::move(bind.x);
      out.entries.push_back(e);
    } else {
      for (HashAlg b : view.banks) {
        auto o = item.owner.find(b);
        auto s = item.state.find(b);
        if (o == item.owner.end() || s == item.state.end() || o->second.size() != DigestSize(b) ||
            s->second.size() != DigestSize(b)) {
          return Corruption(where + ": opaque item lacks a " + BankName(b) +
                            " owner/state value of the bank's size");
        }
        IMMUNE_ASSIGN_OR_RETURN(Bytes own, OwnerTag(b, state->blind().at(b), view.epoch, i));
        if (own == o->second) {
          return Corruption(where + ": an entry of container '" + view.container_id +
                            "' is presented as opaque (hidden)");
        }
        IMMUNE_ASSIGN_OR_RETURN(x[b], BindingDigest(b, o->second, s->second));
      }
    }
    if (i > 0 && item.batch != view.items[i - 1].batch) {
      if (item.batch < view.items[i - 1].batch) return Corruption(where + ": batch numbers go backwards");
      IMMUNE_RETURN_IF_ERROR(flush());
    }
    group.push_back(std::move(x));
  }
  IMMUNE_RETURN_IF_ERROR(flush());
  for (HashAlg b : view.banks) {
    auto bank = pcrs.find(b);
    const Bytes* actual = nullptr;
    if (bank != pcrs.end()) {
      auto v = bank->second.find(view.pcr);
      if (v != bank->second.end()) actual = &v->second;
    }
    if (actual == nullptr)
      return Corruption("partition view: PCR " + std::to_string(view.pcr) + " of bank " + BankName(b) +
                        " was not given");
    if (*actual != pcr[b]) {
      return Corruption("partition view of '" + view.container_id + "' replays " + BankName(b) + " PCR " +
                        std::to_string(view.pcr) + " to " + ToHex(pcr[b]) + " but the PCR is " +
                        ToHex(*actual));
    }
  }
  out.cpcr = state->cpcr();
  out.replayed_pcr = std::move(pcr);
  out.total_entries = view.items.size();
  return out;
}

namespace {

nlohmann::json DigestsToJson(const BankDigests& d) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [b, v] : d) j[BankName(b)] = ToHex(v);
  return j;
}

Result<BankDigests> DigestsFromJson(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) return Corruption(what + " is not an object");
  BankDigests out;
  for (const auto& [k, v] : j.items()) {
    auto b = HashAlgFromName(k);
    if (!b) return Corruption(what + ": unknown bank '" + k + "'");
    if (!v.is_string()) return Corruption(what + "." + k + " is not a string");
    auto bytes = FromHex(v.get<std::string>());
    if (!bytes.ok()) return Corruption(what + "." + k + ": " + bytes.error().message());
    out[*b] = std::move(bytes).value();
  }
  return out;
}

Result<PartitionView> ViewFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Corruption("partition view is not a JSON object");
  PartitionView v;
  auto str = [&](const char* k) -> Result<std::string> {
    auto it = j.find(k);
    if (it == j.end() || !it->is_string())
      return Corruption(std::string("partition view member '") + k + "' is missing or not a string");
    return it->get<std::string>();
  };
  auto num = [&](const char* k, std::uint64_t max) -> Result<std::uint64_t> {
    auto it = j.find(k);
    if (it == j.end() || !it->is_number_unsigned() || it->get<std::uint64_t>() > max) {
      return Corruption(std::string("partition view member '") + k +
                        "' is missing or not an unsigned number in range");
    }
    return it->get<std::uint64_t>();
  };
  if (auto f = j.find("format");
      f == j.end() || !f->is_string() || f->get<std::string>() != "immune-partition-view-v1") {
    return Corruption("partition view member 'format' is not \"immune-partition-view-v1\"");
  }
  IMMUNE_ASSIGN_OR_RETURN(v.writer, str("writer"));
  IMMUNE_ASSIGN_OR_RETURN(std::uint64_t pcr, num("pcr", kNumPcrs - 1));
  v.pcr = static_cast<std::uint32_t>(pcr);
  IMMUNE_ASSIGN_OR_RETURN(v.epoch, num("epoch", std::numeric_limits<std::uint64_t>::max()));
  IMMUNE_ASSIGN_OR_RETURN(v.container_id, str("container_id"));
  IMMUNE_ASSIGN_OR_RETURN(std::string salt, str("salt"));
  auto salt_bytes = FromHex(salt);
  if (!salt_bytes.ok()) return Corruption("partition view member 'salt': " + salt_bytes.error().message());
  v.salt = std::move(salt_bytes).value();
  auto banks = j.find("banks");
  if (banks == j.end() || !banks->is_array())
    return Corruption("partition view member 'banks' is missing or not an array");
  for (const auto& b : *banks) {
    auto alg = b.is_string() ? HashAlgFromName(b.get<std::string>()) : std::nullopt;
    if (!alg) return Corruption("partition view member 'banks' has an unknown bank");
    v.banks.push_back(*alg);
  }
  auto start = j.find("start_pcr");
  if (start == j.end()) return Corruption("partition view member 'start_pcr' is missing");
  IMMUNE_ASSIGN_OR_RETURN(v.start_pcr, DigestsFromJson(*start, "start_pcr"));
  auto items = j.find("items");
  if (items == j.end() || !items->is_array())
    return Corruption("partition view member 'items' is missing or not an array");
  for (std::size_t i = 0; i < items->size(); ++i) {
    const auto& it = (*items)[i];
    const std::string where = "items[" + std::to_string(i) + "]";
    if (!it.is_object()) return Corruption(where + " is not an object");
    ViewItem item;
    auto p = it.find("position");
    if (p == it.end() || !p->is_number_unsigned())
      return Corruption(where + ".position is missing or not an unsigned number");
    item.position = p->get<std::uint64_t>();
    auto bt = it.find("batch");
    if (bt == it.end() || !bt->is_number_unsigned())
      return Corruption(where + ".batch is missing or not an unsigned number");
    item.batch = bt->get<std::uint64_t>();
    if (auto e = it.find("entry"); e != it.end()) {
      auto entry = internal::EntryFromJson(*e);
      if (!entry.ok()) return Corruption(where + ".entry: " + entry.error().message());
      item.entry = std::move(entry).value();
    } else {
      auto o = it.find("owner");
      auto s = it.find("state");
      if (o == it.end() || s == it.end())
        return Corruption(where + " has neither an entry nor owner/state values");
      IMMUNE_ASSIGN_OR_RETURN(item.owner, DigestsFromJson(*o, where + ".owner"));
      IMMUNE_ASSIGN_OR_RETURN(item.state, DigestsFromJson(*s, where + ".state"));
    }
    v.items.push_back(std::move(item));
  }
  return v;
}

}  // namespace

std::string PartitionViewToJson(const PartitionView& view) {
  nlohmann::json j;
  j["format"] = "immune-partition-view-v1";
  j["writer"] = view.writer;
  j["pcr"] = view.pcr;
  j["epoch"] = view.epoch;
  j["banks"] = nlohmann::json::array();
  for (HashAlg b : view.banks) j["banks"].push_back(BankName(b));
  j["start_pcr"] = DigestsToJson(view.start_pcr);
  j["container_id"] = view.container_id;
  j["salt"] = ToHex(view.salt);
  nlohmann::json items = nlohmann::json::array();
  for (const ViewItem& item : view.items) {
    nlohmann::json ji;
    ji["position"] = item.position;
    ji["batch"] = item.batch;
    if (item.entry) {
      ji["entry"] = internal::EntryToJson(*item.entry);
    } else {
      ji["owner"] = DigestsToJson(item.owner);
      ji["state"] = DigestsToJson(item.state);
    }
    items.push_back(std::move(ji));
  }
  j["items"] = std::move(items);
  return j.dump();
}

Result<PartitionView> PartitionViewFromJson(std::string_view json_text) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Corruption("partition view is not valid JSON");
  try {
    return ViewFromJson(j);
  } catch (const std::exception& e) {  // defensive: nlohmann accessors on odd values
    return Corruption(std::string("partition view: ") + e.what());
  }
}

}  // namespace immune::tsb
