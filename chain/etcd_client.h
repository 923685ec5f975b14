// A small client for etcd's v3 JSON gRPC-gateway (etcd 3.4: POST /v3/kv/range,
// /v3/kv/put, /v3/kv/txn; keys and values base64 in JSON), over libcurl.
// Private to chain/ (the etcd backend and its tests).
//
// Endpoints: every request goes to the endpoint that answered last, and on a
// transport failure (refused, reset, timed out) or an etcd "unavailable"
// answer (HTTP 5xx: no leader, request timed out, not enough members) to the
// next one, until each has been tried once. When none answers the error is
// Unavailable and names every endpoint with its reason. Every request is
// bounded by the request timeout. An HTTP 4xx answer is not retried
// elsewhere (InvalidArgument, naming the endpoint and etcd's message).
//
// Responses are untrusted: malformed JSON or fields of the wrong type are
// Corruption errors naming the endpoint and the operation, never asserted on.
//
// Thread safety: one object per thread (it owns one curl handle).
#ifndef IMMUNE_CHAIN_ETCD_CLIENT_H_
#define IMMUNE_CHAIN_ETCD_CLIENT_H_

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "immune/core/error.h"

namespace immune::chain {

struct EtcdKeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
};

class EtcdClient {
 public:
  // `endpoints`: base URLs such as "http://127.0.0.1:2379" (no trailing
  // slash needed). InvalidArgument when empty or a URL is not http(s)://.
  static Result<std::unique_ptr<EtcdClient>> Make(std::vector<std::string> endpoints, int timeout_ms);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // POSTs `body` to `path` (e.g. "/v3/kv/range") with failover; returns the
  // parsed JSON object. `what` names the operation in errors.
  Result<nlohmann::json> Call(std::string_view path, const nlohmann::json& body, std::string_view what);

  // The key's value; nullopt when absent. `serializable` reads the
  // answering member's local state (works without quorum; may be stale).
  Result<std::optional<EtcdKeyValue>> Get(std::string_view key, bool serializable);
  // How many keys start with `prefix`.
  Result<std::int64_t> CountPrefix(std::string_view prefix, bool serializable);
  // Unconditional put (tests use it to tamper behind the ledger's back).
  Status Put(std::string_view key, std::string_view value);

  // "http://a, http://b" for messages.
  std::string EndpointList() const;
  int timeout_ms() const { return timeout_ms_; }

  // Helpers for building and reading gateway JSON.
  static std::string B64(std::string_view s);
  // Parses one entry of a "kvs" array; Corruption when malformed.
  static Result<EtcdKeyValue> ParseKv(const nlohmann::json& kv);
  // The "kvs" of a range response (absent = none).
  static Result<std::vector<EtcdKeyValue>> ParseKvs(const nlohmann::json& range_response);

 private:
  EtcdClient(std::vector<std::string> endpoints, int timeout_ms, void* curl);
  // One attempt at one endpoint. On success fills `out`; `retry_elsewhere`
  // tells whether another endpoint may do better.
  Status CallOne(const std::string& endpoint, std::string_view path, const std::string& body,
                 nlohmann::json& out, bool& retry_elsewhere);

  std::vector<std::string> endpoints_;
  int timeout_ms_;
  std::size_t current_ = 0;
  void* curl_;  // CURL*
};

}  // namespace immune::chain

#endif  // IMMUNE_CHAIN_ETCD_CLIENT_H_
