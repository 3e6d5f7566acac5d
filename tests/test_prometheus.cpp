#define BOOST_TEST_MODULE prometheus
#include <boost/test/unit_test.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "loadtest/loadtest.hpp"
#include "loadtest/prometheus.hpp"
#include "loadtest/testing/target_server.hpp"
#include "report_samples.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace loadtest;

namespace {

// --- a strict reader of the text format ---------------------------------------------------------

struct Exposition {
  std::map<std::string, std::string> types;   // family -> type
  std::map<std::string, double> samples;      // "name{labels}" as written -> value
  std::vector<std::string> problems;
};

// Parses the text format the way the checks below need it and records every deviation from it:
// HELP and TYPE before a family's samples, known types, names and label names that are valid,
// sample names that belong to a declared family, no duplicate series, values that are numbers.
Exposition parse(const std::string& text) {
  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*)");
  static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary|histogram|untyped))");
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? (\S+))");
  Exposition e;
  std::set<std::string> helped;
  std::istringstream in(text);
  std::string line;
  std::string current;
  if (text.empty() || text.back() != '\n') e.problems.push_back("the text does not end with a newline");
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.rfind("# HELP ", 0) == 0) {
      if (!std::regex_match(line, m, help)) e.problems.push_back("bad HELP line: " + line);
      else if (!helped.insert(m[1]).second) e.problems.push_back("second HELP for " + m[1].str());
      else current = m[1];
    } else if (line.rfind("# TYPE ", 0) == 0) {
      if (!std::regex_match(line, m, type)) e.problems.push_back("bad TYPE line: " + line);
      else if (e.types.count(m[1])) e.problems.push_back("second TYPE for " + m[1].str());
      else if (m[1] != current) e.problems.push_back("TYPE without HELP just before: " + line);
      else e.types[m[1]] = m[2];
    } else if (!line.empty() && line[0] == '#') {
      e.problems.push_back("unexpected comment: " + line);
    } else if (!std::regex_match(line, m, sample)) {
      e.problems.push_back("bad sample line: " + line);
    } else {
      const std::string name = m[1];
      std::string family = name;
      for (const char* suffix : {"_sum", "_count"})
        if (!e.types.count(family) && name.size() > 4 && name.ends_with(suffix))
          family = name.substr(0, name.size() - std::string_view(suffix).size());
      if (!e.types.count(family) || family != current)
        e.problems.push_back("sample outside its family's block: " + line);
      if (name.rfind("loadtest_", 0) != 0) e.problems.push_back("name without the loadtest_ prefix: " + name);
      if (e.types[family] == "counter" && !name.ends_with("_total"))
        e.problems.push_back("counter not named *_total: " + name);
      const std::string value = m[3];
      double v = 0;
      if (value == "NaN") v = std::numeric_limits<double>::quiet_NaN();
      else if (value == "+Inf") v = std::numeric_limits<double>::infinity();
      else if (value == "-Inf") v = -std::numeric_limits<double>::infinity();
      else {
        std::size_t used = 0;
        try {
          v = std::stod(value, &used);
        } catch (...) {
          used = 0;
        }
        if (used != value.size()) e.problems.push_back("bad value: " + line);
      }
      const std::string series = name + m[2].str();
      if (!e.samples.emplace(series, v).second) e.problems.push_back("duplicate series: " + series);
    }
  }
  return e;
}

double value(const Exposition& e, const std::string& series) {
  auto it = e.samples.find(series);
  BOOST_TEST_INFO("series " << series);
  BOOST_REQUIRE(it != e.samples.end());
  return it->second;
}

// --- a tiny HTTP client -------------------------------------------------------------------------

struct Reply {
  int status = 0;
  std::string content_type;
  std::string content_length;
  std::string body;
};

// Sends each (method, target) on one keep-alive connection to 127.0.0.1:port, within 15 s.
std::vector<Reply> fetch_all(std::uint16_t port, const std::vector<std::pair<bhttp::verb, std::string>>& requests) {
  asio::io_context ctx;
  std::vector<Reply> replies;
  std::exception_ptr failure;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        beast::tcp_stream stream(co_await asio::this_coro::executor);
        stream.expires_after(std::chrono::seconds(10));
        co_await stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), asio::use_awaitable);
        beast::flat_buffer buffer;
        for (const auto& [method, target] : requests) {
          bhttp::request<bhttp::string_body> req{method, target, 11};
          req.set(bhttp::field::host, "127.0.0.1");
          if (method == bhttp::verb::post) req.body() = "x";
          req.prepare_payload();
          co_await bhttp::async_write(stream, req, asio::use_awaitable);
          bhttp::response_parser<bhttp::string_body> parser;
          parser.skip(method == bhttp::verb::head);
          co_await bhttp::async_read(stream, buffer, parser, asio::use_awaitable);
          const auto& res = parser.get();
          Reply r;
          r.status = res.result_int();
          r.content_type = std::string(res[bhttp::field::content_type]);
          r.content_length = std::string(res[bhttp::field::content_length]);
          r.body = res.body();
          replies.push_back(std::move(r));
        }
      },
      [&](std::exception_ptr e) { failure = e; });
  ctx.run_for(std::chrono::seconds(15));
  if (failure) std::rethrow_exception(failure);
  if (replies.size() != requests.size()) throw std::runtime_error("no complete answer within 15 s");
  return replies;
}

Reply fetch(std::uint16_t port, std::string target = "/metrics", bhttp::verb method = bhttp::verb::get) {
  return fetch_all(port, {{method, std::move(target)}}).at(0);
}

bool refused(std::uint16_t port) {
  try {
    fetch(port);
    return false;
  } catch (const boost::system::system_error& e) {
    return e.code() == asio::error::connection_refused;
  }
}

TestInfo info(std::string name = "exporter") {
  TestInfo i;
  i.name = std::move(name);
  i.model = "closed";
  i.planned_duration = 60;
  i.max_users = 20;
  return i;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(prometheus)

BOOST_AUTO_TEST_CASE(label_values_are_escaped_and_valid_utf8) {
  struct Case {
    std::string in, out;
  };
  const Case cases[] = {
      {"GET /items", "GET /items"},
      {"a\"b", "a\\\"b"},
      {"a\\b", "a\\\\b"},
      {"line\nbreak", "line\\nbreak"},
      {"tab\tstays", "tab\tstays"},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
      {"bad \xff byte", "bad \xef\xbf\xbd byte"},
      {"overlong \xc0\xaf", "overlong \xef\xbf\xbd\xef\xbf\xbd"},
      {"surrogate \xed\xa0\x80", "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
      {"cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd"},
      {"too high \xf4\x90\x80\x80", "too high \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
      {"", ""},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT("input '" << c.in << "'") { BOOST_TEST(detail::prometheus_label_value(c.in) == c.out); }
}

BOOST_AUTO_TEST_CASE(the_exposition_of_a_snapshot) {
  PrometheusState s;
  s.test = "checkout \"v2\"";
  s.planned_duration = 60;
  s.max_users = 20;
  s.response_time_sum = 31.5;
  s.response_time_count = 1500;
  const RealTimeMetrics m = samples::snapshot_with_totals();
  const std::string text = prometheus_text(m, s) + prometheus_process_text();
  const Exposition e = parse(text);
  for (const auto& p : e.problems) BOOST_TEST_CONTEXT(p) { BOOST_TEST(false); }
  const std::string items = R"(endpoint="GET /items?q=\"a\\b\"\nnext")";
  const std::string cart = "endpoint=\"POST /cart \xef\xbf\xbd\xef\xbf\xbd\"";
  struct Expect {
    std::string series;
    double value;
  };
  const Expect expected[] = {
      {R"(loadtest_info{test="checkout \"v2\"",model="closed"})", 1},
      {"loadtest_running", 1},
      {"loadtest_elapsed_seconds", 11},
      {"loadtest_planned_duration_seconds", 60},
      {"loadtest_max_users", 20},
      {"loadtest_active_users", 6},
      {"loadtest_requests_total{" + items + ",status_class=\"2xx\"}", 1150},
      {"loadtest_requests_total{" + items + ",status_class=\"5xx\"}", 40},
      {"loadtest_requests_total{" + items + ",status_class=\"none\"}", 10},
      {"loadtest_requests_total{" + cart + ",status_class=\"2xx\"}", 280},
      {"loadtest_requests_total{" + cart + ",status_class=\"3xx\"}", 20},
      {"loadtest_failed_requests_total{" + items + ",kind=\"failure\"}", 40},
      {"loadtest_failed_requests_total{" + items + ",kind=\"error\"}", 10},
      {"loadtest_failed_requests_total{" + cart + ",kind=\"error\"}", 0},
      {"loadtest_errors_total{category=\"http_5xx\"}", 40},
      {"loadtest_errors_total{category=\"timeout\"}", 10},
      {"loadtest_requests_per_second", m.requests_per_second},
      {"loadtest_error_ratio", m.current_error_rate},
      {"loadtest_response_time_seconds{quantile=\"0.5\"}", m.p50_response_time},
      {"loadtest_response_time_seconds{quantile=\"0.95\"}", m.p95_response_time},
      {"loadtest_response_time_seconds{quantile=\"0.99\"}", m.p99_response_time},
      {"loadtest_response_time_seconds_sum", 31.5},
      {"loadtest_response_time_seconds_count", 1500},
  };
  for (const auto& x : expected)
    BOOST_TEST_CONTEXT(x.series) { BOOST_TEST(value(e, x.series) == x.value); }
  // Status classes without requests are left out; the types are right.
  BOOST_TEST(e.samples.count("loadtest_requests_total{" + items + ",status_class=\"1xx\"}") == 0u);
  BOOST_TEST(e.types.at("loadtest_requests_total") == "counter");
  BOOST_TEST(e.types.at("loadtest_response_time_seconds") == "summary");
  BOOST_TEST(e.types.at("loadtest_active_users") == "gauge");
  BOOST_TEST(e.types.at("loadtest_process_cpu_seconds_total") == "counter");
  BOOST_TEST(value(e, "loadtest_process_resident_memory_bytes") > 0);
  // The closed model has no schedule families.
  BOOST_TEST(text.find("loadtest_arrivals") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(open_model_schedule_and_special_values) {
  RealTimeMetrics m;
  ScheduleStats sc;
  sc.intended = 1000;
  sc.started = 990;
  sc.late = 5;
  sc.dropped = 10;
  sc.lag_p50 = 0.0001;
  sc.lag_p99 = 0.002;
  sc.lag_max = 0.5;
  m.schedule = sc;
  m.p99_response_time = std::numeric_limits<double>::quiet_NaN();
  m.requests_per_second = std::numeric_limits<double>::infinity();
  PrometheusState s;
  s.model = "open";
  const std::string text = prometheus_text(m, s);
  const Exposition e = parse(text);
  for (const auto& p : e.problems) BOOST_TEST_CONTEXT(p) { BOOST_TEST(false); }
  BOOST_TEST(value(e, "loadtest_arrivals_intended_total") == 1000);
  BOOST_TEST(value(e, "loadtest_arrivals_started_total") == 990);
  BOOST_TEST(value(e, "loadtest_arrivals_late_total") == 5);
  BOOST_TEST(value(e, "loadtest_arrivals_dropped_total") == 10);
  BOOST_TEST(value(e, "loadtest_schedule_lag_seconds{statistic=\"p99\"}") == 0.002);
  BOOST_TEST(value(e, "loadtest_schedule_lag_seconds{statistic=\"max\"}") == 0.5);
  BOOST_TEST(text.find("loadtest_response_time_seconds{quantile=\"0.99\"} NaN\n") != std::string::npos);
  BOOST_TEST(text.find("loadtest_requests_per_second +Inf\n") != std::string::npos);
  BOOST_TEST(value(e, R"(loadtest_info{test="",model="open"})") == 1);
}

BOOST_AUTO_TEST_CASE(endpoints_that_escape_alike_are_added_up) {
  RealTimeMetrics m;
  EndpointResult a, b;
  a.name = "GET /x\xff";
  a.status_classes[2] = 3;
  a.errors = 1;
  b.name = "GET /x\xfe";
  b.status_classes[2] = 4;
  b.errors = 2;
  m.endpoints = {a, b};
  const Exposition e = parse(prometheus_text(m, {}));
  for (const auto& p : e.problems) BOOST_TEST_CONTEXT(p) { BOOST_TEST(false); }
  BOOST_TEST(value(e, "loadtest_requests_total{endpoint=\"GET /x\xef\xbf\xbd\",status_class=\"2xx\"}") == 7);
  BOOST_TEST(value(e, "loadtest_failed_requests_total{endpoint=\"GET /x\xef\xbf\xbd\",kind=\"error\"}") == 3);
}

BOOST_AUTO_TEST_CASE(listen_addresses_parse_or_name_the_bad_part) {
  struct Good {
    std::string text, address;
    std::uint16_t port;
  };
  const Good good[] = {
      {"127.0.0.1:9464", "127.0.0.1", 9464}, {"[::1]:9464", "::1", 9464}, {":9464", "127.0.0.1", 9464},
      {"9464", "127.0.0.1", 9464},           {"localhost:0", "localhost", 0}, {"0.0.0.0:80", "0.0.0.0", 80},
  };
  for (const auto& g : good)
    BOOST_TEST_CONTEXT(g.text) {
      const auto o = PrometheusSink::parse_listen(g.text);
      BOOST_TEST(o.address == g.address);
      BOOST_TEST(o.port == g.port);
    }
  for (std::string bad : {"", ":", "host:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:9x", "::1:9464", "[::1]",
                          "[::1]9464", "[::1:9464", "1.2.3.4:99999999999"})
    BOOST_TEST_CONTEXT("'" << bad << "'") {
      BOOST_CHECK_EXCEPTION(PrometheusSink::parse_listen(bad), std::invalid_argument, [&](const std::invalid_argument& e) {
        return std::string(e.what()).find("'" + bad + "'") != std::string::npos;
      });
    }
}

BOOST_AUTO_TEST_CASE(only_loopback_unless_allowed) {
  struct Case {
    std::string address;
    bool allow_remote;
    bool ok;
  };
  const Case cases[] = {
      {"127.0.0.1", false, true}, {"127.0.0.2", false, true}, {"::1", false, true},     {"localhost", false, true},
      {"0.0.0.0", false, false},  {"::", false, false},       {"192.0.2.1", false, false}, {"0.0.0.0", true, true},
      {"not an ip", false, false}, {"not an ip", true, false}, {"", false, false},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT("'" << c.address << "' allow_remote " << c.allow_remote) {
      PrometheusSink::Options o;
      o.address = c.address;
      o.allow_remote = c.allow_remote;
      if (c.ok) {
        PrometheusSink sink(o);  // nothing is bound before on_start
        BOOST_TEST(sink.port() == 0u);
        BOOST_TEST(sink.url().empty());
      } else {
        BOOST_CHECK_EXCEPTION(PrometheusSink{o}, std::invalid_argument, [&](const std::invalid_argument& e) {
          return std::string(e.what()).find("'" + c.address + "'") != std::string::npos;
        });
      }
    }
  PrometheusSink::Options negative;
  negative.linger = -1s;
  BOOST_CHECK_THROW(PrometheusSink{negative}, std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(serves_the_latest_snapshot_over_http) {
  PrometheusSink sink;
  sink.on_start(info("served"));
  const std::uint16_t port = sink.port();
  BOOST_REQUIRE(port != 0u);
  BOOST_TEST(sink.url() == "http://127.0.0.1:" + std::to_string(port) + "/metrics");

  // Before the first snapshot: zeros, but a complete exposition.
  Reply first = fetch(port);
  BOOST_TEST(first.status == 200);
  BOOST_TEST(first.content_type == "text/plain; version=0.0.4; charset=utf-8");
  Exposition e = parse(first.body);
  for (const auto& p : e.problems) BOOST_TEST_CONTEXT(p) { BOOST_TEST(false); }
  BOOST_TEST(value(e, "loadtest_running") == 1);
  BOOST_TEST(value(e, "loadtest_response_time_seconds_count") == 0);
  BOOST_TEST(value(e, R"(loadtest_info{test="served",model="closed"})") == 1);

  // Two snapshots: counts since the start, the summary's sum adds up avg x requests.
  RealTimeMetrics m1 = samples::snapshot_with_totals();
  m1.interval_requests = 100;
  m1.avg_response_time = 0.02;
  sink.on_interval(m1);
  RealTimeMetrics m2 = m1;
  m2.interval_requests = 50;
  m2.avg_response_time = 0.04;
  m2.active_users = 9;
  sink.on_interval(m2);
  e = parse(fetch(port).body);
  for (const auto& p : e.problems) BOOST_TEST_CONTEXT(p) { BOOST_TEST(false); }
  BOOST_TEST(value(e, "loadtest_active_users") == 9);
  BOOST_TEST(value(e, "loadtest_response_time_seconds_count") == 150);
  BOOST_TEST(value(e, "loadtest_response_time_seconds_sum") == 4.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(value(e, "loadtest_errors_total{category=\"http_5xx\"}") == 40);
  BOOST_TEST(sink.metrics_text().find("loadtest_active_users 9\n") != std::string::npos);

  // Other paths and methods; several requests on one keep-alive connection.
  const auto replies = fetch_all(port, {{bhttp::verb::get, "/metrics?x=1"},
                                        {bhttp::verb::head, "/metrics"},
                                        {bhttp::verb::get, "/"},
                                        {bhttp::verb::get, "/nope"},
                                        {bhttp::verb::post, "/metrics"},
                                        {bhttp::verb::get, "/metrics"}});
  BOOST_TEST(replies[0].status == 200);
  BOOST_TEST(replies[1].status == 200);
  BOOST_TEST(replies[1].body.empty());
  BOOST_TEST(std::stoul(replies[1].content_length) > 1000u);
  BOOST_TEST(replies[2].status == 200);
  BOOST_TEST(replies[2].body.find("/metrics") != std::string::npos);
  BOOST_TEST(replies[3].status == 404);
  BOOST_TEST(replies[4].status == 405);
  BOOST_TEST(replies[5].status == 200);
  BOOST_TEST(sink.scrapes() == 4u);  // the GETs of /metrics

  // Finished: the final counts from the result, running 0, and still served.
  LoadTestResult r = samples::closed_result(3);
  sink.on_finish(r);
  e = parse(fetch(port).body);
  for (const auto& p : e.problems) BOOST_TEST_CONTEXT(p) { BOOST_TEST(false); }
  BOOST_TEST(value(e, "loadtest_running") == 0);
  BOOST_TEST(value(e, "loadtest_active_users") == 0);
  BOOST_TEST(value(e, "loadtest_requests_total{endpoint=\"POST /cart\",status_class=\"2xx\"}") == 2988);
  BOOST_TEST(value(e, "loadtest_errors_total{category=\"business\"}") == 50);

  // stop() closes the port; a later on_start serves again.
  sink.stop();
  BOOST_TEST(sink.port() == 0u);
  BOOST_TEST(refused(port));
  sink.stop();  // idempotent
  sink.on_start(info("again"));
  BOOST_REQUIRE(sink.port() != 0u);
  e = parse(fetch(sink.port()).body);
  BOOST_TEST(value(e, "loadtest_running") == 1);
  BOOST_TEST(value(e, R"(loadtest_info{test="again",model="closed"})") == 1);
  BOOST_TEST(value(e, "loadtest_response_time_seconds_count") == 0);  // reset for the new test
}

BOOST_AUTO_TEST_CASE(a_taken_port_refuses_the_start_and_destruction_closes_the_port) {
  asio::io_context ctx;
  tcp::acceptor taken(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const std::uint16_t busy = taken.local_endpoint().port();
  PrometheusSink::Options o;
  o.port = busy;
  PrometheusSink sink(o);
  BOOST_CHECK_EXCEPTION(sink.on_start(info()), std::runtime_error, [&](const std::runtime_error& e) {
    return std::string(e.what()).find("127.0.0.1:" + std::to_string(busy)) != std::string::npos;
  });

  std::uint16_t port = 0;
  {
    PrometheusSink scoped;
    scoped.on_start(info());
    port = scoped.port();
    BOOST_TEST(fetch(port).status == 200);
    PrometheusSink moved(std::move(scoped));  // the server moves with the sink
    BOOST_TEST(moved.port() == port);
    BOOST_TEST(fetch(port).status == 200);
  }
  BOOST_TEST(refused(port));
}

BOOST_AUTO_TEST_CASE(linger_waits_for_a_scrape_of_the_final_values) {
  PrometheusSink::Options o;
  o.linger = 20s;  // an upper bound only: on_finish returns as soon as the final values were scraped
  PrometheusSink sink(o);
  sink.on_start(info());
  const std::uint16_t port = sink.port();
  std::atomic<bool> finished{false}, saw_final{false};
  std::thread scraper([&] {
    for (int i = 0; i < 2000 && !finished.load(); ++i) {  // bounded: at most 2000 scrapes
      try {
        if (fetch(port).body.find("loadtest_running 0\n") != std::string::npos) saw_final = true;
      } catch (...) {
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  sink.on_finish(samples::closed_result(1));
  BOOST_TEST(sink.scrapes() >= 1u);
  finished = true;
  scraper.join();
  BOOST_TEST(saw_final.load());

  PrometheusSink::Options brief;  // nobody scrapes: on_finish gives up after the linger
  brief.linger = 50ms;
  PrometheusSink alone(brief);
  alone.on_start(info());
  alone.on_finish(samples::closed_result(1));
  BOOST_TEST(alone.scrapes() == 0u);
}

// A real (short) test against the embedded target, scraped while it runs and after it ended.
struct Scraped : LoadTest<Scraped, ConstantUsers, SingleAction, NoBackoff, PrometheusSink> {
  using LoadTest::LoadTest;
  http::Request req = http::Request::make(http::Method::get, "/items");
  asio::awaitable<Outcome> user_action(Session<>& user) {
    auto res = co_await user.http().request(req);
    co_return http::check_status(req, res);
  }
};

BOOST_AUTO_TEST_CASE(a_real_test_is_scraped_while_it_runs) {
  loadtest::testing::TargetServer server;
  loadtest::testing::RouteSpec slow;
  slow.delay = 5ms;
  server.route("/items", slow);
  Config cfg;
  cfg.name = "scraped";
  cfg.target = server.url("");
  cfg.monitor_interval = 50ms;
  cfg.handle_signals = false;
  cfg.seed = 5;
  Scraped test(cfg, ConstantUsers{2, 3s});
  std::atomic<bool> saw_running{false};
  std::thread scraper([&] {
    // Bounded: at most ~2000 polls; the test ends as soon as a running scrape with requests was seen.
    for (int i = 0; i < 2000 && !saw_running.load(); ++i) {
      const std::uint16_t port = test.sink().port();
      if (port != 0) {
        try {
          const Exposition e = parse(fetch(port).body);
          auto running = e.samples.find("loadtest_running");
          auto count = e.samples.find("loadtest_response_time_seconds_count");
          if (e.problems.empty() && running != e.samples.end() && running->second == 1 && count != e.samples.end() &&
              count->second > 0) {
            saw_running = true;
            test.request_stop();
          }
        } catch (...) {
        }
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  const LoadTestResult r = test.run();
  scraper.join();
  BOOST_TEST(saw_running.load());
  BOOST_REQUIRE(r.total_requests > 0u);
  // After the run the final numbers are still served and agree with the result.
  const Exposition e = parse(fetch(test.sink().port()).body);
  for (const auto& p : e.problems) BOOST_TEST_CONTEXT(p) { BOOST_TEST(false); }
  BOOST_TEST(value(e, "loadtest_running") == 0);
  BOOST_TEST(value(e, "loadtest_requests_total{endpoint=\"GET /items\",status_class=\"2xx\"}") ==
             static_cast<double>(r.endpoints.at(0).status_classes[2]));
  BOOST_TEST(value(e, "loadtest_response_time_seconds_count") == static_cast<double>(r.total_requests));
}

BOOST_AUTO_TEST_SUITE_END()
