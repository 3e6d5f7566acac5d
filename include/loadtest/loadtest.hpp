// loadtest: the umbrella header. Include this and write a test:
//
//   struct MyTest : loadtest::LoadTest<MyTest, loadtest::RampUsers, loadtest::SingleAction,
//                                      loadtest::FixedBackoff, loadtest::ConsoleSink> { ... };
//
// The embedded target server (loadtest/testing/target_server.hpp) is not included: it is for tests.
#pragma once

#include "loadtest/detail/config.hpp"

#include "loadtest/backoff.hpp"
#include "loadtest/baseline.hpp"
#include "loadtest/behavior.hpp"
#include "loadtest/config.hpp"
#include "loadtest/cookies.hpp"
#include "loadtest/csv_sink.hpp"
#include "loadtest/feeder.hpp"
#include "loadtest/hgrm.hpp"
#include "loadtest/histogram.hpp"
#include "loadtest/html_report.hpp"
#include "loadtest/http.hpp"
#include "loadtest/load_test.hpp"
#include "loadtest/metrics.hpp"
#include "loadtest/outcome.hpp"
#include "loadtest/pattern.hpp"
#include "loadtest/pattern_spec.hpp"
#include "loadtest/prometheus.hpp"
#include "loadtest/rate.hpp"
#include "loadtest/result.hpp"
#include "loadtest/results_io.hpp"
#include "loadtest/runner.hpp"
#include "loadtest/session.hpp"
#include "loadtest/sink.hpp"
#include "loadtest/threshold.hpp"
#include "loadtest/time.hpp"
