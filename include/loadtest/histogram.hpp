// loadtest: a log-linear HDR latency histogram (fixed memory, O(1) record, mergeable).
#pragma once

#include "loadtest/detail/config.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "loadtest/result.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

/** A log-linear latency histogram with the bucket layout of HdrHistogram.
 *
 *  Values are kept in whole microseconds (durations are truncated). Each power-of-two range is
 *  split into equal sub-buckets (1024 for 3 digits: 2 * 10^digits rounded up to a power of two,
 *  halved), so a bucket is at most 1/1024 as wide as the values it holds. The default covers
 *  1 µs .. 1 h with 3 significant digits in about 184 KiB, allocated once by the constructor;
 *  recording never allocates. Values below the lowest trackable value share the lowest bucket,
 *  values above the highest are recorded as the highest and counted in `saturated()`.
 *  Count, min, max, mean and standard deviation are exact (tracked beside the buckets);
 *  percentiles have the bucket resolution. Not thread-safe: one writer, merge with `add`.
 *  A moved-from histogram may only be assigned to or destroyed.
 */
class Histogram {
 public:
  /** 1 µs .. 1 h, 3 significant digits. */
  Histogram() : Histogram(1, 3'600'000'000, 3) {}

  /** A histogram tracking `lowest_us .. highest_us` microseconds with `significant_digits` (1..5).
   *  Throws `std::invalid_argument` unless `1 <= lowest_us`, `2 * lowest_us <= highest_us` and
   *  `highest_us` fits in nanoseconds. */
  Histogram(std::int64_t lowest_us, std::int64_t highest_us, int significant_digits)
      : lowest_us_(lowest_us), highest_us_(highest_us), digits_(significant_digits) {
    if (lowest_us < 1)
      throw std::invalid_argument("histogram: lowest value " + std::to_string(lowest_us) + "us must be >= 1us");
    if (significant_digits < 1 || significant_digits > 5)
      throw std::invalid_argument("histogram: significant digits " + std::to_string(significant_digits) +
                                  " must be in 1..5");
    if (highest_us / 2 < lowest_us || highest_us > std::numeric_limits<std::int64_t>::max() / 1000 - 1)
      throw std::invalid_argument("histogram: highest value " + std::to_string(highest_us) +
                                  "us must be >= 2 * lowest (" + std::to_string(lowest_us) +
                                  "us) and fit in nanoseconds");
    std::int64_t single_unit = 2;
    for (int i = 0; i < significant_digits; ++i) single_unit *= 10;
    const int sub_bucket_count_magnitude =
        static_cast<int>(std::bit_width(static_cast<std::uint64_t>(single_unit - 1)));
    half_magnitude_ = std::max(sub_bucket_count_magnitude, 1) - 1;
    unit_magnitude_ = 63 - std::countl_zero(static_cast<std::uint64_t>(lowest_us));
    if (unit_magnitude_ + half_magnitude_ > 61)
      throw std::invalid_argument("histogram: lowest value " + std::to_string(lowest_us) + "us is too large");
    sub_bucket_count_ = std::int64_t{1} << (half_magnitude_ + 1);
    half_count_ = sub_bucket_count_ / 2;
    sub_bucket_mask_ = (sub_bucket_count_ - 1) << unit_magnitude_;
    // Buckets needed so that highest_us is below the first untrackable value.
    int buckets = 1;
    for (std::int64_t untrackable = sub_bucket_count_ << unit_magnitude_; untrackable <= highest_us; ++buckets) {
      if (untrackable > std::numeric_limits<std::int64_t>::max() / 2) { ++buckets; break; }
      untrackable <<= 1;
    }
    counts_.assign(static_cast<std::size_t>(buckets + 1) * static_cast<std::size_t>(half_count_), 0);
  }

  /** Records one value. */
  void record(Duration d) noexcept { record_n(d, 1); }

  /** Records `n` occurrences of a value. */
  void record_n(Duration d, std::uint64_t n) noexcept {
    if (n == 0) return;
    std::int64_t ns = clamp_ns(d.count(), n);
    const double us = static_cast<double>(ns) / 1000.0;
    add_run(index_of(ns / 1000), n, us * static_cast<double>(n), us * us * static_cast<double>(n), ns, ns);
  }

  /** Records `d` and, as HdrHistogram's `record_corrected_value` does, the values a stalled
   *  recorder missed: `d - k * expected_interval` for k = 1, 2, ... while they are
   *  `>= expected_interval`. Costs O(buckets) at most, however long `d` is. */
  void record_corrected(Duration d, Duration expected_interval) noexcept {
    record(d);
    const std::int64_t step = expected_interval.count();
    if (step <= 0 || d.count() <= step) return;
    std::int64_t v = d.count() - step;
    std::uint64_t remaining = static_cast<std::uint64_t>(v / step);  // values v, v-step, ... >= step
    while (remaining > 0) {
      std::int64_t us = v / 1000;
      std::uint64_t c = 0;
      if (us > highest_us_) {  // a run of saturated values, all recorded as the highest
        const std::int64_t first_saturated = (highest_us_ + 1) * 1000;
        c = std::min(remaining, static_cast<std::uint64_t>((v - first_saturated) / step) + 1);
        record_n(Duration(v), c);
      } else {  // every value of the run down to the bucket's lowest value
        const std::size_t idx = index_of(us);
        const std::int64_t lo_ns = lowest_us_at(idx) * 1000;
        c = std::min(remaining, static_cast<std::uint64_t>((v - lo_ns) / step) + 1);
        const double top = static_cast<double>(v) / 1000.0, s = static_cast<double>(step) / 1000.0;
        const double cd = static_cast<double>(c), pairs = cd * (cd - 1) / 2;
        const double sum = cd * top - s * pairs;
        const double sum_sq = cd * top * top - 2 * top * s * pairs + s * s * pairs * (2 * cd - 1) / 3;
        add_run(idx, c, sum, sum_sq, v - static_cast<std::int64_t>(c - 1) * step, v);
      }
      v -= static_cast<std::int64_t>(c) * step;
      remaining -= c;
    }
  }

  /** Adds every value of `other` (same range and digits; throws `std::invalid_argument` otherwise). */
  void add(const Histogram& other) {
    if (other.lowest_us_ != lowest_us_ || other.highest_us_ != highest_us_ || other.digits_ != digits_)
      throw std::invalid_argument("histogram: cannot add a histogram of range " + other.layout() + " to one of " +
                                  layout());
    if (other.total_ == 0) return;
    const std::size_t lo = other.index_of(other.min_ns_ / 1000), hi = other.index_of(other.max_ns_ / 1000);
    for (std::size_t i = lo; i <= hi; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    saturated_ += other.saturated_;
    sum_us_ += other.sum_us_;
    sum_sq_us_ += other.sum_sq_us_;
    min_ns_ = std::min(min_ns_, other.min_ns_);
    max_ns_ = std::max(max_ns_, other.max_ns_);
  }

  /** Forgets every value; keeps the memory. */
  void reset() noexcept {
    if (total_ != 0) {  // only the buckets between min and max can be non-zero
      const std::size_t lo = index_of(min_ns_ / 1000), hi = index_of(max_ns_ / 1000);
      const auto first = counts_.begin() + static_cast<std::ptrdiff_t>(lo);
      std::fill(first, first + static_cast<std::ptrdiff_t>(hi - lo + 1), 0);
    }
    total_ = saturated_ = 0;
    sum_us_ = sum_sq_us_ = 0;
    min_ns_ = std::numeric_limits<std::int64_t>::max();
    max_ns_ = 0;
  }

  /** Number of values recorded. */
  std::uint64_t count() const noexcept { return total_; }
  /** Whether nothing was recorded. */
  bool empty() const noexcept { return total_ == 0; }
  /** Number of values above the highest trackable value (recorded as the highest). */
  std::uint64_t saturated() const noexcept { return saturated_; }
  /** The smallest value recorded (exact, nanoseconds); 0 when empty. */
  Duration min() const { return Duration(total_ ? min_ns_ : 0); }
  /** The largest value recorded (exact, after clamping to the range); 0 when empty. */
  Duration max() const { return Duration(max_ns_); }
  /** The exact mean in microseconds; 0 when empty. */
  double mean_us() const { return total_ ? sum_us_ / static_cast<double>(total_) : 0.0; }
  /** The exact population standard deviation in microseconds; 0 when empty. */
  double stddev_us() const {
    if (total_ == 0) return 0.0;
    const double m = mean_us();
    return std::sqrt(std::max(0.0, sum_sq_us_ / static_cast<double>(total_) - m * m));
  }
  /** The mean as a duration (rounded to the nanosecond). */
  Duration mean() const { return Duration(std::llround(mean_us() * 1000.0)); }

  /** The value at percentile `p` (0..100, else `std::invalid_argument`), HdrHistogram-style: the
   *  highest value equivalent to the bucket where the cumulative count first reaches
   *  `ceil(p / 100 * count())`, kept within [min(), max()] (so p = 0 is min(), p = 100 is max(),
   *  and the last bucket reports max()); 0 when empty. */
  Duration value_at_percentile(double p) const {
    if (!(p >= 0.0 && p <= 100.0))
      throw std::invalid_argument("histogram: percentile " + std::to_string(p) + " is not in 0..100");
    if (total_ == 0) return Duration(0);
    if (p == 0.0) return min();
    const std::uint64_t rank = rank_of(p);
    std::uint64_t cumulative = 0;
    const std::size_t lo = index_of(min_ns_ / 1000), hi = index_of(max_ns_ / 1000);
    std::size_t i = lo;
    for (; i < hi; ++i) {
      cumulative += counts_[i];
      if (cumulative >= rank) break;
    }
    if (i == hi) return max();  // the highest value of the last bucket is known exactly
    return Duration(std::clamp(highest_us_at(i) * 1000, min_ns_, max_ns_));
  }

  /** count, avg, stddev, min, max, p50, p90, p95, p99 and p99.9 in seconds. */
  LatencySummary summary() const {
    LatencySummary s;
    s.count = total_;
    if (total_ == 0) return s;
    s.avg = mean_us() / 1e6;
    s.stddev = stddev_us() / 1e6;
    s.min = to_seconds(min());
    s.max = to_seconds(max());
    s.p50 = to_seconds(value_at_percentile(50));
    s.p90 = to_seconds(value_at_percentile(90));
    s.p95 = to_seconds(value_at_percentile(95));
    s.p99 = to_seconds(value_at_percentile(99));
    s.p999 = to_seconds(value_at_percentile(99.9));
    return s;
  }

  /** Calls `f(lowest_equivalent, highest_equivalent, count)` (two `Duration`s at microsecond
   *  resolution and a `std::uint64_t`) for each non-empty bucket, in increasing order. */
  template <class F>
  void for_each_recorded(F f) const {
    if (total_ == 0) return;
    const std::size_t lo = index_of(min_ns_ / 1000), hi = index_of(max_ns_ / 1000);
    for (std::size_t i = lo; i <= hi; ++i)
      if (counts_[i] != 0)
        f(Duration(lowest_us_at(i) * 1000), Duration(highest_us_at(i) * 1000), static_cast<std::uint64_t>(counts_[i]));
  }

  /** The lowest value that shares `d`'s bucket (microsecond resolution). */
  Duration lowest_equivalent(Duration d) const noexcept {
    return Duration(lowest_us_at(index_of(std::clamp<std::int64_t>(d.count() / 1000, 0, highest_us_))) * 1000);
  }
  /** The highest value that shares `d`'s bucket (microsecond resolution). */
  Duration highest_equivalent(Duration d) const noexcept {
    return Duration(highest_us_at(index_of(std::clamp<std::int64_t>(d.count() / 1000, 0, highest_us_))) * 1000);
  }

  /** Bytes this histogram occupies (fixed at construction). */
  std::size_t memory_bytes() const noexcept { return sizeof(*this) + counts_.capacity() * sizeof(std::uint64_t); }
  /** The lowest trackable value, microseconds. */
  std::int64_t lowest_trackable_us() const noexcept { return lowest_us_; }
  /** The highest trackable value, microseconds. */
  std::int64_t highest_trackable_us() const noexcept { return highest_us_; }
  /** The number of significant decimal digits kept. */
  int significant_digits() const noexcept { return digits_; }

 private:
  // Clamps to [0, highest] (counting saturation) and returns nanoseconds.
  std::int64_t clamp_ns(std::int64_t ns, std::uint64_t n) noexcept {
    if (ns < 0) return 0;
    if (ns / 1000 > highest_us_) {
      saturated_ += n;
      return highest_us_ * 1000;
    }
    return ns;
  }

  std::size_t index_of(std::int64_t us) const noexcept {
    const int pow2ceiling = 64 - std::countl_zero(static_cast<std::uint64_t>(us | sub_bucket_mask_));
    const int bucket = pow2ceiling - unit_magnitude_ - (half_magnitude_ + 1);
    const std::int64_t sub = us >> (bucket + unit_magnitude_);
    return static_cast<std::size_t>((static_cast<std::int64_t>(bucket + 1) << half_magnitude_) + sub - half_count_);
  }

  std::int64_t lowest_us_at(std::size_t index) const noexcept {
    const auto i = static_cast<std::int64_t>(index);
    std::int64_t bucket = (i >> half_magnitude_) - 1;
    std::int64_t sub = (i & (half_count_ - 1)) + half_count_;
    if (bucket < 0) {
      sub -= half_count_;
      bucket = 0;
    }
    return sub << (bucket + unit_magnitude_);
  }

  std::int64_t highest_us_at(std::size_t index) const noexcept {
    const std::int64_t bucket = std::max<std::int64_t>(static_cast<std::int64_t>(index >> half_magnitude_) - 1, 0);
    return lowest_us_at(index) + (std::int64_t{1} << (bucket + unit_magnitude_)) - 1;
  }

  std::uint64_t rank_of(double p) const noexcept {
    const double x = p / 100.0 * static_cast<double>(total_);
    // The tiny shrink keeps e.g. 99.9% of 1000 at rank 999 despite binary rounding.
    const auto rank = static_cast<std::uint64_t>(std::ceil(x * (1.0 - 1e-12)));
    return std::clamp<std::uint64_t>(rank, 1, total_);
  }

  void add_run(std::size_t idx, std::uint64_t n, double sum_us, double sum_sq_us, std::int64_t lo_ns,
               std::int64_t hi_ns) noexcept {
    counts_[idx] += n;
    total_ += n;
    sum_us_ += sum_us;
    sum_sq_us_ += sum_sq_us;
    if (lo_ns < min_ns_) min_ns_ = lo_ns;
    if (hi_ns > max_ns_) max_ns_ = hi_ns;
  }

  std::string layout() const {
    return std::to_string(lowest_us_) + ".." + std::to_string(highest_us_) + "us/" + std::to_string(digits_) +
           " digits";
  }

  std::int64_t lowest_us_, highest_us_;
  int digits_;
  int unit_magnitude_ = 0, half_magnitude_ = 0;
  std::int64_t sub_bucket_count_ = 0, half_count_ = 0, sub_bucket_mask_ = 0;
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0, saturated_ = 0;
  double sum_us_ = 0, sum_sq_us_ = 0;
  std::int64_t min_ns_ = std::numeric_limits<std::int64_t>::max(), max_ns_ = 0;
};

}  // namespace loadtest
