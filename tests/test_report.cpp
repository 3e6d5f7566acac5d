#define BOOST_TEST_MODULE report
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "loadtest/baseline.hpp"
#include "loadtest/csv_sink.hpp"
#include "loadtest/hgrm.hpp"
#include "loadtest/histogram.hpp"
#include "loadtest/results_io.hpp"
#include "loadtest/runner.hpp"
#include "loadtest/sink.hpp"
#include "test_support.hpp"
#include "loadtest/threshold.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace loadtest;

namespace {

using test_support::listing;
using test_support::slurp;
using test_support::TempDir;

// Predicate for BOOST_CHECK_EXCEPTION: the message contains `part`.
auto message_has(std::string part) {
  return [part](const std::exception& e) {
    bool ok = std::string(e.what()).find(part) != std::string::npos;
    if (!ok) BOOST_TEST_MESSAGE("message was: " << e.what());
    return ok;
  };
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

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A strict RFC 4180 reader (CRLF records, quoted fields with doubled quotes), for checking files.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, in_quotes = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else if (c == '"') in_quotes = false;
      else field += c;
    } else if (c == '"') {
      if (!field.empty()) throw std::runtime_error("quote inside an unquoted field");
      in_quotes = quoted = true;
    } else if (c == ',') {
      row.push_back(field), field.clear(), quoted = false;
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      row.push_back(field), field.clear(), quoted = false;
      rows.push_back(row), row.clear();
      ++i;
    } else if (c == '\n' || c == '\r') {
      throw std::runtime_error("bare line break outside quotes");
    } else {
      if (quoted) throw std::runtime_error("text after a closing quote");
      field += c;
    }
  }
  if (in_quotes) throw std::runtime_error("unterminated quote");
  if (!field.empty() || !row.empty()) throw std::runtime_error("last record without CRLF");
  return rows;
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

LoadTestResult sample_result(std::string name = "checkout") {
  LoadTestResult r;
  r.name = std::move(name);
  r.timestamp = "2024-01-02T03:04:05.123456Z";
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
  b.name = "POST /cart?a=1,b=\"2\"";  // needs quoting
  b.total_requests = 400;
  b.successful_requests = 386;
  b.failed_requests = 14;
  b.requests_per_second = 40;
  b.response_time = latency(0.015, 0.003, 0.013, 0.022, 0.030, 0.060, 0.300, 0.500);
  EndpointResult c;
  c.name = "login flow";  // no HTTP method, and never ran
  r.endpoints = {b, a, c};
  return r;
}

RealTimeMetrics snapshot(double elapsed, std::uint64_t total) {
  RealTimeMetrics m;
  m.timestamp = "2024-01-02T03:04:15.000000Z";
  m.elapsed = elapsed;
  m.planned_duration = 60;
  m.active_users = 10;
  m.requests_per_second = 1523;
  m.current_error_rate = 0.01;
  m.avg_response_time = 0.0013;
  m.p50_response_time = 0.0012;
  m.p95_response_time = 0.0041;
  m.p99_response_time = 0.009;
  m.memory_usage = 12.2;
  m.cpu_usage = 35;
  m.interval_requests = 1523;
  m.total_requests = total;
  m.total_errors = total / 100;
  m.errors_by_category = {{"timeout", 4}, {"http_5xx", 8}, {"reset", 1}, {"dns", 2}};
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

const std::vector<std::string> locust_stats_header{
    "Type",  "Name",  "Request Count", "Failure Count", "Median Response Time", "Average Response Time",
    "Min Response Time", "Max Response Time", "Average Content Size", "Requests/s", "Failures/s",
    "50%",   "66%",   "75%",  "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"};

}  // namespace

BOOST_AUTO_TEST_SUITE(report)

// ----------------------------------------------------------------------------------------- CSV

BOOST_AUTO_TEST_CASE(csv_quote_follows_rfc_4180) {
  struct Case {
    std::string in, out;
  };
  const std::vector<Case> cases{
      {"plain", "plain"},
      {"", ""},
      {" spaced ", " spaced "},
      {"a,b", "\"a,b\""},
      {"say \"hi\"", "\"say \"\"hi\"\"\""},
      {"\"", "\"\"\"\""},
      {"two\nlines", "\"two\nlines\""},
      {"cr\rhere", "\"cr\rhere\""},
      {"GET /x?a=1,b=\"2\"\r\n", "\"GET /x?a=1,b=\"\"2\"\"\r\n\""},
      {"caf\xc3\xa9", "caf\xc3\xa9"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("'" << c.in << "'") {
      BOOST_TEST(csv_quote(c.in) == c.out);
      // and it reads back as the one field it was
      auto rows = parse_csv(csv_quote(c.in) + ",x\r\n");
      BOOST_TEST_REQUIRE(rows.size() == 1u);
      BOOST_TEST_REQUIRE(rows[0].size() == 2u);
      BOOST_TEST(rows[0][0] == c.in);
    }
  }
}

BOOST_AUTO_TEST_CASE(stats_csv_has_locust_columns_and_only_real_figures) {
  LoadTestResult r = sample_result();
  const std::string text = CsvSink::stats_csv(r);
  BOOST_TEST(text.find("\r\n") != std::string::npos);
  auto rows = parse_csv(text);
  BOOST_TEST_REQUIRE(rows.size() == 5u);  // header, 3 endpoints, Aggregated
  BOOST_TEST(rows[0] == locust_stats_header, boost::test_tools::per_element());
  for (const auto& row : rows) BOOST_TEST(row.size() == locust_stats_header.size());

  // sorted by name; the method split off into Type
  const std::vector<std::string> items{"GET",   "/items", "600",    "6",   "9.000",  "11.000", "2.000",  "300.000",
                                       "N/A",   "60.00",  "0.60",   "9.000", "N/A",  "N/A",    "N/A",    "18.000",
                                       "20.000", "N/A",   "40.000", "200.000", "N/A", "300.000"};
  BOOST_TEST(rows[1] == items, boost::test_tools::per_element());
  BOOST_TEST(rows[2][0] == "POST");
  BOOST_TEST(rows[2][1] == "/cart?a=1,b=\"2\"");  // quoted in the file, intact when read
  BOOST_TEST(rows[2][10] == "1.40");              // failures per second: 14 in 10 s
  BOOST_TEST(rows[3][0] == "");  // no method: empty Type, the whole name
  BOOST_TEST(rows[3][1] == "login flow");
  BOOST_TEST(rows[3][2] == "0");
  for (std::size_t i = 4; i < rows[3].size(); ++i)
    if (i != 9 && i != 10) BOOST_TEST_CONTEXT("column " << rows[0][i]) { BOOST_TEST(rows[3][i] == "N/A"); }

  // Aggregated without a histogram: the kept percentiles only
  const auto& agg = rows[4];
  BOOST_TEST(agg[0] == "");
  BOOST_TEST(agg[1] == "Aggregated");
  BOOST_TEST(agg[2] == "1000");
  BOOST_TEST(agg[3] == "20");
  BOOST_TEST(agg[4] == "10.000");
  BOOST_TEST(agg[9] == "100.00");
  BOOST_TEST(agg[10] == "2.00");
  BOOST_TEST(agg[11] == "10.000");
  BOOST_TEST(agg[12] == "N/A");
  BOOST_TEST(agg[15] == "20.000");
  BOOST_TEST(agg[21] == "500.000");

  // with the histogram of the run: every percentile, from it
  auto h = std::make_shared<Histogram>();
  for (int ms = 1; ms <= 100; ++ms) h->record(std::chrono::milliseconds(ms));
  r.response_histogram = h;
  rows = parse_csv(CsvSink::stats_csv(r));
  const std::vector<double> ps{50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99, 100};
  for (std::size_t k = 0; k < ps.size(); ++k) {
    BOOST_TEST_CONTEXT("p" << ps[k]) {
      BOOST_TEST(rows[4][11 + k] == fmt::format("{:.3f}", to_seconds(h->value_at_percentile(ps[k])) * 1e3));
    }
  }
  BOOST_TEST(rows[4][12] == "66.047");  // the highest value of the 66 ms bucket, as HdrHistogram reports
  BOOST_TEST(rows[1][12] == "N/A");  // endpoints still only have what they keep
}

BOOST_AUTO_TEST_CASE(history_csv_has_one_row_per_interval) {
  std::vector<RealTimeMetrics> history{snapshot(1, 1523), snapshot(2, 3046)};
  history[1].timestamp = "2024-01-02T03:04:16.500000Z";
  history[1].interval_requests = 0;  // nothing completed: no latency
  history.push_back(snapshot(3, 4000));
  history[2].timestamp = "garbage";
  auto rows = parse_csv(CsvSink::history_csv(history));
  BOOST_TEST_REQUIRE(rows.size() == 4u);
  const std::vector<std::string> header{"Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", "50%",
                                        "95%", "99%", "Total Request Count", "Total Failure Count"};
  BOOST_TEST(rows[0] == header, boost::test_tools::per_element());
  const std::vector<std::string> first{"1704164655", "10", "", "Aggregated", "1523.00", "15.23", "1.200", "4.100",
                                       "9.000", "1523", "15"};
  BOOST_TEST(rows[1] == first, boost::test_tools::per_element());
  BOOST_TEST(rows[2][0] == "1704164656");
  BOOST_TEST(rows[2][6] == "N/A");
  BOOST_TEST(rows[2][8] == "N/A");
  BOOST_TEST(rows[2][9] == "3046");
  BOOST_TEST(rows[3][0] == "N/A");  // an unreadable label is not guessed
  BOOST_TEST(parse_csv(CsvSink::history_csv({})).size() == 1u);
}

BOOST_AUTO_TEST_CASE(csv_sink_writes_both_files) {
  TempDir tmp;
  const fs::path prefix = tmp.path / "out" / "nested" / "run";
  CsvSink sink(CsvSink::Options{prefix.string()});
  sink.on_start(info_for("checkout", tmp.path / "unused"));
  BOOST_TEST(fs::is_directory(tmp.path / "out" / "nested"));  // prepared at the start
  sink.on_interval(snapshot(1, 1523));
  sink.on_interval(snapshot(2, 3046));
  LoadTestResult r = sample_result();
  sink.on_finish(r);
  BOOST_TEST(sink.stats_path() == fs::path(prefix.string() + "_stats.csv"));
  BOOST_TEST(sink.history_path() == fs::path(prefix.string() + "_stats_history.csv"));
  BOOST_TEST(slurp(sink.stats_path()) == CsvSink::stats_csv(r));
  BOOST_TEST(parse_csv(slurp(sink.history_path())).size() == 3u);  // the sink's own snapshots

  // the engine's history wins when the result has one; an explicit prefix replaces the files
  r.history = {snapshot(1, 10)};
  r.total_requests = 7;
  sink.on_start(info_for("checkout", tmp.path / "unused"));
  sink.on_finish(r);
  BOOST_TEST(parse_csv(slurp(sink.history_path())).size() == 2u);
  BOOST_TEST(parse_csv(slurp(sink.stats_path())).back()[2] == "7");
  BOOST_TEST(listing(tmp.path / "out" / "nested") ==
                 (std::vector<std::string>{"run_stats.csv", "run_stats_history.csv"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(csv_sink_default_prefix_and_unwritable_directory) {
  TempDir tmp;
  CsvSink sink;
  sink.on_start(info_for("API test/1", tmp.path / "results"));
  sink.on_finish(sample_result());
  BOOST_TEST(listing(tmp.path / "results") ==
                 (std::vector<std::string>{"loadtest_API_test_1_20240102_030405_stats.csv",
                                           "loadtest_API_test_1_20240102_030405_stats_history.csv"}),
             boost::test_tools::per_element());
  // the default prefix never replaces a file
  sink.on_start(info_for("API test/1", tmp.path / "results"));
  sink.on_finish(sample_result());
  BOOST_TEST(listing(tmp.path / "results").size() == 4u);
  BOOST_TEST(sink.stats_path().filename() == "loadtest_API_test_1_20240102_030405_stats_1.csv");

  // a directory that cannot exist (a regular file is in the way): refused at the start
  std::ofstream(tmp.path / "file") << "x";
  CsvSink blocked(CsvSink::Options{(tmp.path / "file" / "sub" / "run").string()});
  BOOST_CHECK_EXCEPTION(blocked.on_start(info_for("x", tmp.path)), std::runtime_error, message_has("not writable"));
}

// ---------------------------------------------------------------------------------------- hgrm

BOOST_AUTO_TEST_CASE(hgrm_matches_hdrhistogram_exactly) {
  // Reference texts: what HdrHistogram's outputPercentileDistribution(out, 5, 1000.0) prints
  // for the same values recorded in microseconds (1 us .. 1 h, 3 digits).
  Histogram two;
  two.record(1ms);
  two.record(2ms);
  const std::string expected_two =
      "       Value     Percentile TotalCount 1/(1-Percentile)\n"
      "\n"
      "       1.000 0.000000000000          1           1.00\n"
      "       1.000 0.100000000000          1           1.11\n"
      "       1.000 0.200000000000          1           1.25\n"
      "       1.000 0.300000000000          1           1.43\n"
      "       1.000 0.400000000000          1           1.67\n"
      "       1.000 0.500000000000          1           2.00\n"
      "       2.000 0.550000000000          2           2.22\n"
      "       2.000 1.000000000000          2\n"
      "#[Mean    =        1.500, StdDeviation   =        0.500]\n"
      "#[Max     =        2.000, Total count    =            2]\n"
      "#[Buckets =           22, SubBuckets     =         2048]\n";
  BOOST_TEST(to_hgrm(two) == expected_two);

  Histogram spread;  // 1..10 ms and one 5 s outlier: bucket widths of 1, 2, 4 us and 2.4 ms
  for (int i = 0; i < 10; ++i) spread.record(std::chrono::microseconds(1000 + i * 1000));
  spread.record(5s);
  const std::string expected_spread =
      "       Value     Percentile TotalCount 1/(1-Percentile)\n"
      "\n"
      "       1.000 0.000000000000          1           1.00\n"
      "       2.000 0.100000000000          2           1.11\n"
      "       3.001 0.200000000000          3           1.25\n"
      "       4.001 0.300000000000          4           1.43\n"
      "       5.003 0.400000000000          5           1.67\n"
      "       6.003 0.500000000000          6           2.00\n"
      "       7.003 0.550000000000          7           2.22\n"
      "       7.003 0.600000000000          7           2.50\n"
      "       8.003 0.650000000000          8           2.86\n"
      "       8.003 0.700000000000          8           3.33\n"
      "       9.007 0.750000000000          9           4.00\n"
      "       9.007 0.775000000000          9           4.44\n"
      "       9.007 0.800000000000          9           5.00\n"
      "      10.007 0.825000000000         10           5.71\n"
      "      10.007 0.850000000000         10           6.67\n"
      "      10.007 0.875000000000         10           8.00\n"
      "      10.007 0.887500000000         10           8.89\n"
      "      10.007 0.900000000000         10          10.00\n"
      "    5001.215 0.912500000000         11          11.43\n"
      "    5001.215 1.000000000000         11\n"
      "#[Mean    =      459.471, StdDeviation   =     1435.581]\n"
      "#[Max     =     5001.215, Total count    =           11]\n"
      "#[Buckets =           22, SubBuckets     =         2048]\n";
  BOOST_TEST(to_hgrm(spread) == expected_spread);

  // another layout (2 digits, up to 60 s) and 3 ticks per half distance: the footer follows it
  Histogram coarse(1, 60'000'000, 2);
  coarse.record(1ms);
  const std::string text = to_hgrm(coarse, 3);
  BOOST_TEST(text.find("        1.00 0.000000000000          1           1.00\n") != std::string::npos);
  BOOST_TEST(text.find("#[Buckets =           19, SubBuckets     =          256]\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(hgrm_parses_as_the_plotter_expects) {
  Histogram h;
  std::uint64_t x = 12345;
  for (int i = 0; i < 20000; ++i) {  // a long-tailed, deterministic distribution
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = static_cast<double>(x >> 11) / 9007199254740992.0;
    h.record(std::chrono::microseconds(200 + static_cast<long long>(std::pow(u, 8) * 2e6)));
  }
  const auto lines = lines_of(to_hgrm(h));
  BOOST_TEST_REQUIRE(lines.size() > 40u);
  BOOST_TEST(lines[0] == "       Value     Percentile TotalCount 1/(1-Percentile)");
  BOOST_TEST(lines[1] == "");
  const std::regex row(R"( *(\d+\.\d{3}) (\d\.\d{12}) +(\d+) +(\d+\.\d{2}))");
  const std::regex last(R"( *(\d+\.\d{3}) (1\.000000000000) +(\d+))");
  double prev_value = 0, prev_percentile = -1;
  std::uint64_t prev_count = 0;
  std::size_t i = 2;
  for (; i < lines.size() && lines[i][0] != '#'; ++i) {
    std::smatch m;
    const bool is_last = i + 1 < lines.size() && lines[i + 1][0] == '#';
    BOOST_TEST_CONTEXT("line " << i << ": " << lines[i]) {
      BOOST_TEST_REQUIRE(std::regex_match(lines[i], m, is_last ? last : row));
      const double value = std::stod(m[1]), percentile = std::stod(m[2]);
      const std::uint64_t count = std::stoull(m[3]);
      BOOST_TEST(value >= prev_value);
      BOOST_TEST(percentile > prev_percentile);
      BOOST_TEST(count >= prev_count);
      if (!is_last) BOOST_TEST(std::stod(m[4]) == 1 / (1 - percentile), boost::test_tools::tolerance(0.01));
      prev_value = value, prev_percentile = percentile, prev_count = count;
    }
  }
  BOOST_TEST(prev_percentile == 1.0);
  BOOST_TEST(prev_count == 20000u);
  BOOST_TEST(prev_value == to_seconds(h.highest_equivalent(h.max())) * 1e3, boost::test_tools::tolerance(1e-9));
  BOOST_TEST_REQUIRE(lines.size() == i + 3);
  BOOST_TEST(std::regex_match(lines[i], std::regex(R"(#\[Mean    = +\d+\.\d{3}, StdDeviation   = +\d+\.\d{3}\])")));
  BOOST_TEST(std::regex_match(lines[i + 1], std::regex(R"(#\[Max     = +\d+\.\d{3}, Total count    = +20000\])")));
  BOOST_TEST(lines[i + 2] == "#[Buckets =           22, SubBuckets     =         2048]");
  // the mean from the buckets' middles stays within the histogram's resolution of the exact one
  std::smatch m;
  std::regex_search(lines[i], m, std::regex(R"(= +(\d+\.\d+),)"));
  BOOST_TEST(std::stod(m[1]) == h.mean_us() / 1e3, boost::test_tools::tolerance(0.001));
}

BOOST_AUTO_TEST_CASE(hgrm_edge_cases) {
  Histogram empty;
  BOOST_TEST(to_hgrm(empty) ==
             "       Value     Percentile TotalCount 1/(1-Percentile)\n\n"
             "#[Mean    =        0.000, StdDeviation   =        0.000]\n"
             "#[Max     =        0.000, Total count    =            0]\n"
             "#[Buckets =           22, SubBuckets     =         2048]\n");
  BOOST_CHECK_EXCEPTION(to_hgrm(empty, 0), std::invalid_argument, message_has("ticks per half distance"));
  BOOST_CHECK_EXCEPTION(to_hgrm(empty, 5, 0.0), std::invalid_argument, message_has("scaling ratio"));

  // Java's "%.Nf": the shortest decimal form rounded half up
  struct Case {
    double v;
    int precision;
    std::string text;
  };
  const std::vector<Case> cases{
      {0.125, 2, "0.13"},          {1.2345, 3, "1.235"},         {0.9997802734375, 12, "0.999780273438"},
      {999.9995, 3, "1000.000"},   {1e-7, 3, "0.000"},           {0.0005, 3, "0.001"},
      {2, 3, "2.000"},             {5e22, 1, "50000000000000000000000.0"}, {123.456, 0, "123"},
      {0.5, 0, "1"},               {0, 12, "0.000000000000"},    {1.0 / 3, 4, "0.3333"},
      {-1.5, 1, "-1.5"},           {-0.0001, 2, "-0.00"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.v << " %." << c.precision << "f") {
      BOOST_TEST(detail::java_fixed(c.v, c.precision, 0) == c.text);
    }
  }
  BOOST_TEST(detail::java_fixed(1.5, 3, 12) == "       1.500");
}

BOOST_AUTO_TEST_CASE(write_hgrm_needs_the_histogram) {
  TempDir tmp;
  LoadTestResult r = sample_result();
  BOOST_CHECK_EXCEPTION(write_hgrm(tmp.path / "x.hgrm", r), std::invalid_argument,
                        message_has("no response-time histogram"));
  auto h = std::make_shared<Histogram>();
  h->record(3ms);
  r.response_histogram = h;
  const fs::path p = tmp.path / "out" / "latency.hgrm";
  fs::create_directories(p.parent_path());
  BOOST_TEST(write_hgrm(p, r) == p);
  BOOST_TEST(slurp(p) == to_hgrm(*h));
  h->record(4ms);
  write_hgrm(p, r);  // replaces
  BOOST_TEST(slurp(p) == to_hgrm(*h));
  BOOST_TEST(listing(p.parent_path()).size() == 1u);
}

// ------------------------------------------------------------------------------------ baseline

BOOST_AUTO_TEST_CASE(compare_and_decide_regressions) {
  LoadTestResult before, now;
  before.requests_per_second = 1000;
  now.requests_per_second = 900;  // -10 %
  before.p50_response_time = 0.0078125;
  now.p50_response_time = 0.00390625;  // -50 %
  before.p95_response_time = 0.015625;
  now.p95_response_time = 0.017578125;  // +12.5 %
  before.p99_response_time = now.p99_response_time = 0.0625;
  before.error_rate = 0;
  now.error_rate = 0.0005;  // +5 % against the 1 % floor

  const auto c = compare(before, now);
  struct Row {
    std::string metric;
    double baseline, current, change;
    bool worse;
  };
  const std::vector<Row> expected{
      {"rps", 1000, 900, -0.10, true},
      {"p50", 0.0078125, 0.00390625, -0.5, false},
      {"p95", 0.015625, 0.017578125, 0.125, true},
      {"p99", 0.0625, 0.0625, 0, false},
      {"error_rate", 0, 0.0005, 0.05, true},
  };
  BOOST_TEST_REQUIRE(c.size() == expected.size());
  for (std::size_t i = 0; i < c.size(); ++i) {
    BOOST_TEST_CONTEXT(expected[i].metric) {
      BOOST_TEST(c[i].metric == expected[i].metric);
      BOOST_TEST(c[i].baseline == expected[i].baseline);
      BOOST_TEST(c[i].current == expected[i].current);
      BOOST_TEST(c[i].change == expected[i].change, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(c[i].worse == expected[i].worse);
    }
  }
  struct Decision {
    double limit;
    bool regressed;
  };
  for (const auto& d : std::vector<Decision>{{0.0, true}, {0.05, true}, {0.10, true}, {0.125, false}, {0.5, false}}) {
    BOOST_TEST_CONTEXT("limit " << d.limit) { BOOST_TEST(regressed(c, d.limit) == d.regressed); }
  }
  BOOST_CHECK_EXCEPTION(regressed(c, -0.1), std::invalid_argument, message_has("-0.1"));

  // the error rate: relative to the baseline above the floor, to the floor below it
  before.error_rate = 0.02;
  now.error_rate = 0.03;
  BOOST_TEST(compare(before, now)[4].change == 0.5, boost::test_tools::tolerance(1e-12));
  before.error_rate = 0.001;
  now.error_rate = 0.0005;
  BOOST_TEST(compare(before, now)[4].change == -0.05, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(!compare(before, now)[4].worse);

  // an empty baseline: infinite changes, in the right direction
  LoadTestResult empty;
  const auto from_empty = compare(empty, now);
  BOOST_TEST(std::isinf(from_empty[0].change));
  BOOST_TEST(!from_empty[0].worse);  // more requests/s than none is better
  BOOST_TEST(std::isinf(from_empty[2].change));
  BOOST_TEST(from_empty[2].worse);
  BOOST_TEST(regressed(from_empty, 10.0));

  // a result against itself, through its JSON (as --baseline reads it): nothing changed
  LoadTestResult r = sample_result();
  const auto same = compare(result_from_json(to_json(r)), r);
  for (const auto& x : same) {
    BOOST_TEST_CONTEXT(x.metric) {
      BOOST_TEST(x.change == 0);
      BOOST_TEST(!x.worse);
    }
  }
  BOOST_TEST(!regressed(same, 0));
}

BOOST_AUTO_TEST_CASE(format_comparison_table) {
  LoadTestResult before, now;
  before.requests_per_second = 1000;
  now.requests_per_second = 900;
  before.p50_response_time = 0.012;
  now.p50_response_time = 0.011;
  before.p95_response_time = 0.020;
  now.p95_response_time = 0.030;
  before.p99_response_time = now.p99_response_time = 0.05;
  before.error_rate = 0.001;
  now.error_rate = 0.001;
  const auto c = compare(before, now);
  const auto lines = lines_of(format_comparison(c));
  BOOST_TEST_REQUIRE(lines.size() == 6u);
  BOOST_TEST(lines[0] == "  Metric          Baseline     Current    Change");
  BOOST_TEST(lines[1] == "  rps               1000.0       900.0    -10.0%  worse");
  BOOST_TEST(lines[2] == "  p50               12.0ms      11.0ms     -8.3%  better");
  BOOST_TEST(lines[3] == "  p95               20.0ms      30.0ms    +50.0%  worse");
  BOOST_TEST(lines[4] == "  p99               50.0ms      50.0ms     +0.0%");
  BOOST_TEST(lines[5] == "  error_rate         0.10%       0.10%     +0.0%");
  const std::string limited = format_comparison(c, 0.2);
  BOOST_TEST(limited.find("+50.0%  REGRESSION") != std::string::npos);
  BOOST_TEST(limited.find("-10.0%  worse") != std::string::npos);  // within the limit
  BOOST_TEST(format_comparison(compare(LoadTestResult{}, now)).find("+inf") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(parse_percentage_accepts_percentages_and_fractions) {
  struct Case {
    std::string text;
    double value;
  };
  for (const auto& c : std::vector<Case>{{"10%", 0.10}, {"10 %", 0.10}, {" 2.5% ", 0.025}, {"0.1", 0.1}, {"0", 0},
                                         {"1", 1}, {"150%", 1.5}, {"0%", 0}}) {
    BOOST_TEST_CONTEXT(c.text) { BOOST_TEST(parse_percentage(c.text) == c.value, boost::test_tools::tolerance(1e-12)); }
  }
  struct Bad {
    std::string text, part;
  };
  for (const auto& c : std::vector<Bad>{{"", "empty"},
                                        {"%", "not a number"},
                                        {"abc", "not a number"},
                                        {"10", "ambiguous"},
                                        {"-5%", "non-negative"},
                                        {"1e999%", "not a number"},
                                        {"10%%", "not a number"},
                                        {"0.1.2", "not a number"},
                                        {"ten%", "not a number"}}) {
    BOOST_TEST_CONTEXT("'" << c.text << "'") {
      BOOST_CHECK_EXCEPTION(parse_percentage(c.text), std::invalid_argument, message_has(c.part));
      BOOST_CHECK_EXCEPTION(parse_percentage(c.text), std::invalid_argument,
                            message_has("invalid percentage '" + c.text + "'"));
    }
  }
}

// -------------------------------------------------------------------------------------- runner

namespace {
LoadTestResult synthetic(std::string name, std::uint64_t requests, double p95, double error_rate) {
  LoadTestResult r = sample_result(std::move(name));
  r.total_requests = requests;
  r.p95_response_time = p95;
  r.error_rate = error_rate;
  return r;
}

// An object with run(), like a LoadTest (and, like it, not movable).
struct CountingTest {
  int runs = 0;
  std::string name = "object";
  CountingTest() = default;
  CountingTest(const CountingTest&) = delete;
  LoadTestResult run() {
    ++runs;
    return synthetic(name, 10, 0.01, 0);
  }
};
}  // namespace

BOOST_AUTO_TEST_CASE(runner_runs_in_sequence_and_writes_summary_and_report) {
  TempDir tmp;
  std::vector<std::string> order;
  CountingTest object;
  auto owned = std::make_shared<CountingTest>();
  owned->name = "shared";
  auto unique = std::make_unique<CountingTest>();
  unique->name = "unique";
  std::FILE* log = std::tmpfile();
  BOOST_TEST_REQUIRE(log != nullptr);

  LoadTestRunner runner(LoadTestRunner::Options{.results_dir = (tmp.path / "results").string(), .log = log});
  runner
      .add("fast",
           [&] {
             order.push_back("fast");
             return synthetic("fast", 1000, 0.020, 0.001);
           },
           {"p(95)<30ms", "error_rate<1%"})
      .add("slow",
           [&] {
             order.push_back("slow");
             return synthetic("slow", 500, 0.300, 0.001);
           },
           {"p(95)<30ms", "GET /items: rps>10"})
      .add("broken",
           [&]() -> LoadTestResult {
             order.push_back("broken");
             throw std::runtime_error("target refused: 127.0.0.1:1");
           })
      .add("", object)  // by reference; the name comes from the result
      .add("shared", owned)
      .add("unique", std::move(unique));
  BOOST_TEST(runner.size() == 6u);
  BOOST_TEST(!runner.all_passed());  // nothing ran yet

  const auto& runs = runner.run_all();
  BOOST_TEST(order == (std::vector<std::string>{"fast", "slow", "broken"}), boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(runs.size() == 6u);
  BOOST_TEST(object.runs == 1);
  BOOST_TEST(owned->runs == 1);

  BOOST_TEST(runs[0].name == "fast");
  BOOST_TEST(runs[0].ran);
  BOOST_TEST(runs[0].passed);
  BOOST_TEST_REQUIRE(runs[0].result.thresholds.size() == 2u);
  BOOST_TEST(runs[0].result.thresholds[0].expression == "p(95)<30ms");
  BOOST_TEST(runs[1].ran);
  BOOST_TEST(!runs[1].passed);  // p95 300 ms
  BOOST_TEST(runs[1].result.thresholds[0].observed == 0.300);
  BOOST_TEST(runs[1].result.thresholds[1].passed);
  BOOST_TEST(!runs[2].ran);
  BOOST_TEST(!runs[2].passed);
  BOOST_TEST(runs[2].error == "target refused: 127.0.0.1:1");
  BOOST_TEST(runs[2].result_path.empty());
  BOOST_TEST(runs[3].name == "object");
  BOOST_TEST(runs[3].passed);  // no thresholds: passed when it ran
  BOOST_TEST(runs[4].name == "shared");
  BOOST_TEST(runs[5].name == "unique");
  BOOST_TEST(!runner.all_passed());

  // each result that ran, as it arrived
  for (std::size_t i : {0u, 1u, 3u, 4u, 5u}) {
    BOOST_TEST_CONTEXT(runs[i].name) {
      BOOST_TEST_REQUIRE(fs::exists(runs[i].result_path));
      LoadTestResult back = result_from_json(slurp(runs[i].result_path));
      BOOST_TEST(back.name == runs[i].result.name);
      BOOST_TEST(back.thresholds.size() == runs[i].result.thresholds.size());
    }
  }

  // the summary
  BOOST_TEST_REQUIRE(fs::exists(runner.summary_path()));
  BOOST_TEST(runner.summary_path().filename().string().rfind("summary_", 0) == 0u);
  json::value doc = json::parse(slurp(runner.summary_path()));
  const auto& root = doc.as_object();
  BOOST_TEST(root.at("passed").as_bool() == false);
  BOOST_TEST(root.at("timestamp").as_string().size() == 27u);
  const auto& tests = root.at("tests").as_array();
  BOOST_TEST_REQUIRE(tests.size() == 6u);
  const auto& fast = tests[0].as_object();
  BOOST_TEST(fast.at("name").as_string() == "fast");
  BOOST_TEST(fast.at("ran").as_bool());
  BOOST_TEST(fast.at("passed").as_bool());
  BOOST_TEST(fast.at("metrics").at("total_requests").to_number<double>() == 1000);
  BOOST_TEST(fast.at("metrics").at("p95_response_time").to_number<double>() == 0.020);
  BOOST_TEST(fast.at("metrics").at("error_rate").to_number<double>() == 0.001);
  BOOST_TEST(fast.at("result_file").as_string() == runs[0].result_path.string());
  BOOST_TEST(fast.at("thresholds").as_array().size() == 2u);
  const auto& slow = tests[1].as_object();
  BOOST_TEST(!slow.at("passed").as_bool());
  const auto& rps = slow.at("thresholds").as_array()[1].as_object();
  BOOST_TEST(rps.at("endpoint").as_string() == "GET /items");
  BOOST_TEST(rps.at("metric").as_string() == "rps");
  BOOST_TEST(rps.at("observed").to_number<double>() == 60);
  BOOST_TEST(rps.at("passed").as_bool());
  const auto& broken = tests[2].as_object();
  BOOST_TEST(!broken.at("ran").as_bool());
  BOOST_TEST(broken.at("error").as_string() == "target refused: 127.0.0.1:1");
  BOOST_TEST(!broken.contains("result_file"));
  BOOST_TEST(broken.at("thresholds").as_array().empty());

  // the combined report: the tests that ran
  BOOST_TEST_REQUIRE(fs::exists(runner.report_path()));
  const std::string html = slurp(runner.report_path());
  for (const char* name : {"fast", "slow", "object", "shared", "unique"})
    BOOST_TEST_CONTEXT(name) { BOOST_TEST(html.find(name) != std::string::npos); }
  BOOST_TEST(html.find("<html") != std::string::npos);

  const std::string logged = contents(log);
  std::fclose(log);
  BOOST_TEST(logged.find("[1/6] fast: passed | 1000 requests, 0.10% errors, p95 20.0ms") != std::string::npos);
  BOOST_TEST(logged.find("[2/6] slow: FAILED (1 of 2 thresholds)") != std::string::npos);
  BOOST_TEST(logged.find("[3/6] broken: NOT RUN (target refused: 127.0.0.1:1)") != std::string::npos);
  BOOST_TEST(logged.find("summary: " + runner.summary_path().string()) != std::string::npos);

  // every file in the results directory: 5 results, the summary, the report
  BOOST_TEST(listing(tmp.path / "results").size() == 7u);
}

BOOST_AUTO_TEST_CASE(runner_passes_stops_and_refuses) {
  TempDir tmp;
  int calls = 0;
  auto ok = [&] {
    ++calls;
    return synthetic("ok", 100, 0.01, 0);
  };
  auto bad = [&] {
    ++calls;
    return synthetic("bad", 100, 0.5, 0);
  };

  {  // all pass
    LoadTestRunner runner({.results_dir = (tmp.path / "a").string()});
    runner.add("one", ok, {"p(95)<100ms"}).add("two", ok);
    runner.run_all();
    BOOST_TEST(runner.all_passed());
    BOOST_TEST(json::parse(slurp(runner.summary_path())).at("passed").as_bool());
  }
  {  // stop on failure: the rest is skipped, never run
    calls = 0;
    LoadTestRunner runner({.results_dir = (tmp.path / "b").string(), .stop_on_failure = true});
    runner.add("one", ok).add("two", bad, {"p(95)<100ms"}).add("three", ok);
    const auto& runs = runner.run_all();
    BOOST_TEST(calls == 2);
    BOOST_TEST_REQUIRE(runs.size() == 3u);
    BOOST_TEST(!runs[2].ran);
    BOOST_TEST(runs[2].error.find("skipped") != std::string::npos);
    BOOST_TEST(runs[2].name == "three");
  }
  {  // nothing written when told so
    LoadTestRunner runner({.results_dir = (tmp.path / "c").string(),
                           .write_results = false,
                           .write_summary = false,
                           .write_report = false});
    runner.add("one", ok);
    runner.run_all();
    BOOST_TEST(runner.all_passed());
    BOOST_TEST(runner.summary_path().empty());
    BOOST_TEST(!fs::exists(tmp.path / "c"));
  }
  {  // a bad threshold is refused when added, before anything runs
    LoadTestRunner runner({.results_dir = (tmp.path / "d").string()});
    BOOST_CHECK_EXCEPTION(runner.add("one", ok, {"p(95)<100ms", "p95 < soon"}), std::invalid_argument,
                          message_has("invalid threshold 'p95 < soon'"));
    BOOST_TEST(runner.size() == 0u);
  }
  {  // an unwritable results directory is refused before any test runs
    calls = 0;
    std::ofstream(tmp.path / "file") << "x";
    LoadTestRunner runner({.results_dir = (tmp.path / "file" / "sub").string()});
    runner.add("one", ok);
    BOOST_CHECK_EXCEPTION(runner.run_all(), std::runtime_error, message_has("not writable"));
    BOOST_TEST(calls == 0);
  }
  BOOST_CHECK_EXCEPTION(LoadTestRunner({.results_dir = ""}), std::invalid_argument, message_has("results directory"));
  std::shared_ptr<CountingTest> null;
  LoadTestRunner runner({.results_dir = (tmp.path / "e").string()});
  BOOST_CHECK_EXCEPTION(runner.add("null", null), std::invalid_argument, message_has("null pointer"));
  // a summary with nothing in it is valid JSON
  BOOST_TEST(json::parse(LoadTestRunner::summary_json({}, "t")).at("tests").as_array().empty());
}

// ------------------------------------------------------------------------------------- console

BOOST_AUTO_TEST_CASE(console_live_lines) {
  RealTimeMetrics m = snapshot(20, 30000);
  auto lines = ConsoleSink::live_lines(m);
  BOOST_TEST_REQUIRE(lines.size() == 4u);
  BOOST_TEST(lines[0] == "[==========>                   ]  33%  20.00s of 1m00s");
  BOOST_TEST(lines[1] == "latency (last interval)  p50 1.2ms  p95 4.1ms  p99 9.0ms  avg 1.3ms");
  // top 3 categories by count (since the start), most frequent first
  BOOST_TEST(lines[2] == "requests 30000, failed 300 (1.00%) | http_5xx 8, timeout 4, dns 2");
  BOOST_TEST(lines[3] == ConsoleSink::status_line(m));

  m.schedule = ScheduleStats{1010, 1000, 12, 10, 0.00002, 0.0012, 0.005};  // open model
  m.planned_duration = 0;
  m.interval_requests = 0;
  m.errors_by_category.clear();
  lines = ConsoleSink::live_lines(m);
  BOOST_TEST_REQUIRE(lines.size() == 5u);
  BOOST_TEST(lines[0] == "elapsed 20.00s (open-ended)");
  BOOST_TEST(lines[1] == "latency (last interval)  no requests completed");
  BOOST_TEST(lines[2] == "requests 30000, failed 300 (1.00%)");
  BOOST_TEST(lines[3] == "schedule  intended 1010, started 1000, late 12, dropped 10 | lag p99 1.2ms");

  m.planned_duration = 10;  // past the plan (e.g. the grace period): the bar stays full
  BOOST_TEST(ConsoleSink::live_lines(m)[0] == "[==============================] 100%  20.00s of 10.00s");
}

BOOST_AUTO_TEST_CASE(console_live_frame_redraws_in_place) {
  RealTimeMetrics m = snapshot(20, 30000);
  const std::string first = ConsoleSink::live_frame(m);
  BOOST_TEST(first.find("\x1b[A") == std::string::npos);  // nothing to go back over
  BOOST_TEST(!std::regex_search(first, std::regex("\x1b\\[[0-9]+A")));  // no cursor-up sequence at all
  BOOST_TEST(count_of(first, "\x1b[2K") == 3u);             // every line but the status line is cleared
  BOOST_TEST(count_of(first, "\n") == 3u);
  BOOST_TEST(first.rfind("\r[ 20.0s/60.0s]") != std::string::npos);
  BOOST_TEST(first.size() >= 3u);
  BOOST_TEST(first.substr(first.size() - 3) == "\x1b[K");  // the status line, cleared to its end

  const std::string next = ConsoleSink::live_frame(m, 4);
  BOOST_TEST(next.rfind("\r\x1b[3A\x1b[2K[====", 0) == 0u);  // back to the frame's first line
  // a shorter frame than the last one is padded so no stale line stays behind
  const std::string padded = ConsoleSink::live_frame(m, 6);
  BOOST_TEST(padded.rfind("\r\x1b[5A", 0) == 0u);
  BOOST_TEST(count_of(padded, "\n") == 5u);

  // cut to the width, counting characters, not bytes
  RealTimeMetrics wide = m;
  wide.errors_by_category = {{"caf\xc3\xa9_\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 5}};
  const std::string cut = ConsoleSink::live_frame(wide, 0, 40);
  for (const auto& line : lines_of(cut)) {
    std::string visible = std::regex_replace(line, std::regex("\x1b\\[[0-9]*[A-Za-z]|\r"), "");
    std::size_t columns = 0;
    for (unsigned char c : visible) columns += (c & 0xC0) != 0x80;
    BOOST_TEST_CONTEXT(visible) { BOOST_TEST(columns <= 39u); }
  }
  // red from 5 % errors (since the start)
  BOOST_TEST(ConsoleSink::live_frame(m).find("\x1b[31m") == std::string::npos);
  RealTimeMetrics failing = m;
  failing.total_errors = 1500;
  const std::string red = ConsoleSink::live_frame(failing);
  BOOST_TEST(red.find("\x1b[31mrequests 30000, failed 1500 (5.00%)") != std::string::npos);
  BOOST_TEST(red.find("\x1b[0m\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(console_sink_three_modes) {
  struct Case {
    std::string what;
    int tty;
    bool quiet;
  };
  for (const auto& c : std::vector<Case>{{"terminal", 1, false}, {"plain", 0, false}, {"quiet", 1, true}}) {
    BOOST_TEST_CONTEXT(c.what) {
      std::FILE* f = std::tmpfile();
      BOOST_TEST_REQUIRE(f != nullptr);
      ConsoleSink sink(ConsoleSink::Options{f, c.quiet, c.tty, 0});
      TestInfo info = info_for("checkout", "/unused");
      info.model = "open";
      sink.on_start(info);
      RealTimeMetrics m = snapshot(1, 1523);
      m.schedule = ScheduleStats{100, 100, 0, 0, 0.00001, 0.0001, 0.0002};
      for (int i = 1; i <= 3; ++i) {
        m.elapsed = i;
        sink.on_interval(m);
      }
      LoadTestResult r = sample_result();
      r.thresholds = evaluate(parse_thresholds({"p(95)<25ms", "error_rate<5%", "GET /gone: rps>1"}), r);
      sink.on_finish(r);
      const std::string out = contents(f);
      std::fclose(f);

      BOOST_TEST(out.rfind("loadtest: checkout | open model | 1m00s | up to 10 users\n", 0) == 0u);
      if (c.what == "terminal") {
        // three frames of five lines; the 2nd and 3rd go back up four lines first
        BOOST_TEST(count_of(out, "\r\x1b[4A") == 2u);
        BOOST_TEST(count_of(out, "schedule  intended 100") == 3u);
        BOOST_TEST(count_of(out, "\x1b[2K") == 12u);
        BOOST_TEST(out.find("cpu 35%\x1b[K\n\nResults:") != std::string::npos);  // the frame stays, then the summary
      } else if (c.what == "plain") {
        BOOST_TEST(out.find('\x1b') == std::string::npos);
        BOOST_TEST(count_of(out, "cpu 35%\n") == 3u);
        BOOST_TEST(out.find("schedule  intended") == std::string::npos);
      } else {
        BOOST_TEST(out.find('\x1b') == std::string::npos);
        BOOST_TEST(out.find("req/s |") == std::string::npos);
      }
      // the summary, with the thresholds, in every mode
      BOOST_TEST(out.find("Results: checkout") != std::string::npos);
      BOOST_TEST(out.find("Thresholds (1 of 3 passed)") != std::string::npos);
      BOOST_TEST(out.find("\u2717 p(95)<25ms        30.0ms") != std::string::npos);
      BOOST_TEST(out.find("\u2713 error_rate<5%     2.00%") != std::string::npos);
      BOOST_TEST(out.find("\u2717 GET /gone: rps>1  n/a") != std::string::npos);
    }
  }
  // no thresholds: no section
  BOOST_TEST(ConsoleSink::summary(sample_result()).find("Thresholds") == std::string::npos);
  BOOST_CHECK_EXCEPTION(ConsoleSink(ConsoleSink::Options{stdout, false, -1, -3}), std::invalid_argument,
                        message_has("not -3"));
}

BOOST_AUTO_TEST_SUITE_END()
