// Byte buffers and a bounds-checked little-endian reader for untrusted input.
//
// ByteReader never reads past the end of its span: every read reports
// failure instead, and the caller turns that into an Error naming offset().
// It does not own the bytes it reads.
#ifndef IMMUNE_CORE_BYTES_H_
#define IMMUNE_CORE_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace immune {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;

inline ByteSpan AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsString(ByteSpan b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

class ByteReader {
 public:
  explicit ByteReader(ByteSpan data, std::size_t base_offset = 0) : data_(data), base_(base_offset) {}

  // Offset of the next unread byte, counted from the start of the whole
  // input (base_offset included), for error messages.
  std::size_t offset() const { return base_ + pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return pos_ == data_.size(); }
  ByteSpan rest() const { return data_.subspan(pos_); }

  std::optional<std::uint8_t> U8() {
    if (remaining() < 1) return std::nullopt;
    return data_[pos_++];
  }
  std::optional<std::uint16_t> U16Le() { return ReadLe<std::uint16_t>(); }
  std::optional<std::uint32_t> U32Le() { return ReadLe<std::uint32_t>(); }
  std::optional<std::uint64_t> U64Le() { return ReadLe<std::uint64_t>(); }
  std::optional<std::uint16_t> U16Be() { return ReadBe<std::uint16_t>(); }
  std::optional<std::uint32_t> U32Be() { return ReadBe<std::uint32_t>(); }

  // The next n bytes, as a view into the input; nullopt if fewer remain.
  std::optional<ByteSpan> Take(std::size_t n) {
    if (remaining() < n) return std::nullopt;
    ByteSpan s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  bool Skip(std::size_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }

 private:
  template <typename T>
  std::optional<T> ReadLe() {
    if (remaining() < sizeof(T)) return std::nullopt;
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
      v |= static_cast<T>(static_cast<T>(data_[pos_ + i]) << (8 * i));
    pos_ += sizeof(T);
    return v;
  }
  template <typename T>
  std::optional<T> ReadBe() {
    if (remaining() < sizeof(T)) return std::nullopt;
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>((v << 8) | data_[pos_ + i]);
    pos_ += sizeof(T);
    return v;
  }

  ByteSpan data_;
  std::size_t base_;
  std::size_t pos_ = 0;
};

}  // namespace immune

#endif  // IMMUNE_CORE_BYTES_H_
