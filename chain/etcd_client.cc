#include "etcd_client.h"

#include <curl/curl.h>

#include <charconv>
#include <mutex>

#include "immune/core/hex.h"

namespace immune::chain {

namespace {

std::size_t AppendBody(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// The gateway prints int64 as JSON strings; accept numbers too.
Result<std::int64_t> Int64Field(const nlohmann::json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end()) return std::int64_t{0};  // proto3 JSON omits zero values
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (!it->is_string()) return Corruption(std::string("field ") + name + " is not an integer");
  const std::string& s = it->get_ref<const std::string&>();
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    return Corruption(std::string("field ") + name + " is not an integer: \"" + s.substr(0, 40) + "\"");
  return v;
}

Result<std::string> B64Field(const nlohmann::json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end()) return std::string();
  if (!it->is_string()) return Corruption(std::string("field ") + name + " is not a string");
  auto bytes = FromBase64(it->get_ref<const std::string&>());
  if (!bytes.ok()) return Corruption(std::string("field ") + name + ": " + bytes.error().message());
  return std::string(bytes->begin(), bytes->end());
}

// The end of the range of keys starting with `prefix` (prefix + 1).
std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(end.back());
    if (c < 0xFF) {
      ++c;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // all keys
}

}  // namespace

std::string EtcdClient::B64(std::string_view s) {
  return ToBase64(ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

Result<std::unique_ptr<EtcdClient>> EtcdClient::Make(std::vector<std::string> endpoints, int timeout_ms) {
  if (endpoints.empty()) return InvalidArgument("etcd: no endpoint given");
  for (auto& e : endpoints) {
    if (!e.starts_with("http://") && !e.starts_with("https://"))
      return InvalidArgument("etcd endpoint \"" + e + "\": not an http:// or https:// URL");
    while (e.ends_with("/")) e.pop_back();
  }
  if (timeout_ms <= 0) return InvalidArgument("etcd: the request timeout must be positive");
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Internal("etcd: curl_easy_init failed");
  return std::unique_ptr<EtcdClient>(new EtcdClient(std::move(endpoints), timeout_ms, curl));
}

EtcdClient::EtcdClient(std::vector<std::string> endpoints, int timeout_ms, void* curl)
    : endpoints_(std::move(endpoints)), timeout_ms_(timeout_ms), curl_(curl) {}

EtcdClient::~EtcdClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

std::string EtcdClient::EndpointList() const {
  std::string s;
  for (const auto& e : endpoints_) s += (s.empty() ? "" : ", ") + e;
  return s;
}

Status EtcdClient::CallOne(const std::string& endpoint, std::string_view path, const std::string& body,
                           nlohmann::json& out, bool& retry_elsewhere) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  const std::string url = endpoint + std::string(path);
  std::string response;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms_));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_ms_));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
  const CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  retry_elsewhere = true;
  if (rc != CURLE_OK) {
    return Unavailable(
        curl_easy_strerror(rc) +
        std::string(rc == CURLE_OPERATION_TIMEDOUT ? " (after " + std::to_string(timeout_ms_) + " ms)" : ""));
  }
  nlohmann::json j = nlohmann::json::parse(response, nullptr, /*allow_exceptions=*/false);
  if (status != 200) {
    std::string msg = "HTTP " + std::to_string(status);
    if (j.is_object()) {
      auto it = j.find("error");
      if (it != j.end() && it->is_string()) msg += ": " + it->get<std::string>();
    } else {
      msg += ": " + response.substr(0, 200);
    }
    if (status >= 500) return Unavailable(msg);
    retry_elsewhere = false;
    return InvalidArgument(msg);
  }
  if (!j.is_object()) {
    retry_elsewhere = false;
    return Corruption("the answer is not a JSON object");
  }
  out = std::move(j);
  return OkStatus();
}

Result<nlohmann::json> EtcdClient::Call(std::string_view path, const nlohmann::json& body,
                                        std::string_view what) {
  const std::string text = body.dump();
  std::string reasons;
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    const std::size_t at = (current_ + i) % endpoints_.size();
    nlohmann::json out;
    bool retry = true;
    Status s = CallOne(endpoints_[at], path, text, out, retry);
    if (s.ok()) {
      current_ = at;
      return out;
    }
    if (!retry)
      return Error(s.error().code(),
                   "etcd " + endpoints_[at] + ": " + std::string(what) + ": " + s.error().message());
    reasons += (reasons.empty() ? "" : "; ") + endpoints_[at] + ": " + s.error().message();
  }
  return Unavailable("etcd (" + EndpointList() + "): " + std::string(what) +
                     ": no endpoint answered, or the cluster has no quorum (" + reasons + ")");
}

Result<EtcdKeyValue> EtcdClient::ParseKv(const nlohmann::json& kv) {
  if (!kv.is_object()) return Corruption("a key-value entry is not an object");
  EtcdKeyValue out;
  IMMUNE_ASSIGN_OR_RETURN(out.key, B64Field(kv, "key"));
  IMMUNE_ASSIGN_OR_RETURN(out.value, B64Field(kv, "value"));
  IMMUNE_ASSIGN_OR_RETURN(out.create_revision, Int64Field(kv, "create_revision"));
  IMMUNE_ASSIGN_OR_RETURN(out.mod_revision, Int64Field(kv, "mod_revision"));
  return out;
}

Result<std::vector<EtcdKeyValue>> EtcdClient::ParseKvs(const nlohmann::json& range_response) {
  std::vector<EtcdKeyValue> out;
  if (!range_response.is_object()) return Corruption("a range response is not an object");
  auto it = range_response.find("kvs");
  if (it == range_response.end()) return out;
  if (!it->is_array()) return Corruption("kvs is not an array");
  for (const auto& kv : *it) {
    IMMUNE_ASSIGN_OR_RETURN(EtcdKeyValue e, ParseKv(kv));
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::optional<EtcdKeyValue>> EtcdClient::Get(std::string_view key, bool serializable) {
  nlohmann::json body = {{"key", B64(key)}};
  if (serializable) body["serializable"] = true;
  const std::string what = std::string(serializable ? "serializable " : "") + "range " + std::string(key);
  IMMUNE_ASSIGN_OR_RETURN(nlohmann::json r, Call("/v3/kv/range", body, what));
  auto kvs = ParseKvs(r);
  if (!kvs.ok()) return Corruption("etcd (" + EndpointList() + "): " + what + ": " + kvs.error().message());
  for (auto& kv : *kvs)
    if (kv.key == key) return std::optional<EtcdKeyValue>(std::move(kv));
  if (!kvs->empty())
    return Corruption("etcd (" + EndpointList() + "): " + what + ": the answer holds another key");
  return std::optional<EtcdKeyValue>();
}

Result<std::int64_t> EtcdClient::CountPrefix(std::string_view prefix, bool serializable) {
  nlohmann::json body = {{"key", B64(prefix)}, {"range_end", B64(PrefixEnd(prefix))}, {"count_only", true}};
  if (serializable) body["serializable"] = true;
  const std::string what = "count " + std::string(prefix) + "*";
  IMMUNE_ASSIGN_OR_RETURN(nlohmann::json r, Call("/v3/kv/range", body, what));
  auto n = Int64Field(r, "count");
  if (!n.ok() || *n < 0)
    return Corruption("etcd (" + EndpointList() + "): " + what + ": no valid count in the answer");
  return *n;
}

Status EtcdClient::Put(std::string_view key, std::string_view value) {
  nlohmann::json body = {{"key", B64(key)}, {"value", B64(value)}};
  IMMUNE_ASSIGN_OR_RETURN(nlohmann::json r, Call("/v3/kv/put", body, "put " + std::string(key)));
  (void)r;
  return OkStatus();
}

}  // namespace immune::chain
