#define BOOST_TEST_MODULE html
#include <boost/test/unit_test.hpp>

#include <boost/asio/awaitable.hpp>

#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <unistd.h>

#include "loadtest/html_report.hpp"
#include "test_support.hpp"
#include "loadtest/loadtest.hpp"
#include "loadtest/testing/target_server.hpp"
#include "report_samples.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace loadtest;

namespace {

std::size_t count(const std::string& hay, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + needle.size())) ++n;
  return n;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh directory under the system's temporary directory, removed at the end of the scope.
using test_support::TempDir;

// Checks everything a self-contained, well-formed-enough page must satisfy.
void check_self_contained(const std::string& html) {
  // Nothing is loaded from anywhere: no absolute or protocol-relative URL in a src or href, no
  // scripts at all, no stylesheet links, no CSS imports or url()s.
  static const std::regex remote(R"re((src|href)\s*=\s*["']?\s*(https?:|//))re", std::regex::icase);
  BOOST_TEST(!std::regex_search(html, remote));
  static const std::regex http_anywhere(R"re(https?://)re", std::regex::icase);
  std::smatch m;
  for (auto it = html.cbegin(); std::regex_search(it, html.cend(), m, http_anywhere); it = m.suffix().first) {
    // URLs may appear as text (e.g. a configured target), never inside a tag's attribute
    const auto tag_open = html.rfind('<', static_cast<std::size_t>(m.position(0) + (it - html.cbegin())));
    const auto tag_close = html.rfind('>', static_cast<std::size_t>(m.position(0) + (it - html.cbegin())));
    BOOST_TEST((tag_open == std::string::npos || (tag_close != std::string::npos && tag_close > tag_open)));
  }
  BOOST_TEST(count(html, "<script") == 0u);
  BOOST_TEST(count(html, "<link") == 0u);
  BOOST_TEST(count(html, "@import") == 0u);
  BOOST_TEST(count(html, "url(") == 0u);
  BOOST_TEST(count(html, "<iframe") == 0u);
  BOOST_TEST(count(html, "<img") == 0u);
  // Balanced containers.
  BOOST_TEST(count(html, "<svg") == count(html, "</svg>"));
  BOOST_TEST(count(html, "<figure") == count(html, "</figure>"));
  BOOST_TEST(count(html, "<table") == count(html, "</table>"));
  BOOST_TEST(count(html, "<section") == count(html, "</section>"));
  BOOST_TEST(count(html, "<title>") == count(html, "</title>"));
  BOOST_TEST(count(html, "<html") == 1u);
  BOOST_TEST(count(html, "</html>") == 1u);
  BOOST_TEST(html.rfind("<!DOCTYPE html>", 0) == 0u);
  BOOST_TEST(count(html, "<meta charset=\"utf-8\">") == 1u);
  // Every in-page link has its target.
  static const std::regex anchor(R"re(href="#([^"]+)")re");
  for (auto it = html.cbegin(); std::regex_search(it, html.cend(), m, anchor); it = m.suffix().first)
    BOOST_TEST_CONTEXT("link #" << m[1].str()) { BOOST_TEST(count(html, "id=\"" + m[1].str() + "\"") == 1u); }
  // Numbers are never printed as nan or inf.
  static const std::regex bad_number(R"re([>" ,(-](nan|inf|-nan|-inf)[<" ,)%])re", std::regex::icase);
  BOOST_TEST(!std::regex_search(html, bad_number));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(html)

BOOST_AUTO_TEST_CASE(html_escape_replaces_markup_and_controls) {
  struct Case {
    std::string in, out;
  };
  const Case cases[] = {
      {"plain", "plain"},
      {"<b>", "&lt;b&gt;"},
      {"a & b", "a &amp; b"},
      {"\"q\" 'a'", "&quot;q&quot; &#39;a&#39;"},
      {"&amp;", "&amp;amp;"},
      {std::string("nul\0x", 5), "nul x"},
      {"tab\tand\nline", "tab\tand\nline"},
      {"\x1b[31m", " [31m"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT("input '" << c.in << "'") { BOOST_TEST(detail::html_escape(c.in) == c.out); }
}

BOOST_AUTO_TEST_CASE(a_report_is_self_contained_and_well_formed) {
  const std::vector<LoadTestResult> cases{samples::closed_result(), samples::open_result(), samples::empty_result(),
                                          samples::closed_result(1)};
  for (const auto& r : cases)
    BOOST_TEST_CONTEXT("test '" << r.name << "' with " << r.history.size() << " snapshots") {
      check_self_contained(render_html_report(r));
    }
  BOOST_TEST_CONTEXT("the suite page") { check_self_contained(render_html_report(cases)); }
  BOOST_TEST_CONTEXT("an empty suite") { check_self_contained(render_html_report(std::vector<LoadTestResult>{})); }
}

BOOST_AUTO_TEST_CASE(every_text_is_escaped) {
  const std::string html = render_html_report(samples::closed_result());
  // The test name, an endpoint, an error message, a configuration key and value.
  BOOST_TEST(count(html, "Checkout &lt;flow&gt; &amp; &quot;friends&quot; &#39;quoted&#39;") >= 2u);
  BOOST_TEST(count(html, "GET /items?a=&lt;1&gt;&amp;b=&quot;2&quot;") >= 1u);
  BOOST_TEST(count(html, "expected &quot;ok&quot; &amp; got &#39;nope&#39; &lt;script&gt;alert(1)&lt;/script&gt;") == 1u);
  BOOST_TEST(count(html, "503 &lt;b&gt;Service&lt;/b&gt; Unavailable") == 1u);
  BOOST_TEST(count(html, "label &lt;x&gt;") == 1u);
  BOOST_TEST(count(html, "value &amp; &quot;y&quot;") == 1u);
  // None of it raw.
  BOOST_TEST(count(html, "<flow>") == 0u);
  BOOST_TEST(count(html, "<script>") == 0u);
  BOOST_TEST(count(html, "<b>Service") == 0u);
  BOOST_TEST(count(html, "a=<1>") == 0u);
}

BOOST_AUTO_TEST_CASE(the_report_shows_the_numbers_charts_and_tables) {
  const LoadTestResult r = samples::closed_result();
  const std::string html = render_html_report(r);
  const std::string requests = std::to_string(r.total_requests);  // 20001 -> "20,001"
  BOOST_TEST(count(html, requests.substr(0, requests.size() - 3) + "," + requests.substr(requests.size() - 3)) >= 2u);
  BOOST_TEST(count(html, "412") >= 1u);  // failed
  // The six charts over time, the two distribution charts and the category chart.
  for (const char* title : {"Throughput", "Response time percentiles (per interval)", "Active users",
                            "Error rate (per interval)", "Load generator: CPU", "Load generator: memory",
                            "Latency by percentile", "Latency histogram", "Errors by category"})
    BOOST_TEST_CONTEXT("chart " << title) { BOOST_TEST(count(html, std::string("<figcaption>") + title + "</figcaption>") == 1u); }
  BOOST_TEST(count(html, "<svg") == 9u);
  BOOST_TEST(count(html, "<polyline") >= 7u);
  // Legends and tooltips.
  for (const char* legend : {">p50</text>", ">p95</text>", ">p99</text>", ">requests/s</text>", ">errors/s</text>"})
    BOOST_TEST_CONTEXT("legend " << legend) { BOOST_TEST(count(html, legend) >= 1u); }
  BOOST_TEST(count(html, "<title>at ") == 60u * 6u);  // one hover band per snapshot and chart
  BOOST_TEST(count(html, "<title>p99: ") == 1u);      // a marked percentile
  BOOST_TEST(count(html, "<title>http_5xx: 300") == 1u);
  // Tables: endpoints with a totals row, errors, configuration, thresholds.
  BOOST_TEST(count(html, "All endpoints") == 1u);
  BOOST_TEST(count(html, "POST /cart") >= 1u);
  BOOST_TEST(count(html, "3 distinct errors") == 1u);
  BOOST_TEST(count(html, "ramp 1 -&gt; 20 users over 30s, hold 30s") == 1u);
  BOOST_TEST(count(html, "\u2717 failed 1 of 2") == 1u);
  BOOST_TEST(count(html, "\u2713 pass") == 1u);
  BOOST_TEST(count(html, "0.0235 (2.35%)") == 1u);
  // Latency figures with units.
  BOOST_TEST(count(html, " ms</td>") >= 8u);
  BOOST_TEST(count(html, "1.70 s") >= 1u);  // the outlier is the max
}

BOOST_AUTO_TEST_CASE(open_model_blocks_and_the_summary_curve_without_histogram) {
  const std::string html = render_html_report(samples::open_result());
  BOOST_TEST(count(html, "Service time</th>") == 1u);
  BOOST_TEST(count(html, "Arrival schedule (open model)") == 1u);
  BOOST_TEST(count(html, "Dropped (no free user)") == 1u);
  BOOST_TEST(count(html, "Busy users") >= 1u);
  BOOST_TEST(count(html, "Only the summary percentiles are known") == 1u);
  BOOST_TEST(count(html, "Latency histogram") == 0u);  // needs the histogram
  BOOST_TEST(count(html, "<title>p99.9: ") == 1u);
}

BOOST_AUTO_TEST_CASE(empty_results_say_so) {
  struct Case {
    std::string what;
    LoadTestResult r;
    std::vector<std::string> expected;
  };
  LoadTestResult nan = samples::empty_result();
  nan.total_requests = 10;
  nan.successful_requests = 10;
  nan.avg_response_time = std::numeric_limits<double>::quiet_NaN();
  nan.p99_response_time = std::numeric_limits<double>::infinity();
  nan.requests_per_second = std::numeric_limits<double>::quiet_NaN();
  nan.history.push_back(samples::snapshot(0));
  nan.history.back().p99_response_time = std::numeric_limits<double>::quiet_NaN();
  nan.history.back().requests_per_second = -std::numeric_limits<double>::infinity();
  const Case cases[] = {
      {"no requests, no history", samples::empty_result(),
       {"No snapshots were taken", "No requests were recorded.", "No request failed.", "No endpoint recorded a request.",
        "No configuration was recorded.", "No errors."}},
      {"one snapshot", samples::closed_result(1), {"r=\"4\""}},
      {"non-finite numbers", nan, {"Only the summary percentiles are known"}},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.what) {
      const std::string html = render_html_report(c.r);
      check_self_contained(html);
      for (const auto& e : c.expected) BOOST_TEST_CONTEXT("expects '" << e << "'") { BOOST_TEST(count(html, e) >= 1u); }
    }
}

BOOST_AUTO_TEST_CASE(a_suite_page_links_each_test) {
  const std::vector<LoadTestResult> results{samples::closed_result(), samples::open_result(), samples::empty_result()};
  const std::string html = render_html_report(results);
  for (int i = 1; i <= 3; ++i)
    BOOST_TEST_CONTEXT("test " << i) {
      BOOST_TEST(count(html, "href=\"#test-" + std::to_string(i) + "\"") == 1u);
      BOOST_TEST(count(html, "<section class=\"test\" id=\"test-" + std::to_string(i) + "\">") == 1u);
    }
  BOOST_TEST(count(html, "<title>Load test report: 3 tests</title>") == 1u);
  BOOST_TEST(count(html, ">open model</a>") == 1u);
  BOOST_TEST(count(render_html_report(std::vector<LoadTestResult>{}), "There are no results.") == 1u);
}

BOOST_AUTO_TEST_CASE(a_day_of_snapshots_keeps_the_page_small) {
  LoadTestResult r = samples::closed_result(5);
  r.history.clear();
  for (std::size_t i = 0; i < 86'400; ++i) r.history.push_back(samples::snapshot(i, 86'400));
  const std::string html = render_html_report(r);
  check_self_contained(html);
  BOOST_TEST(html.size() < 2'000'000u);
  BOOST_TEST(count(html, "<title>at ") == 240u * 6u);  // hover bands are capped
  BOOST_TEST(count(html, " h</text>") >= 1u);         // a day is labelled in hours
}

BOOST_AUTO_TEST_CASE(the_sink_writes_where_it_is_told) {
  TempDir tmp;
  TestInfo info;
  info.name = "sink / test";
  info.file_stamp = "20260102_030405";
  info.results_dir = (tmp.path / "results").string();
  const LoadTestResult r = samples::closed_result(3);

  HtmlReportSink sink;  // default: results_dir/report_{name}_{stamp}.html
  sink.on_start(info);
  BOOST_TEST(fs::is_directory(tmp.path / "results"));
  sink.on_finish(r);
  BOOST_TEST(sink.report_path() == tmp.path / "results" / "report_sink___test_20260102_030405.html");
  const std::string html = read(sink.report_path());
  BOOST_TEST(html.rfind("<!DOCTYPE html>", 0) == 0u);
  BOOST_TEST(count(html, "Checkout &lt;flow&gt;") >= 1u);

  HtmlReportSink again;  // the same name and stamp never overwrites: a _1 suffix
  again.on_start(info);
  again.on_finish(r);
  BOOST_TEST(again.report_path() == tmp.path / "results" / "report_sink___test_20260102_030405_1.html");

  const fs::path explicit_path = tmp.path / "nested" / "dir" / "report.html";
  HtmlReportSink there({.path = explicit_path.string()});  // an explicit path is replaced
  for (int i = 0; i < 2; ++i) {
    there.on_start(info);
    there.on_finish(r);
  }
  BOOST_TEST(there.report_path() == explicit_path);
  BOOST_TEST(fs::exists(explicit_path));
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(explicit_path.parent_path())) ++files;
  BOOST_TEST(files == 1u);
}

BOOST_AUTO_TEST_CASE(an_unwritable_directory_refuses_the_start) {
  TempDir tmp;
  {
    std::ofstream f(tmp.path / "file");
    f << "x";
  }
  struct Case {
    std::string what;
    HtmlReportSink::Options options;
    std::string results_dir;
  };
  const Case cases[] = {
      {"results dir below a file", {}, (tmp.path / "file" / "sub").string()},
      {"explicit path below a file", {(tmp.path / "file" / "report.html").string()}, tmp.path.string()},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.what) {
      HtmlReportSink sink(c.options);
      TestInfo info;
      info.name = "x";
      info.results_dir = c.results_dir;
      BOOST_CHECK_EXCEPTION(sink.on_start(info), std::runtime_error, [](const std::runtime_error& e) {
        return std::string(e.what()).find("not writable") != std::string::npos;
      });
    }
}

BOOST_AUTO_TEST_CASE(the_sink_uses_its_own_snapshots_when_the_result_has_none) {
  TempDir tmp;
  HtmlReportSink sink({.path = (tmp.path / "r.html").string()});
  TestInfo info;
  info.name = "kept";
  sink.on_start(info);
  for (std::size_t i = 0; i < 7; ++i) sink.on_interval(samples::snapshot(i));
  BOOST_TEST(sink.history().size() == 7u);
  LoadTestResult r = samples::closed_result(0);
  BOOST_REQUIRE(r.history.empty());
  sink.on_finish(r);
  const std::string html = read(sink.report_path());
  BOOST_TEST(count(html, "No snapshots were taken") == 0u);
  BOOST_TEST(count(html, "<title>at ") == 7u * 6u);
}

// The sink in a real (short) test against the embedded target.
struct Quick : LoadTest<Quick, ConstantUsers, SingleAction, NoBackoff, HtmlReportSink> {
  using LoadTest::LoadTest;
  http::Request req = http::Request::make(http::Method::get, "/items");
  asio::awaitable<Outcome> user_action(Session<>& user) {
    auto res = co_await user.http().request(req);
    co_return http::check_status(req, res);
  }
};

BOOST_AUTO_TEST_CASE(a_real_test_writes_its_report) {
  TempDir tmp;
  loadtest::testing::TargetServer server;
  loadtest::testing::RouteSpec slow;
  slow.delay = 5ms;
  server.route("/items", slow);
  Config cfg;
  cfg.name = "html <real>";
  cfg.target = server.url("");
  cfg.results_dir = (tmp.path / "out").string();
  cfg.monitor_interval = 100ms;
  cfg.handle_signals = false;
  cfg.seed = 3;
  Quick test(cfg, ConstantUsers{2, 500ms});
  const LoadTestResult r = test.run();
  BOOST_REQUIRE(r.total_requests > 0u);
  const fs::path written = test.sink().report_path();
  BOOST_TEST(written.parent_path() == tmp.path / "out");
  BOOST_TEST(written.filename().string().rfind("report_html__real__", 0) == 0u);
  const std::string html = read(written);
  check_self_contained(html);
  BOOST_TEST(count(html, "html &lt;real&gt;") >= 1u);
  BOOST_TEST(count(html, "GET /items") >= 1u);
  BOOST_TEST(count(html, "<figcaption>Latency histogram</figcaption>") == 1u);  // the engine's result carries the histogram
}

BOOST_AUTO_TEST_SUITE_END()
