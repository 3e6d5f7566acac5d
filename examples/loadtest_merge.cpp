//
// loadtest-merge: merge the result files of a test's segments into the result of the whole.
//
//   loadtest-merge a.json b.json ... [--threshold EXPR]... [--json OUT] [--html OUT] [--csv PREFIX]
//                  [--allow-partial]
//
// Every input is a result JSON of one segment (`config.segment` = "i/N", written by a
// `--segment i/N` run under any scheduler). Histograms merge bucket by bucket, so every
// percentile of the merged result is the one a single process holding every sample reports.
// Thresholds (--threshold, else the inputs' own) are judged on the merged whole.
//
// Exit status: 0 merged (and every threshold held); 2 bad usage or bad input (one line on stderr
// names the file: unreadable, not a loadtest result, corrupt histogram, without histograms,
// another test, overlapping or missing segments); 1 an output could not be written; 99 a
// threshold failed or a segment was aborted.
//

#include <boost/program_options.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "loadtest/csv_sink.hpp"
#include "loadtest/html_report.hpp"
#include "loadtest/merge.hpp"
#include "loadtest/results_io.hpp"
#include "loadtest/sink.hpp"
#include "loadtest/threshold.hpp"

namespace po = boost::program_options;
namespace lt = loadtest;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_cannot_write = 1;
constexpr int exit_usage = 2;
constexpr int exit_failed_checks = 99;

/** Bad usage or bad input: one line, exit 2. */
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct Options {
  std::vector<std::string> inputs;
  std::vector<std::string> thresholds;
  std::string json, html, csv;
  bool allow_partial = false;
  bool quiet = false;
};

lt::LoadTestResult read_result(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw UsageError(fmt::format("'{}': cannot read: a directory", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(fmt::format("'{}': cannot read the file", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw UsageError(fmt::format("'{}': cannot read the file", path));
  try {
    return lt::result_from_json(text);
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    if (what.find("is not a valid histogram") != std::string::npos)
      throw UsageError(fmt::format("'{}': corrupt histogram: {}", path, what));
    throw UsageError(fmt::format("'{}': not a loadtest result: {}", path, what));
  }
}

int run(const Options& o) {
  if (o.inputs.empty()) throw UsageError("no result files (usage: loadtest-merge a.json b.json ...; see --help)");
  lt::MergeOptions mo;
  mo.allow_partial = o.allow_partial;
  try {
    mo.thresholds = lt::parse_thresholds(o.thresholds);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--threshold: ") + e.what());
  }
  std::vector<lt::LoadTestResult> results;
  for (const std::string& path : o.inputs) {
    results.push_back(read_result(path));
    mo.sources.push_back("'" + path + "'");
  }
  lt::LoadTestResult merged;
  try {
    merged = lt::merge_results(results, mo);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }

  fmt::print("merged {} result file{} of '{}'{}\n", results.size(), results.size() == 1 ? "" : "s", merged.name,
             merged.config.count("partial") ? " (partial: " + merged.config["partial"] + ")" : "");
  fmt::print("{}", lt::ConsoleSink::summary(merged));
  if (!o.json.empty()) fmt::print("json: {}\n", lt::write_file_atomic(o.json, lt::to_json(merged), true).string());
  if (!o.html.empty()) {
    lt::HtmlReportSink html({.path = o.html});
    html.on_finish(merged);
    fmt::print("html: {}\n", o.html);
  }
  if (!o.csv.empty()) {
    lt::CsvSink csv({.prefix = o.csv});
    csv.on_finish(merged);
    fmt::print("csv: {}_stats.csv\n", o.csv);
  }
  if (!merged.aborted_by.empty()) {
    fmt::print(stderr, "loadtest-merge: a segment was aborted: threshold {} failed\n", merged.aborted_by);
    return exit_failed_checks;
  }
  if (!lt::all_passed(merged.thresholds)) {
    fmt::print(stderr, "loadtest-merge: thresholds failed\n");
    return exit_failed_checks;
  }
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  po::options_description visible("Options");
  // clang-format off
  visible.add_options()
    ("help,h", "show this help and exit")
    ("threshold", po::value(&o.thresholds)->composing(), "pass/fail criterion judged on the merged whole, e.g. 'p(99)<200ms' (repeatable; default: the inputs' own)")
    ("json", po::value(&o.json), "write the merged result JSON to this file")
    ("html", po::value(&o.html), "write a self-contained HTML report of the merged result to FILE")
    ("csv", po::value(&o.csv), "write PREFIX_stats.csv and PREFIX_stats_history.csv")
    ("allow-partial", po::bool_switch(&o.allow_partial), "accept missing segments (the result records which ones it has)");
  // clang-format on
  po::options_description all;
  all.add(visible).add_options()("input", po::value(&o.inputs)->composing(), "result files");
  po::positional_options_description positional;
  positional.add("input", -1);

  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: loadtest-merge a.json b.json ... [options]\n\n" << visible
                << "\nExit status: 0 merged, 1 could not write an output, 2 bad usage or input, 99 a threshold failed.\n";
      return exit_ok;
    }
    po::notify(vm);
    return run(o);
  } catch (const po::error& e) {
    fmt::print(stderr, "loadtest-merge: {}\n", e.what());
    return exit_usage;
  } catch (const UsageError& e) {
    fmt::print(stderr, "loadtest-merge: {}\n", e.what());
    return exit_usage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "loadtest-merge: cannot write: {}\n", e.what());
    return exit_cannot_write;
  }
}
