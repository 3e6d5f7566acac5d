// loadtest: HdrHistogram's V2 encoding of a Histogram, plain and compressed (base64 "HISTFAAA...").
//
// Implemented in src/histogram_codec.cpp (zlib stays out of the headers).
#pragma once

#include "loadtest/detail/config.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "loadtest/histogram.hpp"

namespace loadtest {

/** The V2 payload cookie as HdrHistogram writes it: base 0x1c849303 with word size 1 (0x10),
 *  which marks the ZigZag LEB128 counts. Decoders accept any word-size nibble. */
inline constexpr std::uint32_t hdr_v2_encoding_cookie = 0x1c849303u | 0x10u;
/** The compressed V2 cookie as HdrHistogram writes it: base 0x1c849304 with word size 1 (0x10).
 *  Its base64 starts `HISTFAAA`. */
inline constexpr std::uint32_t hdr_v2_compressed_cookie = 0x1c849304u | 0x10u;
/** Decoders refuse layouts with more bucket slots than this (4 Mi slots = 32 MiB of counts;
 *  1 µs .. 1 h at 5 digits needs 2.1 Mi, at 3 digits 23,552). */
inline constexpr std::size_t hdr_max_decoded_slots = std::size_t{1} << 22;
/** Decoders refuse a base64 text longer than this (64 MiB). */
inline constexpr std::size_t hdr_max_encoded_chars = std::size_t{64} << 20;

/** HdrHistogram's uncompressed V2 encoding of `h`: big-endian cookie (`hdr_v2_encoding_cookie`),
 *  payload length, normalizing index offset (0), significant digits, lowest and highest
 *  trackable value, integer-to-double conversion ratio (1.0), then the counts of slots
 *  0 .. `h.counts_limit() - 1` as ZigZag LEB128 (up to 9 bytes each), a run of two or more
 *  empty slots written as one negative count. The slots are HdrHistogram's, and the values are
 *  in **microseconds** (lowest 1, highest 3,600,000,000 for the default histogram), so Java, C,
 *  Go, Rust and JS read it as a histogram of microsecond values. Sparse: an empty histogram is
 *  40 bytes, a typical test's a few hundred to a few thousand. Cheap enough for the per-interval
 *  MPI reduction (one pass over the slots up to the highest value, no allocation beyond the
 *  result).
 *
 *  What the format cannot hold is lost: exact min, max, mean, deviation and the saturation
 *  count (see `Histogram::moments()` to carry them beside it). */
std::string encode_v2(const Histogram& h);

/** Reads `encode_v2`'s format (from any HdrHistogram port). Throws `std::invalid_argument`
 *  naming the problem on a corrupt payload: short header, bad cookie, a payload length that
 *  does not match, unsupported layout (digits outside 1..5, lowest < 1, highest < 2 * lowest,
 *  more than `hdr_max_decoded_slots` slots), a truncated or over-long LEB128 value, a run of
 *  zeros or a count beyond the last slot, or a total count that overflows. The normalizing
 *  index offset and the conversion ratio are ignored (as HdrHistogram.js does). Min and max are
 *  the bounds of the lowest and highest non-empty slots, the mean uses each slot's middle
 *  value: `Histogram::restore_moments` puts the exact figures back when they are known. */
Histogram decode_v2(std::string_view payload);

/** HdrHistogram's compressed V2 form, binary: cookie `hdr_v2_compressed_cookie`, big-endian
 *  length, then the zlib stream (RFC 1950, as Java's `Deflater` and C's `compress()` write) of
 *  `encode_v2(h)`. */
std::string encode_compressed(const Histogram& h);

/** `encode_compressed(h)` in base64 (standard alphabet, padded): the text HdrHistogram's log
 *  files, `HistogramLogProcessor`, `hdr_log_read`, hdrhistogram-go's `Decode` and
 *  HdrHistogram.js's `decodeFromCompressedBase64` read. Starts `HISTFAAA`. */
std::string encode_compressed_base64(const Histogram& h);

/** Reads `encode_compressed`'s binary form. Throws `std::invalid_argument` on a bad cookie, a
 *  length beyond the data, a stream that does not inflate, inflates to more or less than its
 *  header's payload length, or any error `decode_v2` reports. Never inflates more than the
 *  header announces (and that is bounded by the layout), so a zip bomb costs nothing. */
Histogram decode_compressed(std::string_view bytes);

/** Reads `encode_compressed_base64`'s text (padding optional, no whitespace). Throws
 *  `std::invalid_argument` on a text longer than `hdr_max_encoded_chars`, a character outside
 *  the base64 alphabet, or any error of `decode_compressed`. */
Histogram decode_compressed_base64(std::string_view text);

/** `encode_v2(h)` followed by a 40-byte trailer of `h.moments()` (big-endian min_ns, max_ns,
 *  sum_us and sum_sq_us as IEEE doubles' bits, saturated): a loadtest-only form for exchanging
 *  histograms between processes (the MPI reduction) where every figure must survive, not only
 *  the buckets. As sparse and as cheap as `encode_v2` plus 40 bytes. */
std::string encode_exact(const Histogram& h);

/** Reads `encode_exact`'s form: the histogram with its exact moments. Throws
 *  `std::invalid_argument` on anything `decode_v2` refuses, a missing trailer, or moments that
 *  do not fit the counts. */
Histogram decode_exact(std::string_view bytes);

/** Restores the exact moments a result file's summary gives (seconds, as `LatencySummary`
 *  holds them: `min`, `max`, `avg`, `stddev`) into a decoded histogram, when they fit its
 *  lowest and highest non-empty slots; returns false (and changes nothing) when they do not. */
bool restore_summary(Histogram& h, double min_s, double max_s, double avg_s, double stddev_s);

}  // namespace loadtest
