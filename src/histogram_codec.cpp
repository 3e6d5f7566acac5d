// loadtest: HdrHistogram's V2 encoding (plain and zlib-compressed, base64), see histogram_codec.hpp.
//
// The layout follows HdrHistogram's published format (HdrHistogram_c hdr_histogram_log.c,
// HdrHistogram.js JsHistogram.encoding): a 40-byte big-endian header, then the counts as ZigZag
// LEB128-64b9B values where a negative value -n stands for n empty slots.
#include "loadtest/histogram_codec.hpp"

#include <zlib.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace loadtest {

namespace {

constexpr std::uint32_t cookie_base(std::uint32_t cookie) noexcept { return cookie & ~0xf0u; }
constexpr std::uint32_t v2_encoding_base = 0x1c849303u;
constexpr std::uint32_t v2_compressed_base = 0x1c849304u;
constexpr std::size_t header_size = 40;      // cookie, length, offset, digits: 4 each; lowest, highest, ratio: 8 each
constexpr std::size_t compressed_header = 8;  // cookie, length
constexpr std::size_t max_leb128 = 9;

[[noreturn]] void corrupt(const std::string& why) {
  throw std::invalid_argument("corrupt HdrHistogram payload: " + why);
}

void put32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}
void put64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}
std::uint32_t get32(std::string_view s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
std::uint64_t get64(std::string_view s, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

void put_zigzag(std::string& out, std::int64_t signed_value) {
  auto v = static_cast<std::uint64_t>(signed_value);
  v = (v << 1) ^ static_cast<std::uint64_t>(signed_value >> 63);
  // LEB128-64b9B: 8 groups of 7 bits with a continuation bit, the 9th byte carries the last 8 bits.
  for (int i = 0; i < 8; ++i) {
    if (v < 0x80) {
      out += static_cast<char>(v);
      return;
    }
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v & 0xff);
}

// Reads one value at s[pos]; throws when it runs past the end.
std::int64_t get_zigzag(std::string_view s, std::size_t& pos) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < max_leb128; ++i) {
    if (pos >= s.size()) corrupt("a LEB128 value is truncated at byte " + std::to_string(pos));
    const auto b = static_cast<unsigned char>(s[pos++]);
    if (i == 8) {
      v |= static_cast<std::uint64_t>(b) << 56;
      break;
    }
    v |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) break;
  }
  return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

struct Layout {
  std::int64_t lowest = 0, highest = 0;
  int digits = 0;
};

// HdrHistogram's counts_len for a layout, computed without allocating; 0 when the layout is one
// Histogram would refuse.
std::size_t slots_for(const Layout& l) {
  if (l.digits < 1 || l.digits > 5 || l.lowest < 1 || l.highest / 2 < l.lowest ||
      l.highest > std::numeric_limits<std::int64_t>::max() / 1000 - 1)
    return 0;
  std::int64_t single_unit = 2;
  for (int i = 0; i < l.digits; ++i) single_unit *= 10;
  const int magnitude = static_cast<int>(std::bit_width(static_cast<std::uint64_t>(single_unit - 1)));
  const int half_magnitude = std::max(magnitude, 1) - 1;
  const int unit_magnitude = 63 - std::countl_zero(static_cast<std::uint64_t>(l.lowest));
  if (unit_magnitude + half_magnitude > 61) return 0;
  const std::int64_t sub_bucket_count = std::int64_t{1} << (half_magnitude + 1);
  std::size_t buckets = 1;
  for (std::int64_t untrackable = sub_bucket_count << unit_magnitude; untrackable <= l.highest; ++buckets) {
    if (untrackable > std::numeric_limits<std::int64_t>::max() / 2) {
      ++buckets;
      break;
    }
    untrackable <<= 1;
  }
  return (buckets + 1) * static_cast<std::size_t>(sub_bucket_count / 2);
}

struct Header {
  Layout layout;
  std::size_t payload_length = 0;
  std::size_t slots = 0;
};

// Parses and checks the 40-byte V2 header at the start of `s`.
Header read_header(std::string_view s) {
  if (s.size() < header_size)
    corrupt("the V2 header needs 40 bytes, got " + std::to_string(s.size()));
  const std::uint32_t cookie = get32(s, 0);
  if (cookie_base(cookie) != v2_encoding_base) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", cookie);
    corrupt(std::string("cookie ") + buf + " is not a V2 encoding cookie (0x1c849303)");
  }
  const auto length = static_cast<std::int32_t>(get32(s, 4));
  Header h;
  h.layout.digits = static_cast<std::int32_t>(get32(s, 12));
  h.layout.lowest = static_cast<std::int64_t>(get64(s, 16));
  h.layout.highest = static_cast<std::int64_t>(get64(s, 24));
  if (length < 0) corrupt("negative payload length " + std::to_string(length));
  h.payload_length = static_cast<std::size_t>(length);
  h.slots = slots_for(h.layout);
  if (h.slots == 0)
    corrupt("unsupported layout: lowest " + std::to_string(h.layout.lowest) + ", highest " +
            std::to_string(h.layout.highest) + ", " + std::to_string(h.layout.digits) +
            " digits (need digits 1..5, lowest >= 1, highest >= 2 * lowest)");
  if (h.slots > hdr_max_decoded_slots)
    corrupt("layout needs " + std::to_string(h.slots) + " slots, more than the limit of " +
            std::to_string(hdr_max_decoded_slots));
  if (h.payload_length > max_leb128 * h.slots)
    corrupt("payload length " + std::to_string(h.payload_length) + " is beyond what " + std::to_string(h.slots) +
            " slots can take");
  return h;
}

constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[k])); };
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += b64_alphabet[(v >> 18) & 63];
    out += b64_alphabet[(v >> 12) & 63];
    out += b64_alphabet[(v >> 6) & 63];
    out += b64_alphabet[v & 63];
  }
  if (const std::size_t rest = in.size() - i; rest > 0) {
    const std::uint32_t v = (byte(i) << 16) | (rest == 2 ? byte(i + 1) << 8 : 0);
    out += b64_alphabet[(v >> 18) & 63];
    out += b64_alphabet[(v >> 12) & 63];
    out += rest == 2 ? b64_alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view in) {
  if (in.size() > hdr_max_encoded_chars)
    corrupt("the base64 text has " + std::to_string(in.size()) + " characters, more than the limit of " +
            std::to_string(hdr_max_encoded_chars));
  std::array<int, 256> value{};
  value.fill(-1);
  for (int i = 0; i < 64; ++i) value[static_cast<unsigned char>(b64_alphabet[i])] = i;
  std::size_t n = in.size();
  while (n > 0 && in[n - 1] == '=' && in.size() - n < 2) --n;
  if (n % 4 == 1) corrupt("the base64 text has a bad length " + std::to_string(in.size()));
  std::string out;
  out.reserve(n / 4 * 3 + 2);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const int v = value[static_cast<unsigned char>(in[i])];
    if (v < 0) corrupt("character " + std::to_string(i) + " is not base64");
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// zlib stream state, ended whatever happens.
struct Inflater {
  z_stream z{};
  Inflater() {
    if (inflateInit(&z) != Z_OK) throw std::runtime_error("zlib: inflateInit failed");
  }
  ~Inflater() { inflateEnd(&z); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  // Inflates into out[from, out.size()); returns the zlib code and how much it wrote.
  int run(std::string& out, std::size_t from) {
    z.next_out = reinterpret_cast<Bytef*>(out.data() + from);
    z.avail_out = static_cast<uInt>(out.size() - from);
    return inflate(&z, Z_SYNC_FLUSH);
  }
};

}  // namespace

std::string encode_v2(const Histogram& h) {
  const std::size_t limit = h.counts_limit();
  std::string out;
  out.reserve(header_size + limit / 4 + 16);
  put32(out, hdr_v2_encoding_cookie);
  put32(out, 0);  // payload length, set below
  put32(out, 0);  // normalizing index offset
  put32(out, static_cast<std::uint32_t>(h.significant_digits()));
  put64(out, static_cast<std::uint64_t>(h.lowest_trackable_us()));
  put64(out, static_cast<std::uint64_t>(h.highest_trackable_us()));
  put64(out, std::bit_cast<std::uint64_t>(1.0));  // integer-to-double conversion ratio
  for (std::size_t i = 0; i < limit;) {
    const std::uint64_t count = h.count_at_index(i++);
    if (count == 0) {
      std::int64_t zeros = 1;
      while (i < limit && h.count_at_index(i) == 0) {
        ++zeros;
        ++i;
      }
      put_zigzag(out, zeros > 1 ? -zeros : 0);
    } else {
      // A count beyond int64 cannot be written in the format (it would take 2^63 samples).
      put_zigzag(out, static_cast<std::int64_t>(std::min<std::uint64_t>(count, std::numeric_limits<std::int64_t>::max())));
    }
  }
  const auto length = static_cast<std::uint32_t>(out.size() - header_size);
  for (int k = 0; k < 4; ++k) out[4 + static_cast<std::size_t>(k)] = static_cast<char>((length >> (24 - 8 * k)) & 0xff);
  return out;
}

Histogram decode_v2(std::string_view payload) {
  const Header header = read_header(payload);
  if (payload.size() - header_size != header.payload_length)
    corrupt("the header announces " + std::to_string(header.payload_length) + " payload bytes, there are " +
            std::to_string(payload.size() - header_size));
  Histogram h(header.layout.lowest, header.layout.highest, header.layout.digits);
  const std::string_view data = payload.substr(header_size);
  std::size_t pos = 0, index = 0;
  while (pos < data.size()) {
    if (index >= header.slots)
      corrupt("counts go on beyond the last of " + std::to_string(header.slots) + " slots");
    const std::int64_t v = get_zigzag(data, pos);
    if (v < 0) {
      if (v == std::numeric_limits<std::int64_t>::min() || static_cast<std::uint64_t>(-v) > header.slots - index)
        corrupt("a run of " + std::to_string(v == std::numeric_limits<std::int64_t>::min() ? 0 : -v) +
                " empty slots at slot " + std::to_string(index) + " goes beyond the last of " +
                std::to_string(header.slots));
      index += static_cast<std::size_t>(-v);
    } else {
      try {
        h.record_at_index(index, static_cast<std::uint64_t>(v));
      } catch (const std::invalid_argument& e) {
        corrupt(e.what());
      }
      ++index;
    }
  }
  return h;
}

std::string encode_compressed(const Histogram& h) {
  const std::string payload = encode_v2(h);
  uLongf length = compressBound(static_cast<uLong>(payload.size()));
  std::string out(compressed_header + length, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(out.data() + compressed_header), &length,
                           reinterpret_cast<const Bytef*>(payload.data()), static_cast<uLong>(payload.size()),
                           Z_DEFAULT_COMPRESSION);
  if (rc != Z_OK) throw std::runtime_error("zlib: compress2 failed (" + std::to_string(rc) + ")");
  out.resize(compressed_header + length);
  std::string head;
  put32(head, hdr_v2_compressed_cookie);
  put32(head, static_cast<std::uint32_t>(length));
  out.replace(0, compressed_header, head);
  return out;
}

std::string encode_compressed_base64(const Histogram& h) { return base64_encode(encode_compressed(h)); }

Histogram decode_compressed(std::string_view bytes) {
  if (bytes.size() < compressed_header)
    corrupt("the compressed header needs 8 bytes, got " + std::to_string(bytes.size()));
  const std::uint32_t cookie = get32(bytes, 0);
  if (cookie_base(cookie) != v2_compressed_base) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", cookie);
    corrupt(std::string("cookie ") + buf + " is not a compressed V2 cookie (0x1c849304)");
  }
  const auto length = static_cast<std::int32_t>(get32(bytes, 4));
  if (length < 0 || static_cast<std::size_t>(length) > bytes.size() - compressed_header)
    corrupt("compressed length " + std::to_string(length) + " is beyond the " +
            std::to_string(bytes.size() - compressed_header) + " bytes that follow");
  const std::string_view stream = bytes.substr(compressed_header, static_cast<std::size_t>(length));

  Inflater z;
  z.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(stream.data()));
  z.z.avail_in = static_cast<uInt>(stream.size());
  // The header first: it bounds the rest.
  std::string out(header_size, '\0');
  std::size_t have = 0;
  int rc = Z_OK;
  auto step = [&] {
    rc = z.run(out, have);
    have = out.size() - z.z.avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
      corrupt("the zlib stream does not inflate (zlib error " + std::to_string(rc) + ")");
  };
  while (rc == Z_OK && have < header_size) step();
  if (have < header_size) corrupt("the inflated payload is shorter than the 40-byte V2 header");
  const Header header = read_header(out);
  const std::size_t expected = header_size + header.payload_length;
  out.resize(expected + 1);  // one spare byte detects an over-long stream
  while (rc == Z_OK && have < out.size()) step();
  if (have != expected)
    corrupt("the zlib stream inflates to " + std::string(have > expected ? "more" : "less") + " than the header's " +
            std::to_string(header.payload_length) + " payload bytes");
  if (rc != Z_STREAM_END) corrupt("the zlib stream is truncated");
  out.resize(have);
  return decode_v2(out);
}

Histogram decode_compressed_base64(std::string_view text) { return decode_compressed(base64_decode(text)); }

std::string encode_exact(const Histogram& h) {
  std::string out = encode_v2(h);
  const Histogram::Moments m = h.moments();
  put64(out, static_cast<std::uint64_t>(m.min_ns));
  put64(out, static_cast<std::uint64_t>(m.max_ns));
  put64(out, std::bit_cast<std::uint64_t>(m.sum_us));
  put64(out, std::bit_cast<std::uint64_t>(m.sum_sq_us));
  put64(out, m.saturated);
  return out;
}

Histogram decode_exact(std::string_view bytes) {
  constexpr std::size_t trailer = 40;
  if (bytes.size() < header_size + trailer)
    corrupt("an exact histogram needs at least 80 bytes, got " + std::to_string(bytes.size()));
  const std::size_t at = bytes.size() - trailer;
  Histogram h = decode_v2(bytes.substr(0, at));
  Histogram::Moments m;
  m.min_ns = static_cast<std::int64_t>(get64(bytes, at));
  m.max_ns = static_cast<std::int64_t>(get64(bytes, at + 8));
  m.sum_us = std::bit_cast<double>(get64(bytes, at + 16));
  m.sum_sq_us = std::bit_cast<double>(get64(bytes, at + 24));
  m.saturated = get64(bytes, at + 32);
  try {
    h.restore_moments(m);
  } catch (const std::invalid_argument& e) {
    corrupt(e.what());
  }
  return h;
}

bool restore_summary(Histogram& h, double min_s, double max_s, double avg_s, double stddev_s) {
  if (h.empty()) return true;
  if (!std::isfinite(min_s) || !std::isfinite(max_s) || !std::isfinite(avg_s) || !std::isfinite(stddev_s) ||
      min_s < 0 || max_s < 0 || avg_s < 0 || stddev_s < 0 || max_s > 1e12)
    return false;
  Histogram::Moments m;
  m.min_ns = std::llround(min_s * 1e9);
  m.max_ns = std::llround(max_s * 1e9);
  const double n = static_cast<double>(h.count());
  const double mean_us = avg_s * 1e6, sd_us = stddev_s * 1e6;
  m.sum_us = mean_us * n;
  m.sum_sq_us = (sd_us * sd_us + mean_us * mean_us) * n;
  m.saturated = h.saturated();
  try {
    h.restore_moments(m);
  } catch (const std::invalid_argument&) {
    return false;
  }
  return true;
}

}  // namespace loadtest
