// loadtest: histogram export in HdrHistogram's percentile-distribution text format (.hgrm).
//
// The text is what HdrHistogram's `outputPercentileDistribution(out, ticks, scaling)` prints, so
// existing tools read it (HdrHistogram's online plotter, HistogramLogAnalyzer, wrk2 scripts):
//
//          Value     Percentile TotalCount 1/(1-Percentile)
//
//          0.812 0.000000000000          1           1.00
//          ...
//         12.415 1.000000000000       1000
//   #[Mean    =        2.431, StdDeviation   =        1.022]
//   #[Max     =       12.415, Total count    =         1000]
//   #[Buckets =           22, SubBuckets     =         2048]
#pragma once

#include "loadtest/detail/config.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "loadtest/histogram.hpp"
#include "loadtest/result.hpp"
#include "loadtest/results_io.hpp"

namespace loadtest {

namespace detail {

// HdrHistogram's bucket layout for a histogram's range and digits: {bucket count, sub-bucket count}.
inline std::pair<std::int64_t, std::int64_t> hdr_layout(const Histogram& h) {
  std::int64_t single_unit = 2;
  for (int i = 0; i < h.significant_digits(); ++i) single_unit *= 10;
  const int magnitude = static_cast<int>(std::bit_width(static_cast<std::uint64_t>(single_unit - 1)));
  const int half_magnitude = std::max(magnitude, 1) - 1;
  const std::int64_t sub_buckets = std::int64_t{1} << (half_magnitude + 1);
  const int unit_magnitude = 63 - std::countl_zero(static_cast<std::uint64_t>(h.lowest_trackable_us()));
  std::int64_t buckets = 1;
  for (std::int64_t untrackable = sub_buckets << unit_magnitude; untrackable <= h.highest_trackable_us(); ++buckets) {
    if (untrackable > std::numeric_limits<std::int64_t>::max() / 2) {
      ++buckets;
      break;
    }
    untrackable <<= 1;
  }
  return {buckets, sub_buckets};
}

// `v` with `precision` decimals as Java's Formatter writes "%.Nf": the shortest decimal form of the
// double, rounded half up (0.125 -> "0.13", where printf writes "0.12"), padded left to `width`.
inline std::string java_fixed(double v, int precision, int width) {
  std::string text;
  if (std::isnan(v)) text = "NaN";
  else if (std::isinf(v)) text = v > 0 ? "Infinity" : "-Infinity";
  else {
    std::string s = fmt::format("{}", v);  // shortest round-trip form, maybe with an exponent
    bool negative = !s.empty() && s[0] == '-';
    if (negative) s.erase(0, 1);
    int exponent = 0;
    if (auto e = s.find_first_of("eE"); e != std::string::npos) {
      exponent = std::stoi(s.substr(e + 1));
      s.resize(e);
    }
    std::string digits;
    int int_digits = 0;  // digits before the decimal point
    if (auto dot = s.find('.'); dot != std::string::npos) {
      digits = s.substr(0, dot) + s.substr(dot + 1);
      int_digits = static_cast<int>(dot) + exponent;
    } else {
      digits = s;
      int_digits = static_cast<int>(s.size()) + exponent;
    }
    while (digits.size() > 1 && digits[0] == '0') {
      digits.erase(0, 1);
      --int_digits;
    }
    // Fixed notation with every digit: whole part and fraction.
    std::string whole, fraction;
    if (int_digits <= 0) {
      whole = "0";
      fraction = std::string(static_cast<std::size_t>(-int_digits), '0') + digits;
    } else if (static_cast<std::size_t>(int_digits) >= digits.size()) {
      whole = digits + std::string(static_cast<std::size_t>(int_digits) - digits.size(), '0');
    } else {
      whole = digits.substr(0, static_cast<std::size_t>(int_digits));
      fraction = digits.substr(static_cast<std::size_t>(int_digits));
    }
    const auto keep = static_cast<std::size_t>(precision);
    bool round_up = fraction.size() > keep && fraction[keep] >= '5';
    fraction.resize(keep, '0');
    std::string number = whole + fraction;
    if (round_up) {  // add one unit in the last place, carrying
      std::size_t i = number.size();
      while (i > 0 && number[i - 1] == '9') number[--i] = '0';
      if (i == 0) number.insert(number.begin(), '1');
      else ++number[i - 1];
    }
    const std::size_t whole_len = number.size() - keep;
    text = number.substr(0, whole_len);
    while (text.size() > 1 && text[0] == '0') text.erase(0, 1);
    if (keep > 0) text += "." + number.substr(whole_len);
    if (negative) text.insert(text.begin(), '-');  // Java keeps the sign of -0.0001 as "-0.00"
  }
  if (static_cast<int>(text.size()) < width) text.insert(0, static_cast<std::size_t>(width) - text.size(), ' ');
  return text;
}

}  // namespace detail

/** The percentile distribution of `h` in HdrHistogram's `.hgrm` text format.
 *
 *  Rows and footer are exactly what HdrHistogram's `outputPercentileDistribution(out,
 *  ticks_per_half_distance, value_unit_scaling_ratio)` prints for the same recorded values (its
 *  percentile iterator: 0 %, then `ticks_per_half_distance` rows per halving of the distance to
 *  100 %, and a last row at 100 %; a row's value is the highest value equivalent to the bucket
 *  reached; Mean and StdDeviation from the buckets' middle values; Max the highest value
 *  equivalent to the largest one), with Java's number formatting (the shortest decimal form,
 *  rounded half up). The histogram holds microseconds; the default scaling ratio 1000 writes
 *  milliseconds. An empty histogram gives the header and the footer only.
 *  Throws `std::invalid_argument` if `ticks_per_half_distance < 1` or the ratio is not positive.
 */
inline std::string to_hgrm(const Histogram& h, int ticks_per_half_distance = 5,
                           double value_unit_scaling_ratio = 1000.0) {
  if (ticks_per_half_distance < 1)
    throw std::invalid_argument(
        fmt::format("hgrm: ticks per half distance must be at least 1, not {}", ticks_per_half_distance));
  if (!(value_unit_scaling_ratio > 0) || !std::isfinite(value_unit_scaling_ratio))
    throw std::invalid_argument(
        fmt::format("hgrm: the value scaling ratio must be positive, not {}", value_unit_scaling_ratio));

  struct Bucket {
    std::int64_t lowest_us, highest_us;
    std::uint64_t count;
  };
  std::vector<Bucket> buckets;
  h.for_each_recorded([&](Duration lo, Duration hi, std::uint64_t n) {
    buckets.push_back({lo.count() / 1000, hi.count() / 1000, n});
  });
  const std::uint64_t total = h.count();
  const int digits = h.significant_digits();
  const double ratio = value_unit_scaling_ratio;

  using detail::java_fixed;
  std::string out =
      fmt::format("{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");

  // The percentile iterator, step by step as HdrHistogram's PercentileIterator walks.
  double level = 0;                 // the percentile level to report next
  bool reached_last = false;        // the extra last step to 100 % was taken
  std::size_t current = 0;          // buckets entered so far (the current one is current - 1)
  std::uint64_t cumulative = 0;     // counts of the buckets entered
  while (total > 0) {
    if (cumulative >= total) {  // hasNext(): one more step, to 100 %
      if (reached_last) break;
      level = 100.0;
      reached_last = true;
    }
    // next(): stay on the current bucket while it reaches the level, else move on
    while (current == 0 || (100.0 * static_cast<double>(cumulative)) / static_cast<double>(total) < level) {
      if (current == buckets.size()) break;  // cannot happen: the last bucket reaches 100 %
      cumulative += buckets[current++].count;
    }
    const Bucket& b = buckets[current - 1];
    const double value = static_cast<double>(b.highest_us) / ratio;
    const double fraction = level / 100.0;
    // "%12.{digits}f %2.12f %10d %14.2f", the last row without its infinite last column
    out += fmt::format("{} {} {:>10}", java_fixed(value, digits, 12), java_fixed(fraction, 12, 2), cumulative);
    if (level != 100.0) {
      out += fmt::format(" {}\n", java_fixed(1.0 / (1.0 - fraction), 2, 14));
      const auto exponent = static_cast<std::int64_t>(std::log(100.0 / (100.0 - level)) / std::log(2.0)) + 1;
      const auto ticks = static_cast<std::int64_t>(ticks_per_half_distance) *
                         static_cast<std::int64_t>(std::pow(2.0, static_cast<double>(exponent)));
      const double next = level + 100.0 / static_cast<double>(ticks);
      level = next > level ? next : std::nextafter(level, 200.0);  // always progress
    } else {
      out += '\n';
    }
  }

  // Footer: mean and standard deviation over the buckets' middle values, as HdrHistogram computes.
  double mean = 0, stddev = 0;
  if (total > 0) {
    double sum = 0;
    for (const auto& b : buckets) {
      const std::int64_t median = b.lowest_us + ((b.highest_us - b.lowest_us + 1) >> 1);
      sum += static_cast<double>(median) * static_cast<double>(b.count);
    }
    mean = sum / static_cast<double>(total);
    double deviations = 0;
    for (const auto& b : buckets) {
      const std::int64_t median = b.lowest_us + ((b.highest_us - b.lowest_us + 1) >> 1);
      const double d = static_cast<double>(median) - mean;
      deviations += d * d * static_cast<double>(b.count);
    }
    stddev = std::sqrt(deviations / static_cast<double>(total));
  }
  const std::int64_t max_us = h.max().count() / 1000;
  const double max = max_us == 0 ? 0.0 : static_cast<double>(h.highest_equivalent(h.max()).count() / 1000);
  const auto [bucket_count, sub_bucket_count] = detail::hdr_layout(h);
  out += fmt::format("#[Mean    = {}, StdDeviation   = {}]\n", java_fixed(mean / ratio, digits, 12),
                     java_fixed(stddev / ratio, digits, 12));
  out += fmt::format("#[Max     = {}, Total count    = {:>12}]\n", java_fixed(max / ratio, digits, 12), total);
  out += fmt::format("#[Buckets = {:>12}, SubBuckets     = {:>12}]\n", bucket_count, sub_bucket_count);
  return out;
}

/** Writes `to_hgrm(*r.response_histogram)` (milliseconds, 5 ticks per half distance) to `path`,
 *  atomically, replacing an older file there; returns the path. Throws `std::invalid_argument`
 *  when the result has no histogram (e.g. it was read back from JSON) and `std::runtime_error`
 *  when the file cannot be written. */
inline std::filesystem::path write_hgrm(const std::filesystem::path& path, const LoadTestResult& r) {
  if (!r.response_histogram)
    throw std::invalid_argument(fmt::format("hgrm: the result of '{}' has no response-time histogram (a result read "
                                            "back from JSON has none)",
                                            r.name));
  return write_result_file(path, to_hgrm(*r.response_histogram), /*overwrite=*/true);
}

}  // namespace loadtest
