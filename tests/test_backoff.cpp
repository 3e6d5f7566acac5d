#define BOOST_TEST_MODULE backoff
#include <boost/test/unit_test.hpp>

#include "loadtest/backoff.hpp"
#include "loadtest/behavior.hpp"

using namespace loadtest;

BOOST_AUTO_TEST_SUITE(backoff)

BOOST_AUTO_TEST_CASE(no_and_fixed_backoff) {
  NoBackoff n;
  FixedBackoff f;  // the original framework's 1 s
  for (unsigned a = 1; a < 5; ++a) {
    BOOST_TEST(n.delay(a).count() == 0);
    BOOST_TEST((f.delay(a) == 1s));
  }
  BOOST_CHECK_THROW(FixedBackoff{-1s}.validate(), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(linear_backoff_is_capped) {
  LinearBackoff l{2s, 5s};
  const Duration expected[] = {2s, 4s, 5s, 5s};
  for (unsigned a = 1; a <= 4; ++a) BOOST_TEST_CONTEXT("attempt " << a) { BOOST_TEST((l.delay(a) == expected[a - 1])); }
}

BOOST_AUTO_TEST_CASE(exponential_without_jitter_is_exact) {
  ExponentialBackoff e{100ms, 1s, 2.0, Jitter::none};
  const Duration expected[] = {100ms, 200ms, 400ms, 800ms, 1s, 1s};
  for (unsigned a = 1; a <= 6; ++a)
    BOOST_TEST_CONTEXT("attempt " << a) {
      BOOST_TEST(std::abs(to_seconds(e.delay(a)) - to_seconds(expected[a - 1])) < 1e-9);
    }
}

BOOST_AUTO_TEST_CASE(jitter_stays_within_bounds) {
  for (Jitter j : {Jitter::full, Jitter::equal}) {
    ExponentialBackoff e{100ms, 2s, 2.0, j};
    e.seed(42);
    for (int round = 0; round < 200; ++round)
      for (unsigned a = 1; a <= 8; ++a) {
        double full = std::min(2.0, 0.1 * std::pow(2.0, a - 1));
        double d = to_seconds(e.delay(a));
        double lo = j == Jitter::equal ? full / 2 : 0;
        BOOST_TEST_CONTEXT("jitter " << int(j) << " attempt " << a) { BOOST_TEST((d >= lo - 1e-9 && d <= full + 1e-9)); }
      }
  }
}

BOOST_AUTO_TEST_CASE(decorrelated_jitter_follows_its_recurrence) {
  // sleep = min(cap, uniform(base, previous * 3)), previous starting at base.
  ExponentialBackoff e{100ms, 5s, 2.0, Jitter::decorrelated};
  e.seed(7);
  double prev = 0.1;
  bool reached_cap = false;
  for (unsigned a = 1; a <= 60; ++a) {
    double d = to_seconds(e.delay(a));
    BOOST_TEST_CONTEXT("attempt " << a) {
      BOOST_TEST(d >= 0.1 - 1e-9);
      BOOST_TEST(d <= std::min(5.0, prev * 3) + 1e-9);
    }
    reached_cap = reached_cap || d > 4.0;
    prev = d;
  }
  BOOST_TEST(reached_cap);
  e.reset();  // back to base
  BOOST_TEST(to_seconds(e.delay(1)) <= 0.3 + 1e-9);
}

BOOST_AUTO_TEST_CASE(same_seed_same_sequence) {
  ExponentialBackoff a{100ms, 5s, 2.0, Jitter::full}, b = a;
  a.seed(99);
  b.seed(99);
  for (unsigned i = 1; i < 20; ++i) BOOST_TEST(a.delay(i).count() == b.delay(i).count());
}

BOOST_AUTO_TEST_CASE(invalid_parameters_throw) {
  BOOST_CHECK_THROW((ExponentialBackoff{0s, 1s}.validate()), std::invalid_argument);
  BOOST_CHECK_THROW((ExponentialBackoff{2s, 1s}.validate()), std::invalid_argument);
  BOOST_CHECK_THROW((ExponentialBackoff{1s, 2s, 0.5}.validate()), std::invalid_argument);
  BOOST_CHECK_THROW((LinearBackoff{-1s, 1s}.validate()), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(think_time)

BOOST_AUTO_TEST_CASE(parse_specs) {
  struct Case { const char* spec; ThinkTime::Kind kind; Duration a, b; };
  const Case cases[] = {
      {"none", ThinkTime::Kind::none, 0s, 0s},
      {"constant:1s", ThinkTime::Kind::constant, 1s, 1s},
      {"uniform:1s:3s", ThinkTime::Kind::uniform, 1s, 3s},
      {"exponential:2s", ThinkTime::Kind::exponential, 2s, 2s},
      {"pacing:5s", ThinkTime::Kind::pacing, 5s, 5s},
      {"throughput:4", ThinkTime::Kind::pacing, 250ms, 250ms},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.spec) {
      ThinkTime t = ThinkTime::parse(c.spec);
      BOOST_TEST(int(t.kind) == int(c.kind));
      BOOST_TEST(t.a.count() == c.a.count());
      BOOST_TEST(t.b.count() == c.b.count());
    }
}

BOOST_AUTO_TEST_CASE(bad_specs_name_the_spec) {
  for (const char* spec : {"", "sometimes", "constant", "constant:1x", "uniform:3s:1s", "uniform:1s", "pacing:0s",
                           "throughput:0", "none:1s"})
    BOOST_TEST_CONTEXT(spec) {
      BOOST_CHECK_EXCEPTION(ThinkTime::parse(spec), std::invalid_argument, [&](const std::invalid_argument& e) {
        return std::string(e.what()).find(std::string("'") + spec + "'") != std::string::npos;
      });
    }
}

BOOST_AUTO_TEST_CASE(pauses) {
  std::mt19937_64 rng(1);
  BOOST_TEST(ThinkTime::none().after(1s, rng).count() == 0);
  BOOST_TEST((ThinkTime::constant(2s).after(1s, rng) == 2s));
  BOOST_TEST((ThinkTime::pacing(5s).after(2s, rng) == 3s));
  BOOST_TEST(ThinkTime::pacing(5s).after(6s, rng).count() == 0);
  double sum = 0;
  for (int i = 0; i < 20000; ++i) {
    Duration u = ThinkTime::uniform(1s, 3s).after(0s, rng);
    BOOST_TEST_REQUIRE((u >= 1s && u <= 3s));
    sum += to_seconds(ThinkTime::exponential(2s).after(0s, rng));
  }
  BOOST_TEST(sum / 20000 == 2.0, boost::test_tools::tolerance(0.05));  // mean of the exponential
}

BOOST_AUTO_TEST_SUITE_END()
