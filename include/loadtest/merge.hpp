// loadtest: merging the results of a test's segments (shard files) into the result of the whole.
//
// Implemented in src/merge.cpp.
#pragma once

#include "loadtest/detail/config.hpp"

#include <cstddef>
#include <string>
#include <vector>

#include "loadtest/result.hpp"
#include "loadtest/segment.hpp"
#include "loadtest/threshold.hpp"

namespace loadtest {

/** How `merge_results` merges. */
struct MergeOptions {
  /** Names of the inputs for messages (file names), in the order of the results; missing
   *  entries read as "result #i". */
  std::vector<std::string> sources;
  /** Thresholds judged on the merged whole. When empty, the first input's threshold expressions
   *  are judged again on the whole (each segment judged only its own part). */
  std::vector<Threshold> thresholds;
  /** Accept a set of segments with gaps; the merged result then records
   *  `config["partial"] = "segments 0,2 of 3"`. */
  bool allow_partial = false;
  /** Distinct (category, message) keys kept in the merged error table; the rest are counted in
   *  `error_overflow`. */
  std::size_t max_error_keys = 100;
};

/** The segment `config["segment"]` of a result names: `{i, N}` from "i/N" (0 <= i < N), `{0, 1}`
 *  when there is none (an unsegmented run is the one segment of itself). Throws
 *  `std::invalid_argument` naming the bad text and the accepted form. */
Segment segment_of(const LoadTestResult& r);

/** Merges the results of one test's segments into the result of the whole test, exactly:
 *
 *  - Histograms (the whole test's response time, each endpoint's, service time and schedule
 *    lag) merge bucket by bucket, and every percentile, min, max, mean and deviation is computed
 *    again from the merged histograms (the same figures one process holding every sample
 *    reports). Counts and status classes add exactly; endpoints merge by name.
 *  - Duration is the longest segment's; requests per second are the total over that duration
 *    (likewise per endpoint); `max_active_users` is the sum (the segments run side by side);
 *    the timestamp is the earliest.
 *  - Error tables merge by (category, message) under `max_error_keys`, the rest and every
 *    input's overflow counted in `error_overflow`; `errors` is rebuilt from the table.
 *  - Schedule figures: intended, started, late and dropped add; lag p50, p99 and max come from
 *    the merged lag histogram.
 *  - Thresholds (`MergeOptions::thresholds`, else the inputs' own expressions) are evaluated on
 *    the merged whole. `aborted_by` keeps the first segment's abort, if any.
 *  - `config` is the first input's, without `segment`, plus `segments` (N) and, for a partial
 *    merge, `partial`. The history stays empty.
 *
 *  Throws `std::invalid_argument` naming the input (from `MergeOptions::sources`) when the
 *  inputs cannot be merged: no inputs; an input without histograms (`response_histogram`, each
 *  endpoint's, and in the open model the service and lag ones); a histogram whose count differs
 *  from the request count it stands for; inputs of different tests (name, model, pattern,
 *  behavior, seed, or segment count N differ); a bad `segment`; two inputs of the same segment;
 *  or missing segments, unless `allow_partial`. */
LoadTestResult merge_results(const std::vector<LoadTestResult>& results, const MergeOptions& options);
/** `merge_results(results, MergeOptions{})`. */
LoadTestResult merge_results(const std::vector<LoadTestResult>& results);

}  // namespace loadtest
