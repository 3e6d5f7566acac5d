// loadtest: a log-linear HDR latency histogram (fixed memory, O(1) record, mergeable).
#pragma once

#include "loadtest/detail/config.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
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
  /** Appends this histogram's exact state to `out`: count, saturated count, min, max, the
   *  moments and the non-zero buckets as (gap, count) LEB128 pairs. The compact form that
   *  scale-out reductions send every interval; `add_encoded` reads it. */
  void append_encoded(std::string& out) const {
    auto put = [&](std::uint64_t v) {
      do {
        unsigned char b = v & 0x7f;
        v >>= 7;
        out.push_back(static_cast<char>(v ? (b | 0x80) : b));
      } while (v);
    };
    auto put_f = [&](double d) {
      std::uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      put(bits);
    };
    put(total_);
    if (total_ == 0) return;
    put(saturated_);
    put(static_cast<std::uint64_t>(min_ns_));
    put(static_cast<std::uint64_t>(max_ns_));
    put_f(sum_us_);
    put_f(sum_sq_us_);
    std::size_t nonzero = 0;
    for (auto c : counts_) nonzero += c != 0;
    put(nonzero);
    std::size_t last = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i)
      if (counts_[i]) {
        put(i - last);
        put(counts_[i]);
        last = i;
      }
  }

  /** Adds a histogram written by `append_encoded` (same layout) from the front of `in` and
   *  removes it from `in`. Throws `std::invalid_argument` on a truncated or inconsistent input. */
  void add_encoded(std::string_view& in) {
    auto bad = [] { return std::invalid_argument("histogram: corrupt encoded histogram"); };
    auto get = [&]() -> std::uint64_t {
      std::uint64_t v = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        if (in.empty()) throw bad();
        auto b = static_cast<unsigned char>(in.front());
        in.remove_prefix(1);
        v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
      }
      throw bad();
    };
    auto get_f = [&] {
      std::uint64_t bits = get();
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return d;
    };
    const std::uint64_t total = get();
    if (total == 0) return;
    const std::uint64_t saturated = get();
    const auto mn = static_cast<std::int64_t>(get()), mx = static_cast<std::int64_t>(get());
    const double sum = get_f(), sum_sq = get_f();
    const std::uint64_t nonzero = get();
    if (nonzero > counts_.size() || mn < 0 || mx < mn) throw bad();
    std::uint64_t seen = 0;
    std::size_t i = 0;
    for (std::uint64_t k = 0; k < nonzero; ++k) {
      i += static_cast<std::size_t>(get());
      const std::uint64_t c = get();
      if (i >= counts_.size() || c == 0 || c > total - seen) throw bad();
      counts_[i] += c;
      seen += c;
    }
    if (seen != total) throw bad();
    total_ += total;
    saturated_ += saturated;
    sum_us_ += sum;
    sum_sq_us_ += sum_sq;
    min_ns_ = std::min(min_ns_, mn);
    max_ns_ = std::max(max_ns_, mx);
  }

  std::int64_t lowest_trackable_us() const noexcept { return lowest_us_; }
  /** The highest trackable value, microseconds. */
  std::int64_t highest_trackable_us() const noexcept { return highest_us_; }
  /** The number of significant decimal digits kept. */
  int significant_digits() const noexcept { return digits_; }

  // --- Bucket-level access, for encoders and decoders (histogram_codec.hpp) ------------------
  // The slots are indexed exactly like HdrHistogram's counts array for the same lowest, highest
  // and digits (values in microseconds), so a slot index means the same bucket in every port.

  /** Number of bucket slots: HdrHistogram's `counts_len` for this layout. */
  std::size_t counts_length() const noexcept { return counts_.size(); }
  /** The slots an encoder writes: the index of the highest recorded value plus one; 0 when empty. */
  std::size_t counts_limit() const noexcept { return total_ ? index_of(max_ns_ / 1000) + 1 : 0; }
  /** The count of slot `i` (0 when out of range). */
  std::uint64_t count_at_index(std::size_t i) const noexcept { return i < counts_.size() ? counts_[i] : 0; }
  /** The lowest value (microseconds) of slot `i`, which must be `< counts_length()`. */
  std::int64_t lowest_us_at_index(std::size_t i) const noexcept { return lowest_us_at(i); }
  /** The highest value (microseconds) of slot `i`, which must be `< counts_length()`. */
  std::int64_t highest_us_at_index(std::size_t i) const noexcept { return highest_us_at(i); }

  /** Adds `n` values to slot `i`, as a decoder does. A slot whose values lie above the highest
   *  trackable value counts in the highest one's slot and in `saturated()`. Min and max widen to
   *  the slot's bounds; the mean and deviation take the slot's middle value (HdrHistogram's
   *  `medianEquivalentValue`) until `restore_moments` sets the exact figures. Throws
   *  `std::invalid_argument` when `i >= counts_length()` or the total count would overflow. */
  void record_at_index(std::size_t i, std::uint64_t n) {
    if (i >= counts_.size())
      throw std::invalid_argument("histogram: slot " + std::to_string(i) + " is out of range (" +
                                  std::to_string(counts_.size()) + " slots for " + layout() + ")");
    if (n == 0) return;
    if (n > std::numeric_limits<std::uint64_t>::max() - total_)
      throw std::invalid_argument("histogram: the total count overflows 64 bits");
    std::int64_t lo = lowest_us_at(i), hi = highest_us_at(i);
    if (lo > highest_us_) {
      saturated_ += n;
      i = index_of(highest_us_);
      lo = hi = highest_us_;
    }
    hi = std::min(hi, highest_us_);
    const double mid = static_cast<double>(lo) + static_cast<double>(hi - lo + 1) / 2.0;
    const double cd = static_cast<double>(n);
    add_run(i, n, mid * cd, mid * mid * cd, lo * 1000, hi * 1000);
  }

  /** What the bucket counts do not carry: exact extremes, sums and the saturation count. */
  struct Moments {
    std::int64_t min_ns = 0, max_ns = 0;  ///< exact smallest and largest value
    double sum_us = 0, sum_sq_us = 0;     ///< sum of the values and of their squares, µs and µs²
    std::uint64_t saturated = 0;          ///< values above the highest trackable value
  };
  /** This histogram's moments (all zero when empty). */
  Moments moments() const noexcept {
    if (total_ == 0) return {};
    return Moments{min_ns_, max_ns_, sum_us_, sum_sq_us_, saturated_};
  }
  /** Replaces the moments a decoder estimated by the exact ones recorded elsewhere (the same
   *  histogram's `moments()`, or the summary figures of a result file). `min_ns` must lie in the
   *  lowest non-empty slot and `max_ns` in the highest one, else `std::invalid_argument` (the
   *  moments belong to other counts). No-op when empty. */
  void restore_moments(const Moments& m) {
    if (total_ == 0) return;
    if (m.min_ns < 0 || m.max_ns < m.min_ns || m.min_ns / 1000 > highest_us_ || m.max_ns / 1000 > highest_us_ ||
        index_of(m.min_ns / 1000) != index_of(min_ns_ / 1000) || index_of(m.max_ns / 1000) != index_of(max_ns_ / 1000))
      throw std::invalid_argument("histogram: min " + std::to_string(m.min_ns) + "ns / max " +
                                  std::to_string(m.max_ns) + "ns do not fall in the lowest and highest recorded buckets");
    if (!std::isfinite(m.sum_us) || !std::isfinite(m.sum_sq_us) || m.sum_us < 0 || m.sum_sq_us < 0)
      throw std::invalid_argument("histogram: the sums of the values must be finite and non-negative");
    min_ns_ = m.min_ns;
    max_ns_ = m.max_ns;
    sum_us_ = m.sum_us;
    sum_sq_us_ = m.sum_sq_us;
    saturated_ = std::min(m.saturated, total_);
  }

  /** Whether both hold the same values: same layout, same counts in every slot and the same
   *  total (moments are not compared). */
  bool same_counts(const Histogram& o) const noexcept {
    return lowest_us_ == o.lowest_us_ && highest_us_ == o.highest_us_ && digits_ == o.digits_ &&
           total_ == o.total_ && counts_ == o.counts_;
  }

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
