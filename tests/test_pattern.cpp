#define BOOST_TEST_MODULE pattern
#include <boost/test/unit_test.hpp>

#include <limits>
#include <random>

#include "loadtest/pattern_spec.hpp"
#include "loadtest/rate.hpp"

using namespace loadtest;

namespace {
struct Point { Duration t; std::size_t users; };

template <class P>
void check_points(const P& p, std::initializer_list<Point> points) {
  for (const Point& pt : points) {
    BOOST_TEST_CONTEXT("t = " << format_duration(pt.t)) { BOOST_TEST(p.users_at(pt.t) == pt.users); }
  }
}

template <class P>
void check_monotonic(const P& p, Duration from, Duration to, bool up) {
  std::size_t prev = p.users_at(from);
  for (Duration t = from; t < to; t += 10ms) {
    std::size_t u = p.users_at(t);
    BOOST_TEST_CONTEXT("t = " << format_duration(t)) { BOOST_TEST((up ? u >= prev : u <= prev)); }
    prev = u;
  }
}

template <class P>
void check_invalid(const P& p, const std::string& fragment) {
  BOOST_CHECK_EXCEPTION(p.validate(), std::invalid_argument, [&](const std::invalid_argument& e) {
    BOOST_TEST_MESSAGE(e.what());
    return std::string(e.what()).find(fragment) != std::string::npos;
  });
}
}  // namespace

BOOST_AUTO_TEST_SUITE(pattern)

BOOST_AUTO_TEST_CASE(defaults_equal_the_original_framework) {
  RampUsers r;
  BOOST_TEST(r.users == 10u);
  BOOST_TEST(to_seconds(r.ramp_up) == 5.0);
  BOOST_TEST(to_seconds(r.duration()) == 60.0);
  BOOST_TEST(r.max_users() == 10u);
}

BOOST_AUTO_TEST_CASE(constant_users) {
  ConstantUsers c{5, 10s};
  check_points(c, {{-1ms, 0}, {0s, 5}, {5s, 5}, {10s - 1ns, 5}, {10s, 0}, {11s, 0}});
  BOOST_TEST((c.duration() == 10s));
  check_invalid(ConstantUsers{0, 1s}, "users");
  check_invalid(ConstantUsers{1, 0s}, "duration");
}

BOOST_AUTO_TEST_CASE(ramp_staggers_like_the_original) {
  // 10 users over 5 s: user i starts at i * 0.5 s.
  RampUsers r{10, 5s, 5s, 0s};
  check_points(r, {{0s, 1}, {499ms, 1}, {500ms, 2}, {999ms, 2}, {1s, 3}, {4500ms, 10}, {4999ms, 10},
                   {5s, 10}, {9999ms, 10}, {10s, 0}});
  check_monotonic(r, 0s, 5s, true);
}

BOOST_AUTO_TEST_CASE(ramp_down_leaves_evenly) {
  RampUsers r{4, 0s, 2s, 4s};
  check_points(r, {{0s, 4}, {1s, 4}, {2s, 4}, {2999ms, 4}, {3s, 3}, {4s, 2}, {5s, 1}, {5999ms, 1}, {6s, 0}});
  check_monotonic(r, 2s, 6s, false);
}

BOOST_AUTO_TEST_CASE(ramp_over_total_duration) {
  auto r = RampUsers::over(20, 60s, 10s, 5s);
  BOOST_TEST((r.hold == 45s));
  BOOST_TEST((r.duration() == 60s));
  BOOST_CHECK_THROW(RampUsers::over(20, 10s, 8s, 5s), std::invalid_argument);
  check_invalid(RampUsers{0, 1s, 1s, 0s}, "users");
  check_invalid(RampUsers{1, -1s, 1s, 0s}, "negative");
  check_invalid(RampUsers{1, 0s, 0s, 0s}, "duration");
}

BOOST_AUTO_TEST_CASE(step_users) {
  StepUsers s{10, 5, 10s, 3, 0s};
  check_points(s, {{0s, 10}, {9999ms, 10}, {10s, 15}, {20s, 20}, {29999ms, 20}, {30s, 0}});
  BOOST_TEST(s.max_users() == 20u);
  BOOST_TEST((s.duration() == 30s));
  StepUsers ramped{0, 10, 10s, 2, 2s};
  check_points(ramped, {{0s, 0}, {10s, 0}, {11s, 5}, {12s, 10}, {19s, 10}});
  check_monotonic(ramped, 10s, 12s, true);
  check_invalid(StepUsers{1, 1, 10s, 0, 0s}, "steps");
  check_invalid(StepUsers{1, 1, 0s, 2, 0s}, "step length");
  check_invalid(StepUsers{1, 1, 10s, 2, 11s}, "ramp");
  check_invalid(StepUsers{0, 0, 10s, 2, 0s}, "never");
}

BOOST_AUTO_TEST_CASE(spike_users) {
  SpikeUsers s{10, 110, 10s, 10s, 5s, 10s, 60s};
  check_points(s, {{0s, 10}, {9999ms, 10}, {10s, 10}, {15s, 60}, {20s, 110}, {24999ms, 110}, {25s, 110},
                   {30s, 60}, {35s, 10}, {59s, 10}, {60s, 0}});
  check_monotonic(s, 10s, 20s, true);
  check_monotonic(s, 25s, 35s, false);
  // A zero-length rise jumps.
  SpikeUsers jump{1, 50, 1s, 0s, 1s, 0s, 3s};
  check_points(jump, {{999ms, 1}, {1s, 50}, {1999ms, 50}, {2s, 1}});
  check_invalid(SpikeUsers{1, 2, 50s, 5s, 10s, 5s, 60s}, "ends after");
  check_invalid(SpikeUsers{1, 2, -1s, 5s, 10s, 5s, 60s}, "negative");
}

BOOST_AUTO_TEST_CASE(custom_users_is_clamped) {
  CustomUsers c{[](double s) { return s * 10; }, 50, 10s};
  check_points(c, {{0s, 0}, {1s, 10}, {2500ms, 25}, {6s, 50}, {9s, 50}, {10s, 0}});
  CustomUsers weird{[](double s) { return s < 1 ? -5.0 : std::nan(""); }, 5, 2s};
  check_points(weird, {{0s, 0}, {1500ms, 0}});
  check_invalid(CustomUsers{nullptr, 5, 1s}, "no function");
  check_invalid(CustomUsers{[](double) { return 1.0; }, 0, 1s}, "max");
}

BOOST_AUTO_TEST_CASE(stages_interpolate_like_k6) {
  Stages st{{{10s, 100}, {20s, 100}, {0s, 20}, {10s, 0}}, 0};
  check_points(st, {{0s, 0}, {1s, 10}, {5s, 50}, {10s, 100}, {29999ms, 100}, {30s, 20}, {35s, 10}, {40s, 0}});
  BOOST_TEST(st.max_users() == 100u);
  BOOST_TEST((st.duration() == 40s));
  check_monotonic(st, 0s, 10s, true);
  check_monotonic(st, 30s, 40s, false);
  check_invalid(Stages{{}, 0}, "at least one");
  check_invalid(Stages{{{-1s, 5}}, 0}, "stage 1");
  check_invalid(Stages{{{1s, 5}, {1s, -2}}, 0}, "stage 2");
  check_invalid(Stages{{{0s, 5}}, 0}, "no time");
  check_invalid(Stages{{{1s, 0}}, 0}, "never");
}

BOOST_AUTO_TEST_SUITE_END()

namespace {
struct RatePoint { Duration t; double rate; };

template <class P>
void check_rates(const P& p, std::initializer_list<RatePoint> points) {
  for (const RatePoint& pt : points) {
    BOOST_TEST_CONTEXT("t = " << format_duration(pt.t)) { BOOST_TEST(p.rate_at(pt.t) == pt.rate, boost::test_tools::tolerance(1e-9)); }
  }
}

/** Arrival times of a pattern over its whole duration. */
template <class P>
std::vector<Duration> schedule(const P& p, std::uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  std::vector<Duration> out;
  for (Duration t = detail::first_arrival(p, rng); t < p.duration(); t = detail::next_arrival(p, t, rng)) out.push_back(t);
  return out;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(rate)

BOOST_AUTO_TEST_CASE(constant_rate_schedule_is_exact) {
  ConstantRate c{1000, 5s};
  check_rates(c, {{-1ms, 0}, {0s, 1000}, {4999ms, 1000}, {5s, 0}});
  auto s = schedule(c);
  BOOST_TEST(s.size() == 5000u);
  for (std::size_t i = 1; i < s.size(); ++i) BOOST_TEST_REQUIRE((s[i] - s[i - 1] == 1ms));
  BOOST_CHECK_THROW((ConstantRate{0, 1s}.validate()), std::invalid_argument);
  BOOST_CHECK_THROW((ConstantRate{10, 0s}.validate()), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(ramping_rate_follows_its_stages) {
  RampingRate r{{{10s, 100}, {10s, 100}, {10s, 0}}, 0};
  check_rates(r, {{0s, 0}, {5s, 50}, {10s, 100}, {19s, 100}, {25s, 50}, {30s, 0}});
  // The arrivals are the integral of the rate: 500 + 1000 + 500.
  auto s = schedule(r);
  BOOST_TEST(static_cast<double>(s.size()) == 2000.0, boost::test_tools::tolerance(0.01));
  for (std::size_t i = 1; i < s.size(); ++i) BOOST_TEST_REQUIRE((s[i] > s[i - 1]));
  BOOST_CHECK_THROW((RampingRate{{{1s, -5}}, 0}.validate()), std::invalid_argument);
  BOOST_CHECK_THROW((RampingRate{{{1s, 0}}, 0}.validate()), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(step_and_spike_rates) {
  StepRate st{100, 50, 10s, 3, 0s};
  check_rates(st, {{0s, 100}, {10s, 150}, {25s, 200}, {30s, 0}});
  BOOST_TEST(schedule(st).size() == 4500u);
  SpikeRate sp{10, 110, 10s, 10s, 5s, 10s, 60s};
  check_rates(sp, {{0s, 10}, {15s, 60}, {20s, 110}, {30s, 60}, {40s, 10}, {60s, 0}});
  BOOST_CHECK_THROW((StepRate{-1, 1, 1s, 1, 0s}.validate()), std::invalid_argument);
  BOOST_CHECK_THROW((SpikeRate{1, 2, 50s, 5s, 10s, 5s, 60s}.validate()), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(custom_rate_skips_idle_stretches) {
  CustomRate c{[](double s) { return s < 1 ? 0.0 : 100.0; }, 1000, 2s};
  auto s = schedule(c);
  BOOST_TEST_REQUIRE(!s.empty());
  BOOST_TEST((s.front() >= 1s && s.front() < 1002ms));
  BOOST_TEST(static_cast<double>(s.size()) == 100.0, boost::test_tools::tolerance(0.02));
  CustomRate clamp{[](double) { return 1e9; }, 50, 1s};
  check_rates(clamp, {{0s, 50}});
  BOOST_CHECK_THROW((CustomRate{nullptr, 1, 1s}.validate()), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(poisson_arrivals_are_seeded_and_exponential) {
  PoissonRate p{ConstantRate{1000, 10s}};
  auto a = schedule(p, 7), b = schedule(p, 7), c = schedule(p, 8);
  BOOST_TEST((a == b));
  BOOST_TEST((a != c));
  BOOST_TEST(static_cast<double>(a.size()) == 10000.0, boost::test_tools::tolerance(0.05));
  // Exponential gaps: the coefficient of variation is 1 (evenly spaced arrivals would give 0).
  double sum = 0, sq = 0;
  for (std::size_t i = 1; i < a.size(); ++i) {
    double g = to_seconds(a[i] - a[i - 1]);
    sum += g;
    sq += g * g;
  }
  double n = static_cast<double>(a.size() - 1), mean = sum / n, cv = std::sqrt(sq / n - mean * mean) / mean;
  BOOST_TEST(mean == 0.001, boost::test_tools::tolerance(0.05));
  BOOST_TEST(cv == 1.0, boost::test_tools::tolerance(0.05));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pattern_spec)

BOOST_AUTO_TEST_CASE(stages_parse) {
  StageList s = parse_stages("30s:50,1m:50,10s:0");
  BOOST_TEST(s.start == 0.0);
  BOOST_REQUIRE_EQUAL(s.stages.size(), 3u);
  BOOST_TEST((s.stages[1].length == 60s));
  BOOST_TEST(s.stages[1].target == 50.0);
  Stages users{s.stages, s.start};
  check_points(users, {{15s, 25}, {30s, 50}, {95s, 25}});
}

BOOST_AUTO_TEST_CASE(bad_stages_name_the_bad_part) {
  struct Case { const char* spec; const char* fragment; };
  const Case cases[] = {
      {"", "empty"}, {"30s", "stage 1 '30s'"}, {"30s:50,1x:5", "stage 2 '1x:5'"},
      {"30s:-5", "stage 1 '30s:-5'"}, {"30s:abc", "'abc'"}, {"0s:5", "no time"},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.spec) {
      BOOST_CHECK_EXCEPTION(parse_stages(c.spec), std::invalid_argument, [&](const std::invalid_argument& e) {
        BOOST_TEST_MESSAGE(e.what());
        return std::string(e.what()).find(c.fragment) != std::string::npos;
      });
    }
}

BOOST_AUTO_TEST_CASE(step_shape_becomes_stages) {
  StageList s = parse_shape("step:start=10,step=10,every=30s,steps=3");
  Stages users{s.stages, s.start};
  check_points(users, {{0s, 10}, {29s, 10}, {30s, 20}, {61s, 30}, {89s, 30}, {90s, 0}});
  StageList ramped = parse_shape("step:start=0,step=10,every=10s,steps=2,ramp=5s");
  Stages r{ramped.stages, ramped.start};
  check_points(r, {{0s, 0}, {10s, 0}, {12500ms, 5}, {15s, 10}, {19s, 10}});
  // The same shape as a rate.
  RampingRate rate{s.stages, s.start};
  BOOST_TEST(rate.rate_at(45s) == 20.0);
}

BOOST_AUTO_TEST_CASE(spike_shape_becomes_stages) {
  StageList s = parse_shape("spike:base=10,peak=110,at=10s,rise=10s,hold=5s,fall=10s,duration=60s");
  Stages users{s.stages, s.start};
  check_points(users, {{0s, 10}, {15s, 60}, {20s, 110}, {24s, 110}, {30s, 60}, {40s, 10}, {59s, 10}, {60s, 0}});
  // Without duration= the test's length is used.
  StageList t = parse_shape("spike:base=1,peak=5,at=1s,rise=0s,hold=1s,fall=0s", 3s);
  BOOST_TEST((Stages{t.stages, t.start}.duration() == 3s));
}

BOOST_AUTO_TEST_CASE(bad_shapes_name_the_bad_part) {
  struct Case { const char* spec; const char* fragment; };
  const Case cases[] = {
      {"wave:a=1", "unknown shape 'wave'"},
      {"step", "no parameters"},
      {"step:start=1,step=1,every=1s", "missing 'steps='"},
      {"step:start=1,step=1,every=1s,steps=2.5", "steps"},
      {"step:start=1,step=1,every=1x,steps=2", "every"},
      {"step:start=1,step=1,every=1s,steps=2,colour=red", "unknown key 'colour'"},
      {"step:start=1,start=2,step=1,every=1s,steps=2", "'start' given twice"},
      {"step:start=-1,step=1,every=1s,steps=2", "'-1'"},
      {"step:start=1,step=1,every=1s,steps=2,ramp=2s", "ramp"},
      {"spike:base=1,peak=5,at=1s,rise=1s,hold=1s,fall=1s", "missing 'duration='"},
      {"spike:base=1,peak=5,at=50s,rise=5s,hold=10s,fall=5s,duration=60s", "after the duration"},
      {"spike:base=1,peak=5,at=1s,rise=1s,hold=1s", "missing 'fall='"},
      {"spike:base,peak=5", "'base' is not key=value"},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.spec) {
      BOOST_CHECK_EXCEPTION(parse_shape(c.spec), std::invalid_argument, [&](const std::invalid_argument& e) {
        BOOST_TEST_MESSAGE(e.what());
        return std::string(e.what()).find(c.fragment) != std::string::npos;
      });
    }
}

// ---- hardening (issue 9): caps and conversions that never overflow --------------------------------

BOOST_AUTO_TEST_CASE(user_targets_share_the_user_cap) {
  check_invalid(ConstantUsers{max_users_limit + 1, 1s}, "more than the limit of 1000000");
  check_invalid(RampUsers{max_users_limit + 1, 1s, 1s, 0s}, "more than the limit");
  check_invalid(StepUsers{1, max_users_limit, 1s, 3, 0s}, "more than the limit");
  check_invalid(StepUsers{1, std::numeric_limits<std::size_t>::max(), 1s, 3, 0s}, "more than the limit");
  check_invalid(SpikeUsers{1, max_users_limit + 1, 1s, 1s, 1s, 1s, 10s}, "more than the limit");
  check_invalid(CustomUsers{[](double) { return 1.0; }, max_users_limit + 1, 1s}, "more than the limit");
  check_invalid(Stages{{{1s, 1e30}}, 0}, "1e+30 users is more than the limit of 1000000");
  check_invalid(Stages{{{1s, 1e7}}, 0}, "more than the limit");
  check_invalid(Stages{{{1s, 5}}, 1e30}, "more than the limit");
  BOOST_CHECK_NO_THROW((Stages{{{1s, 1e6}}, 0}.validate()));
  // the parsers feed the same checks
  check_invalid(Stages{parse_stages("1s:1e30").stages, 0}, "more than the limit");
  const auto spike = parse_shape("spike:base=1,peak=1e30,at=1s,rise=1s,hold=1s,fall=1s,duration=10s");
  check_invalid(Stages{spike.stages, spike.start}, "more than the limit");
}

BOOST_AUTO_TEST_CASE(user_counts_never_overflow) {
  // values a pattern can compute far beyond the cap clamp to it instead of overflowing llround
  const Stages huge{{{1s, 1e30}}, 1e30};
  BOOST_TEST(huge.users_at(500ms) == max_users_limit);
  BOOST_TEST(huge.max_users() == max_users_limit);
  const StepUsers steps{std::numeric_limits<std::size_t>::max() / 2, std::numeric_limits<std::size_t>::max() / 2,
                        1s, 3, 0s};
  BOOST_TEST(steps.users_at(2500ms) == max_users_limit);
  BOOST_TEST(steps.max_users() == max_users_limit);
  BOOST_TEST(detail::to_users(std::numeric_limits<double>::quiet_NaN()) == 0u);
  BOOST_TEST(detail::to_users(-1e30) == 0u);
  BOOST_TEST(detail::to_users(2.4) == 2u);
}

BOOST_AUTO_TEST_CASE(rates_lie_in_the_documented_range) {
  struct Case {
    double rate;
    bool ok;
  };
  const Case cases[] = {{1e-3, true}, {1e7, true}, {1, true},       {9e-4, false}, {1e-30, false},
                        {1.1e7, false}, {1e30, false}, {-1, false}, {std::numeric_limits<double>::infinity(), false},
                        {std::numeric_limits<double>::quiet_NaN(), false}};
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.rate) {
      if (c.ok) {
        BOOST_CHECK_NO_THROW((ConstantRate{c.rate, 1s}.validate()));
        BOOST_CHECK_NO_THROW((RampingRate{{{1s, c.rate}}, 0}.validate()));
        BOOST_CHECK_NO_THROW((SpikeRate{0, c.rate, 1s, 1s, 1s, 1s, 10s}.validate()));
      } else {
        BOOST_CHECK_THROW((ConstantRate{c.rate, 1s}.validate()), std::invalid_argument);
        BOOST_CHECK_THROW((RampingRate{{{1s, c.rate}}, 0}.validate()), std::invalid_argument);
        BOOST_CHECK_THROW((RampingRate{{{1s, 5}}, c.rate}.validate()), std::invalid_argument);
        BOOST_CHECK_THROW((SpikeRate{1, c.rate, 1s, 1s, 1s, 1s, 10s}.validate()), std::invalid_argument);
        BOOST_CHECK_THROW((StepRate{c.rate, 0, 1s, 2, 0s}.validate()), std::invalid_argument);
      }
    }
  }
  BOOST_CHECK_NO_THROW((RampingRate{{{1s, 0}, {1s, 10}, {1s, 0}}, 0}.validate()));  // 0 is still allowed in stages
  BOOST_CHECK_THROW((CustomRate{[](double) { return 1.0; }, 1e30, 1s}.validate()), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(tiny_rates_neither_spin_nor_flood) {
  // Rates far below the minimum (a library user who skips validate) end at the pattern's end at
  // once: the gap is computed in seconds and compared before it becomes a Duration.
  std::mt19937_64 rng(1);
  const ConstantRate tiny{1e-30, 1s};
  BOOST_TEST(detail::next_arrival(tiny, 0ns, rng).count() == tiny.duration().count());
  const Poisson<ConstantRate> poisson{{1e-30, 1s}};
  for (int i = 0; i < 100; ++i) BOOST_TEST(detail::next_arrival(poisson, 0ns, rng).count() == poisson.duration().count());
  // a huge gap near the end of a long pattern does not overflow either
  const ConstantRate slow{1e-3, std::chrono::hours(24 * 365 * 30)};
  const Duration late = slow.duration() - 1s;
  BOOST_TEST(detail::next_arrival(slow, late, rng).count() == slow.duration().count());
  BOOST_TEST(detail::advance_or_end(0ns, 1e300, 1s).count() == Duration(1s).count());
  BOOST_TEST(detail::advance_or_end(0ns, 0.5, 1s).count() == Duration(500ms).count());
}

BOOST_AUTO_TEST_CASE(durations_fit_the_clock) {
  check_invalid(StepUsers{1, 1, std::chrono::hours(24 * 365 * 30), 10000, 0s}, "1e9 s");
  check_invalid(Stages{{{std::chrono::hours(24 * 365 * 30), 5}, {std::chrono::hours(24 * 365 * 30), 5}}, 0}, "1e9 s");
  BOOST_CHECK_THROW(parse_stages("1e30s:5"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(empty_specs_are_errors) {
  BOOST_CHECK_THROW(parse_stages(""), std::invalid_argument);
  BOOST_CHECK_THROW(parse_shape(""), std::invalid_argument);
  BOOST_CHECK_THROW(parse_stages(","), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

// Found by fuzz_pattern (fuzz/corpus/pattern/total-length-overflow): a step shape whose total
// length overflowed the clock's int64 nanoseconds before validation could refuse it.
BOOST_AUTO_TEST_CASE(shape_lengths_never_overflow_the_clock) {
  BOOST_CHECK_THROW(loadtest::parse_shape("step:start=1,step=1,every=2222223s,steps=5205", loadtest::Duration{}),
                    std::invalid_argument);
  loadtest::Stages huge{{{loadtest::Duration::max() / 2, 1}, {loadtest::Duration::max() / 2, 1}, {std::chrono::hours(1), 1}}};
  BOOST_TEST(huge.duration() == loadtest::Duration::max());  // saturated
  BOOST_CHECK_THROW(huge.validate(), std::invalid_argument);  // and refused: more than 1e9 s
}
