#include "container_json_util.h"

#include <limits>

namespace immune::agents::json_util {

namespace {

// Only to learn where a syntax error is: accepts every event, records the
// first error's byte offset.
class ErrorOffsetSax : public nlohmann::json_sax<json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    offset = position;
    return false;
  }
  std::size_t offset = 0;
};

}  // namespace

Result<json> Parse(std::string_view bytes, std::string_view source) {
  json j = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) return j;
  ErrorOffsetSax sax;
  (void)json::sax_parse(bytes.begin(), bytes.end(), &sax);
  return InvalidArgument(std::string(source) + ": byte " + std::to_string(sax.offset) + ": not valid JSON");
}

Error FieldError(std::string_view source, std::string_view path, std::string_view message) {
  return InvalidArgument(std::string(source) + ": " + std::string(path.empty() ? "/" : path) + ": " +
                         std::string(message));
}

std::string Child(std::string_view path, std::string_view key) {
  return std::string(path) + "/" + std::string(key);
}

namespace {

// The member, nullptr when absent; an error when `obj` is not an object.
Result<const json*> Member(const json& obj, std::string_view key, std::string_view source,
                           std::string_view path, bool required) {
  if (!obj.is_object()) return FieldError(source, path, "must be an object");
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return FieldError(source, Child(path, key), "is missing");
    return static_cast<const json*>(nullptr);
  }
  return &*it;
}

}  // namespace

Result<std::optional<std::string>> String(const json& obj, std::string_view key, std::string_view source,
                                          std::string_view path, bool required) {
  IMMUNE_ASSIGN_OR_RETURN(const json* m, Member(obj, key, source, path, required));
  if (m == nullptr) return std::optional<std::string>();
  if (!m->is_string()) return FieldError(source, Child(path, key), "must be a string");
  return std::optional<std::string>(m->get<std::string>());
}

Result<std::string> RequiredString(const json& obj, std::string_view key, std::string_view source,
                                   std::string_view path) {
  IMMUNE_ASSIGN_OR_RETURN(const json* m, Member(obj, key, source, path, true));
  if (m == nullptr) return FieldError(source, Child(path, key), "is missing");
  if (!m->is_string()) return FieldError(source, Child(path, key), "must be a string");
  return m->get<std::string>();
}

Result<std::optional<std::int64_t>> Int(const json& obj, std::string_view key, std::string_view source,
                                        std::string_view path, bool required) {
  IMMUNE_ASSIGN_OR_RETURN(const json* m, Member(obj, key, source, path, required));
  if (m == nullptr) return std::optional<std::int64_t>();
  if (m->is_number_integer()) {
    if (m->is_number_unsigned() &&
        m->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return FieldError(source, Child(path, key), "is out of range");
    return std::optional<std::int64_t>(m->get<std::int64_t>());
  }
  return FieldError(source, Child(path, key), "must be an integer");
}

Result<std::optional<std::uint64_t>> Uint(const json& obj, std::string_view key, std::string_view source,
                                          std::string_view path, bool required) {
  IMMUNE_ASSIGN_OR_RETURN(const json* m, Member(obj, key, source, path, required));
  if (m == nullptr) return std::optional<std::uint64_t>();
  if (m->is_number_unsigned()) return std::optional<std::uint64_t>(m->get<std::uint64_t>());
  if (m->is_number_integer()) {
    if (m->get<std::int64_t>() >= 0) return std::optional<std::uint64_t>(m->get<std::uint64_t>());
    return FieldError(source, Child(path, key), "must not be negative");
  }
  return FieldError(source, Child(path, key), "must be a non-negative integer");
}

Result<std::optional<bool>> Bool(const json& obj, std::string_view key, std::string_view source,
                                 std::string_view path, bool required) {
  IMMUNE_ASSIGN_OR_RETURN(const json* m, Member(obj, key, source, path, required));
  if (m == nullptr) return std::optional<bool>();
  if (!m->is_boolean()) return FieldError(source, Child(path, key), "must be true or false");
  return std::optional<bool>(m->get<bool>());
}

Result<std::map<std::string, std::string>> StringMap(const json& obj, std::string_view key,
                                                     std::string_view source, std::string_view path) {
  IMMUNE_ASSIGN_OR_RETURN(const json* m, Member(obj, key, source, path, false));
  std::map<std::string, std::string> out;
  if (m == nullptr) return out;
  const std::string here = Child(path, key);
  if (!m->is_object()) return FieldError(source, here, "must be an object of strings");
  for (const auto& [k, v] : m->items()) {
    if (!v.is_string()) return FieldError(source, Child(here, k), "must be a string");
    out.emplace(k, v.get<std::string>());
  }
  return out;
}

Result<std::vector<std::string>> StringArray(const json& obj, std::string_view key, std::string_view source,
                                             std::string_view path) {
  IMMUNE_ASSIGN_OR_RETURN(const json* m, Member(obj, key, source, path, false));
  std::vector<std::string> out;
  if (m == nullptr) return out;
  const std::string here = Child(path, key);
  if (!m->is_array()) return FieldError(source, here, "must be an array of strings");
  for (std::size_t i = 0; i < m->size(); ++i) {
    if (!(*m)[i].is_string()) return FieldError(source, here + "/" + std::to_string(i), "must be a string");
    out.push_back((*m)[i].get<std::string>());
  }
  return out;
}

}  // namespace immune::agents::json_util
