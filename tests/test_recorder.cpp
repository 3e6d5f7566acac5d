#define BOOST_TEST_MODULE recorder
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "loadtest/metrics.hpp"

// A counting global operator new: the allocation test counts only inside its window.
namespace {
std::atomic<bool> counting{false};
std::atomic<std::size_t> allocations{0};
}  // namespace

// The whole unaligned family is replaced so that every new pairs with its delete (also under ASan).
// Not inlined, so that GCC does not pair a malloc seen through `new` with a `delete` (a false
// -Wmismatched-new-delete).
[[gnu::noinline]] void* operator new(std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t n) { return operator new(n); }
[[gnu::noinline]] void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return operator new(n);
  } catch (...) {
    return nullptr;
  }
}
[[gnu::noinline]] void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using loadtest::Duration;
using loadtest::ErrorCategory;
using loadtest::IntervalStats;
using loadtest::LoadTestResult;
using loadtest::Outcome;
using loadtest::Recorder;
using loadtest::RecorderLimits;
using loadtest::RecorderShard;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

LoadTestResult result_of(const Recorder& r, Duration elapsed = seconds(1)) {
  LoadTestResult res;
  r.fill_result(res, elapsed);
  return res;
}

const loadtest::EndpointResult* find_endpoint(const LoadTestResult& r, const std::string& name) {
  for (const auto& e : r.endpoints)
    if (e.name == name) return &e;
  return nullptr;
}

// One sample of the random workload used to compare sharded and unsharded recording.
struct Sample {
  std::string endpoint;
  Outcome outcome;
  Duration response, service;
};

std::vector<Sample> random_workload(std::size_t n) {
  std::mt19937_64 rng(99);
  const std::string endpoints[] = {"GET /items", "POST /cart", "GET /item/{id}", "DELETE /cart", ""};
  const std::tuple<ErrorCategory, std::string> errors[] = {{ErrorCategory::timeout, "read timed out"},
                                                           {ErrorCategory::connect_refused, "connection refused"},
                                                           {ErrorCategory::http_5xx, "HTTP 503"},
                                                           {ErrorCategory::business, "wrong body"}};
  std::uniform_int_distribution<int> pick(0, 99), ep(0, 4), err(0, 3);
  std::uniform_int_distribution<std::int64_t> us(1, 100'000);
  std::vector<Sample> v;
  for (std::size_t i = 0; i < n; ++i) {
    Sample s;
    s.endpoint = endpoints[ep(rng)];
    const int roll = pick(rng);
    if (roll < 80) {
      s.outcome = Outcome::success({}, 200);
    } else {
      const auto& [cat, msg] = errors[err(rng)];
      s.outcome = roll < 90 ? Outcome::failure(msg, cat) : Outcome::error(cat, msg);
      if (cat == ErrorCategory::http_5xx) s.outcome.http_status = 503;
    }
    s.response = microseconds(us(rng));
    s.service = microseconds(us(rng));
    v.push_back(std::move(s));
  }
  return v;
}

void check_same_latency(const loadtest::LatencySummary& a, const loadtest::LatencySummary& b) {
  BOOST_TEST(a.count == b.count);
  BOOST_TEST(a.avg == b.avg, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(a.stddev == b.stddev, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(a.min == b.min);
  BOOST_TEST(a.max == b.max);
  BOOST_TEST(a.p50 == b.p50);
  BOOST_TEST(a.p90 == b.p90);
  BOOST_TEST(a.p95 == b.p95);
  BOOST_TEST(a.p99 == b.p99);
  BOOST_TEST(a.p999 == b.p999);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(recorder)

BOOST_AUTO_TEST_CASE(counts_by_status) {
  Recorder rec(1);
  auto& s = rec.shard(0);
  for (int i = 0; i < 7; ++i) s.record("GET /", Outcome::success(), milliseconds(10));
  for (int i = 0; i < 2; ++i) s.record("GET /", Outcome::failure("bad body"), milliseconds(20));
  s.record("GET /", Outcome::error(ErrorCategory::timeout, "timed out"), milliseconds(30));
  s.count_cancelled(3);
  const auto r = result_of(rec);
  BOOST_TEST(r.total_requests == 10u);
  BOOST_TEST(r.successful_requests == 7u);
  BOOST_TEST(r.failures == 2u);
  BOOST_TEST(r.errors_total == 1u);
  BOOST_TEST(r.failed_requests == 3u);
  BOOST_TEST(r.cancelled_requests == 3u);
  BOOST_TEST(r.min_response_time == 0.010, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(r.max_response_time == 0.030, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(r.avg_response_time == 0.014, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(r.p50_response_time == 0.010, boost::test_tools::tolerance(1e-3));
  BOOST_TEST(r.p999_response_time == 0.030, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.counters().requests == 10u);
}

BOOST_AUTO_TEST_CASE(endpoints_are_broken_down_and_sorted) {
  Recorder rec(1);
  auto& s = rec.shard(0);
  const std::tuple<std::string, int, int, int> plan[] = {
      {"POST /cart", 3, 1, 0}, {"GET /items", 5, 0, 2}, {"", 1, 0, 0}, {"DELETE /cart", 0, 0, 1}};
  for (const auto& [name, ok, failed, errored] : plan) {
    for (int i = 0; i < ok; ++i) s.record(name, Outcome::success(), milliseconds(5));
    for (int i = 0; i < failed; ++i) s.record(name, Outcome::failure("no"), milliseconds(5));
    for (int i = 0; i < errored; ++i) s.record(name, Outcome::error(ErrorCategory::reset, "reset"), milliseconds(5));
  }
  const auto r = result_of(rec, seconds(2));
  std::vector<std::string> names;
  for (const auto& e : r.endpoints) names.push_back(e.name);
  const std::vector<std::string> expected{"(unnamed)", "DELETE /cart", "GET /items", "POST /cart"};
  BOOST_TEST(names == expected, boost::test_tools::per_element());
  for (const auto& [name, ok, failed, errored] : plan)
    BOOST_TEST_CONTEXT("endpoint '" << name << "'") {
      const auto* e = find_endpoint(r, name.empty() ? "(unnamed)" : name);
      BOOST_TEST_REQUIRE(e != nullptr);
      BOOST_TEST(e->successful_requests == static_cast<std::uint64_t>(ok));
      BOOST_TEST(e->failures == static_cast<std::uint64_t>(failed));
      BOOST_TEST(e->errors == static_cast<std::uint64_t>(errored));
      BOOST_TEST(e->failed_requests == static_cast<std::uint64_t>(failed + errored));
      BOOST_TEST(e->total_requests == static_cast<std::uint64_t>(ok + failed + errored));
      BOOST_TEST(e->requests_per_second == (ok + failed + errored) / 2.0, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(e->response_time.count == e->total_requests);
    }
}

BOOST_AUTO_TEST_CASE(errors_are_aggregated_by_category_and_message) {
  Recorder rec(1);
  auto& s = rec.shard(0);
  for (int i = 0; i < 3; ++i) s.record("a", Outcome::error(ErrorCategory::timeout, "read timed out"), seconds(1));
  for (int i = 0; i < 2; ++i) s.record("b", Outcome::failure("wrong body"), seconds(1));
  // Same message, other category: another key.
  s.record("a", Outcome::error(ErrorCategory::connect_timeout, "read timed out"), seconds(1));
  s.record("a", Outcome::error(ErrorCategory::exception, ""), seconds(1));
  const auto r = result_of(rec);
  BOOST_TEST_REQUIRE(r.error_table.size() == 4u);
  BOOST_TEST(to_string(r.error_table[0].category) == "timeout");
  BOOST_TEST(r.error_table[0].message == "read timed out");
  BOOST_TEST(r.error_table[0].count == 3u);
  BOOST_TEST(to_string(r.error_table[1].category) == "business");
  BOOST_TEST(r.error_table[1].count == 2u);
  const std::vector<std::string> expected{"timeout: read timed out (x3)", "business: wrong body (x2)",
                                          "connect_timeout: read timed out (x1)", "exception: (no message) (x1)"};
  BOOST_TEST(r.errors == expected, boost::test_tools::per_element());
  BOOST_TEST(r.error_overflow == 0u);
}

BOOST_AUTO_TEST_CASE(long_messages_are_cut_at_a_character_boundary) {
  Recorder rec(1);
  std::string longer(600, 'x');
  longer.replace(511, 2, "\xC3\xA9");  // a two-byte character across the cut
  rec.shard(0).record("a", Outcome::failure(longer + "1"), seconds(1));
  rec.shard(0).record("a", Outcome::failure(longer + "2"), seconds(1));
  const auto r = result_of(rec);
  BOOST_TEST_REQUIRE(r.error_table.size() == 1u);
  BOOST_TEST(r.error_table[0].count == 2u);
  BOOST_TEST(r.error_table[0].message.size() == 511u);
}

BOOST_AUTO_TEST_CASE(distinct_error_keys_are_capped) {
  Recorder rec(1, RecorderLimits{200, 3});
  auto& s = rec.shard(0);
  for (int i = 0; i < 5; ++i)
    for (int k = 0; k <= i; ++k)
      s.record("a", Outcome::error(ErrorCategory::protocol, "bad " + std::to_string(i)), seconds(1));
  // keys bad 0..bad 2 fit (1 + 2 + 3 samples); bad 3 and bad 4 (4 + 5 samples) overflow.
  const auto r = result_of(rec);
  BOOST_TEST(r.error_table.size() == 3u);
  BOOST_TEST(r.error_overflow == 9u);
  BOOST_TEST(r.errors_total == 15u);
  BOOST_TEST(r.errors_by_category.at("protocol") == 15u);
  BOOST_TEST(s.error_overflow() == 9u);
  BOOST_TEST(r.errors.front() == "protocol: bad 2 (x3)");
}

BOOST_AUTO_TEST_CASE(merged_error_table_is_capped_too) {
  // Each shard fits its keys, together they do not: the least frequent overflow.
  Recorder rec(2, RecorderLimits{200, 2});
  rec.shard(0).record("a", Outcome::failure("x"), seconds(1));
  rec.shard(0).record("a", Outcome::failure("x"), seconds(1));
  rec.shard(0).record("a", Outcome::failure("y"), seconds(1));
  rec.shard(1).record("a", Outcome::failure("z"), seconds(1));
  rec.shard(1).record("a", Outcome::failure("z"), seconds(1));
  rec.shard(1).record("a", Outcome::failure("z"), seconds(1));
  const auto r = result_of(rec);
  BOOST_TEST_REQUIRE(r.error_table.size() == 2u);
  BOOST_TEST(r.error_table[0].message == "z");
  BOOST_TEST(r.error_table[1].message == "x");
  BOOST_TEST(r.error_overflow == 1u);
}

BOOST_AUTO_TEST_CASE(endpoints_are_capped) {
  Recorder rec(1, RecorderLimits{2, 100});
  auto& s = rec.shard(0);
  for (const char* name : {"a", "b", "c", "d", "a", "c"}) s.record(name, Outcome::success(), milliseconds(1));
  const auto r = result_of(rec);
  BOOST_TEST_REQUIRE(r.endpoints.size() == 3u);
  BOOST_TEST(r.endpoints[0].name == "(other)");
  BOOST_TEST(r.endpoints[0].total_requests == 3u);
  BOOST_TEST(r.endpoints[1].name == "a");
  BOOST_TEST(r.endpoints[1].total_requests == 2u);
  BOOST_TEST(r.endpoints[2].name == "b");
  BOOST_TEST(r.total_requests == 6u);
}

BOOST_AUTO_TEST_CASE(errors_by_category_names_every_category_seen) {
  Recorder rec(1);
  auto& s = rec.shard(0);
  s.record("a", Outcome::failure("x"), seconds(1));                                  // business
  s.record("a", Outcome{loadtest::Status::failure, ErrorCategory::none, {}, 0, "y", {}}, seconds(1));  // business
  s.record("a", Outcome{loadtest::Status::error, ErrorCategory::none, {}, 0, "z", {}}, seconds(1));    // exception
  s.record("a", Outcome::error(ErrorCategory::dns, "no such host"), seconds(1));
  s.record("a", Outcome::failure("HTTP 404", ErrorCategory::http_4xx), seconds(1));
  s.record("a", Outcome::success(), seconds(1));
  const auto r = result_of(rec);
  const std::map<std::string, std::uint64_t> expected{{"business", 2}, {"exception", 1}, {"dns", 1}, {"http_4xx", 1}};
  BOOST_TEST((r.errors_by_category == expected));
}

BOOST_AUTO_TEST_CASE(status_classes) {
  Recorder rec(1);
  auto& s = rec.shard(0);
  for (int status : {0, 101, 200, 204, 299, 301, 404, 503, 599, 700, -1})
    s.record("a", Outcome::success({}, status), seconds(1));
  const auto r = result_of(rec);
  BOOST_TEST_REQUIRE(r.endpoints.size() == 1u);
  const std::array<std::uint64_t, 6> expected{3, 1, 3, 1, 1, 2};
  BOOST_TEST(r.endpoints[0].status_classes == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(drain_resets_the_interval_but_not_the_totals) {
  RecorderShard s;
  for (int i = 0; i < 4; ++i) s.record("a", Outcome::success(), milliseconds(10));
  s.record("a", Outcome::failure("bad"), milliseconds(20));
  s.record("a", Outcome::error(ErrorCategory::timeout, "slow"), milliseconds(30));
  s.record("a", Outcome::error(ErrorCategory::timeout, "slow"), milliseconds(30));

  IntervalStats first;
  s.drain_interval_into(first);
  BOOST_TEST(first.requests == 7u);
  BOOST_TEST(first.successes == 4u);
  BOOST_TEST(first.failures == 1u);
  BOOST_TEST(first.errors == 2u);
  BOOST_TEST(first.response_time.count() == 7u);
  BOOST_TEST_REQUIRE(first.errors_seen.size() == 2u);
  BOOST_TEST(first.errors_seen[1].count == 2u);

  s.record("a", Outcome::error(ErrorCategory::timeout, "slow"), milliseconds(40));
  IntervalStats second;
  s.drain_interval_into(second);
  BOOST_TEST(second.requests == 1u);
  BOOST_TEST(second.successes == 0u);
  BOOST_TEST(second.errors == 1u);
  BOOST_TEST(second.response_time.count() == 1u);
  BOOST_TEST_REQUIRE(second.errors_seen.size() == 1u);
  BOOST_TEST(second.errors_seen[0].message == "slow");
  BOOST_TEST(second.errors_seen[0].count == 1u);

  IntervalStats empty;
  s.drain_interval_into(empty);
  BOOST_TEST(empty.requests == 0u);
  BOOST_TEST(empty.errors_seen.empty());

  BOOST_TEST(s.counters().requests == 8u);
  BOOST_TEST(s.response_time().count() == 8u);
  BOOST_TEST(s.error_table().at(1).count == 3u);

  // Draining several shards into one interval merges them; reset empties it.
  RecorderShard t;
  t.record("b", Outcome::error(ErrorCategory::timeout, "slow"), milliseconds(1));
  s.record("a", Outcome::error(ErrorCategory::timeout, "slow"), milliseconds(1));
  IntervalStats merged;
  s.drain_interval_into(merged);
  t.drain_interval_into(merged);
  BOOST_TEST(merged.requests == 2u);
  BOOST_TEST_REQUIRE(merged.errors_seen.size() == 1u);
  BOOST_TEST(merged.errors_seen[0].count == 2u);
  merged.reset();
  BOOST_TEST(merged.requests == 0u);
  BOOST_TEST(merged.response_time.count() == 0u);
  BOOST_TEST(merged.errors_seen.empty());
}

BOOST_AUTO_TEST_CASE(several_shards_equal_one_shard) {
  const auto samples = random_workload(20'000);
  for (std::size_t shards : {2u, 3u, 8u}) {
    BOOST_TEST_CONTEXT(shards << " shards") {
      Recorder one(1), many(shards);
      for (std::size_t i = 0; i < samples.size(); ++i) {
        const auto& s = samples[i];
        one.shard(0).record(s.endpoint, s.outcome, s.response, s.service);
        many.shard(i % shards).record(s.endpoint, s.outcome, s.response, s.service);
        if (i % 10 == 0) {
          one.shard(0).count_intended(2);
          many.shard(i % shards).count_intended(2);
          one.shard(0).record_schedule_lag(s.service / 10);
          many.shard(i % shards).record_schedule_lag(s.service / 10);
        }
      }
      const auto a = result_of(one, seconds(10)), b = result_of(many, seconds(10));
      BOOST_TEST(a.total_requests == b.total_requests);
      BOOST_TEST(a.successful_requests == b.successful_requests);
      BOOST_TEST(a.failed_requests == b.failed_requests);
      BOOST_TEST(a.failures == b.failures);
      BOOST_TEST(a.errors_total == b.errors_total);
      check_same_latency(
          {a.total_requests, a.avg_response_time, a.stddev_response_time, a.min_response_time, a.max_response_time,
           a.p50_response_time, a.p90_response_time, a.p95_response_time, a.p99_response_time, a.p999_response_time},
          {b.total_requests, b.avg_response_time, b.stddev_response_time, b.min_response_time, b.max_response_time,
           b.p50_response_time, b.p90_response_time, b.p95_response_time, b.p99_response_time, b.p999_response_time});
      BOOST_TEST(a.requests_per_second == b.requests_per_second);
      BOOST_TEST(a.error_rate == b.error_rate);
      BOOST_TEST(a.errors == b.errors, boost::test_tools::per_element());
      BOOST_TEST((a.errors_by_category == b.errors_by_category));
      BOOST_TEST(a.error_overflow == b.error_overflow);
      BOOST_TEST_REQUIRE(a.endpoints.size() == b.endpoints.size());
      for (std::size_t i = 0; i < a.endpoints.size(); ++i)
        BOOST_TEST_CONTEXT("endpoint " << a.endpoints[i].name) {
          BOOST_TEST(a.endpoints[i].name == b.endpoints[i].name);
          BOOST_TEST(a.endpoints[i].total_requests == b.endpoints[i].total_requests);
          BOOST_TEST(a.endpoints[i].failures == b.endpoints[i].failures);
          BOOST_TEST(a.endpoints[i].errors == b.endpoints[i].errors);
          BOOST_TEST(a.endpoints[i].status_classes == b.endpoints[i].status_classes, boost::test_tools::per_element());
          check_same_latency(a.endpoints[i].response_time, b.endpoints[i].response_time);
        }
      BOOST_TEST_REQUIRE(a.service_time.has_value());
      BOOST_TEST_REQUIRE(b.service_time.has_value());
      check_same_latency(*a.service_time, *b.service_time);
      BOOST_TEST_REQUIRE(b.schedule.has_value());
      BOOST_TEST(a.schedule->intended == b.schedule->intended);
      BOOST_TEST(a.schedule->started == b.schedule->started);
      BOOST_TEST(a.schedule->late == b.schedule->late);
      BOOST_TEST(a.schedule->lag_p99 == b.schedule->lag_p99);
      BOOST_TEST(a.schedule->lag_max == b.schedule->lag_max);
    }
  }
}

BOOST_AUTO_TEST_CASE(rates) {
  struct Case {
    int ok, failed, errored;
    Duration elapsed;
    double rps, error_rate, success_rate;
  };
  const Case cases[] = {
      {24, 3, 3, seconds(2), 15.0, 0.2, 0.8},
      {10, 0, 0, milliseconds(500), 20.0, 0.0, 1.0},
      {0, 0, 4, seconds(4), 1.0, 1.0, 0.0},
      {5, 5, 0, Duration(0), 0.0, 0.5, 0.5},  // no elapsed time: no rate rather than infinity
      {0, 0, 0, seconds(1), 0.0, 0.0, 0.0},   // nothing recorded: zeros, not NaN
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.ok << "/" << c.failed << "/" << c.errored << " in " << c.elapsed.count() << "ns") {
      Recorder rec(2);
      for (int i = 0; i < c.ok; ++i) rec.shard(i % 2).record("a", Outcome::success(), milliseconds(1));
      for (int i = 0; i < c.failed; ++i) rec.shard(i % 2).record("a", Outcome::failure("f"), milliseconds(1));
      for (int i = 0; i < c.errored; ++i)
        rec.shard(i % 2).record("a", Outcome::error(ErrorCategory::tls, "e"), milliseconds(1));
      const auto r = result_of(rec, c.elapsed);
      BOOST_TEST(r.requests_per_second == c.rps, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(r.error_rate == c.error_rate, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(r.success_rate == c.success_rate, boost::test_tools::tolerance(1e-12));
    }
}

BOOST_AUTO_TEST_CASE(open_model_fields_only_when_recorded) {
  {
    Recorder rec(1);
    rec.shard(0).record("a", Outcome::success(), milliseconds(3));
    LoadTestResult r;
    r.service_time = loadtest::LatencySummary{};  // stale values are cleared
    r.schedule = loadtest::ScheduleStats{};
    r.name = "kept";
    r.max_active_users = 7;
    rec.fill_result(r, seconds(1));
    BOOST_TEST(!r.service_time.has_value());
    BOOST_TEST(!r.schedule.has_value());
    BOOST_TEST(r.name == "kept");
    BOOST_TEST(r.max_active_users == 7u);
  }
  {
    Recorder rec(1);
    auto& s = rec.shard(0);
    s.count_intended(5);
    s.record_schedule_lag(microseconds(100));
    s.record_schedule_lag(milliseconds(3));  // late
    s.record_schedule_lag(microseconds(-20));  // early counts as on time
    s.count_dropped(2);
    s.record("a", Outcome::success(), milliseconds(12), milliseconds(2));
    s.record("a", Outcome::success(), milliseconds(14), milliseconds(4));
    const auto r = result_of(rec);
    BOOST_TEST_REQUIRE(r.service_time.has_value());
    BOOST_TEST(r.service_time->count == 2u);
    BOOST_TEST(r.service_time->avg == 0.003, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(r.avg_response_time == 0.013, boost::test_tools::tolerance(1e-12));
    BOOST_TEST_REQUIRE(r.schedule.has_value());
    BOOST_TEST(r.schedule->intended == 5u);
    BOOST_TEST(r.schedule->started == 3u);
    BOOST_TEST(r.schedule->late == 1u);
    BOOST_TEST(r.schedule->dropped == 2u);
    BOOST_TEST(r.schedule->lag_max == 0.003, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(r.schedule->lag_p50 == 0.0001, boost::test_tools::tolerance(1e-12));
  }
}

BOOST_AUTO_TEST_CASE(recording_a_success_does_not_allocate) {
  RecorderShard s;
  const Outcome ok = Outcome::success({}, 200);
  const Outcome known_error = Outcome::error(ErrorCategory::timeout, "the read timed out after 30 seconds");
  const std::string_view names[] = {"GET /items", "POST /cart", "GET /item/{id}"};
  for (auto name : names) s.record(name, ok, milliseconds(1));  // warm up: first sight of each endpoint
  s.record("GET /items", known_error, milliseconds(1));         // and of the error key
  IntervalStats interval;
  s.drain_interval_into(interval);

  allocations = 0;
  counting = true;
  for (int i = 0; i < 10'000; ++i) {
    s.record(names[i % 3], ok, microseconds(100 + i % 5'000));
    s.record(names[i % 3], ok, microseconds(100 + i), microseconds(50 + i));
  }
  counting = false;
  BOOST_TEST(allocations.load() == 0u);

  counting = true;
  for (int i = 0; i < 1'000; ++i) s.record("GET /items", known_error, microseconds(100 + i));
  counting = false;
  BOOST_TEST(allocations.load() == 0u);  // a known (category, message) key does not allocate either
  BOOST_TEST(s.counters().requests == 21'004u);
}

BOOST_AUTO_TEST_CASE(misuse_throws) {
  auto names = [](std::string what) {
    return [what](const std::invalid_argument& e) { return std::string(e.what()).find(what) != std::string::npos; };
  };
  BOOST_CHECK_EXCEPTION(Recorder(0), std::invalid_argument, names("shard count 0"));
  Recorder rec(2);
  BOOST_CHECK_EXCEPTION(rec.shard(2), std::invalid_argument, names("shard 2"));
  const Recorder& view = rec;
  BOOST_CHECK_EXCEPTION(view.shard(5), std::invalid_argument, names("shard 5"));
  BOOST_TEST(rec.size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
