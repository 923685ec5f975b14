// Error and Result: the error model of every Immune library.
//
// No library throws across its boundary. A fallible function returns
// Result<T> (a value or an Error) or Status (= Result<void>). An Error carries
// a code a caller can branch on and a message that names the input and the
// place (file, byte offset, event index, TPM response code) so that the text
// alone tells an operator what went wrong and where.
//
// Thread safety: values; no shared state.
#ifndef IMMUNE_CORE_ERROR_H_
#define IMMUNE_CORE_ERROR_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace immune {

enum class ErrorCode : std::uint8_t {
  kInvalidArgument = 1,  // the caller's input is malformed (bad flag, bad JSON)
  kCorruption,           // stored or received bytes are not what they claim
  kNotFound,             // a file, key, PCR bank or record does not exist
  kIo,                   // the operating system refused a read or write
  kTpm,                  // the TPM or its software stack returned an error
  kUnsupported,          // well-formed but not handled (an unknown algorithm)
  kPermissionDenied,     // privileges are missing
  kUnavailable,          // a service (swtpm, a daemon) is not reachable
  kAborted,              // a concurrent change won (a compare-and-swap lost); retry on fresh state
  kInternal,             // a broken invariant inside Immune itself
};

// The stable lower-case name of a code ("corruption"), used in messages and JSON.
std::string_view ErrorCodeName(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "context: message"; used when an error
  // crosses a layer, so the outermost text names the input ("FILE: ...").
  Error WithContext(std::string_view context) const;

  // "corruption: FILE: event 12 at byte 4096: digest runs past the end".
  std::string ToString() const;

 private:
  ErrorCode code_;
  std::string message_;
};

inline Error InvalidArgument(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
inline Error Corruption(std::string m) { return {ErrorCode::kCorruption, std::move(m)}; }
inline Error NotFound(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
inline Error IoError(std::string m) { return {ErrorCode::kIo, std::move(m)}; }
inline Error TpmError(std::string m) { return {ErrorCode::kTpm, std::move(m)}; }
inline Error Unsupported(std::string m) { return {ErrorCode::kUnsupported, std::move(m)}; }
inline Error PermissionDenied(std::string m) { return {ErrorCode::kPermissionDenied, std::move(m)}; }
inline Error Unavailable(std::string m) { return {ErrorCode::kUnavailable, std::move(m)}; }
inline Error Aborted(std::string m) { return {ErrorCode::kAborted, std::move(m)}; }
inline Error Internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

// A value of type T or an Error. Accessing value() of an error Result (or
// error() of a value) is a programming error and aborts.
template <typename T>
class [[nodiscard]] Result {
 public:
  static_assert(!std::is_same_v<T, Error>, "Result<Error> is meaningless");

  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status OkStatus() { return {}; }

}  // namespace immune

// Propagates an error Result or Status to the caller.
#define IMMUNE_RETURN_IF_ERROR(expr)                         \
  do {                                                       \
    auto immune_status_ = (expr);                            \
    if (!immune_status_.ok()) return immune_status_.error(); \
  } while (false)

#define IMMUNE_CONCAT_INNER_(a, b) a##b
#define IMMUNE_CONCAT_(a, b) IMMUNE_CONCAT_INNER_(a, b)

// IMMUNE_ASSIGN_OR_RETURN(auto x, Foo()); declares x from Foo()'s value or
// returns its error.
#define IMMUNE_ASSIGN_OR_RETURN(lhs, expr) \
  IMMUNE_ASSIGN_OR_RETURN_IMPL_(IMMUNE_CONCAT_(immune_result_, __LINE__), lhs, expr)
#define IMMUNE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.error();                  \
  lhs = std::move(tmp).value()

#endif  // IMMUNE_CORE_ERROR_H_
