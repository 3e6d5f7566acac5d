#define BOOST_TEST_MODULE text
#include <boost/test/unit_test.hpp>

#include "loadtest/text.hpp"

#include <boost/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "loadtest/csv_sink.hpp"
#include "loadtest/html_report.hpp"
#include "loadtest/prometheus.hpp"
#include "loadtest/results_io.hpp"

namespace text = loadtest::text;
using namespace std::string_literals;

namespace {

// Every byte class a name or message can carry: C0 controls, DEL, C1, invalid UTF-8 (a stray
// continuation byte, a truncated sequence, an overlong form, a surrogate), quotes, backslash,
// markup that would close a <script> or open an element, and a Prometheus line break plus HELP.
const std::string hostile = "GET /a\x01\x02\b\f\t\r\n\x1b[31m\x7f\xc2\x85 \x80 \xe2\x82 \xc0\xaf \xed\xa0\x80 "
                            "'\"\\ </script><img src=x onerror=alert(1)> &amp; \"\n# HELP fake 1\n\xe2\x80\xa8 ok\xc3\xbc"s;

// A minimal RFC 4180 reader: rows of fields.
std::vector<std::vector<std::string>> read_csv(std::string_view s) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, in_quotes = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_quotes) {
      if (c == '"' && i + 1 < s.size() && s[i + 1] == '"') field += '"', ++i;
      else if (c == '"') in_quotes = false;
      else field += c;
    } else if (c == '"' && field.empty() && !quoted) {
      in_quotes = quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field), field.clear(), quoted = false;
    } else if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      rows.back().push_back(field), field.clear(), quoted = false;
      rows.emplace_back();
      ++i;
    } else {
      field += c;
    }
  }
  if (!field.empty() || !rows.back().empty()) rows.back().push_back(field);
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

loadtest::LoadTestResult hostile_result() {
  loadtest::LoadTestResult r;
  r.name = hostile;
  r.timestamp = "2026-01-02T03:04:05.000000Z";
  r.total_requests = 10;
  r.successful_requests = 7;
  r.failed_requests = 3;
  r.errors_total = 3;
  loadtest::EndpointResult e;
  e.name = hostile;
  e.total_requests = 10;
  e.successful_requests = 7;
  e.failed_requests = 3;
  e.errors = 3;
  r.endpoints = {e};
  r.error_table = {{loadtest::ErrorCategory::reset, hostile, 3}};
  r.errors = {"reset: " + hostile + " (x3)"};
  r.errors_by_category = {{"reset", 3}};
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(text_helpers)

BOOST_AUTO_TEST_CASE(utf8_validation_table) {
  struct Case {
    std::string in;
    bool valid;
  };
  const Case cases[] = {
      {"", true},
      {"ascii", true},
      {"\xc3\xbc", true},              // ü
      {"\xe2\x82\xac", true},          // €
      {"\xf0\x9f\x98\x80", true},      // 😀
      {"\xf4\x8f\xbf\xbf", true},      // U+10FFFF
      {"\x80", false},                 // stray continuation
      {"\xc3", false},                 // cut short
      {"\xc0\xaf", false},             // overlong /
      {"\xe0\x80\xaf", false},         // overlong
      {"\xf0\x80\x80\xaf", false},     // overlong
      {"\xed\xa0\x80", false},         // surrogate D800
      {"\xf4\x90\x80\x80", false},     // above U+10FFFF
      {"\xff", false},
      {"ok\xe2\x82", false},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(text::escape_control(c.in)) {
      BOOST_TEST(text::valid_utf8(c.in) == c.valid);
      BOOST_TEST(text::valid_utf8(text::to_valid_utf8(c.in)));
      if (c.valid) BOOST_TEST(text::to_valid_utf8(c.in) == c.in);
    }
  }
  BOOST_TEST(text::to_valid_utf8("a\xff" "b") == "a\xef\xbf\xbd" "b");
}

BOOST_AUTO_TEST_CASE(json_escaping_table) {
  struct Case {
    std::string in, out;
  };
  const Case cases[] = {
      {"plain", "\"plain\""},
      {"\"\\", "\"\\\"\\\\\""},
      {"\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\""},
      {"\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\""},
      {std::string("\0", 1), "\"\\u0000\""},
      {"\xff", "\"\\ufffd\""},
      {"\xc3\xbc", "\"\xc3\xbc\""},
      {"</script>&", "\"</script>&\""},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(text::escape_control(c.in)) {
      BOOST_TEST(text::json_quote(c.in) == c.out);
      // and Boost.JSON reads it back as the valid-UTF-8 form
      BOOST_TEST(boost::json::parse(text::json_quote(c.in)).as_string() == text::to_valid_utf8(c.in));
    }
  }
  BOOST_TEST(text::json_quote("</script>&", /*for_html=*/true) == "\"\\u003c/script\\u003e\\u0026\"");
  BOOST_TEST(text::json_quote("\xe2\x80\xa8", true) == "\"\\u2028\"");
}

BOOST_AUTO_TEST_CASE(escape_control_keeps_one_line) {
  BOOST_TEST(text::escape_control("a\r\nb\tc\\d") == "a\\r\\nb\\tc\\\\d");
  BOOST_TEST(text::escape_control("\x01\x7f") == "\\x01\\x7f");
  BOOST_TEST(text::escape_control("\xc2\x85") == "\\xc2\\x85");  // C1 NEL
  BOOST_TEST(text::escape_control("\xff") == "\\xff");
  BOOST_TEST(text::escape_control("\xc3\xbc\xe2\x9c\x93") == "\xc3\xbc\xe2\x9c\x93");
  const std::string e = text::escape_control(hostile);
  for (unsigned char c : e) BOOST_TEST((c >= 0x20 && c != 0x7f), "control byte " << int(c));
  BOOST_TEST(text::valid_utf8(e));
}

BOOST_AUTO_TEST_CASE(trim_iequals_and_tokens) {
  BOOST_TEST(text::trim(" \t\r\n a b \r\n") == "a b");
  BOOST_TEST(text::trim("") == "");
  BOOST_TEST(text::trim(" \t ") == "");
  BOOST_TEST(text::trim_ows(" \ta\r\n") == "a\r\n");
  BOOST_TEST(text::iequals("Content-Length", "content-LENGTH"));
  BOOST_TEST(!text::iequals("Host", "Hos"));
  BOOST_TEST(!text::iequals("\xc3\xbc", "\xc3\x9c"));  // ASCII only
  BOOST_TEST(text::is_token("X-Request-Id"));
  BOOST_TEST(text::is_token("!#$%&'*+-.^_`|~"));
  BOOST_TEST(!text::is_token(""));
  BOOST_TEST(!text::is_token("X Y"));
  BOOST_TEST(!text::is_token("X:Y"));
  BOOST_TEST(!text::is_token("X\tY"));
  BOOST_TEST(!text::is_token("(x)"));
}

BOOST_AUTO_TEST_CASE(hostile_names_stay_safe_in_every_output) {
  const loadtest::LoadTestResult r = hostile_result();
  BOOST_TEST_CONTEXT("result JSON parses and keeps the text (made valid UTF-8)") {
    const std::string json = loadtest::to_json(r);
    boost::json::value v = boost::json::parse(json);
    BOOST_TEST(v.at("name").as_string() == text::to_valid_utf8(hostile));
    BOOST_TEST(v.at("endpoints").as_object().contains(text::to_valid_utf8(hostile)));
    const auto back = loadtest::result_from_json(json);
    BOOST_TEST(back.name == text::to_valid_utf8(hostile));
  }
  BOOST_TEST_CONTEXT("CSV round-trips") {
    const std::string csv = loadtest::CsvSink::stats_csv(r);
    const auto rows = read_csv(csv);
    BOOST_REQUIRE(rows.size() >= 2u);
    bool found = false;
    for (const auto& row : rows) {
      BOOST_TEST(row.size() == rows[0].size());  // no field broke the row
      for (const auto& f : row) found = found || f.find("</script>") != std::string::npos;
    }
    BOOST_TEST(found);
    // the endpoint's name comes back whole in one of the fields (Type and Name split "GET /a...")
    std::string joined;
    for (const auto& f : rows[1]) joined += f + " ";
    BOOST_TEST(joined.find(hostile.substr(4)) != std::string::npos);
  }
  BOOST_TEST_CONTEXT("HTML: no injected element") {
    const std::string html = loadtest::render_html_report(r);
    BOOST_TEST(html.find("<img") == std::string::npos);
    BOOST_TEST(html.find("</script><") == std::string::npos);
    BOOST_TEST(html.find("&lt;img src=x onerror=alert(1)&gt;") != std::string::npos);
    BOOST_TEST(html.find('\x7f') == std::string::npos);
    BOOST_TEST(html.find('\x01') == std::string::npos);
  }
  BOOST_TEST_CONTEXT("Prometheus: one line per sample") {
    loadtest::RealTimeMetrics m;
    loadtest::EndpointResult e = r.endpoints.front();
    e.status_classes = {3, 0, 7, 0, 0, 0};
    m.endpoints = {e};
    m.total_requests = 10;
    m.total_errors = 3;
    m.errors_by_category = {{"reset", 3}};
    loadtest::PrometheusState st;
    st.test = hostile;
    const std::string prom = loadtest::prometheus_text(m, st);
    BOOST_TEST(prom.find('\r') == std::string::npos);
    BOOST_TEST(text::valid_utf8(prom));
    std::size_t start = 0;
    int samples_with_name = 0;
    while (start < prom.size()) {
      std::size_t end = prom.find('\n', start);
      if (end == std::string::npos) end = prom.size();
      const std::string_view line(prom.data() + start, end - start);
      BOOST_TEST_CONTEXT(text::escape_control(line)) {
        const bool comment = line.rfind("# HELP loadtest_", 0) == 0 || line.rfind("# TYPE loadtest_", 0) == 0;
        BOOST_TEST((comment || line.empty() || line.rfind("loadtest_", 0) == 0));
        BOOST_TEST((line.find("# HELP fake") == std::string_view::npos || !comment));
        for (unsigned char c : line) BOOST_TEST((c >= 0x20 || c == '\t'));
      }
      if (line.find("onerror") != std::string_view::npos) ++samples_with_name;
      start = end + 1;
    }
    BOOST_TEST(samples_with_name > 0);
  }
}

BOOST_AUTO_TEST_SUITE_END()
