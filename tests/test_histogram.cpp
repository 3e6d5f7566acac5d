#define BOOST_TEST_MODULE histogram
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "loadtest/histogram.hpp"

using loadtest::Duration;
using loadtest::Histogram;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

namespace {

// Samples in whole microseconds, so truncation to microseconds loses nothing.
std::vector<std::int64_t> make_samples(const std::string& kind, std::size_t n) {
  std::mt19937_64 rng(20261129);
  std::vector<std::int64_t> v;
  v.reserve(n);
  auto clamp_us = [](double x) { return std::clamp<std::int64_t>(std::llround(x), 1, 3'600'000'000); };
  if (kind == "uniform") {
    std::uniform_int_distribution<std::int64_t> d(1, 1'000'000);
    for (std::size_t i = 0; i < n; ++i) v.push_back(d(rng));
  } else if (kind == "uniform-small") {  // the exact first buckets
    std::uniform_int_distribution<std::int64_t> d(1, 5'000);
    for (std::size_t i = 0; i < n; ++i) v.push_back(d(rng));
  } else if (kind == "lognormal") {  // median 20 ms, long tail
    std::lognormal_distribution<double> d(std::log(20'000.0), 1.2);
    for (std::size_t i = 0; i < n; ++i) v.push_back(clamp_us(d(rng)));
  } else {  // exponential, mean 5 ms
    std::exponential_distribution<double> d(1.0 / 5'000.0);
    for (std::size_t i = 0; i < n; ++i) v.push_back(clamp_us(d(rng)));
  }
  return v;
}

Histogram fill(const std::vector<std::int64_t>& us) {
  Histogram h;
  for (auto x : us) h.record(microseconds(x));
  return h;
}

using Buckets = std::vector<std::tuple<std::int64_t, std::int64_t, std::uint64_t>>;
Buckets buckets_of(const Histogram& h) {
  Buckets b;
  h.for_each_recorded([&](Duration lo, Duration hi, std::uint64_t n) { b.emplace_back(lo.count(), hi.count(), n); });
  return b;
}

std::int64_t ns(Duration d) { return d.count(); }

bool names(const std::invalid_argument& e, const std::string& what) {
  return std::string(e.what()).find(what) != std::string::npos;
}

// Percentiles asked for, as p and the same in units of 1/1000 % (for an exact integer rank).
struct P {
  double p;
  std::uint64_t milli;
};
constexpr P checked_percentiles[] = {{50, 50'000}, {90, 90'000}, {99, 99'000}, {99.9, 99'900}};

}  // namespace

BOOST_AUTO_TEST_SUITE(histogram)

BOOST_AUTO_TEST_CASE(percentiles_match_sorted_samples) {
  const std::size_t n = 100'000;
  for (const std::string kind : {"uniform", "uniform-small", "lognormal", "exponential"}) {
    BOOST_TEST_CONTEXT("distribution " << kind) {
      auto samples = make_samples(kind, n);
      Histogram h = fill(samples);
      std::sort(samples.begin(), samples.end());
      for (const P& p : checked_percentiles) {
        BOOST_TEST_CONTEXT("p" << p.p) {
          const std::uint64_t rank = (p.milli * n + 99'999) / 100'000;  // ceil(p/100 * n)
          const Duration exact = microseconds(samples[rank - 1]);
          const Duration got = h.value_at_percentile(p.p);
          // HdrHistogram equivalence: same bucket, reported as at least the exact value.
          BOOST_TEST(h.lowest_equivalent(got).count() == h.lowest_equivalent(exact).count());
          BOOST_TEST(got.count() >= exact.count());
          const double rel = static_cast<double>(got.count() - exact.count()) / static_cast<double>(exact.count());
          BOOST_TEST(rel <= 0.001);
        }
      }
      BOOST_TEST(h.value_at_percentile(0).count() == ns(microseconds(samples.front())));
      BOOST_TEST(h.value_at_percentile(100).count() == ns(microseconds(samples.back())));
    }
  }
}

BOOST_AUTO_TEST_CASE(exact_count_min_max_mean_stddev) {
  for (const std::string kind : {"uniform", "lognormal", "exponential"}) {
    BOOST_TEST_CONTEXT("distribution " << kind) {
      const auto samples = make_samples(kind, 50'000);
      const Histogram h = fill(samples);
      long double sum = 0, sum_sq = 0;
      for (auto x : samples) sum += x;
      const long double mean = sum / samples.size();
      for (auto x : samples) sum_sq += (x - mean) * (x - mean);
      const double stddev = std::sqrt(static_cast<double>(sum_sq / samples.size()));
      BOOST_TEST(h.count() == samples.size());
      BOOST_TEST(h.min().count() == ns(microseconds(*std::min_element(samples.begin(), samples.end()))));
      BOOST_TEST(h.max().count() == ns(microseconds(*std::max_element(samples.begin(), samples.end()))));
      BOOST_TEST(h.mean_us() == static_cast<double>(mean), boost::test_tools::tolerance(1e-12));
      BOOST_TEST(h.stddev_us() == stddev, boost::test_tools::tolerance(1e-6));
      BOOST_TEST(h.mean().count() == std::llround(static_cast<double>(mean) * 1000));
    }
  }
}

BOOST_AUTO_TEST_CASE(sub_microsecond_values_keep_exact_min_and_max) {
  Histogram h;
  h.record(nanoseconds(1'500));
  h.record(nanoseconds(2'700));
  BOOST_TEST(h.min().count() == 1'500);
  BOOST_TEST(h.max().count() == 2'700);
  BOOST_TEST(h.mean_us() == 2.1, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(h.value_at_percentile(100).count() == 2'700);  // kept within [min, max]
  BOOST_TEST(h.value_at_percentile(0).count() == 1'500);
}

BOOST_AUTO_TEST_CASE(empty_histogram) {
  const Histogram h;
  BOOST_TEST(h.count() == 0u);
  BOOST_TEST(h.empty());
  BOOST_TEST(h.min().count() == 0);
  BOOST_TEST(h.max().count() == 0);
  BOOST_TEST(h.mean_us() == 0.0);
  BOOST_TEST(h.stddev_us() == 0.0);
  BOOST_TEST(h.value_at_percentile(99).count() == 0);
  BOOST_TEST(buckets_of(h).empty());
  const auto s = h.summary();
  BOOST_TEST(s.count == 0u);
  BOOST_TEST(s.p99 == 0.0);
}

BOOST_AUTO_TEST_CASE(add_of_two_halves_equals_one_histogram) {
  for (const std::string kind : {"uniform", "lognormal"}) {
    BOOST_TEST_CONTEXT("distribution " << kind) {
      const auto samples = make_samples(kind, 40'000);
      const Histogram all = fill(samples);
      Histogram a, b;
      for (std::size_t i = 0; i < samples.size(); ++i) (i % 3 == 0 ? a : b).record(microseconds(samples[i]));
      a.add(b);
      BOOST_TEST(a.count() == all.count());
      BOOST_TEST(a.min().count() == all.min().count());
      BOOST_TEST(a.max().count() == all.max().count());
      BOOST_TEST(a.mean_us() == all.mean_us(), boost::test_tools::tolerance(1e-12));
      BOOST_TEST(a.stddev_us() == all.stddev_us(), boost::test_tools::tolerance(1e-9));
      BOOST_TEST((buckets_of(a) == buckets_of(all)));
      for (double p : {0.0, 1.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0})
        BOOST_TEST_CONTEXT("p" << p) {
          BOOST_TEST(a.value_at_percentile(p).count() == all.value_at_percentile(p).count());
        }
      Histogram empty;
      a.add(empty);  // adding nothing changes nothing
      BOOST_TEST(a.count() == all.count());
    }
  }
}

BOOST_AUTO_TEST_CASE(add_requires_the_same_layout) {
  Histogram a;
  const Histogram b(1, 60'000'000, 3), c(1, 3'600'000'000, 2);
  BOOST_CHECK_EXCEPTION(a.add(b), std::invalid_argument, [](const auto& e) { return names(e, "60000000"); });
  BOOST_CHECK_EXCEPTION(a.add(c), std::invalid_argument, [](const auto& e) { return names(e, "2 digits"); });
}

BOOST_AUTO_TEST_CASE(reset_forgets_everything) {
  const auto samples = make_samples("lognormal", 10'000);
  Histogram h = fill(samples);
  h.record(hours(2));
  h.reset();
  BOOST_TEST(h.count() == 0u);
  BOOST_TEST(h.saturated() == 0u);
  BOOST_TEST(h.max().count() == 0);
  BOOST_TEST(h.value_at_percentile(50).count() == 0);
  BOOST_TEST(buckets_of(h).empty());
  // Refilled, it is indistinguishable from a fresh one.
  const auto other = make_samples("uniform", 1'000);
  for (auto x : other) h.record(microseconds(x));
  const Histogram fresh = fill(other);
  BOOST_TEST((buckets_of(h) == buckets_of(fresh)));
  BOOST_TEST(h.min().count() == fresh.min().count());
  BOOST_TEST(h.mean_us() == fresh.mean_us(), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(record_n_counts_n_times) {
  Histogram a, b;
  a.record_n(milliseconds(5), 10);
  a.record_n(milliseconds(7), 0);
  for (int i = 0; i < 10; ++i) b.record(milliseconds(5));
  BOOST_TEST(a.count() == 10u);
  BOOST_TEST((buckets_of(a) == buckets_of(b)));
  BOOST_TEST(a.mean_us() == 5'000.0);
}

BOOST_AUTO_TEST_CASE(record_corrected_fills_a_stall) {
  // The classic example: a 1 s stall while sampling every 1 ms is 1000 samples of 1 ms .. 1 s.
  Histogram h;
  h.record_corrected(seconds(1), milliseconds(1));
  BOOST_TEST(h.count() == 1000u);
  BOOST_TEST(h.min().count() == ns(milliseconds(1)));
  BOOST_TEST(h.max().count() == ns(seconds(1)));
  BOOST_TEST(h.mean_us() == 500'500.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(std::abs(h.value_at_percentile(50).count() - ns(milliseconds(500))) <= ns(milliseconds(500)) / 1000);

  // HdrHistogram's own test: 10000 x 1 ms and one 100 s stall, expected interval 10 ms.
  Histogram g;
  for (int i = 0; i < 10'000; ++i) g.record_corrected(milliseconds(1), milliseconds(10));
  g.record_corrected(seconds(100), milliseconds(10));
  BOOST_TEST(g.count() == 20'000u);
  const std::tuple<double, Duration> expected[] = {
      {30.0, milliseconds(1)}, {50.0, milliseconds(1)}, {75.0, seconds(50)},
      {90.0, seconds(80)},     {99.0, seconds(98)},     {100.0, seconds(100)}};
  for (const auto& [p, want] : expected)
    BOOST_TEST_CONTEXT("p" << p) {
      const double rel = std::abs(static_cast<double>(g.value_at_percentile(p).count() - want.count())) /
                         static_cast<double>(want.count());
      BOOST_TEST(rel <= 0.001);
    }
}

BOOST_AUTO_TEST_CASE(record_corrected_equals_recording_each_value) {
  const std::tuple<Duration, Duration> cases[] = {
      {seconds(1), milliseconds(1)},
      {seconds(1) + nanoseconds(123'457), microseconds(777) + nanoseconds(3)},
      {milliseconds(100), microseconds(1)},
      {milliseconds(100), nanoseconds(333)},
      {hours(2), minutes(7)},
      {hours(1) + milliseconds(5), seconds(1)},
      {microseconds(5), microseconds(1)},
      {seconds(3), seconds(3)},
      {seconds(3), Duration(0)},
      {seconds(3), Duration(-5)},
  };
  for (const auto& [d, interval] : cases) {
    BOOST_TEST_CONTEXT("value " << d.count() << "ns, interval " << interval.count() << "ns") {
      Histogram fast, slow;
      fast.record_corrected(d, interval);
      slow.record(d);
      if (interval.count() > 0)
        for (Duration v = d - interval; v >= interval && d > interval; v -= interval) slow.record(v);
      BOOST_TEST(fast.count() == slow.count());
      BOOST_TEST(fast.saturated() == slow.saturated());
      BOOST_TEST(fast.min().count() == slow.min().count());
      BOOST_TEST(fast.max().count() == slow.max().count());
      BOOST_TEST((buckets_of(fast) == buckets_of(slow)));
      BOOST_TEST(fast.mean_us() == slow.mean_us(), boost::test_tools::tolerance(1e-9));
      BOOST_TEST(fast.stddev_us() == slow.stddev_us(), boost::test_tools::tolerance(1e-6));
    }
  }
}

BOOST_AUTO_TEST_CASE(clamping_at_both_ends) {
  Histogram h;
  h.record(Duration(-5));  // negative: recorded as zero, in the lowest bucket
  h.record(Duration(0));
  h.record(nanoseconds(400));
  BOOST_TEST(h.count() == 3u);
  BOOST_TEST(h.min().count() == 0);
  BOOST_TEST(buckets_of(h).size() == 1u);
  BOOST_TEST(std::get<0>(buckets_of(h).front()) == 0);
  BOOST_TEST(h.saturated() == 0u);

  h.record(hours(1));  // the highest trackable value itself is not saturated
  h.record(hours(1) + nanoseconds(999));
  BOOST_TEST(h.saturated() == 0u);
  h.record(hours(2));
  h.record(Duration(std::numeric_limits<std::int64_t>::max()));
  BOOST_TEST(h.saturated() == 2u);
  BOOST_TEST(h.count() == 7u);
  BOOST_TEST(h.max().count() == ns(hours(1) + nanoseconds(999)));
  BOOST_TEST(h.value_at_percentile(100).count() <= h.max().count());
  BOOST_TEST(std::isfinite(h.mean_us()));
}

BOOST_AUTO_TEST_CASE(invalid_arguments_throw) {
  const std::tuple<std::int64_t, std::int64_t, int, std::string> cases[] = {
      {0, 1'000, 3, "lowest value 0"},
      {-1, 1'000, 3, "lowest value -1"},
      {1, 1, 3, "highest value 1us"},
      {10, 19, 3, "highest value 19us"},
      {1, std::numeric_limits<std::int64_t>::max(), 3, "highest value"},
      {1, 1'000, 0, "significant digits 0"},
      {1, 1'000, 6, "significant digits 6"},
  };
  for (const auto& [lo, hi, digits, text] : cases)
    BOOST_TEST_CONTEXT(lo << ".." << hi << " / " << digits) {
      const std::string& what = text;  // clang before 16 cannot capture a structured binding
      BOOST_CHECK_EXCEPTION(Histogram(lo, hi, digits), std::invalid_argument,
                            [&](const auto& e) { return names(e, what); });
    }
  Histogram h;
  h.record(milliseconds(1));
  for (double p : {-1.0, 100.5, std::numeric_limits<double>::quiet_NaN()})
    BOOST_TEST_CONTEXT("p " << p) {
      BOOST_CHECK_EXCEPTION(h.value_at_percentile(p), std::invalid_argument,
                            [](const auto& e) { return names(e, "percentile"); });
    }
}

BOOST_AUTO_TEST_CASE(other_layouts) {
  // Coarser: 1 ms .. 1 min, 2 digits; values stay within 1/64 of themselves.
  Histogram h(1'000, 60'000'000, 2);
  const auto samples = make_samples("lognormal", 20'000);
  for (auto x : samples) h.record(microseconds(x));
  auto sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  const Duration exact = microseconds(sorted[(99 * sorted.size() + 99) / 100 - 1]);
  const Duration got = h.value_at_percentile(99);
  BOOST_TEST(h.lowest_equivalent(got).count() == h.lowest_equivalent(exact).count());
  BOOST_TEST(h.memory_bytes() < Histogram().memory_bytes());
  BOOST_TEST(h.significant_digits() == 2);
  BOOST_TEST(h.lowest_trackable_us() == 1'000);
  BOOST_TEST(h.highest_trackable_us() == 60'000'000);
}

BOOST_AUTO_TEST_CASE(summary_is_in_seconds) {
  Histogram h;
  for (auto ms : {1, 2, 3}) h.record(milliseconds(ms));
  const auto s = h.summary();
  BOOST_TEST(s.count == 3u);
  BOOST_TEST(s.avg == 0.002, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.stddev == std::sqrt(2.0 / 3.0) / 1000, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(s.min == 0.001, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.max == 0.003, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.p50 == 0.002, boost::test_tools::tolerance(1e-12));  // below 2048 us buckets are exact
  BOOST_TEST(s.p90 == 0.003, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.p999 == 0.003, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(for_each_recorded_walks_buckets_in_order) {
  const auto samples = make_samples("exponential", 20'000);
  const Histogram h = fill(samples);
  std::uint64_t total = 0;
  std::int64_t previous_high = -1;
  bool ordered = true, within = true;
  h.for_each_recorded([&](Duration lo, Duration hi, std::uint64_t n) {
    ordered = ordered && lo.count() > previous_high && n > 0;
    within = within && lo <= hi && h.lowest_equivalent(hi) == lo;
    previous_high = hi.count();
    total += n;
  });
  BOOST_TEST(ordered);
  BOOST_TEST(within);
  BOOST_TEST(total == h.count());
}

BOOST_AUTO_TEST_CASE(memory_is_fixed) {
  Histogram h;
  const std::size_t before = h.memory_bytes();
  BOOST_TEST(before > 23'552u * 8);  // 23 half-buckets of 1024 counts for 1 us .. 1 h at 3 digits
  BOOST_TEST(before < 200'000u);
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::int64_t> d(0, 2 * 3'600'000'000'000LL);
  for (int i = 0; i < 1'000'000; ++i) h.record(nanoseconds(d(rng)));
  BOOST_TEST(h.memory_bytes() == before);
  BOOST_TEST(h.count() == 1'000'000u);
  BOOST_TEST(h.saturated() > 0u);
}

BOOST_AUTO_TEST_SUITE_END()
