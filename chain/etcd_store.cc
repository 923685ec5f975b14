#include "immune/chain/etcd_store.h"

#include <charconv>
#include <cstdio>

#include "etcd_client.h"

namespace immune::chain {

namespace {

constexpr std::size_t kHeadValueSize = 8 + kHashSize;

std::string HeadValue(std::uint64_t height, const Hash256& hash) {
  std::string v(kHeadValueSize, '\0');
  for (int i = 0; i < 8; ++i) v[static_cast<std::size_t>(i)] = static_cast<char>(height >> (56 - 8 * i));
  std::copy(hash.begin(), hash.end(), v.begin() + 8);
  return v;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t at = s.find(sep, start);
    out.emplace_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

class EtcdStore final : public BlockStore {
 public:
  EtcdStore(EtcdOptions options, std::unique_ptr<EtcdClient> client)
      : options_(std::move(options)), client_(std::move(client)) {}

  // "etcd (http://a, http://b) /immune/chain".
  std::string Where() const { return "etcd (" + client_->EndpointList() + ") " + options_.prefix; }
  std::string Key(std::string_view name) const { return options_.prefix + "/" + std::string(name); }
  std::string BlockKey(std::uint64_t height) const {
    char digits[24];
    std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(height));
    return Key("blocks/") + digits;
  }

  // A linearizable read, or (see the header) a serializable one once no
  // quorum could serve a linearizable read.
  Result<std::optional<EtcdKeyValue>> GetKey(const std::string& key) {
    if (!stale_) {
      auto r = client_->Get(key, /*serializable=*/false);
      if (r.ok() || r.error().code() != ErrorCode::kUnavailable || !options_.allow_stale_reads) return r;
      stale_ = true;
    }
    return client_->Get(key, /*serializable=*/true);
  }

  Status CheckFormat() {
    IMMUNE_ASSIGN_OR_RETURN(std::optional<EtcdKeyValue> f, GetKey(Key("format")));
    if (!f) {
      if (options_.create) return OkStatus();
      return NotFound(Where() + ": no chain store here (create one with `immunectl chain init`)");
    }
    if (f->value != kStoreFormat)
      return InvalidArgument(Where() + ": the store's format is \"" + f->value.substr(0, 64) +
                             "\", this build reads \"" + std::string(kStoreFormat) + "\"");
    return OkStatus();
  }

  Status Initialize(std::string_view trust_json) override {
    const std::string fkey = Key("format"), tkey = Key("trust");
    nlohmann::json txn = {
        {"compare",
         {{{"key", EtcdClient::B64(fkey)},
           {"result", "EQUAL"},
           {"target", "CREATE"},
           {"create_revision", "0"}},
          {{"key", EtcdClient::B64(tkey)},
           {"result", "EQUAL"},
           {"target", "CREATE"},
           {"create_revision", "0"}}}},
        {"success",
         {{{"request_put", {{"key", EtcdClient::B64(fkey)}, {"value", EtcdClient::B64(kStoreFormat)}}}},
          {{"request_put", {{"key", EtcdClient::B64(tkey)}, {"value", EtcdClient::B64(trust_json)}}}}}}};
    auto r = client_->Call("/v3/kv/txn", txn, "initialising " + options_.prefix);
    if (!r.ok()) return r.error();
    if (!Succeeded(*r)) {
      // A lost answer to our own transaction looks the same; compare the text.
      auto t = GetKey(tkey);
      if (t.ok() && *t && (*t)->value == trust_json) {
        auto f = GetKey(fkey);
        if (f.ok() && *f && (*f)->value == kStoreFormat)
          return InvalidArgument(Where() + ": already initialised with a trust configuration (this one)");
      }
      return InvalidArgument(Where() + ": already initialised with a trust configuration");
    }
    return OkStatus();
  }

  Result<std::string> ReadTrustConfig() override {
    auto t = GetKey(Key("trust"));
    if (!t.ok()) return t.error();
    if (!*t) return NotFound(Where() + ": not initialised (run `immunectl chain init`)");
    return std::move((*t)->value);
  }

  Result<std::optional<ChainHead>> Head() override {
    auto h = GetKey(Key("head"));
    if (!h.ok()) return h.error();
    if (!*h) return std::optional<ChainHead>();
    return ParseHead((*h)->value);
  }

  Result<AppendOutcome> Append(const Block& block, const Hash256& hash) override {
    const std::uint64_t height = block.header.height;
    const std::string hkey = Key("head"), bkey = BlockKey(height), fkey = Key("format");
    nlohmann::json head_cmp = {{"key", EtcdClient::B64(hkey)}, {"result", "EQUAL"}};
    if (height == 0) {
      if (block.header.prev_hash != Hash256{}) return AppendOutcome::kConflict;
      head_cmp["target"] = "CREATE";
      head_cmp["create_revision"] = "0";
    } else {
      head_cmp["target"] = "VALUE";
      head_cmp["value"] = EtcdClient::B64(HeadValue(height - 1, block.header.prev_hash));
    }
    const std::string new_head = HeadValue(height, hash);
    const Bytes encoded = EncodeBlock(block);
    nlohmann::json txn = {
        {"compare",
         {head_cmp,
          {{"key", EtcdClient::B64(bkey)},
           {"result", "EQUAL"},
           {"target", "CREATE"},
           {"create_revision", "0"}},
          {{"key", EtcdClient::B64(fkey)},
           {"result", "EQUAL"},
           {"target", "VALUE"},
           {"value", EtcdClient::B64(kStoreFormat)}}}},
        {"success",
         {{{"request_put",
            {{"key", EtcdClient::B64(bkey)},
             {"value", EtcdClient::B64(std::string_view(reinterpret_cast<const char*>(encoded.data()),
                                                        encoded.size()))}}}},
          {{"request_put", {{"key", EtcdClient::B64(hkey)}, {"value", EtcdClient::B64(new_head)}}}}}},
        {"failure", {{{"request_range", {{"key", EtcdClient::B64(hkey)}}}}}}};
    const std::string what = "appending block " + std::to_string(height);
    auto r = client_->Call("/v3/kv/txn", txn, what + " to " + options_.prefix);
    if (!r.ok()) return r.error();
    if (Succeeded(*r)) {
      stale_ = false;  // a quorum answered
      return AppendOutcome::kAppended;
    }
    // The compare failed: another publisher won, or our own transaction
    // was applied through an endpoint whose answer was lost.
    auto resp = r->find("responses");
    if (resp != r->end() && resp->is_array() && resp->size() == 1 && (*resp)[0].is_object()) {
      auto range = (*resp)[0].find("response_range");
      if (range != (*resp)[0].end()) {
        auto kvs = EtcdClient::ParseKvs(*range);
        if (kvs.ok() && kvs->size() == 1 && (*kvs)[0].value == new_head) {
          stale_ = false;
          return AppendOutcome::kAppended;
        }
      }
    }
    return AppendOutcome::kConflict;
  }

  Result<Block> Read(std::uint64_t height) override {
    auto v = GetKey(BlockKey(height));
    if (!v.ok()) return v.error();
    if (!*v) return NotFound("block " + std::to_string(height) + " is missing");
    const std::string& s = (*v)->value;
    auto b = DecodeBlock(ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
    if (!b.ok()) return Corruption("block " + std::to_string(height) + ": " + b.error().message());
    return std::move(b).value();
  }

  Result<std::uint64_t> BlockCount() override {
    Result<std::int64_t> n = std::int64_t{0};
    if (!stale_) n = client_->CountPrefix(Key("blocks/"), false);
    if (stale_ || (!n.ok() && n.error().code() == ErrorCode::kUnavailable && options_.allow_stale_reads)) {
      stale_ = true;
      n = client_->CountPrefix(Key("blocks/"), true);
    }
    if (!n.ok()) return n.error();
    return static_cast<std::uint64_t>(*n);
  }

 private:
  static bool Succeeded(const nlohmann::json& r) {
    auto it = r.find("succeeded");
    return it != r.end() && it->is_boolean() && it->get<bool>();
  }

  Result<std::optional<ChainHead>> ParseHead(const std::string& v) const {
    if (v.size() != kHeadValueSize)
      return Corruption(Where() + ": the head key holds " + std::to_string(v.size()) + " bytes, not " +
                        std::to_string(kHeadValueSize) + " (height and hash)");
    ChainHead h;
    for (int i = 0; i < 8; ++i)
      h.height = (h.height << 8) | static_cast<std::uint8_t>(v[static_cast<std::size_t>(i)]);
    std::copy(v.begin() + 8, v.end(), h.hash.begin());
    return std::optional<ChainHead>(h);
  }

  EtcdOptions options_;
  std::unique_ptr<EtcdClient> client_;
  bool stale_ = false;
};

}  // namespace

Result<EtcdOptions> ParseEtcdLocation(std::string_view location) {
  const std::string where(location);
  if (location.starts_with("etcd:")) location.remove_prefix(5);
  EtcdOptions o;
  const std::size_t q = location.find('?');
  if (q != std::string_view::npos) {
    for (const std::string& kv : Split(location.substr(q + 1), '&')) {
      const std::size_t eq = kv.find('=');
      const std::string name = kv.substr(0, eq), value = eq == std::string::npos ? "" : kv.substr(eq + 1);
      if (name == "prefix") {
        if (!value.starts_with("/") || value.size() < 2 || value.ends_with("/"))
          return InvalidArgument("store location \"" + where +
                                 "\": prefix must start with / and not end with /");
        o.prefix = value;
      } else if (name == "timeout_ms") {
        int t = 0;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), t);
        if (ec != std::errc() || p != value.data() + value.size() || t <= 0 || t > 600000)
          return InvalidArgument("store location \"" + where + "\": timeout_ms must be 1..600000");
        o.timeout_ms = t;
      } else if (name == "stale_reads") {
        if (value != "0" && value != "1")
          return InvalidArgument("store location \"" + where + "\": stale_reads must be 0 or 1");
        o.allow_stale_reads = value == "1";
      } else {
        return InvalidArgument("store location \"" + where + "\": unknown option \"" + name + "\"");
      }
    }
    location = location.substr(0, q);
  }
  for (std::string& e : Split(location, ',')) {
    if (e.empty()) return InvalidArgument("store location \"" + where + "\": an empty endpoint");
    o.endpoints.push_back(std::move(e));
  }
  return o;
}

Result<std::unique_ptr<BlockStore>> OpenEtcdStore(const EtcdOptions& options) {
  IMMUNE_ASSIGN_OR_RETURN(std::unique_ptr<EtcdClient> client,
                          EtcdClient::Make(options.endpoints, options.timeout_ms));
  auto store = std::make_unique<EtcdStore>(options, std::move(client));
  IMMUNE_RETURN_IF_ERROR(store->CheckFormat());
  return std::unique_ptr<BlockStore>(std::move(store));
}

}  // namespace immune::chain
