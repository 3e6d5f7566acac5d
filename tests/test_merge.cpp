#define BOOST_TEST_MODULE merge
#include <boost/test/unit_test.hpp>

#include <boost/json.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "loadtest/histogram_codec.hpp"
#include "loadtest/merge.hpp"
#include "loadtest/metrics.hpp"
#include "loadtest/results_io.hpp"
#include "loadtest/threshold.hpp"

namespace json = boost::json;
using loadtest::Duration;
using loadtest::ErrorCategory;
using loadtest::LoadTestResult;
using loadtest::MergeOptions;
using loadtest::Outcome;
using loadtest::Recorder;
using std::chrono::microseconds;
using std::chrono::nanoseconds;

namespace {

// One sample of a synthetic test: which endpoint, how it went, and its times.
struct Sample {
  std::string endpoint;
  Outcome outcome;
  Duration response, service, lag;
};

std::vector<Sample> samples(std::size_t n, bool open, unsigned seed = 11) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> rt(std::log(8'000.0), 1.3);
  std::uniform_int_distribution<int> pick(0, 99);
  std::vector<Sample> v;
  v.reserve(n);
  for (std::size_t k = 0; k < n; ++k) {
    const int p = pick(rng);
    Sample s;
    s.endpoint = p < 60 ? "GET /items" : p < 90 ? "POST /cart" : "GET /slow";
    if (p == 95) s.outcome = Outcome::error(ErrorCategory::timeout, "timed out after 1s", s.endpoint);
    else if (p >= 97) s.outcome = Outcome::failure("status " + std::to_string(500 + p % 4), ErrorCategory::http_5xx, s.endpoint);
    else s.outcome = Outcome::success(s.endpoint, 200);
    s.response = nanoseconds(std::llround(rt(rng) * 1000) + 1);
    s.service = open ? nanoseconds(s.response.count() / 2) : Duration(-1);
    s.lag = open ? nanoseconds(static_cast<std::int64_t>(k % 5000) * 700) : Duration(0);
    v.push_back(std::move(s));
  }
  return v;
}

// The result of the samples k with k % n == i (all of them for n == 1), through the JSON file
// format when `through_json`.
LoadTestResult run_part(const std::vector<Sample>& all, std::size_t i, std::size_t n, bool open, bool through_json = true,
                        double duration = 10.0) {
  Recorder rec(2);
  for (std::size_t k = i; k < all.size(); k += n) {
    auto& shard = rec.shard(k % 2);
    const Sample& s = all[k];
    shard.record(s.endpoint, s.outcome, s.response, s.service);
    if (open) {
      shard.count_intended();
      shard.record_schedule_lag(s.lag);
    }
  }
  LoadTestResult r;
  r.name = "checkout";
  r.model = open ? "open" : "closed";
  r.timestamp = "2026-12-02T06:00:0" + std::to_string(i) + "Z";
  r.duration = duration + 0.1 * static_cast<double>(i);
  r.max_active_users = 10;
  rec.fill_result(r, std::chrono::duration_cast<Duration>(std::chrono::duration<double>(r.duration)));
  r.config = {{"pattern", "ramp"}, {"behavior", "single"}, {"seed", "7"}, {"model", r.model}};
  if (n > 1) r.config["segment"] = std::to_string(i) + "/" + std::to_string(n);
  return through_json ? loadtest::result_from_json(loadtest::to_json(r)) : r;
}

std::vector<LoadTestResult> parts(const std::vector<Sample>& all, std::size_t n, bool open) {
  std::vector<LoadTestResult> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(run_part(all, i, n, open));
  return v;
}

bool histfaaa(const json::value& v) { return std::string(v.as_string().c_str()).rfind("HISTFAAA", 0) == 0; }

bool says(const std::invalid_argument& e, const std::string& what) {
  const bool ok = std::string(e.what()).find(what) != std::string::npos;
  if (!ok) BOOST_TEST_MESSAGE("message was: " << e.what());
  return ok;
}

void same_latency(const loadtest::LatencySummary& a, const loadtest::LatencySummary& b) {
  BOOST_TEST(a.count == b.count);
  BOOST_TEST(a.min == b.min);
  BOOST_TEST(a.max == b.max);
  BOOST_TEST(a.p50 == b.p50);
  BOOST_TEST(a.p90 == b.p90);
  BOOST_TEST(a.p95 == b.p95);
  BOOST_TEST(a.p99 == b.p99);
  BOOST_TEST(a.p999 == b.p999);
  BOOST_TEST(a.avg == b.avg, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(a.stddev == b.stddev, boost::test_tools::tolerance(1e-6));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(result_histograms)

BOOST_AUTO_TEST_CASE(fill_result_keeps_every_histogram) {
  const auto all = samples(5000, true);
  const LoadTestResult r = run_part(all, 0, 1, true, false);
  BOOST_TEST_REQUIRE(r.response_histogram != nullptr);
  BOOST_TEST(r.response_histogram->count() == 5000u);
  BOOST_TEST_REQUIRE(r.service_histogram != nullptr);
  BOOST_TEST(r.service_histogram->count() == 5000u);
  BOOST_TEST_REQUIRE(r.schedule_lag_histogram != nullptr);
  BOOST_TEST(r.schedule_lag_histogram->count() == 5000u);
  for (const auto& e : r.endpoints) {
    BOOST_TEST_REQUIRE(e.histogram != nullptr);
    BOOST_TEST(e.histogram->count() == e.total_requests);
    BOOST_TEST(loadtest::to_seconds(e.histogram->value_at_percentile(99)) == e.response_time.p99);
  }
  // The closed model has no service or lag histograms.
  const LoadTestResult closed = run_part(samples(100, false), 0, 1, false, false);
  BOOST_TEST(closed.service_histogram == nullptr);
  BOOST_TEST(closed.schedule_lag_histogram == nullptr);
  BOOST_TEST(closed.response_histogram != nullptr);
}

BOOST_AUTO_TEST_CASE(json_carries_them_losslessly) {
  for (bool open : {false, true}) {
    BOOST_TEST_CONTEXT("open model: " << open) {
      const LoadTestResult r = run_part(samples(20000, open), 0, 1, open, false);
      const std::string text = loadtest::to_json(r);
      const json::object root = json::parse(text).as_object();
      // Every earlier key first, in order; the histograms last.
      BOOST_TEST(root.begin()->key() == "name");
      BOOST_TEST((root.end() - 1)->key() == "histograms");
      const auto& h = root.at("histograms").as_object();
      BOOST_TEST(histfaaa(h.at("response_time")));
      BOOST_TEST(h.contains("service_time") == open);
      BOOST_TEST(h.contains("schedule_lag") == open);
      for (const auto& kv : root.at("endpoints").as_object())
        BOOST_TEST(histfaaa(kv.value().at("histogram")));

      const LoadTestResult back = loadtest::result_from_json(text);
      BOOST_TEST_REQUIRE(back.response_histogram != nullptr);
      BOOST_TEST(back.response_histogram->same_counts(*r.response_histogram));
      same_latency(back.response_histogram->summary(), r.response_histogram->summary());
      BOOST_TEST_REQUIRE(back.endpoints.size() == r.endpoints.size());
      for (std::size_t i = 0; i < r.endpoints.size(); ++i) {
        BOOST_TEST_REQUIRE(back.endpoints[i].histogram != nullptr);
        BOOST_TEST(back.endpoints[i].histogram->same_counts(*r.endpoints[i].histogram));
        same_latency(back.endpoints[i].histogram->summary(), r.endpoints[i].histogram->summary());
      }
      if (open) {
        BOOST_TEST_REQUIRE(back.service_histogram != nullptr);
        BOOST_TEST(back.service_histogram->same_counts(*r.service_histogram));
        same_latency(back.service_histogram->summary(), r.service_histogram->summary());
        BOOST_TEST_REQUIRE(back.schedule_lag_histogram != nullptr);
        BOOST_TEST(back.schedule_lag_histogram->same_counts(*r.schedule_lag_histogram));
        BOOST_TEST(back.schedule_lag_histogram->max().count() == r.schedule_lag_histogram->max().count());
      }
      // And it writes back the same histograms (Boost 1.81's JSON parser may move a double's
      // last digit, so the rest is compared figure by figure above).
      BOOST_TEST(json::parse(loadtest::to_json(back)).at("histograms") == root.at("histograms"));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_corrupt_histogram_is_named) {
  const LoadTestResult r = run_part(samples(100, false), 0, 1, false, false);
  std::string text = loadtest::to_json(r);
  const auto at = text.find("HISTFAAA", text.find("\"histograms\""));
  BOOST_TEST_REQUIRE(at != std::string::npos);
  text.replace(at + 12, 4, "!!!!");
  BOOST_CHECK_EXCEPTION(loadtest::result_from_json(text), std::invalid_argument,
                        [](const std::invalid_argument& e) { return says(e, "'histograms.response_time' is not a valid histogram"); });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(merge)

BOOST_AUTO_TEST_CASE(merged_segments_equal_one_process) {
  for (bool open : {false, true}) {
    BOOST_TEST_CONTEXT("open model: " << open) {
      const auto all = samples(30000, open);
      const LoadTestResult whole = run_part(all, 0, 1, open, false, 10.2);
      const LoadTestResult m = loadtest::merge_results(parts(all, 3, open));
      BOOST_TEST(m.total_requests == whole.total_requests);
      BOOST_TEST(m.successful_requests == whole.successful_requests);
      BOOST_TEST(m.failed_requests == whole.failed_requests);
      BOOST_TEST(m.failures == whole.failures);
      BOOST_TEST(m.errors_total == whole.errors_total);
      same_latency(m.response_time(), whole.response_time());
      BOOST_TEST(m.response_histogram->same_counts(*whole.response_histogram));
      BOOST_TEST(m.duration == 10.2);  // the longest segment
      BOOST_TEST(m.requests_per_second == static_cast<double>(m.total_requests) / 10.2);
      BOOST_TEST(m.max_active_users == 30u);
      BOOST_TEST(m.timestamp == "2026-12-02T06:00:00Z");
      BOOST_TEST(m.error_rate == whole.error_rate);
      BOOST_TEST_REQUIRE(m.endpoints.size() == whole.endpoints.size());
      for (std::size_t i = 0; i < whole.endpoints.size(); ++i) {
        BOOST_TEST_CONTEXT(whole.endpoints[i].name) {
          BOOST_TEST(m.endpoints[i].name == whole.endpoints[i].name);
          BOOST_TEST(m.endpoints[i].total_requests == whole.endpoints[i].total_requests);
          BOOST_TEST(m.endpoints[i].failures == whole.endpoints[i].failures);
          BOOST_TEST((m.endpoints[i].status_classes == whole.endpoints[i].status_classes));
          same_latency(m.endpoints[i].response_time, whole.endpoints[i].response_time);
        }
      }
      BOOST_TEST_REQUIRE(m.error_table.size() == whole.error_table.size());
      for (std::size_t i = 0; i < whole.error_table.size(); ++i) {
        BOOST_TEST(m.error_table[i].message == whole.error_table[i].message);
        BOOST_TEST(m.error_table[i].count == whole.error_table[i].count);
      }
      BOOST_TEST(m.errors == whole.errors, boost::test_tools::per_element());
      BOOST_TEST((m.errors_by_category == whole.errors_by_category));
      BOOST_TEST(m.service_time.has_value() == open);
      BOOST_TEST(m.schedule.has_value() == open);
      if (open) {
        same_latency(*m.service_time, *whole.service_time);
        BOOST_TEST(m.schedule->intended == whole.schedule->intended);
        BOOST_TEST(m.schedule->started == whole.schedule->started);
        BOOST_TEST(m.schedule->late == whole.schedule->late);
        BOOST_TEST(m.schedule->lag_p50 == whole.schedule->lag_p50);
        BOOST_TEST(m.schedule->lag_p99 == whole.schedule->lag_p99);
        BOOST_TEST(m.schedule->lag_max == whole.schedule->lag_max);
      }
      BOOST_TEST(m.config.count("segment") == 0u);
      BOOST_TEST(m.config.at("segments") == "3");
      BOOST_TEST(m.config.count("partial") == 0u);
      // The merged result writes and reads back like any other.
      const LoadTestResult again = loadtest::result_from_json(loadtest::to_json(m));
      BOOST_TEST(again.response_histogram->same_counts(*m.response_histogram));
      BOOST_TEST(again.p99_response_time == m.p99_response_time);
    }
  }
}

BOOST_AUTO_TEST_CASE(thresholds_judge_the_union) {
  const auto all = samples(15000, false);
  MergeOptions o;
  o.thresholds = loadtest::parse_thresholds({"requests>=12000", "requests<12000", "rps>1000"});
  const LoadTestResult m = loadtest::merge_results(parts(all, 3, false), o);
  BOOST_TEST_REQUIRE(m.thresholds.size() == 3u);
  BOOST_TEST(m.thresholds[0].passed);
  BOOST_TEST(!m.thresholds[1].passed);
  BOOST_TEST(m.thresholds[2].passed);  // 15000 / 10.2 s; each segment alone has about 490/s
  BOOST_TEST(m.thresholds[0].observed == 15000.0);
  // Without thresholds given, the segments' own expressions are judged again on the whole.
  auto ps = parts(all, 3, false);
  for (auto& p : ps) p.thresholds = loadtest::evaluate(loadtest::parse_thresholds({"requests>=12000"}), p);
  BOOST_TEST(!ps[0].thresholds[0].passed);
  const LoadTestResult again = loadtest::merge_results(ps);
  BOOST_TEST_REQUIRE(again.thresholds.size() == 1u);
  BOOST_TEST(again.thresholds[0].passed);
}

BOOST_AUTO_TEST_CASE(error_tables_merge_under_the_cap) {
  std::vector<LoadTestResult> ps;
  for (std::size_t i = 0; i < 2; ++i) {
    Recorder rec(1);
    for (int k = 0; k < 80; ++k)  // 80 keys each, 20 shared: 140 distinct
      for (int c = 0; c <= k % 3; ++c)
        rec.shard(0).record("x", Outcome::failure("message " + std::to_string(k + static_cast<int>(i) * 60)), microseconds(100));
    LoadTestResult r;
    r.name = "errors";
    r.duration = 1;
    rec.fill_result(r, std::chrono::seconds(1));
    r.config = {{"segment", std::to_string(i) + "/2"}};
    ps.push_back(loadtest::result_from_json(loadtest::to_json(r)));
  }
  const LoadTestResult m = loadtest::merge_results(ps);
  BOOST_TEST(m.error_table.size() == 100u);
  std::uint64_t in_table = 0;
  for (const auto& e : m.error_table) in_table += e.count;
  BOOST_TEST(in_table + m.error_overflow == m.failed_requests);
  BOOST_TEST(m.errors.size() == 100u);
  // The shared keys (60..79 of the first, 0..19 of the second) are counted once with both counts.
  BOOST_TEST(m.error_table.front().count >= 4u);
}

BOOST_AUTO_TEST_CASE(refusals_name_the_input) {
  const auto all = samples(3000, false);
  struct Bad {
    std::string name;
    std::function<void(std::vector<LoadTestResult>&)> spoil;
    std::string says;
  };
  const std::vector<Bad> bad = {
      {"no histograms", [](auto& v) { v[1].response_histogram.reset(); }, "b.json: has no histograms"},
      {"no endpoint histogram", [](auto& v) { v[2].endpoints[0].histogram.reset(); }, "c.json: endpoint"},
      {"count mismatch", [](auto& v) { v[1].total_requests += 1; }, "b.json: the response-time histogram holds"},
      {"other name", [](auto& v) { v[1].name = "other"; }, "b.json: not the same test as a.json: name 'other' vs 'checkout'"},
      {"other model", [](auto& v) { v[2].model = "open"; }, "c.json: not the same test as a.json: model"},
      {"other seed", [](auto& v) { v[1].config["seed"] = "8"; }, "b.json: not the same test as a.json: seed '8' vs '7'"},
      {"other pattern", [](auto& v) { v[1].config["pattern"] = "spike"; }, "b.json: not the same test as a.json: pattern"},
      {"other behavior", [](auto& v) { v[1].config["behavior"] = "weighted"; }, "behavior"},
      {"other N", [](auto& v) { v[2].config["segment"] = "2/4"; }, "c.json: not the same test as a.json: segment count '4' vs '3'"},
      {"unsegmented", [](auto& v) { v[2].config.erase("segment"); }, "c.json: not the same test as a.json: segment count"},
      {"overlap", [](auto& v) { v[2].config["segment"] = "0/3"; }, "c.json: segment 0/3 overlaps a.json"},
      {"missing", [](auto& v) { v.pop_back(); }, "merge: segment 2 of 3 is missing (have 0,1"},
      {"bad segment", [](auto& v) { v[1].config["segment"] = "3/2"; }, "b.json: segment '3/2' is not i/N"},
      {"zero segments", [](auto& v) { v[1].config["segment"] = "0/0"; }, "b.json: segment '0/0'"},
      {"letters", [](auto& v) { v[0].config["segment"] = "a/b"; }, "a.json: segment 'a/b'"},
  };
  MergeOptions o;
  o.sources = {"a.json", "b.json", "c.json"};
  for (const Bad& b : bad) {
    BOOST_TEST_CONTEXT(b.name) {
      auto v = parts(all, 3, false);
      b.spoil(v);
      BOOST_CHECK_EXCEPTION(loadtest::merge_results(v, o), std::invalid_argument,
                            [&](const std::invalid_argument& e) { return says(e, b.says); });
    }
  }
  BOOST_CHECK_THROW(loadtest::merge_results({}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(partial_merges_say_so) {
  const auto all = samples(3000, false);
  auto v = parts(all, 3, false);
  v.erase(v.begin() + 1);
  MergeOptions o;
  o.allow_partial = true;
  const LoadTestResult m = loadtest::merge_results(v, o);
  BOOST_TEST(m.config.at("partial") == "segments 0,2 of 3");
  BOOST_TEST(m.total_requests == v[0].total_requests + v[1].total_requests);
}

BOOST_AUTO_TEST_SUITE_END()
