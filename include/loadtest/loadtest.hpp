// loadtest: the umbrella header. Include this and write a test:
//
//   struct MyTest : loadtest::LoadTest<MyTest, loadtest::RampUsers, loadtest::SingleAction,
//                                      loadtest::FixedBackoff, loadtest::ConsoleSink> { ... };
#pragma once

#include "loadtest/backoff.hpp"
#include "loadtest/behavior.hpp"
#include "loadtest/config.hpp"
#include "loadtest/histogram.hpp"
#include "loadtest/http.hpp"
#include "loadtest/load_test.hpp"
#include "loadtest/metrics.hpp"
#include "loadtest/outcome.hpp"
#include "loadtest/pattern.hpp"
#include "loadtest/result.hpp"
#include "loadtest/results_io.hpp"
#include "loadtest/session.hpp"
#include "loadtest/sink.hpp"
#include "loadtest/time.hpp"
