// loadtest: load shapes written as text (the command line's --stages and --pattern).
//
//   stages:  DUR:TARGET,DUR:TARGET,...            e.g. 30s:50,1m:50,10s:0
//   step:    step:start=10,step=10,every=30s,steps=5[,ramp=5s]
//   spike:   spike:base=10,peak=200,at=60s,rise=5s,hold=30s,fall=5s[,duration=3m]
//
// Every shape becomes a stage list (a start value and linear segments), which serves both models:
// `Stages` for users, `RampingRate` for arrival rates.
#pragma once

#include "loadtest/detail/config.hpp"

#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "loadtest/pattern.hpp"

namespace loadtest {

/** A shape as stages: where it starts and how it moves. */
struct StageList {
  double start = 0;
  std::vector<Stage> stages;
};

namespace detail {

inline double parse_number(std::string_view text, const std::string& what) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(v) || v < 0)
    throw std::invalid_argument(what + " '" + std::string(text) + "' is not a non-negative number");
  return v;
}

inline std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t pos = 0;
  for (;;) {
    auto next = text.find(sep, pos);
    parts.push_back(text.substr(pos, next - pos));
    if (next == std::string_view::npos) return parts;
    pos = next + 1;
  }
}

}  // namespace detail

/** Parses `DUR:TARGET,DUR:TARGET,...` (k6's stages), starting from `start`.
 *  Throws std::invalid_argument("invalid stages '...': stage N '...': reason"). */
inline StageList parse_stages(std::string_view spec, double start = 0) {
  auto fail = [&](const std::string& why) {
    return std::invalid_argument("invalid stages '" + std::string(spec) + "': " + why +
                                 " (use DUR:TARGET,... e.g. 30s:50,1m:50,10s:0)");
  };
  if (spec.empty()) throw fail("empty");
  StageList out{start, {}};
  auto parts = detail::split(spec, ',');
  for (std::size_t i = 0; i < parts.size(); ++i) {
    std::string where = "stage " + std::to_string(i + 1) + " '" + std::string(parts[i]) + "'";
    auto colon = parts[i].find(':');
    if (colon == std::string_view::npos) throw fail(where + ": expected DUR:TARGET");
    try {
      out.stages.push_back(Stage{parse_duration(parts[i].substr(0, colon)),
                                 detail::parse_number(parts[i].substr(colon + 1), "target")});
    } catch (const std::invalid_argument& e) {
      throw fail(where + ": " + e.what());
    }
  }
  try {
    detail::validate_stages(out.stages, out.start, "stages");
  } catch (const std::invalid_argument& e) {
    throw fail(e.what());
  }
  return out;
}

/** Parses `step:...` or `spike:...` (see the top of this file) into stages. `length` is the test
 *  duration, used by a spike without `duration=`. Throws std::invalid_argument naming the bad part. */
inline StageList parse_shape(std::string_view spec, std::optional<Duration> length = std::nullopt) {
  auto fail = [&](const std::string& why) {
    return std::invalid_argument("invalid pattern '" + std::string(spec) + "': " + why +
                                 " (use step:start=10,step=10,every=30s,steps=5 or "
                                 "spike:base=10,peak=200,at=60s,rise=5s,hold=30s,fall=5s)");
  };
  auto colon = spec.find(':');
  std::string_view kind = spec.substr(0, colon);
  if (kind != "step" && kind != "spike") throw fail("unknown shape '" + std::string(kind) + "'");
  if (colon == std::string_view::npos || colon + 1 == spec.size()) throw fail("no parameters");
  std::map<std::string, std::string_view, std::less<>> kv;
  for (std::string_view item : detail::split(spec.substr(colon + 1), ',')) {
    auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) throw fail("'" + std::string(item) + "' is not key=value");
    if (!kv.emplace(std::string(item.substr(0, eq)), item.substr(eq + 1)).second)
      throw fail("'" + std::string(item.substr(0, eq)) + "' given twice");
  }
  auto take = [&](const char* key, bool required) -> std::optional<std::string_view> {
    auto it = kv.find(key);
    if (it == kv.end()) {
      if (required) throw fail("missing '" + std::string(key) + "='");
      return std::nullopt;
    }
    std::string_view v = it->second;
    kv.erase(it);
    return v;
  };
  auto number = [&](const char* key) {
    try {
      return detail::parse_number(*take(key, true), key);
    } catch (const std::invalid_argument& e) {
      throw fail(e.what());
    }
  };
  auto duration = [&](const char* key, bool required) -> std::optional<Duration> {
    auto v = take(key, required);
    if (!v) return std::nullopt;
    try {
      return parse_duration(*v);
    } catch (const std::invalid_argument& e) {
      throw fail(std::string(key) + ": " + e.what());
    }
  };

  StageList out;
  if (kind == "step") {
    double start = number("start"), step = number("step");
    Duration every = *duration("every", true);
    double steps = number("steps");
    Duration ramp = duration("ramp", false).value_or(0s);
    if (!kv.empty()) throw fail("unknown key '" + kv.begin()->first + "'");
    if (steps < 1 || steps != std::floor(steps) || steps > 10'000) throw fail("steps must be a whole number 1..10000");
    if (every <= 0ns) throw fail("every must be longer than 0");
    if (to_seconds(every) * steps > max_duration_seconds) throw fail("every x steps must be at most 1e9 s");
    if (ramp > every) throw fail("ramp must not be longer than every");
    out.start = start;
    for (int k = 0; k < static_cast<int>(steps); ++k) {
      double level = start + k * step;
      if (k == 0) {
        out.stages.push_back({every, level});
      } else {
        out.stages.push_back({ramp, level});
        out.stages.push_back({every - ramp, level});
      }
    }
  } else {
    double base = number("base"), peak = number("peak");
    Duration at = *duration("at", true), rise = *duration("rise", true), hold = *duration("hold", true),
             fall = *duration("fall", true);
    auto total = duration("duration", false);
    if (!kv.empty()) throw fail("unknown key '" + kv.begin()->first + "'");
    if (!total) total = length;
    if (!total) throw fail("missing 'duration=' (or give the test a duration)");
    Duration spike_end = at + rise + hold + fall;
    if (spike_end > *total)
      throw fail("the spike ends at " + format_duration(spike_end) + ", after the duration " + format_duration(*total));
    out.start = base;
    out.stages = {{at, base}, {rise, peak}, {hold, peak}, {fall, base}, {*total - spike_end, base}};
  }
  return out;
}

}  // namespace loadtest
