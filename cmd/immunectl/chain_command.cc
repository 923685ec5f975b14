#include "chain_command.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "exit_codes.h"
#include "immune/chain/index.h"
#include "immune/chain/merkle.h"
#include "immune/chain/proof.h"
#include "immune/chain/publish.h"
#include "immune/chain/record.h"
#include "immune/chain/store.h"
#include "immune/chain/trust.h"
#include "immune/chain/verify.h"
#include "immune/core/file.h"
#include "immune/core/hex.h"

namespace immune::cli {

namespace {

using namespace immune::chain;  // NOLINT: this file is the chain command

constexpr const char* kSignatureFormat = "immune-chain-signature/1";

struct Args {
  std::string store;
  std::string trust;
  std::vector<std::string> publisher_keys;
  unsigned threshold = 0;
  std::string records;
  std::vector<std::string> keys;
  std::vector<std::string> signatures;
  std::string out;
  std::uint64_t time_ms = 0;
  std::uint64_t from = 0;
  std::string pin;
  std::string digest;
  std::string image;
  std::string path;
  std::string record_id;
  std::string proof;
  std::string height;
  bool json = false;
};

std::string StoreOf(const Args& a) { return a.store.empty() ? DefaultStoreLocation() : a.store; }

Result<TrustConfig> LoadTrust(BlockStore& store, const std::string& trust_path) {
  if (!trust_path.empty()) {
    IMMUNE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(trust_path));
    auto t = TrustConfig::FromJson(text);
    if (!t.ok()) return t.error().WithContext(trust_path);
    return t;
  }
  IMMUNE_ASSIGN_OR_RETURN(std::string text, store.ReadTrustConfig());
  auto t = TrustConfig::FromJson(text);
  if (!t.ok()) return Corruption("the store's trust configuration: " + t.error().message());
  return t;
}

Result<std::vector<Record>> LoadRecords(const std::string& path) {
  IMMUNE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  auto r = RecordsFromJsonText(text);
  if (!r.ok()) return r.error().WithContext(path);
  return r;
}

Result<std::vector<PrivateKey>> LoadKeys(const std::vector<std::string>& paths) {
  std::vector<PrivateKey> keys;
  for (const auto& p : paths) {
    IMMUNE_ASSIGN_OR_RETURN(PrivateKey k, PrivateKey::FromPemFile(p));
    keys.push_back(std::move(k));
  }
  return keys;
}

// The stored head, checked as a verifier checks it (signatures, records,
// hash): a publisher extends only a head it has verified.
Result<std::optional<ChainHead>> VerifiedHead(BlockStore& store, const TrustConfig& trust) {
  IMMUNE_ASSIGN_OR_RETURN(std::optional<ChainHead> head, store.Head());
  if (!head) return head;
  auto block = store.Read(head->height);
  if (!block.ok()) return block.error();
  if (auto f = VerifyBlock(*block, head->height, block->header.prev_hash, trust))
    return Corruption("the head does not verify, refusing to extend it: " + f->ToString() +
                      " (run `immunectl chain verify`)");
  if (BlockHash(block->header) != head->hash)
    return Corruption("block " + std::to_string(head->height) +
                      ": stored hash is not the hash of its header");
  return head;
}

int RunInit(const Args& a) {
  Result<TrustConfig> trust =
      InvalidArgument("give --trust TRUST.json or --publisher-key PEM... --threshold K");
  if (!a.trust.empty()) {
    if (!a.publisher_keys.empty())
      return ReportError(InvalidArgument("--trust and --publisher-key exclude each other"));
    auto text = ReadTextFile(a.trust);
    if (!text.ok()) return ReportError(text.error());
    trust = TrustConfig::FromJson(*text);
    if (!trust.ok()) return ReportError(trust.error().WithContext(a.trust));
  } else if (!a.publisher_keys.empty()) {
    std::vector<Publisher> pubs;
    for (const auto& p : a.publisher_keys) {
      auto pem = ReadTextFile(p);
      if (!pem.ok()) return ReportError(pem.error());
      auto key = PublicKey::FromPem(*pem);
      if (!key.ok()) return ReportError(key.error().WithContext(p));
      pubs.push_back({p, std::move(key).value()});
    }
    trust = TrustConfig::Make(std::move(pubs), a.threshold == 0 ? 1 : a.threshold);
  }
  if (!trust.ok()) return ReportError(trust.error());
  auto store = OpenStore(StoreOf(a), /*create=*/true);
  if (!store.ok()) return ReportError(store.error());
  if (Status s = (*store)->Initialize(trust->ToJson()); !s.ok()) return ReportError(s.error());
  std::fprintf(stderr, "immunectl: initialised %s: %u of %zu publisher keys, trust configuration %s\n",
               StoreOf(a).c_str(), trust->threshold(), trust->publishers().size(),
               HashHex(trust->digest()).c_str());
  return kExitOk;
}

int RunSign(const Args& a) {
  auto store = OpenStore(StoreOf(a), false);
  if (!store.ok()) return ReportError(store.error());
  auto trust = LoadTrust(**store, "");
  if (!trust.ok()) return ReportError(trust.error());
  auto records = LoadRecords(a.records);
  if (!records.ok()) return ReportError(records.error());
  auto keys = LoadKeys(a.keys);
  if (!keys.ok()) return ReportError(keys.error());
  auto head = VerifiedHead(**store, *trust);
  if (!head.ok()) return ReportError(head.error());
  auto block = PrepareBlock(*head, *records, *trust, a.time_ms != 0 ? a.time_ms : NowMs());
  if (!block.ok()) return ReportError(block.error().WithContext(a.records));
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& k : *keys) {
    if (trust->Find(k.public_key().id()) == nullptr)
      return ReportError(
          InvalidArgument("key " + HashHex(k.public_key().id()) + " is not a publisher of this chain"));
    auto sig = SignHeader(block->header, k);
    if (!sig.ok()) return ReportError(sig.error());
    out.push_back({{"format", kSignatureFormat},
                   {"height", block->header.height},
                   {"block_hash", HashHex(BlockHash(block->header))},
                   {"header_hex", ToHex(EncodeHeader(block->header))},
                   {"key_id", HashHex(sig->key_id)},
                   {"signature_base64", ToBase64(sig->signature)}});
  }
  const std::string text = (out.size() == 1 ? out[0] : out).dump(2) + "\n";
  if (a.out.empty()) {
    WriteOut(text);
  } else if (Status s = WriteFileAtomic(a.out, AsBytes(text)); !s.ok()) {
    return ReportError(s.error());
  }
  std::fprintf(stderr, "immunectl: signed block %llu (%zu records, time %llu)\n",
               static_cast<unsigned long long>(block->header.height), records->size(),
               static_cast<unsigned long long>(block->header.time_ms));
  return kExitOk;
}

// Signature files: one object or an array of them, each for one header.
Status AddSignatureFile(const std::string& path, Block& block, std::optional<Bytes>& header) {
  IMMUNE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return InvalidArgument(path + ": not valid JSON");
  if (!j.is_array()) j = nlohmann::json::array({j});
  for (std::size_t i = 0; i < j.size(); ++i) {
    const auto& s = j[i];
    const std::string where = path + ": signature " + std::to_string(i);
    if (!s.is_object() || !s.contains("format") || !s["format"].is_string() ||
        s["format"].get<std::string>() != kSignatureFormat || !s.contains("header_hex") ||
        !s["header_hex"].is_string() || !s.contains("key_id") || !s["key_id"].is_string() ||
        !s.contains("signature_base64") || !s["signature_base64"].is_string())
      return InvalidArgument(where + ": not an " + kSignatureFormat + " object");
    IMMUNE_ASSIGN_OR_RETURN(Bytes h, FromHex(s["header_hex"].get<std::string>()));
    if (!header) header = h;
    if (h != *header)
      return InvalidArgument(where + ": signs a different block header than the first signature file");
    BlockSignature bs;
    IMMUNE_ASSIGN_OR_RETURN(bs.key_id, HashFromHex(s["key_id"].get<std::string>(), where + ": key_id"));
    auto sig = FromBase64(s["signature_base64"].get<std::string>());
    if (!sig.ok()) return sig.error().WithContext(where);
    bs.signature = std::move(sig).value();
    block.signatures.push_back(std::move(bs));
  }
  return OkStatus();
}

int RunPublish(const Args& a) {
  if (a.keys.empty() == a.signatures.empty())
    return ReportError(
        InvalidArgument("give --key KEY.pem (one per signer) or --signatures SIG.json (from `chain sign`)"));
  auto store = OpenStore(StoreOf(a), false);
  if (!store.ok()) return ReportError(store.error());
  auto trust = LoadTrust(**store, "");
  if (!trust.ok()) return ReportError(trust.error());
  auto records = LoadRecords(a.records);
  if (!records.ok()) return ReportError(records.error());
  auto head = VerifiedHead(**store, *trust);
  if (!head.ok()) return ReportError(head.error());
  Result<ChainHead> published = Internal("unset");
  if (!a.keys.empty()) {
    auto keys = LoadKeys(a.keys);
    if (!keys.ok()) return ReportError(keys.error());
    published = PublishRecords(**store, *trust, *records, *keys, a.time_ms != 0 ? a.time_ms : NowMs());
  } else {
    Block sigs_only;
    std::optional<Bytes> header;
    for (const auto& p : a.signatures) {
      if (Status s = AddSignatureFile(p, sigs_only, header); !s.ok()) return ReportError(s.error());
    }
    auto signed_header = DecodeHeader(*header);
    if (!signed_header.ok()) return ReportError(signed_header.error().WithContext(a.signatures[0]));
    auto block = PrepareBlock(*head, *records, *trust, signed_header->time_ms);
    if (!block.ok()) return ReportError(block.error().WithContext(a.records));
    if (block->header != *signed_header)
      return ReportError(InvalidArgument(
          "the signatures are for block " + std::to_string(signed_header->height) + " with Merkle root " +
          HashHex(signed_header->merkle_root) + "; " + a.records + " on the current head makes block " +
          std::to_string(block->header.height) + " with Merkle root " + HashHex(block->header.merkle_root) +
          " (sign again if the head moved)"));
    block->signatures = std::move(sigs_only.signatures);
    published = SubmitBlock(**store, *trust, *block);
  }
  if (!published.ok()) return ReportError(published.error());
  std::fprintf(stderr, "immunectl: published block %llu (%zu records), hash %s\n",
               static_cast<unsigned long long>(published->height), records->size(),
               HashHex(published->hash).c_str());
  return kExitOk;
}

Result<std::optional<ChainHead>> ParsePin(const std::string& pin) {
  if (pin.empty()) return std::optional<ChainHead>();
  const auto colon = pin.find(':');
  if (colon == std::string::npos || colon == 0 || pin.find_first_not_of("0123456789") < colon)
    return InvalidArgument("--pin \"" + pin + "\": expected HEIGHT:BLOCKHASH");
  ChainHead h;
  h.height = std::stoull(pin.substr(0, colon));
  IMMUNE_ASSIGN_OR_RETURN(h.hash, HashFromHex(pin.substr(colon + 1), "--pin block hash"));
  return std::optional<ChainHead>(h);
}

int RunVerify(const Args& a) {
  auto pin = ParsePin(a.pin);
  if (!pin.ok()) return ReportError(pin.error());
  auto store = OpenStore(StoreOf(a), false);
  if (!store.ok()) return ReportError(store.error());
  auto trust = LoadTrust(**store, a.trust);
  if (!trust.ok()) return ReportError(trust.error());
  VerifyOptions o;
  o.from = a.from;
  o.pinned = *pin;
  auto r = VerifyChain(**store, *trust, o);
  if (!r.ok()) return ReportError(r.error());
  if (a.json) {
    nlohmann::ordered_json j;
    j["ok"] = r->ok();
    j["first_height"] = r->first_height;
    j["blocks_verified"] = r->blocks;
    j["records_verified"] = r->records;
    if (r->head) j["head"] = {{"height", r->head->height}, {"hash", HashHex(r->head->hash)}};
    if (r->failure) {
      j["bad_block"] = r->failure->height;
      if (r->failure->record) j["bad_record"] = *r->failure->record;
      j["reason"] = r->failure->reason;
    }
    WriteOut(j.dump(2) + "\n");
  }
  if (!r->ok()) {
    std::fprintf(stderr, "immunectl: chain verify: %s\n", r->failure->ToString().c_str());
    return kExitMismatch;
  }
  if (!a.json) {
    WriteOut("ok: " + std::to_string(r->blocks) + " blocks, " + std::to_string(r->records) + " records" +
             (r->head ? ", head " + std::to_string(r->head->height) + " " + HashHex(r->head->hash) : "") +
             "\n");
  }
  return kExitOk;
}

// An index look-up that failed: refused past a break or absent (1), or
// anything else (by its code).
int LookupFailed(const Error& e) {
  if (e.code() == ErrorCode::kNotFound || e.code() == ErrorCode::kCorruption) {
    std::fprintf(stderr, "immunectl: chain prove: %s\n", e.message().c_str());
    return kExitMismatch;
  }
  return ReportError(e);
}

int RunProve(const Args& a) {
  const int selectors = (a.digest.empty() ? 0 : 1) + (a.record_id.empty() ? 0 : 1) +
                        (a.image.empty() && a.path.empty() ? 0 : 1);
  if (selectors != 1 || a.image.empty() != a.path.empty())
    return ReportError(InvalidArgument("give one of: DIGEST, --image IMAGE --path PATH, --record-id ID"));
  std::optional<TaggedDigest> digest;
  if (!a.digest.empty()) {
    auto d = ParseTaggedDigest(a.digest);
    if (!d.ok()) return ReportError(d.error());
    digest = std::move(d).value();
  }
  std::optional<Hash256> id;
  if (!a.record_id.empty()) {
    auto h = HashFromHex(a.record_id, "--record-id");
    if (!h.ok()) return ReportError(h.error());
    id = *h;
  }
  auto store = OpenStore(StoreOf(a), false);
  if (!store.ok()) return ReportError(store.error());
  auto trust = LoadTrust(**store, a.trust);
  if (!trust.ok()) return ReportError(trust.error());
  BaselineIndex index;
  VerifyOptions o;
  o.index = &index;
  auto r = VerifyChain(**store, *trust, o);
  if (!r.ok()) return ReportError(r.error());
  if (!r->ok())
    std::fprintf(stderr, "immunectl: warning: chain verify: %s\n", r->failure->ToString().c_str());
  RecordLocation where;
  if (digest) {
    auto hits = index.FindByDigest(*digest);
    if (!hits.ok()) return LookupFailed(hits.error());
    if (hits->size() > 1)
      std::fprintf(stderr, "immunectl: %zu baselines have this digest; proving the latest (%s %s)\n",
                   hits->size(), hits->back().image.c_str(), hits->back().path.c_str());
    where = hits->back().location;
  } else if (id) {
    auto loc = index.FindRecord(*id);
    if (!loc.ok()) return LookupFailed(loc.error());
    where = *loc;
  } else {
    auto hit = index.FindByImagePath(a.image, a.path);
    if (!hit.ok()) return LookupFailed(hit.error());
    where = hit->location;
  }
  auto block = (*store)->Read(where.height);
  if (!block.ok()) return ReportError(block.error());
  auto proof = BuildProof(*block, where.index);
  if (!proof.ok()) return ReportError(proof.error());
  WriteOut(ProofToJson(*proof));
  return kExitOk;
}

int RunVerifyProof(const Args& a) {
  auto text = ReadTextFile(a.proof);
  if (!text.ok()) return ReportError(text.error());
  auto proof = ProofFromJson(*text);
  if (!proof.ok()) {
    if (proof.error().code() != ErrorCode::kCorruption)
      return ReportError(proof.error().WithContext(a.proof));
    std::fprintf(stderr, "immunectl: chain verify-proof: %s: %s\n", a.proof.c_str(),
                 proof.error().message().c_str());
    return kExitMismatch;
  }
  Result<TrustConfig> trust = InvalidArgument("unset");
  if (!a.trust.empty()) {
    auto t = ReadTextFile(a.trust);
    if (!t.ok()) return ReportError(t.error());
    trust = TrustConfig::FromJson(*t);
    if (!trust.ok()) return ReportError(trust.error().WithContext(a.trust));
  } else {
    auto store = OpenStore(StoreOf(a), false);
    if (!store.ok()) return ReportError(store.error().WithContext("no --trust given, and the store"));
    trust = LoadTrust(**store, "");
    if (!trust.ok()) return ReportError(trust.error());
  }
  if (Status s = VerifyProof(*proof, *trust); !s.ok()) {
    std::fprintf(stderr, "immunectl: chain verify-proof: %s: %s\n", a.proof.c_str(),
                 s.error().message().c_str());
    return kExitMismatch;
  }
  WriteOut("ok: record " + HashHex(LeafHash(proof->record)) + " is record " +
           std::to_string(proof->leaf_index) + " of block " + std::to_string(proof->header.height) + " " +
           HashHex(BlockHash(proof->header)) + "\n");
  return kExitOk;
}

nlohmann::ordered_json HeaderJson(const Block& b) {
  nlohmann::ordered_json j;
  j["height"] = b.header.height;
  j["hash"] = HashHex(BlockHash(b.header));
  j["prev_hash"] = HashHex(b.header.prev_hash);
  j["time_ms"] = b.header.time_ms;
  j["records"] = b.header.record_count;
  j["merkle_root"] = HashHex(b.header.merkle_root);
  j["trust_digest"] = HashHex(b.header.trust_digest);
  j["signers"] = nlohmann::ordered_json::array();
  for (const auto& s : b.signatures) j["signers"].push_back(HashHex(s.key_id));
  return j;
}

int RunShow(const Args& a) {
  auto store = OpenStore(StoreOf(a), false);
  if (!store.ok()) return ReportError(store.error());
  std::uint64_t height = 0;
  if (a.height.empty() || a.height == "head") {
    auto head = (*store)->Head();
    if (!head.ok()) return ReportError(head.error());
    if (!*head) {
      WriteOut(a.json ? "{\"blocks\": 0}\n" : "empty chain\n");
      return kExitOk;
    }
    height = (*head)->height;
  } else {
    if (a.height.find_first_not_of("0123456789") != std::string::npos)
      return ReportError(InvalidArgument("HEIGHT \"" + a.height + "\": not a block height"));
    height = std::stoull(a.height);
  }
  auto block = (*store)->Read(height);
  if (!block.ok()) return ReportError(block.error());
  auto j = HeaderJson(*block);
  if (a.json) {
    j["record_list"] = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < block->records.size(); ++i) {
      auto rec = DecodeRecord(block->records[i]);
      nlohmann::ordered_json r =
          rec.ok() ? RecordToJson(*rec) : nlohmann::ordered_json{{"error", rec.error().message()}};
      r["record_id"] = HashHex(LeafHash(block->records[i]));
      j["record_list"].push_back(std::move(r));
    }
    WriteOut(j.dump(2) + "\n");
    return kExitOk;
  }
  std::string out;
  for (const auto& [k, v] : j.items())
    out += k + ": " + (v.is_string() ? v.get<std::string>() : v.dump()) + "\n";
  for (std::size_t i = 0; i < block->records.size(); ++i) {
    auto rec = DecodeRecord(block->records[i]);
    out += "  " + std::to_string(i) + " " + HashHex(LeafHash(block->records[i])) + " " +
           (rec.ok() ? RecordToJson(*rec).dump() : "(undecodable: " + rec.error().message() + ")") + "\n";
  }
  WriteOut(out);
  return kExitOk;
}

int RunLog(const Args& a) {
  auto store = OpenStore(StoreOf(a), false);
  if (!store.ok()) return ReportError(store.error());
  auto head = (*store)->Head();
  if (!head.ok()) return ReportError(head.error());
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  std::string out;
  for (std::uint64_t h = 0; *head && h <= (*head)->height; ++h) {
    auto block = (*store)->Read(h);
    if (!block.ok()) {
      if (block.error().code() == ErrorCode::kIo) return ReportError(block.error());
      out += std::to_string(h) + " (unreadable: " + block.error().message() + ")\n";
      arr.push_back({{"height", h}, {"error", block.error().message()}});
      continue;
    }
    auto j = HeaderJson(*block);
    out += std::to_string(h) + " " + j["hash"].get<std::string>() +
           " time_ms=" + std::to_string(block->header.time_ms) +
           " records=" + std::to_string(block->header.record_count) +
           " signatures=" + std::to_string(block->signatures.size()) + "\n";
    arr.push_back(std::move(j));
  }
  WriteOut(a.json ? arr.dump(2) + "\n" : out);
  return kExitOk;
}

}  // namespace

void AddChainCommands(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  (void)global;
  CLI::App* chain = app.add_subcommand(
      "chain",
      "The baseline ledger: signed, hash-linked blocks of records in a store (docs/chain-format.md)");
  chain->require_subcommand(1);
  auto args = std::make_shared<Args>();
  auto add = [&](const char* name, const char* help, int (*run)(const Args&)) {
    CLI::App* c = chain->add_subcommand(name, help);
    c->add_option(
        "--store", args->store,
        "Chain store: sqlite:PATH or PATH (default: $IMMUNE_CHAIN_STORE, else sqlite:./immune-chain.db)");
    c->callback([args, exit_code, run] { *exit_code = run(*args); });
    return c;
  };

  CLI::App* init =
      add("init", "Create a store with its trust configuration (N publisher keys, threshold K)", RunInit);
  init->add_option("--trust", args->trust,
                   "TRUST.json: {\"version\":1,\"threshold\":K,\"publishers\":[...]}");
  init->add_option("--publisher-key", args->publisher_keys,
                   "A publisher's public key PEM (repeat for N keys)");
  init->add_option("--threshold", args->threshold,
                   "K: signatures a block needs (with --publisher-key; default 1)");

  CLI::App* sign = add(
      "sign", "Sign the block RECORDS.json would make on the head (step 1 of 2; see publish --signatures)",
      RunSign);
  sign->add_option("RECORDS", args->records, "RECORDS.json: {\"records\":[...]} or an array")->required();
  sign->add_option("--key", args->keys, "Private key PEM (repeatable)")->required();
  sign->add_option("--time", args->time_ms,
                   "Block time, ms since the Unix epoch (co-signers must use the same; default now)");
  sign->add_option("-o,--out", args->out, "Write the signature JSON here (default stdout)");

  CLI::App* publish =
      add("publish", "Append RECORDS.json as one block signed by --key KEY... or by --signatures SIG...",
          RunPublish);
  publish->add_option("RECORDS", args->records, "RECORDS.json: {\"records\":[...]} or an array")->required();
  publish->add_option("--key", args->keys, "Private key PEM of a publisher (repeat for K of N)");
  publish->add_option("--signatures", args->signatures, "Signature files from `chain sign` (repeatable)");
  publish->add_option("--time", args->time_ms,
                      "Block time with --key, ms since the Unix epoch (default now)");

  CLI::App* verify = add(
      "verify", "Verify the chain: exit 0 all holds, 1 naming the first bad block and record, 2 bad input",
      RunVerify);
  verify->add_option("--from", args->from,
                     "First block to verify fully (block FROM-1's header anchors the link)");
  verify->add_option("--pin", args->pin, "HEIGHT:BLOCKHASH the chain must extend (a head seen before)");
  verify->add_option("--trust", args->trust, "TRUST.json to verify against instead of the store's own");
  verify->add_flag("--json", args->json, "Report as JSON");

  CLI::App* prove = add(
      "prove", "Print the inclusion proof JSON of a file baseline (by digest or --image/--path) or record",
      RunProve);
  prove->add_option("DIGEST", args->digest, "File digest: sha256:HEX (or bare hex)");
  prove->add_option("--image", args->image, "Image of the file baseline");
  prove->add_option("--path", args->path, "Path of the file baseline");
  prove->add_option("--record-id", args->record_id, "Any record, by its id (leaf hash)");
  prove->add_option("--trust", args->trust,
                    "TRUST.json to verify the chain against instead of the store's own");

  CLI::App* vp =
      add("verify-proof", "Check a proof offline: exit 0 holds, 1 does not, 2 malformed", RunVerifyProof);
  vp->add_option("PROOF", args->proof, "PROOF.json from `chain prove`")->required();
  vp->add_option("--trust", args->trust, "TRUST.json (default: the store's trust configuration)");

  CLI::App* show = add("show", "Print a block (default the head)", RunShow);
  show->add_option("HEIGHT", args->height, "Block height or `head`");
  show->add_flag("--json", args->json, "JSON, with the records");

  CLI::App* log = add("log", "List the blocks, one per line", RunLog);
  log->add_flag("--json", args->json, "JSON array of block headers");
}

}  // namespace immune::cli
