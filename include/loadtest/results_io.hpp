// loadtest: result files: JSON layout, safe file names, atomic writes.
//
// The JSON itself is produced in src/results_io.cpp (Boost.JSON stays out of the headers).
#pragma once

#include "loadtest/detail/config.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "loadtest/result.hpp"

namespace loadtest {

/** JSON of a result: the original framework's layout plus extensions.
 *
 *  Top level, in this order: `name`, `timestamp`, `model`, `metrics` (the original eight keys
 *  `total_requests, successful_requests, failed_requests, duration, avg_response_time,
 *  p95_response_time, p99_response_time, requests_per_second` first, then the extensions),
 *  `errors` (the original list of strings), `errors_by_category`, `error_table`,
 *  `error_overflow`, `endpoints`, `config`, and, when the result has them (open model),
 *  `service_time` and `schedule`, and when it has any, `thresholds`: `[{expression, metric,
 *  endpoint (only per-endpoint ones), observed, passed}]` (`observed` is `null` when the figure
 *  did not exist), then `aborted_by` when the test was aborted, and last `histograms`:
 *  `{"response_time", "service_time" (open model), "schedule_lag" (open model)}`, each the whole
 *  test's histogram in HdrHistogram's compressed V2 form (base64, starts `HISTFAAA`, values in
 *  microseconds; see histogram_codec.hpp). Each endpoint also has `stddev_response_time` and its
 *  `histogram`; `service_time` also has `min`, `stddev` and `count`.
 *  Times are seconds. Pretty-printed with 2-space indentation.
 *  Strings that are not valid UTF-8 have their bad bytes replaced by U+FFFD; non-finite numbers
 *  are written as `null`.
 */
std::string to_json(const LoadTestResult& r);

/** The monitor history file:
 *  `{"name", "timestamp", "interval_seconds"?, "history": [{active_users, requests_per_second,
 *  current_error_rate, avg_response_time, p95_response_time, memory_usage, cpu_usage, timestamp,
 *  elapsed, p50_response_time, p99_response_time, interval_requests, interval_errors,
 *  total_requests}]}`.
 *
 *  `interval_seconds` is the mean spacing of the snapshots' `elapsed`; it is left out when the
 *  history has fewer than two entries.
 */
std::string history_to_json(const TestInfo& info, const std::vector<RealTimeMetrics>& history);

/** Parses a result written by `to_json` (for baselines): the metrics block, errors, endpoints,
 *  thresholds (a `null` observed value reads as NaN) and the other blocks `to_json` writes.
 *
 *  The histograms (`histograms.*`, `endpoints.*.histogram`) are decoded, with the exact min,
 *  max, mean and deviation of their summaries put back, so percentiles of the read-back and of
 *  merged results are those of the original histograms; a corrupt one throws
 *  `std::invalid_argument` naming it (`'histograms.response_time' is not a valid histogram: ...`).
 *  Only `metrics` with the original eight keys is required, so files of the original framework
 *  parse too (`error_rate` and `success_rate` are then derived from the counts). `null` numbers
 *  read as 0. The history is not part of a result file and stays empty. Throws
 *  `std::invalid_argument` naming what is wrong (e.g. `'metrics.p95_response_time' must be a
 *  number`).
 */
LoadTestResult result_from_json(std::string_view json);

/** A file-name-safe form of a test name: keeps `[A-Za-z0-9._-]`, maps every other byte (incl.
 *  '/', '\\', spaces and each byte of a multi-byte character) to '_', collapses runs of dots to
 *  one, strips leading dots, is never empty ("test") and at most 100 bytes long.
 */
std::string sanitize_name(std::string_view name);

/** Free space a results directory must have at the start (`prepare_results_dir`): 1 MiB. */
inline constexpr unsigned long long min_free_bytes = 1024 * 1024;

/** Creates `dir` (and its parents) with mode 0700 if missing, then checks that it is a writable
 *  directory with at least `min_free_bytes` free (statvfs) by creating and removing a temporary
 *  file in it. Directories that already exist keep their mode. Throws
 *  `std::runtime_error("results directory 'DIR' is not writable: REASON")`.
 */
void prepare_results_dir(const std::filesystem::path& dir);

/** Writes a result file as `write_file_atomic` does; when that fails (the directory became
 *  unwritable, the disk filled up), writes it to `fallback_results_dir()` instead, prints one
 *  line naming both paths to stderr, and counts it in `result_fallbacks()`. Every file sink, the
 *  runner and `.hgrm` export write through here, so a result is never lost to its directory.
 *  Returns the path written; throws `std::runtime_error` only when the fallback fails too. */
std::filesystem::path write_result_file(const std::filesystem::path& path, std::string_view content,
                                        bool overwrite = false);

/** Where `write_result_file` falls back to: `$TMPDIR/loadtest_fallback` (`/tmp/...` without TMPDIR). */
std::filesystem::path fallback_results_dir();

/** Files this process wrote to the fallback directory so far (the CLI then exits 1). */
std::size_t result_fallbacks() noexcept;

/** Writes `content` atomically: into a temporary file in the same directory (mode 0600,
 *  `O_EXCL`), `fsync`, then rename onto the final name (and `fsync` of the directory).
 *
 *  With `overwrite == false` an existing file is never replaced: if `path` exists, the content
 *  goes to `stem_1.ext`, `stem_2.ext`, ... (claimed race-free with `renameat2(RENAME_NOREPLACE)`,
 *  or `link()` where the file system lacks it). Returns the path actually written. Throws
 *  `std::runtime_error` naming the path on failure and leaves no temporary file behind.
 */
std::filesystem::path write_file_atomic(const std::filesystem::path& path, std::string_view content,
                                        bool overwrite = false);

}  // namespace loadtest
