#define BOOST_TEST_MODULE time
#include <boost/test/unit_test.hpp>

#include <limits>

#include "loadtest/time.hpp"

using namespace loadtest;

BOOST_AUTO_TEST_SUITE(time_units)

BOOST_AUTO_TEST_CASE(parse_duration_accepts_units) {
  struct Case { const char* text; Duration expected; };
  const Case cases[] = {
      {"500ms", 500ms}, {"30s", 30s}, {"2m", 120s}, {"1h", 3600s}, {"1.5s", 1500ms},
      {"250us", 250us}, {"10ns", 10ns}, {"0", 0ns}, {"7", 7s}, {"3min", 180s},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("text " << c.text) { BOOST_TEST(parse_duration(c.text).count() == c.expected.count()); }
  }
}

BOOST_AUTO_TEST_CASE(parse_duration_rejects_garbage_with_the_text) {
  for (const char* text : {"", "10x", "-1s", "s", "ms10", "1e400s", "nan", "5 s", "1d"}) {
    BOOST_TEST_CONTEXT("text '" << text << "'") {
      BOOST_CHECK_EXCEPTION(parse_duration(text), std::invalid_argument, [&](const std::invalid_argument& e) {
        return std::string(e.what()).find(std::string("'") + text + "'") != std::string::npos;
      });
    }
  }
}

BOOST_AUTO_TEST_CASE(format_duration_is_short) {
  BOOST_TEST(format_duration(850us) == "850us");
  BOOST_TEST(format_duration(12300us) == "12.3ms");
  BOOST_TEST(format_duration(4200ms) == "4.20s");
  BOOST_TEST(format_duration(125s) == "2m05s");
  BOOST_TEST(format_duration(3h + 5min) == "3h05m");
}

BOOST_AUTO_TEST_CASE(utc_labels) {
  // 2026-11-29T12:03:04.123456Z
  WallClock::time_point tp{std::chrono::seconds(1795953784) + std::chrono::microseconds(123456)};
  BOOST_TEST(iso8601_utc(tp) == "2026-11-29T12:03:04.123456Z");
  BOOST_TEST(file_stamp_utc(tp) == "20261129_120304");
}

BOOST_AUTO_TEST_CASE(from_seconds_saturates_instead_of_overflowing) {
  struct Case {
    double seconds;
    Duration expected;
  };
  const Case cases[] = {
      {1.5, 1500ms},
      {0, 0ns},
      {-2, -2s},
      {1e30, Duration::max()},
      {std::numeric_limits<double>::infinity(), Duration::max()},
      {-1e30, Duration::min()},
      {-std::numeric_limits<double>::infinity(), Duration::min()},
      {std::numeric_limits<double>::quiet_NaN(), 0ns},
      {9.3e9, Duration::max()},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.seconds) { BOOST_TEST(from_seconds(c.seconds).count() == c.expected.count()); }
  static_assert(from_seconds(1e300) == Duration::max());
}

BOOST_AUTO_TEST_CASE(parse_duration_fits_the_clock) {
  BOOST_TEST(parse_duration("1e9s").count() == Duration(std::chrono::seconds(1'000'000'000)).count());
  for (const char* text : {"1e30s", "1e10", "300000h", "inf", "nan", "-0.5s", "1e400"})
    BOOST_TEST_CONTEXT(text) { BOOST_CHECK_THROW(parse_duration(text), std::invalid_argument); }
}

BOOST_AUTO_TEST_SUITE_END()
