#define BOOST_TEST_MODULE threshold
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loadtest/histogram.hpp"
#include "loadtest/results_io.hpp"
#include "loadtest/threshold.hpp"

using namespace loadtest;

namespace {

constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();

// Predicate for BOOST_CHECK_EXCEPTION: the message contains every part.
auto message_has(std::vector<std::string> parts) {
  return [parts](const std::exception& e) {
    std::string what = e.what();
    bool ok = true;
    for (const auto& p : parts) ok = ok && what.find(p) != std::string::npos;
    if (!ok) BOOST_TEST_MESSAGE("message was: " << what);
    return ok;
  };
}

LatencySummary latency(double avg, double min, double p50, double p90, double p95, double p99, double p999,
                       double max) {
  LatencySummary l;
  l.count = 1;
  l.avg = avg;
  l.min = min;
  l.p50 = p50;
  l.p90 = p90;
  l.p95 = p95;
  l.p99 = p99;
  l.p999 = p999;
  l.max = max;
  return l;
}

LoadTestResult closed_result() {
  LoadTestResult r;
  r.name = "checkout";
  r.total_requests = 1000;
  r.successful_requests = 980;
  r.failed_requests = 20;
  r.duration = 10;
  r.requests_per_second = 100;
  r.error_rate = 0.02;
  r.success_rate = 0.98;
  r.avg_response_time = 0.012;
  r.min_response_time = 0.001;
  r.max_response_time = 0.5;
  r.p50_response_time = 0.010;
  r.p90_response_time = 0.020;
  r.p95_response_time = 0.030;
  r.p99_response_time = 0.100;
  r.p999_response_time = 0.400;
  EndpointResult a;
  a.name = "GET /items";
  a.total_requests = 600;
  a.successful_requests = 594;
  a.failed_requests = 6;
  a.requests_per_second = 60;
  a.response_time = latency(0.011, 0.002, 0.009, 0.018, 0.020, 0.040, 0.200, 0.300);
  EndpointResult b;
  b.name = "POST /cart: v2";  // a name with ": " in it
  b.total_requests = 400;
  b.successful_requests = 386;
  b.failed_requests = 14;
  b.requests_per_second = 40;
  b.response_time = latency(0.015, 0.003, 0.013, 0.022, 0.030, 0.060, 0.300, 0.500);
  r.endpoints = {a, b};
  return r;
}

LoadTestResult open_result() {
  LoadTestResult r = closed_result();
  r.model = "open";
  r.service_time = latency(0.008, 0.001, 0.007, 0.015, 0.018, 0.030, 0.100, 0.400);
  r.schedule = ScheduleStats{1010, 1000, 12, 10, 0.00002, 0.0012, 0.005};
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(threshold)

BOOST_AUTO_TEST_CASE(parses_valid_expressions) {
  struct Case {
    std::string text;
    std::string endpoint;
    std::string metric;
    ThresholdOp op;
    double value;
    std::string described;
  };
  const std::vector<Case> cases{
      {"p(99)<200ms", "", "p(99)", ThresholdOp::lt, 0.2, "p(99)<200ms"},
      {"p(95)<=0.3s", "", "p(95)", ThresholdOp::le, 0.3, "p(95)<=300ms"},
      {"p(99.9)<1s", "", "p(99.9)", ThresholdOp::lt, 1.0, "p(99.9)<1s"},
      {"p( 90 ) < 2", "", "p(90)", ThresholdOp::lt, 2.0, "p(90)<2s"},
      {"p95<250us", "", "p(95)", ThresholdOp::lt, 0.00025, "p(95)<250us"},
      {"p(100)<1m", "", "p(100)", ThresholdOp::lt, 60.0, "p(100)<60s"},
      {"  avg < 50ms  ", "", "avg", ThresholdOp::lt, 0.05, "avg<50ms"},
      {"med<20ms", "", "p(50)", ThresholdOp::lt, 0.02, "p(50)<20ms"},
      {"min>=1ms", "", "min", ThresholdOp::ge, 0.001, "min>=1ms"},
      {"max<1.5s", "", "max", ThresholdOp::lt, 1.5, "max<1.5s"},
      {"error_rate<0.01", "", "error_rate", ThresholdOp::lt, 0.01, "error_rate<0.01"},
      {"error_rate<1%", "", "error_rate", ThresholdOp::lt, 0.01, "error_rate<0.01"},
      {"error_rate <= 2.5 %", "", "error_rate", ThresholdOp::le, 0.025, "error_rate<=0.025"},
      {"success_rate>0.99", "", "success_rate", ThresholdOp::gt, 0.99, "success_rate>0.99"},
      {"rps>1000", "", "rps", ThresholdOp::gt, 1000, "rps>1000"},
      {"requests>=100", "", "requests", ThresholdOp::ge, 100, "requests>=100"},
      {"failed==0", "", "failed", ThresholdOp::eq, 0, "failed==0"},
      {"requests!=0", "", "requests", ThresholdOp::ne, 0, "requests!=0"},
      {"dropped==0", "", "dropped", ThresholdOp::eq, 0, "dropped==0"},
      {"late<10", "", "late", ThresholdOp::lt, 10, "late<10"},
      {"lag_p99<1ms", "", "lag_p99", ThresholdOp::lt, 0.001, "lag_p99<1ms"},
      {"lag_p50<100us", "", "lag_p50", ThresholdOp::lt, 0.0001, "lag_p50<100us"},
      {"lag_max<5ms", "", "lag_max", ThresholdOp::lt, 0.005, "lag_max<5ms"},
      {"service_p(99)<100ms", "", "service_p(99)", ThresholdOp::lt, 0.1, "service_p(99)<100ms"},
      {"service_p99.9<1s", "", "service_p(99.9)", ThresholdOp::lt, 1.0, "service_p(99.9)<1s"},
      {"service_avg<5ms", "", "service_avg", ThresholdOp::lt, 0.005, "service_avg<5ms"},
      {"service_med<5ms", "", "service_p(50)", ThresholdOp::lt, 0.005, "service_p(50)<5ms"},
      {"GET /items: p(95)<300ms", "GET /items", "p(95)", ThresholdOp::lt, 0.3, "GET /items: p(95)<300ms"},
      {"GET /items:  error_rate < 1%", "GET /items", "error_rate", ThresholdOp::lt, 0.01,
       "GET /items: error_rate<0.01"},
      // the endpoint is everything before the LAST ": " followed by a metric
      {"POST /cart: v2: p(99)<1s", "POST /cart: v2", "p(99)", ThresholdOp::lt, 1.0, "POST /cart: v2: p(99)<1s"},
      {"GET http://127.0.0.1:8080/x: rps>5", "GET http://127.0.0.1:8080/x", "rps", ThresholdOp::gt, 5,
       "GET http://127.0.0.1:8080/x: rps>5"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.text) {
      Threshold t = parse_threshold(c.text);
      BOOST_TEST(t.endpoint == c.endpoint);
      BOOST_TEST(metric_name(t) == c.metric);
      BOOST_TEST((t.op == c.op));
      BOOST_TEST(t.value == c.value, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(describe(t) == c.described);
      // the normalised text parses back to the same threshold
      Threshold again = parse_threshold(describe(t));
      BOOST_TEST(again.endpoint == t.endpoint);
      BOOST_TEST(metric_name(again) == metric_name(t));
      BOOST_TEST((again.op == t.op));
      BOOST_TEST(again.value == t.value, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(t.expression == std::string(detail::trim(c.text)));
    }
  }
}

BOOST_AUTO_TEST_CASE(rejects_invalid_expressions_naming_the_bad_part) {
  struct Case {
    std::string text;
    std::vector<std::string> parts;  // each must be in the message
  };
  const std::vector<Case> cases{
      {"", {"empty expression"}},
      {"   ", {"empty expression"}},
      {"latency<1s", {"unknown metric 'latency'"}},
      {"GET /items: latency<1s", {"unknown metric 'latency'"}},
      {"P(95)<1s", {"unknown metric 'P'"}},
      {"<1s", {"missing metric"}},
      {"p(95)", {"missing operator after 'p(95)'"}},
      {"p(95)=1s", {"unknown operator '='", "=="}},
      {"p(95)=>1s", {"unknown operator '='"}},
      {"p(95)<<1s", {"unknown operator '<<'"}},
      {"p(95)~1s", {"expected an operator", "'~1s'"}},
      {"p(95)<", {"missing value after '<'"}},
      {"p(95)<=  ", {"missing value after '<='"}},
      {"p(101)<1s", {"percentile 'p(101)'", "(0, 100]"}},
      {"p(0)<1s", {"percentile 'p(0)'"}},
      {"p(abc)<1s", {"bad percentile 'p(abc)'"}},
      {"p()<1s", {"bad percentile 'p()'"}},
      {"p(95<1s", {"missing ')'"}},
      {"p(95)<3 parsecs", {"bad duration '3 parsecs'", "'p(95)'"}},
      {"p(95)<10xs", {"bad duration '10xs'"}},
      {"avg<-1ms", {"negative duration '-1ms'"}},
      {"error_rate<5", {"bad value '5'", "between 0 and 1"}},
      {"error_rate<150%", {"bad value '150%'"}},
      {"error_rate<abc", {"bad value 'abc'", "not a number"}},
      {"error_rate<0.01x", {"bad value '0.01x'", "unexpected 'x'"}},
      {"rps>1000/s", {"bad value '1000/s'", "unexpected '/s'"}},
      {"rps>1ms", {"unexpected 'ms'", "'rps' takes a plain number"}},
      {"requests>=1%", {"'%' is only for error_rate and success_rate", "'requests'"}},
      {"requests>=-5", {"bad value '-5'", "non-negative"}},
      {"late<inf", {"bad value 'inf'"}},
      {": p(95)<1s", {"empty endpoint name"}},
      {"GET /x: dropped==0", {"'dropped' exists for the whole test only", "'GET /x'"}},
      {"GET /x: lag_p99<1ms", {"'lag_p99' exists for the whole test only"}},
      {"GET /x: service_p(99)<1s", {"'service_p(99)' exists for the whole test only"}},
      {"GET /x: p(97)<1s", {"per endpoint only p(50), p(90), p(95), p(99), p(99.9) and p(100)", "'p(97)'"}},
      {"service_p(97)<1s", {"the service time keeps", "'service_p(97)'"}},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("'" << c.text << "'") {
      std::vector<std::string> parts = c.parts;
      parts.push_back("invalid threshold '");
      BOOST_CHECK_EXCEPTION(parse_threshold(c.text), std::invalid_argument, message_has(parts));
    }
  }
  // parse_thresholds stops at the first bad one and names it
  BOOST_CHECK_EXCEPTION(parse_thresholds({"p(95)<1s", "nope<1", "avg<1"}), std::invalid_argument,
                        message_has({"'nope<1'"}));
  BOOST_TEST(parse_thresholds({"p(95)<1s", "avg<1"}).size() == 2u);
}

BOOST_AUTO_TEST_CASE(holds_for_every_operator) {
  struct Case {
    std::string text;
    double observed;
    bool expected;
  };
  const std::vector<Case> cases{
      {"rps<10", 9.99, true},   {"rps<10", 10, false},   {"rps<=10", 10, true},  {"rps<=10", 10.01, false},
      {"rps>10", 10.01, true},  {"rps>10", 10, false},   {"rps>=10", 10, true},  {"rps>=10", 9.99, false},
      {"rps==10", 10, true},    {"rps==10", 10.5, false}, {"rps!=10", 10.5, true}, {"rps!=10", 10, false},
      {"rps<10", nan_value, false}, {"rps!=10", nan_value, false}, {"rps>10", nan_value, false},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.text << " with " << c.observed) {
      BOOST_TEST(holds(parse_threshold(c.text), c.observed) == c.expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(evaluates_every_metric_on_a_closed_result) {
  const LoadTestResult r = closed_result();
  struct Case {
    std::string text;
    double observed;  // NaN: the result has no such figure
    bool passed;
  };
  const std::vector<Case> cases{
      {"p(50)<11ms", 0.010, true},
      {"med<10ms", 0.010, false},
      {"p(90)<=20ms", 0.020, true},
      {"p(95)<25ms", 0.030, false},
      {"p(99)<200ms", 0.100, true},
      {"p(99.9)<0.5s", 0.400, true},
      {"p(100)<1s", 0.500, true},
      {"p(97)<1s", nan_value, false},  // not kept, and no histogram: fails, never passes silently
      {"avg<50ms", 0.012, true},
      {"min>=1ms", 0.001, true},
      {"max<400ms", 0.500, false},
      {"error_rate<0.01", 0.02, false},
      {"error_rate<5%", 0.02, true},
      {"success_rate>0.99", 0.98, false},
      {"success_rate>=98%", 0.98, true},
      {"rps>50", 100, true},
      {"requests>=1000", 1000, true},
      {"requests>1000", 1000, false},
      {"failed<=20", 20, true},
      {"failed==0", 20, false},
      // open-model metrics on a closed-model result: no figure, failed
      {"dropped==0", nan_value, false},
      {"late<10", nan_value, false},
      {"lag_p99<1s", nan_value, false},
      {"service_p(99)<1s", nan_value, false},
      // per endpoint
      {"GET /items: p(95)<30ms", 0.020, true},
      {"GET /items: p(99)<30ms", 0.040, false},
      {"GET /items: avg<20ms", 0.011, true},
      {"GET /items: min<1ms", 0.002, false},
      {"GET /items: max<1s", 0.300, true},
      {"GET /items: med<10ms", 0.009, true},
      {"GET /items: p(100)<1s", 0.300, true},
      {"GET /items: error_rate<=1%", 0.01, true},
      {"GET /items: success_rate>=0.99", 0.99, true},
      {"GET /items: rps>=60", 60, true},
      {"GET /items: requests==600", 600, true},
      {"GET /items: failed<5", 6, false},
      {"POST /cart: v2: error_rate<0.05", 0.035, true},
      {"POST /cart: v2: p(99.9)<=300ms", 0.300, true},
      {"GET /nothing: p(95)<1s", nan_value, false},  // unknown endpoint: failed, observed NaN
      {"get /items: p(95)<1s", nan_value, false},    // names are compared exactly
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.text) {
      const Threshold t = parse_threshold(c.text);
      const ThresholdResult v = evaluate(t, r);
      BOOST_TEST(v.expression == c.text);
      BOOST_TEST(v.metric == metric_name(t));
      BOOST_TEST(v.endpoint == t.endpoint);
      BOOST_TEST(v.passed == c.passed);
      if (std::isnan(c.observed)) BOOST_TEST(std::isnan(v.observed));
      else BOOST_TEST(v.observed == c.observed, boost::test_tools::tolerance(1e-9));
    }
  }
}

BOOST_AUTO_TEST_CASE(any_percentile_comes_from_the_histogram_while_the_result_has_it) {
  LoadTestResult r = closed_result();
  auto h = std::make_shared<Histogram>();
  for (int ms = 1; ms <= 1000; ++ms) h->record(std::chrono::milliseconds(ms));
  r.response_histogram = h;
  ThresholdResult v = evaluate(parse_threshold("p(97)<1s"), r);
  BOOST_TEST(v.observed == to_seconds(h->value_at_percentile(97)));
  BOOST_TEST(v.observed == 0.970, boost::test_tools::tolerance(0.002));
  BOOST_TEST(v.passed);
  // the kept percentiles still come from the result's fields (the figures the reports show)
  BOOST_TEST(evaluate(parse_threshold("p(95)<1s"), r).observed == 0.030);
}

BOOST_AUTO_TEST_CASE(evaluates_open_model_metrics) {
  const LoadTestResult r = open_result();
  struct Case {
    std::string text;
    double observed;
    bool passed;
  };
  const std::vector<Case> cases{
      {"dropped==0", 10, false},
      {"dropped<=10", 10, true},
      {"late<10", 12, false},
      {"lag_p50<1ms", 0.00002, true},
      {"lag_p99<1ms", 0.0012, false},
      {"lag_max<=5ms", 0.005, true},
      {"service_p(99)<50ms", 0.030, true},
      {"service_p99.9<50ms", 0.100, false},
      {"service_med<10ms", 0.007, true},
      {"service_avg<10ms", 0.008, true},
      {"service_min>0", 0.001, true},
      {"service_max<300ms", 0.400, false},
      {"p(99)<200ms", 0.100, true},  // response time from the intended start
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.text) {
      const ThresholdResult v = evaluate(parse_threshold(c.text), r);
      BOOST_TEST(v.observed == c.observed, boost::test_tools::tolerance(1e-9));
      BOOST_TEST(v.passed == c.passed);
    }
  }
  auto all = evaluate(parse_thresholds({"dropped<=10", "lag_max<=5ms"}), r);
  BOOST_TEST(all.size() == 2u);
  BOOST_TEST(all_passed(all));
  all = evaluate(parse_thresholds({"dropped<=10", "late<10"}), r);
  BOOST_TEST(!all_passed(all));
  BOOST_TEST(all_passed({}));
}

BOOST_AUTO_TEST_CASE(observes_what_a_live_snapshot_can_tell) {
  RealTimeMetrics m;
  m.elapsed = 10;
  m.total_requests = 2000;
  m.total_errors = 50;
  m.interval_requests = 200;
  m.avg_response_time = 0.015;
  m.p50_response_time = 0.010;
  m.p95_response_time = 0.030;
  m.p99_response_time = 0.090;
  RealTimeMetrics open = m;
  open.schedule = ScheduleStats{1010, 1000, 12, 3, 0.00002, 0.0012, 0.005};
  RealTimeMetrics idle = m;  // nothing completed in the last interval, nothing yet at all
  idle.interval_requests = 0;
  idle.total_requests = 0;
  idle.total_errors = 0;
  idle.elapsed = 0;

  struct Case {
    std::string text;
    const RealTimeMetrics* snapshot;
    std::optional<double> expected;
  };
  const std::vector<Case> cases{
      {"error_rate<1%", &m, 0.025},          // totals since the start
      {"success_rate>0.9", &m, 0.975},
      {"rps>100", &m, 200.0},                // total requests / elapsed
      {"p(50)<1s", &m, 0.010},               // the last interval
      {"med<1s", &m, 0.010},
      {"p(95)<1s", &m, 0.030},
      {"p(99)<1s", &m, 0.090},
      {"avg<1s", &m, 0.015},
      {"p(90)<1s", &m, std::nullopt},        // not in a snapshot
      {"p(99.9)<1s", &m, std::nullopt},
      {"max<1s", &m, std::nullopt},
      {"min<1s", &m, std::nullopt},
      {"service_p(99)<1s", &open, std::nullopt},
      {"failed<100", &m, 50.0},              // counts so far: an upper bound can break early
      {"requests<=5000", &m, 2000.0},
      {"requests>=100", &m, std::nullopt},   // a lower bound on a growing count cannot fail early
      {"failed>0", &m, std::nullopt},
      {"dropped==0", &open, 3.0},
      {"late<10", &open, 12.0},
      {"dropped==0", &m, std::nullopt},      // closed model: no schedule
      {"lag_p99<1ms", &open, 0.0012},
      {"lag_p50<1ms", &open, 0.00002},
      {"lag_max<1ms", &open, 0.005},
      {"lag_p99<1ms", &m, std::nullopt},
      {"GET /items: error_rate<1%", &m, std::nullopt},  // per endpoint: not during the run
      {"error_rate<1%", &idle, std::nullopt},  // no requests yet
      {"rps>1", &idle, std::nullopt},
      {"p(95)<1s", &idle, std::nullopt},       // an empty interval has no latency
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.text) {
      auto v = observe_live(parse_threshold(c.text), *c.snapshot);
      BOOST_TEST(v.has_value() == c.expected.has_value());
      if (v && c.expected) BOOST_TEST(*v == *c.expected, boost::test_tools::tolerance(1e-9));
    }
  }
  // with holds(): the engine's abort check
  const Threshold t = parse_threshold("error_rate<1%");
  BOOST_TEST(!holds(t, *observe_live(t, m)));
}

BOOST_AUTO_TEST_CASE(formats_observed_values_for_people) {
  struct Case {
    std::string metric;
    double observed;
    std::string text;
  };
  const std::vector<Case> cases{
      {"p(95)", 0.0123, "12.3ms"},   {"avg", 2.5, "2.50s"},          {"service_p(99)", 0.00085, "850us"},
      {"lag_p99", 0.0012, "1.2ms"},  {"error_rate", 0.0125, "1.25%"}, {"success_rate", 0.98, "98.00%"},
      {"rps", 1523.44, "1523.4/s"},  {"requests", 1000, "1000"},      {"dropped", 0, "0"},
      {"p(95)", nan_value, "n/a"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.metric << " " << c.observed) { BOOST_TEST(format_observed(c.metric, c.observed) == c.text); }
  }
}

BOOST_AUTO_TEST_CASE(result_json_lists_thresholds_and_reads_them_back) {
  LoadTestResult r = closed_result();
  r.thresholds = evaluate(parse_thresholds({"p(95)<25ms", "GET /items: error_rate<=1%", "GET /gone: p(99)<1s"}), r);
  const std::string text = to_json(r);
  BOOST_TEST(text.find("\"thresholds\": [") != std::string::npos);
  BOOST_TEST(text.find("\"observed\": null") != std::string::npos);  // NaN is written as null
  LoadTestResult back = result_from_json(text);
  BOOST_TEST_REQUIRE(back.thresholds.size() == 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    BOOST_TEST_CONTEXT(r.thresholds[i].expression) {
      BOOST_TEST(back.thresholds[i].expression == r.thresholds[i].expression);
      BOOST_TEST(back.thresholds[i].metric == r.thresholds[i].metric);
      BOOST_TEST(back.thresholds[i].endpoint == r.thresholds[i].endpoint);
      BOOST_TEST(back.thresholds[i].passed == r.thresholds[i].passed);
    }
  }
  BOOST_TEST(back.thresholds[0].observed == 0.030);
  BOOST_TEST(!back.thresholds[0].passed);
  BOOST_TEST(back.thresholds[1].passed);
  BOOST_TEST(std::isnan(back.thresholds[2].observed));

  // no thresholds: no key at all (files of results without thresholds stay as they were)
  BOOST_TEST(to_json(closed_result()).find("thresholds") == std::string::npos);
  BOOST_TEST(result_from_json(to_json(closed_result())).thresholds.empty());

  // malformed entries are named
  std::string bad = text;
  bad.replace(bad.find("\"passed\": false"), 15, "\"passed\": 3");
  BOOST_CHECK_EXCEPTION(result_from_json(bad), std::invalid_argument, message_has({"thresholds[0].passed"}));
  std::string missing = text;
  missing.replace(missing.find("\"expression\""), 12, "\"expr\"");
  BOOST_CHECK_EXCEPTION(result_from_json(missing), std::invalid_argument,
                        message_has({"thresholds[0].expression", "missing"}));
}

BOOST_AUTO_TEST_SUITE_END()
