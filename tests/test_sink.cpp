#define BOOST_TEST_MODULE sink
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "loadtest/results_io.hpp"
#include "loadtest/sink.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace loadtest;

namespace {

using test_support::listing;
using test_support::slurp;
using test_support::TempDir;

void touch(const fs::path& p, std::string_view content = "x") {
  std::ofstream(p, std::ios::binary) << content;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

std::vector<std::string> keys_of(const json::object& o) {
  std::vector<std::string> keys;
  for (const auto& kv : o) keys.emplace_back(kv.key());
  return keys;
}

// Predicate for BOOST_CHECK_EXCEPTION: the message contains `part`.
auto message_has(std::string part) {
  return [part](const std::exception& e) {
    bool ok = std::string(e.what()).find(part) != std::string::npos;
    if (!ok) BOOST_TEST_MESSAGE("message was: " << e.what());
    return ok;
  };
}

LoadTestResult closed_result() {
  LoadTestResult r;
  r.name = "checkout";
  r.timestamp = "2024-01-02T03:04:05.123456Z";
  r.model = "closed";
  r.total_requests = 1000;
  r.successful_requests = 990;
  r.failed_requests = 10;
  r.failures = 6;
  r.errors_total = 4;
  r.cancelled_requests = 1;
  r.duration = 10.5;
  r.avg_response_time = 0.0123;
  r.min_response_time = 0.001;
  r.max_response_time = 0.9;
  r.stddev_response_time = 0.004;
  r.p50_response_time = 0.011;
  r.p90_response_time = 0.02;
  r.p95_response_time = 0.025;
  r.p99_response_time = 0.05;
  r.p999_response_time = 0.3;
  r.requests_per_second = 95.238;
  r.error_rate = 0.01;
  r.success_rate = 0.99;
  r.max_active_users = 10;
  r.errors = {"http_5xx: status 503 (x6)", "timeout: read timed out (x4)"};
  r.error_table = {{ErrorCategory::http_5xx, "status 503", 6}, {ErrorCategory::timeout, "read timed out", 4}};
  r.error_overflow = 2;
  r.errors_by_category = {{"http_5xx", 6}, {"timeout", 4}};
  EndpointResult a;
  a.name = "GET /items";
  a.total_requests = 600;
  a.successful_requests = 594;
  a.failed_requests = 6;
  a.failures = 6;
  a.requests_per_second = 57.1;
  a.response_time = {600, 0.01, 0, 0.002, 0.5, 0.009, 0.018, 0.02, 0.04, 0.2};
  a.status_classes = {0, 0, 594, 0, 0, 6};
  EndpointResult b;
  b.name = "POST /cart";
  b.total_requests = 400;
  b.successful_requests = 396;
  b.failed_requests = 4;
  b.errors = 4;
  b.requests_per_second = 38.1;
  b.response_time = {396, 0.015, 0, 0.003, 0.9, 0.013, 0.022, 0.03, 0.06, 0.3};
  b.status_classes = {4, 0, 396, 0, 0, 0};
  r.endpoints = {a, b};
  r.config = {{"users", "10"}, {"url", "http://127.0.0.1:8080/"}};
  return r;
}

LoadTestResult open_result() {
  LoadTestResult r = closed_result();
  r.model = "open";
  r.service_time = LatencySummary{1000, 0.008, 0, 0.001, 0.4, 0.007, 0.015, 0.018, 0.03, 0.1};
  r.schedule = ScheduleStats{1010, 1000, 12, 10, 0.00002, 0.0012, 0.005};
  return r;
}

RealTimeMetrics snapshot(double elapsed, std::uint64_t total) {
  RealTimeMetrics m;
  m.timestamp = "2024-01-02T03:04:0" + std::to_string(static_cast<int>(elapsed) % 10) + ".000000Z";
  m.elapsed = elapsed;
  m.planned_duration = 60;
  m.active_users = 10;
  m.requests_per_second = 1523;
  m.current_error_rate = 0.0;
  m.avg_response_time = 0.0013;
  m.p50_response_time = 0.0012;
  m.p95_response_time = 0.0041;
  m.p99_response_time = 0.008;
  m.memory_usage = 12.2;
  m.cpu_usage = 35;
  m.interval_requests = 1523;
  m.total_requests = total;
  m.top_errors = {{ErrorCategory::timeout, "read timed out", 1}};
  return m;
}

TestInfo info_for(std::string name, const fs::path& dir) {
  TestInfo info;
  info.name = std::move(name);
  info.timestamp = "2024-01-02T03:04:05.123456Z";
  info.file_stamp = "20240102_030405";
  info.planned_duration = 60;
  info.max_users = 10;
  info.results_dir = dir.string();
  return info;
}

// Reads everything written to a tmpfile.
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

std::size_t count_of(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto pos = haystack.find(needle); pos != std::string_view::npos; pos = haystack.find(needle, pos + 1)) ++n;
  return n;
}

// A sink that logs its calls into a shared journal, for the Tee tests.
struct LogSink {
  std::vector<std::string>* log;
  std::string id;
  void on_start(const TestInfo&) { log->push_back("start " + id); }
  void on_interval(const RealTimeMetrics&) { log->push_back("interval " + id); }
  void on_finish(const LoadTestResult&) { log->push_back("finish " + id); }
};
struct LogSampleSink : LogSink {
  void on_sample(const Sample& s) { log->push_back("sample " + id + " " + std::string(s.name)); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(sink)

// ---------------------------------------------------------------------------------------- JSON

BOOST_AUTO_TEST_CASE(result_json_layout) {
  for (bool open : {false, true}) {
    BOOST_TEST_CONTEXT("open model: " << open) {
      std::string text = to_json(open ? open_result() : closed_result());
      BOOST_TEST(text.rfind("{\n  \"name\": \"checkout\",\n", 0) == 0u);  // 2-space pretty print
      json::value doc = json::parse(text);
      const auto& root = doc.as_object();

      std::vector<std::string> top{"name",        "timestamp",          "model",       "metrics",
                                   "errors",      "errors_by_category", "error_table", "error_overflow",
                                   "endpoints",   "config"};
      if (open) top.insert(top.end(), {"service_time", "schedule"});
      BOOST_TEST(keys_of(root) == top, boost::test_tools::per_element());

      const auto& m = root.at("metrics").as_object();
      std::vector<std::string> metric_keys{"total_requests",
                                           "successful_requests",
                                           "failed_requests",
                                           "duration",
                                           "avg_response_time",
                                           "p95_response_time",
                                           "p99_response_time",
                                           "requests_per_second",
                                           "p50_response_time",
                                           "p90_response_time",
                                           "p999_response_time",
                                           "min_response_time",
                                           "max_response_time",
                                           "stddev_response_time",
                                           "error_rate",
                                           "success_rate",
                                           "failures",
                                           "errors",
                                           "cancelled_requests",
                                           "max_active_users",
                                           "retries"};
      BOOST_TEST(keys_of(m) == metric_keys, boost::test_tools::per_element());
      BOOST_TEST(m.at("total_requests").to_number<std::uint64_t>() == 1000u);
      BOOST_TEST(m.at("duration").as_double() == 10.5);
      BOOST_TEST(m.at("p95_response_time").as_double() == 0.025);

      BOOST_TEST(root.at("errors").as_array().size() == 2u);
      BOOST_TEST(root.at("errors").as_array()[0].as_string() == "http_5xx: status 503 (x6)");
      BOOST_TEST(root.at("errors_by_category").at("timeout").to_number<int>() == 4);
      const auto& row = root.at("error_table").as_array()[1].as_object();
      BOOST_TEST(keys_of(row) == (std::vector<std::string>{"category", "message", "count"}),
                 boost::test_tools::per_element());
      BOOST_TEST(row.at("category").as_string() == "timeout");
      BOOST_TEST(root.at("error_overflow").to_number<int>() == 2);

      const auto& ep = root.at("endpoints").as_object();
      BOOST_TEST(keys_of(ep) == (std::vector<std::string>{"GET /items", "POST /cart"}),
                 boost::test_tools::per_element());
      const auto& items = ep.at("GET /items").as_object();
      BOOST_TEST(keys_of(items) ==
                     (std::vector<std::string>{"total_requests", "successful_requests", "failed_requests", "failures",
                                               "errors", "requests_per_second", "avg_response_time",
                                               "min_response_time", "p50_response_time", "p90_response_time",
                                               "p95_response_time", "p99_response_time", "p999_response_time",
                                               "max_response_time", "status_classes", "stddev_response_time"}),
                 boost::test_tools::per_element());
      BOOST_TEST(keys_of(items.at("status_classes").as_object()) ==
                     (std::vector<std::string>{"1xx", "2xx", "3xx", "4xx", "5xx", "none"}),
                 boost::test_tools::per_element());
      BOOST_TEST(items.at("status_classes").at("5xx").to_number<int>() == 6);
      BOOST_TEST(root.at("config").at("users").as_string() == "10");
      if (open) {
        BOOST_TEST(keys_of(root.at("service_time").as_object()) ==
                       (std::vector<std::string>{"avg", "p50", "p90", "p95", "p99", "p999", "max", "min", "stddev",
                                                 "count"}),
                   boost::test_tools::per_element());
        BOOST_TEST(keys_of(root.at("schedule").as_object()) ==
                       (std::vector<std::string>{"intended", "started", "late", "dropped", "lag_p50", "lag_p99",
                                                 "lag_max"}),
                   boost::test_tools::per_element());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(result_json_round_trip) {
  for (bool open : {false, true}) {
    BOOST_TEST_CONTEXT("open model: " << open) {
      const LoadTestResult in = open ? open_result() : closed_result();
      const LoadTestResult out = result_from_json(to_json(in));
      BOOST_TEST(out.name == in.name);
      BOOST_TEST(out.timestamp == in.timestamp);
      BOOST_TEST(out.model == in.model);
      BOOST_TEST(out.total_requests == in.total_requests);
      BOOST_TEST(out.successful_requests == in.successful_requests);
      BOOST_TEST(out.failed_requests == in.failed_requests);
      BOOST_TEST(out.failures == in.failures);
      BOOST_TEST(out.errors_total == in.errors_total);
      BOOST_TEST(out.cancelled_requests == in.cancelled_requests);
      BOOST_TEST(out.duration == in.duration);
      BOOST_TEST(out.avg_response_time == in.avg_response_time);
      BOOST_TEST(out.min_response_time == in.min_response_time);
      BOOST_TEST(out.max_response_time == in.max_response_time);
      BOOST_TEST(out.stddev_response_time == in.stddev_response_time);
      BOOST_TEST(out.p50_response_time == in.p50_response_time);
      BOOST_TEST(out.p90_response_time == in.p90_response_time);
      BOOST_TEST(out.p95_response_time == in.p95_response_time);
      BOOST_TEST(out.p99_response_time == in.p99_response_time);
      BOOST_TEST(out.p999_response_time == in.p999_response_time);
      BOOST_TEST(out.requests_per_second == in.requests_per_second);
      BOOST_TEST(out.error_rate == in.error_rate);
      BOOST_TEST(out.success_rate == in.success_rate);
      BOOST_TEST(out.max_active_users == in.max_active_users);
      BOOST_TEST(out.errors == in.errors, boost::test_tools::per_element());
      BOOST_TEST(out.error_overflow == in.error_overflow);
      BOOST_TEST((out.errors_by_category == in.errors_by_category));
      BOOST_TEST_REQUIRE(out.error_table.size() == in.error_table.size());
      for (std::size_t i = 0; i < in.error_table.size(); ++i) {
        BOOST_TEST((out.error_table[i].category == in.error_table[i].category));
        BOOST_TEST(out.error_table[i].message == in.error_table[i].message);
        BOOST_TEST(out.error_table[i].count == in.error_table[i].count);
      }
      BOOST_TEST_REQUIRE(out.endpoints.size() == in.endpoints.size());
      for (std::size_t i = 0; i < in.endpoints.size(); ++i) {
        const auto &a = in.endpoints[i], &b = out.endpoints[i];
        BOOST_TEST_CONTEXT("endpoint " << a.name) {
          BOOST_TEST(b.name == a.name);
          BOOST_TEST(b.total_requests == a.total_requests);
          BOOST_TEST(b.successful_requests == a.successful_requests);
          BOOST_TEST(b.failed_requests == a.failed_requests);
          BOOST_TEST(b.failures == a.failures);
          BOOST_TEST(b.errors == a.errors);
          BOOST_TEST(b.requests_per_second == a.requests_per_second);
          BOOST_TEST(b.response_time.avg == a.response_time.avg);
          BOOST_TEST(b.response_time.min == a.response_time.min);
          BOOST_TEST(b.response_time.p50 == a.response_time.p50);
          BOOST_TEST(b.response_time.p95 == a.response_time.p95);
          BOOST_TEST(b.response_time.p999 == a.response_time.p999);
          BOOST_TEST(b.response_time.max == a.response_time.max);
          BOOST_TEST(b.status_classes == a.status_classes, boost::test_tools::per_element());
        }
      }
      BOOST_TEST((out.config == in.config));
      BOOST_TEST(out.service_time.has_value() == in.service_time.has_value());
      BOOST_TEST(out.schedule.has_value() == in.schedule.has_value());
      if (in.service_time && out.service_time) {
        BOOST_TEST(out.service_time->p99 == in.service_time->p99);
        BOOST_TEST(out.service_time->max == in.service_time->max);
      }
      if (in.schedule && out.schedule) {
        BOOST_TEST(out.schedule->dropped == in.schedule->dropped);
        BOOST_TEST(out.schedule->lag_p99 == in.schedule->lag_p99);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(json_strings_and_numbers) {
  LoadTestResult r;
  r.name = "quote\" back\\ nl\n tab\t ctl\x01 caf\xc3\xa9";
  r.errors = {std::string("bad utf8 \xff\xfe end"), std::string("truncated \xe2\x82")};
  r.duration = 2;  // a whole number is still written as a double
  r.requests_per_second = std::numeric_limits<double>::infinity();
  std::string text = to_json(r);
  BOOST_TEST(text.find("\"duration\": 2.0,") != std::string::npos);
  BOOST_TEST(text.find("\"requests_per_second\": null") != std::string::npos);
  json::value doc = json::parse(text);  // valid JSON, valid UTF-8
  BOOST_TEST(doc.at("name").as_string() == r.name);
  BOOST_TEST(doc.at("errors").as_array()[0].as_string() == "bad utf8 \xef\xbf\xbd\xef\xbf\xbd end");
  BOOST_TEST(doc.at("errors").as_array()[1].as_string() == "truncated \xef\xbf\xbd\xef\xbf\xbd");
  auto back = result_from_json(text);
  BOOST_TEST(back.name == r.name);
  BOOST_TEST(back.requests_per_second == 0.0);  // null reads as 0
}

BOOST_AUTO_TEST_CASE(result_from_original_framework_file) {
  // What the Python framework wrote: the eight metrics and a list of error strings.
  const char* text = R"({
    "name": "legacy", "timestamp": "2023-05-01T10:00:00",
    "metrics": {"total_requests": 200, "successful_requests": 150, "failed_requests": 50, "duration": 30.0,
                "avg_response_time": 0.1, "p95_response_time": 0.3, "p99_response_time": 0.5,
                "requests_per_second": 6.67},
    "errors": ["Connection refused"]
  })";
  LoadTestResult r = result_from_json(text);
  BOOST_TEST(r.name == "legacy");
  BOOST_TEST(r.model == "closed");
  BOOST_TEST(r.total_requests == 200u);
  BOOST_TEST(r.p95_response_time == 0.3);
  BOOST_TEST(r.error_rate == 0.25);
  BOOST_TEST(r.success_rate == 0.75);
  BOOST_TEST(r.errors.size() == 1u);
  BOOST_TEST(r.endpoints.empty());
  BOOST_TEST(!r.service_time.has_value());
}

BOOST_AUTO_TEST_CASE(result_from_json_rejects) {
  const std::string eight =
      R"("total_requests": 1, "successful_requests": 1, "failed_requests": 0, "duration": 1.0,
         "avg_response_time": 0.1, "p95_response_time": 0.1, "p99_response_time": 0.1)";
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::vector<Case> cases{
      {"not json", "not JSON"},
      {"", "not JSON"},
      {"[1, 2]", "top level must be an object"},
      {"{}", "'metrics' is missing"},
      {R"({"metrics": []})", "'metrics' must be an object"},
      {"{\"metrics\": {" + eight + "}}", "'metrics.requests_per_second' is missing"},
      {"{\"metrics\": {" + eight + ", \"requests_per_second\": \"fast\"}}",
       "'metrics.requests_per_second' must be a number"},
      {R"({"metrics": {"total_requests": -1}})", "'metrics.total_requests' must be a non-negative integer"},
      {R"({"metrics": {"total_requests": 1.5}})", "'metrics.total_requests' must be a non-negative integer"},
      {"{\"metrics\": {" + eight + ", \"requests_per_second\": 1}, \"name\": 5}", "'name' must be a string"},
      {"{\"metrics\": {" + eight + ", \"requests_per_second\": 1}, \"errors\": [1]}", "'errors[0]' must be a string"},
      {"{\"metrics\": {" + eight +
           ", \"requests_per_second\": 1}, \"error_table\": [{\"category\": \"gremlins\", \"count\": 1}]}",
       "unknown error category \"gremlins\""},
      {"{\"metrics\": {" + eight + ", \"requests_per_second\": 1}, \"endpoints\": {\"GET /\": {\"p95_response_time\": "
                                   "true}}}",
       "'endpoints.GET /.p95_response_time' must be a number"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("json: " << c.text) {
      BOOST_CHECK_EXCEPTION(result_from_json(c.text), std::invalid_argument, message_has(c.expected));
    }
  }
}

BOOST_AUTO_TEST_CASE(history_json_layout) {
  TestInfo info = info_for("checkout", "/nonexistent");
  std::vector<RealTimeMetrics> history{snapshot(1, 100), snapshot(2, 200), snapshot(3, 300)};
  json::value doc = json::parse(history_to_json(info, history));
  const auto& root = doc.as_object();
  BOOST_TEST(keys_of(root) == (std::vector<std::string>{"name", "timestamp", "interval_seconds", "history"}),
             boost::test_tools::per_element());
  BOOST_TEST(root.at("name").as_string() == "checkout");
  BOOST_TEST(root.at("timestamp").as_string() == info.timestamp);
  BOOST_TEST(root.at("interval_seconds").as_double() == 1.0);
  const auto& entries = root.at("history").as_array();
  BOOST_TEST_REQUIRE(entries.size() == 3u);
  BOOST_TEST(keys_of(entries[0].as_object()) ==
                 (std::vector<std::string>{"active_users", "requests_per_second", "current_error_rate",
                                           "avg_response_time", "p95_response_time", "memory_usage", "cpu_usage",
                                           "timestamp", "elapsed", "p50_response_time", "p99_response_time",
                                           "interval_requests", "interval_errors", "total_requests"}),
             boost::test_tools::per_element());
  BOOST_TEST(entries[2].at("total_requests").to_number<int>() == 300);
  BOOST_TEST(entries[1].at("elapsed").as_double() == 2.0);

  for (std::size_t n : {0u, 1u}) {
    BOOST_TEST_CONTEXT("entries: " << n) {
      std::vector<RealTimeMetrics> few(history.begin(), history.begin() + static_cast<long>(n));
      json::value d = json::parse(history_to_json(info, few));
      BOOST_TEST(!d.as_object().contains("interval_seconds"));
      BOOST_TEST(d.at("history").as_array().size() == n);
    }
  }
}

// ----------------------------------------------------------------------------------- file names

BOOST_AUTO_TEST_CASE(sanitize_name_table) {
  struct Case {
    std::string in, out;
  };
  const std::vector<Case> cases{
      {"checkout", "checkout"},
      {"../etc/passwd", "_etc_passwd"},
      {"a/b", "a_b"},
      {"a\\b", "a_b"},
      {"API_GET_/items", "API_GET__items"},
      {"my test-1.0", "my_test-1.0"},
      {"", "test"},
      {"..", "test"},
      {".", "test"},
      {"...hidden", "hidden"},
      {"a..b...c", "a.b.c"},
      {"caf\xc3\xa9", "caf__"},
      {"\xe6\x97\xa5\xe6\x9c\xac", "______"},
      {std::string("nul\0byte", 8), "nul_byte"},
      {std::string(300, 'x'), std::string(100, 'x')},
      {std::string(300, '/'), std::string(100, '_')},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("name: '" << c.in << "'") {
      std::string s = sanitize_name(c.in);
      BOOST_TEST(s == c.out);
      BOOST_TEST(!s.empty());
      BOOST_TEST(s.size() <= 100u);
      BOOST_TEST(s.front() != '.');
      BOOST_TEST(s.find("..") == std::string::npos);
      BOOST_TEST(s.find('/') == std::string::npos);
    }
  }
}

// ------------------------------------------------------------------------------- atomic writes

BOOST_AUTO_TEST_CASE(write_file_atomic_basics) {
  TempDir tmp;
  const fs::path target = tmp.path / "result.json";
  const std::string big(1 << 20, 'z');  // bigger than one write() may take

  fs::path p0 = write_file_atomic(target, big);
  BOOST_TEST(p0 == target);
  BOOST_TEST(slurp(target) == big);
  BOOST_TEST(mode_of(target) == 0600u);

  // never replaces: _1, _2
  fs::path p1 = write_file_atomic(target, "second");
  fs::path p2 = write_file_atomic(target, "third");
  BOOST_TEST(p1 == tmp.path / "result_1.json");
  BOOST_TEST(p2 == tmp.path / "result_2.json");
  BOOST_TEST(slurp(target) == big);
  BOOST_TEST(slurp(p1) == "second");
  BOOST_TEST(slurp(p2) == "third");

  // overwrite replaces in place
  BOOST_TEST(write_file_atomic(target, "replaced", true) == target);
  BOOST_TEST(slurp(target) == "replaced");
  BOOST_TEST(mode_of(target) == 0600u);

  // no temporary file left behind
  BOOST_TEST(listing(tmp.path) == (std::vector<std::string>{"result.json", "result_1.json", "result_2.json"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(write_file_atomic_failures_leave_nothing) {
  TempDir tmp;
  touch(tmp.path / "plainfile");
  fs::create_directory(tmp.path / "adir");
  touch(tmp.path / "adir" / "keep");
  struct Case {
    std::string what;
    fs::path path;
    bool overwrite;
  };
  const std::vector<Case> cases{
      {"directory under a regular file", tmp.path / "plainfile" / "sub" / "x.json", false},
      {"missing directory", tmp.path / "missing" / "x.json", false},
      {"target is a directory (overwrite)", tmp.path / "adir", true},
      {"no file name", tmp.path / "adir" / "", false},
  };
  const auto before = listing(tmp.path);
  const auto before_adir = listing(tmp.path / "adir");
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      BOOST_CHECK_EXCEPTION(write_file_atomic(c.path, "content", c.overwrite), std::runtime_error,
                            message_has("cannot write '"));
      BOOST_TEST(listing(tmp.path) == before, boost::test_tools::per_element());
      BOOST_TEST(listing(tmp.path / "adir") == before_adir, boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(write_file_atomic_concurrent_no_overwrite) {
  // Writers racing for one name each get their own file, none is lost.
  TempDir tmp;
  constexpr int writers = 4, each = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < writers; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) write_file_atomic(tmp.path / "r.json", std::to_string(t * 100 + i));
    });
  for (auto& t : threads) t.join();
  auto names = listing(tmp.path);
  BOOST_TEST(names.size() == static_cast<std::size_t>(writers * each));
  std::vector<std::string> values;
  for (const auto& n : names) values.push_back(slurp(tmp.path / n));
  std::sort(values.begin(), values.end());
  BOOST_TEST((std::adjacent_find(values.begin(), values.end()) == values.end()));
}

BOOST_AUTO_TEST_CASE(prepare_results_dir_cases) {
  TempDir tmp;
  const fs::path nested = tmp.path / "a" / "b" / "c";
  prepare_results_dir(nested);
  BOOST_TEST(fs::is_directory(nested));
  BOOST_TEST(mode_of(tmp.path / "a") == 0700u);
  BOOST_TEST(mode_of(nested) == 0700u);
  BOOST_TEST(listing(nested).empty());  // the probe file is gone
  prepare_results_dir(nested);          // exists: fine

  fs::create_directory(tmp.path / "shared");
  fs::permissions(tmp.path / "shared", fs::perms(0755));
  prepare_results_dir(tmp.path / "shared");
  BOOST_TEST(mode_of(tmp.path / "shared") == 0755u);  // an existing directory keeps its mode

  touch(tmp.path / "file");
  struct Case {
    fs::path dir;
    std::string expected;
  };
  const std::vector<Case> cases{
      {tmp.path / "file", "is not a directory"},
      {tmp.path / "file" / "sub", "is not a directory"},
      {"", "is not writable"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("dir: " << c.dir) {
      BOOST_CHECK_EXCEPTION(prepare_results_dir(c.dir), std::runtime_error,
                            message_has("results directory '" + c.dir.string() + "'"));
      BOOST_CHECK_EXCEPTION(prepare_results_dir(c.dir), std::runtime_error, message_has(c.expected));
    }
  }
}

// ------------------------------------------------------------------------------- JsonFileSink

BOOST_AUTO_TEST_CASE(json_file_sink_end_to_end) {
  TempDir tmp;
  const fs::path dir = tmp.path / "results";
  JsonFileSink sink(JsonFileSink::Options{dir.string(), (tmp.path / "out" / "result.json").string(), true});
  TestInfo info = info_for("API test/1", "/unused");
  sink.on_start(info);
  BOOST_TEST(fs::is_directory(dir));
  BOOST_TEST(mode_of(dir) == 0700u);
  for (int i = 1; i <= 3; ++i) sink.on_interval(snapshot(i, 100u * static_cast<unsigned>(i)));
  LoadTestResult r = closed_result();
  r.name = info.name;
  sink.on_finish(r);  // r.history is empty: the sink's own is used

  BOOST_TEST(sink.result_path() == dir / "loadtest_API_test_1_20240102_030405.json");
  BOOST_TEST(sink.history_path() == dir / "metrics_API_test_1_20240102_030405.json");
  BOOST_TEST(sink.extra_path() == tmp.path / "out" / "result.json");
  BOOST_TEST(listing(dir) == (std::vector<std::string>{"loadtest_API_test_1_20240102_030405.json",
                                                       "metrics_API_test_1_20240102_030405.json"}),
             boost::test_tools::per_element());

  json::value result = json::parse(slurp(sink.result_path()));
  BOOST_TEST(result.at("name").as_string() == "API test/1");
  BOOST_TEST(result.at("endpoints").as_object().size() == 2u);
  BOOST_TEST(result.at("endpoints").as_object().contains("POST /cart"));
  BOOST_TEST(slurp(sink.extra_path()) == slurp(sink.result_path()));
  json::value history = json::parse(slurp(sink.history_path()));
  BOOST_TEST(history.at("history").as_array().size() == 3u);
  BOOST_TEST(history.at("history").as_array()[2].at("total_requests").to_number<int>() == 300);

  // The same run stamp again: nothing is replaced, except the explicit extra path.
  sink.on_start(info);
  r.history = {snapshot(1, 7)};  // the engine's history wins over the sink's
  sink.on_finish(r);
  BOOST_TEST(sink.result_path() == dir / "loadtest_API_test_1_20240102_030405_1.json");
  BOOST_TEST(sink.history_path() == dir / "metrics_API_test_1_20240102_030405_1.json");
  json::value history2 = json::parse(slurp(sink.history_path()));
  BOOST_TEST(history2.at("history").as_array().size() == 1u);
  BOOST_TEST(listing(dir).size() == 4u);
  BOOST_TEST(listing(tmp.path / "out") == (std::vector<std::string>{"result.json"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(json_file_sink_default_dir_and_naming) {
  TempDir tmp;
  JsonFileSink sink(JsonFileSink::Options{"", "", false});  // no history file
  TestInfo info = info_for("smoke", tmp.path / "from_info");
  info.file_stamp = file_stamp_utc(WallClock::now());
  sink.on_start(info);
  BOOST_TEST(sink.results_dir() == tmp.path / "from_info");
  sink.on_finish(closed_result());
  BOOST_TEST(sink.history_path().empty());
  auto names = listing(tmp.path / "from_info");
  BOOST_TEST_REQUIRE(names.size() == 1u);
  BOOST_TEST(std::regex_match(names[0], std::regex(R"(loadtest_smoke_\d{8}_\d{6}\.json)")), names[0]);
  BOOST_TEST(result_from_json(slurp(sink.result_path())).total_requests == 1000u);
}

BOOST_AUTO_TEST_CASE(json_file_sink_refuses_unusable_dir) {
  TempDir tmp;
  touch(tmp.path / "somefile");
  struct Case {
    std::string what;
    JsonFileSink::Options options;
  };
  const std::vector<Case> cases{
      {"results dir under a file", {(tmp.path / "somefile" / "sub").string(), "", true}},
      {"results dir is a file", {(tmp.path / "somefile").string(), "", true}},
      {"extra path under a file", {(tmp.path / "ok").string(), (tmp.path / "somefile" / "r.json").string(), true}},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      JsonFileSink sink(c.options);
      BOOST_CHECK_EXCEPTION(sink.on_start(info_for("t", tmp.path)), std::runtime_error, message_has("is not writable"));
    }
  }
  BOOST_CHECK_EXCEPTION(JsonFileSink(JsonFileSink::Options{"", "", true, 1}), std::invalid_argument,
                        message_has("max_history"));
}

BOOST_AUTO_TEST_CASE(json_file_sink_history_is_bounded) {
  TempDir tmp;
  for (std::size_t cap : {4u, 5u, 8u}) {
    BOOST_TEST_CONTEXT("max_history " << cap) {
      JsonFileSink sink(JsonFileSink::Options{tmp.path.string(), "", true, cap});
      sink.on_start(info_for("bounded", tmp.path));
      for (int i = 0; i < 100; ++i) {
        sink.on_interval(snapshot(i, static_cast<unsigned>(i)));
        BOOST_TEST_REQUIRE(sink.history().size() < cap);
      }
      const auto& h = sink.history();
      BOOST_TEST_REQUIRE(h.size() >= 2u);
      BOOST_TEST(h.front().elapsed == 0.0);
      const double step = h[1].elapsed - h[0].elapsed;
      for (std::size_t i = 1; i < h.size(); ++i) BOOST_TEST(h[i].elapsed - h[i - 1].elapsed == step);  // even spacing
      BOOST_TEST(h.back().elapsed > 100 - 2 * step);  // still reaches the end
      BOOST_TEST(h.front().top_errors.empty());
    }
  }
}

// -------------------------------------------------------------------------------- ConsoleSink

BOOST_AUTO_TEST_CASE(console_status_line_format) {
  RealTimeMetrics m = snapshot(12, 100);
  BOOST_TEST(ConsoleSink::status_line(m) ==
             "[ 12.0s/60.0s] users 10 | 1523 req/s | p50 1.2ms p95 4.1ms | err 0.00% | rss 12 MB cpu 35%");
  m.planned_duration = 0;
  m.current_error_rate = 0.125;
  BOOST_TEST(ConsoleSink::status_line(m) ==
             "[ 12.0s] users 10 | 1523 req/s | p50 1.2ms p95 4.1ms | err 12.50% | rss 12 MB cpu 35%");
}

BOOST_AUTO_TEST_CASE(console_sink_modes) {
  struct Case {
    std::string what;
    int tty;
    bool quiet;
    std::size_t status_newlines;  // intervals printed as plain lines
    bool carriage_returns;
  };
  const std::vector<Case> cases{
      {"plain", 0, false, 3, false},
      {"auto-detect (a file is no terminal)", -1, false, 3, false},
      {"terminal", 1, false, 0, true},
      {"quiet", 0, true, 0, false},
      {"quiet terminal", 1, true, 0, false},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      std::FILE* f = std::tmpfile();
      BOOST_TEST_REQUIRE(f != nullptr);
      ConsoleSink sink(ConsoleSink::Options{f, c.quiet, c.tty});
      sink.on_start(info_for("checkout", "/unused"));
      for (int i = 1; i <= 3; ++i) sink.on_interval(snapshot(i, 100));
      sink.on_finish(closed_result());
      std::string out = contents(f);
      std::fclose(f);

      BOOST_TEST(out.rfind("loadtest: checkout | closed model | 1m00s | up to 10 users\n", 0) == 0u);
      BOOST_TEST(count_of(out, "req/s |\n") == 0u);
      BOOST_TEST(count_of(out, "cpu 35%\n") == c.status_newlines);
      BOOST_TEST((out.find('\r') != std::string::npos) == c.carriage_returns);
      if (c.carriage_returns) {
        BOOST_TEST(count_of(out, "\r[") == 3u);
        BOOST_TEST(count_of(out, "\x1b[K") == 3u);
        BOOST_TEST(out.find("cpu 35%\x1b[K\n\nResults:") != std::string::npos);  // live line ended first
      }
      if (c.quiet) BOOST_TEST(out.find("req/s |") == std::string::npos);
      // the summary, always
      for (const char* part : {"Results: checkout", "Requests", "1000 total", "Error rate", "1.00%", "p99.9",
                               "Response time", "GET /items", "POST /cart", "Category", "read timed out",
                               "status 503", "By category: http_5xx 6, timeout 4", "2 more errors"}) {
        BOOST_TEST_CONTEXT("summary part: " << part) { BOOST_TEST(out.find(part) != std::string::npos); }
      }
      BOOST_TEST(out.find("Service time") == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(console_summary_open_model_and_errors) {
  LoadTestResult r = open_result();
  for (int i = 0; i < 15; ++i)
    r.error_table.push_back({ErrorCategory::business, "rare\nerror " + std::to_string(i), 1});
  std::string s = ConsoleSink::summary(r);
  BOOST_TEST(s.find("Service time") != std::string::npos);
  BOOST_TEST(s.find("intended 1010, started 1000, late 12, dropped 10") != std::string::npos);
  BOOST_TEST(s.find("Errors (top 10 of 17 distinct)") != std::string::npos);
  BOOST_TEST(s.find("rare error 7") != std::string::npos);   // newlines in messages are flattened
  BOOST_TEST(s.find("rare error 8") == std::string::npos);   // beyond the top 10
  BOOST_TEST(s.find("status 503") < s.find("read timed out"));  // most frequent first

  BOOST_CHECK_EXCEPTION(ConsoleSink(ConsoleSink::Options{nullptr, false, -1}), std::invalid_argument,
                        message_has("null"));
  BOOST_CHECK_EXCEPTION(ConsoleSink(ConsoleSink::Options{stdout, false, 2}), std::invalid_argument,
                        message_has("not 2"));
}

// ------------------------------------------------------------------------- RecordingSink, Tee

BOOST_AUTO_TEST_CASE(recording_sink_basics) {
  static_assert(SampleSink<RecordingSink>);
  static_assert(std::is_empty_v<NullSink>);
  static_assert(MetricsSink<NullSink> && !SampleSink<NullSink>);

  RecordingSink sink(RecordingSink::Options{3});
  sink.on_start(info_for("rec", "/unused"));
  sink.on_interval(snapshot(1, 1));
  sink.on_interval(snapshot(2, 2));
  sink.on_finish(closed_result());
  BOOST_TEST(sink.starts == 1u);
  BOOST_TEST(sink.finishes == 1u);
  BOOST_TEST(sink.info.name == "rec");
  BOOST_TEST(sink.intervals.size() == 2u);
  BOOST_TEST(sink.intervals[1].total_requests == 2u);
  BOOST_TEST(sink.result.total_requests == 1000u);

  const Outcome ok = Outcome::success();
  const Outcome bad = Outcome::error(ErrorCategory::timeout, "slow");
  const std::vector<std::string> names{"a", "b", "c", "d", "e"};
  for (std::size_t i = 0; i < names.size(); ++i)
    sink.on_sample(Sample{names[i], i % 2 ? bad : ok, 1ms, 1ms, i});
  BOOST_TEST(sink.sample_count() == 5u);
  auto last = sink.last_samples();
  BOOST_TEST_REQUIRE(last.size() == 3u);
  BOOST_TEST(last[0].name == "c");
  BOOST_TEST(last[1].name == "d");
  BOOST_TEST((last[1].status == Status::error));
  BOOST_TEST((last[1].category == ErrorCategory::timeout));
  BOOST_TEST(last[2].name == "e");

  RecordingSink copy = sink;
  BOOST_TEST(copy.sample_count() == 5u);
  BOOST_TEST(copy.last_samples().size() == 3u);
  BOOST_TEST(copy.intervals.size() == 2u);

  // on_sample from several threads
  RecordingSink shared(RecordingSink::Options{8});
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) shared.on_sample(Sample{"x", ok, 1ms, 1ms, t});
    });
  for (auto& t : threads) t.join();
  BOOST_TEST(shared.sample_count() == 8000u);
  BOOST_TEST(shared.last_samples().size() == 8u);
}

BOOST_AUTO_TEST_CASE(tee_forwards_in_order) {
  std::vector<std::string> log;
  Tee tee(LogSink{&log, "1"}, LogSampleSink{{&log, "2"}}, LogSink{&log, "3"});
  static_assert(std::is_same_v<decltype(tee), Tee<LogSink, LogSampleSink, LogSink>>);
  static_assert(SampleSink<decltype(tee)>);
  static_assert(!SampleSink<Tee<LogSink, NullSink>>);
  static_assert(MetricsSink<Tee<LogSink, NullSink>>);

  tee.on_start(TestInfo{});
  tee.on_interval(RealTimeMetrics{});
  const Outcome ok = Outcome::success();
  tee.on_sample(Sample{"GET /", ok, 1ms, 1ms, 0});
  tee.on_finish(LoadTestResult{});
  const std::vector<std::string> expected{"start 1",    "start 2",       "start 3",  "interval 1", "interval 2",
                                          "interval 3", "sample 2 GET /", "finish 1", "finish 2",   "finish 3"};
  BOOST_TEST(log == expected, boost::test_tools::per_element());
  BOOST_TEST(tee.get<2>().id == "3");
}

BOOST_AUTO_TEST_CASE(maybe_forwards_only_when_it_holds_a_sink) {
  std::vector<std::string> log;
  Maybe<LogSampleSink> held(LogSampleSink{{&log, "m"}});
  Maybe<LogSampleSink> empty;
  const Outcome ok = Outcome::success();
  for (auto* m : {&held, &empty}) {
    m->on_start(TestInfo{});
    m->on_interval(RealTimeMetrics{});
    m->on_sample(Sample{"GET /", ok, 1ms, 1ms, 0});
    m->on_finish(LoadTestResult{});
  }
  const std::vector<std::string> expected{"start m", "interval m", "sample m GET /", "finish m"};
  BOOST_TEST(log == expected, boost::test_tools::per_element());
  BOOST_TEST(held.get() != nullptr);
  BOOST_TEST(empty.get() == nullptr);
}

BOOST_AUTO_TEST_CASE(tee_samples_only_to_sample_sinks) {
  std::vector<std::string> log;
  Tee<LogSink, RecordingSink, NullSink, RecordingSink> tee(LogSink{&log, "log"}, RecordingSink{}, NullSink{},
                                                           RecordingSink{});
  const Outcome ok = Outcome::success();
  for (std::size_t i = 0; i < 5; ++i) tee.on_sample(Sample{"x", ok, 1ms, 1ms, i});
  BOOST_TEST(tee.get<1>().sample_count() == 5u);
  BOOST_TEST(tee.get<3>().sample_count() == 5u);
  BOOST_TEST(log.empty());
  tee.on_finish(closed_result());
  BOOST_TEST(tee.get<1>().finishes == 1u);
  BOOST_TEST(log == (std::vector<std::string>{"finish log"}), boost::test_tools::per_element());

  Tee<RecordingSink, NullSink> defaulted;  // default-constructible members
  defaulted.on_start(TestInfo{});
  BOOST_TEST(defaulted.get<0>().starts == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
