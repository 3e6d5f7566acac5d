// loadtest: the self-contained HTML report: tables, and charts drawn here as inline SVG.
#include "loadtest/html_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "loadtest/histogram.hpp"
#include "loadtest/outcome.hpp"
#include "loadtest/text.hpp"

namespace loadtest {

namespace detail {

std::string html_escape(std::string_view raw) {
  const std::string s = text::to_valid_utf8(raw);  // bad bytes become U+FFFD
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
          out += ' ';
        else
          out += c;
    }
  }
  return out;
}

}  // namespace detail

namespace {

using detail::html_escape;
using Buf = std::string;

template <class... Args>
void put(Buf& b, fmt::format_string<Args...> f, Args&&... args) {
  fmt::format_to(std::back_inserter(b), f, std::forward<Args>(args)...);
}

// --- number formatting ------------------------------------------------------------------------

double finite_or_zero(double v) noexcept { return std::isfinite(v) ? v : 0.0; }

/** 1234567 -> "1,234,567". */
std::string group(std::uint64_t v) {
  std::string digits = std::to_string(v), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

/** A rate with one decimal and grouped thousands: "12,345.6". */
std::string rate(double v) {
  v = finite_or_zero(v);
  if (v < 0) v = 0;
  auto whole = static_cast<std::uint64_t>(v);
  int tenth = static_cast<int>(std::lround((v - static_cast<double>(whole)) * 10));
  if (tenth == 10) {
    ++whole;
    tenth = 0;
  }
  return group(whole) + "." + std::to_string(tenth);
}

/** A ratio 0..1 as a percentage: "0.25%". */
std::string percent(double ratio) {
  ratio = finite_or_zero(ratio) * 100;
  if (ratio == 0) return "0%";
  if (ratio < 0.01) return "<0.01%";
  return fmt::format("{:.2f}%", ratio);
}

/** Seconds as a latency with a unit: "850 µs", "4.20 ms", "12.3 ms", "1.25 s". */
std::string latency(double s) {
  s = finite_or_zero(s);
  if (s <= 0) return "0";
  if (s < 1e-3) return fmt::format("{:.0f} \u00b5s", s * 1e6);
  if (s < 1e-2) return fmt::format("{:.2f} ms", s * 1e3);
  if (s < 0.1) return fmt::format("{:.1f} ms", s * 1e3);
  if (s < 1) return fmt::format("{:.0f} ms", s * 1e3);
  if (s < 60) return fmt::format("{:.2f} s", s);
  return format_duration(from_seconds(s));
}

/** Up to 3 significant digits without trailing zeros: 0.25, 12.5, 1250. */
std::string short_number(double v);

/** A latency for an axis tick: "200 \u00b5s", "5 ms", "1.5 s". */
std::string latency_tick(double s) {
  if (s < 1e-3) return short_number(s * 1e6) + " \u00b5s";
  if (s < 1) return short_number(s * 1e3) + " ms";
  return short_number(s) + " s";
}

/** A test's length: "850 ms", "12.5 s", "2m05s", "1h02m". */
std::string wall_time(double s) {
  s = finite_or_zero(s);
  if (s <= 0) return "0 s";
  if (s < 1) return fmt::format("{:.0f} ms", s * 1e3);
  if (s < 60) return fmt::format("{:.1f} s", s);
  return format_duration(from_seconds(s));
}

/** A compact number for axes: "950", "1.2k", "3M", "0.25". */
std::string compact(double v) {
  const double a = std::fabs(v);
  if (a >= 1e9) return fmt::format("{:g}G", v / 1e9);
  if (a >= 1e6) return fmt::format("{:g}M", v / 1e6);
  if (a >= 1e4) return fmt::format("{:g}k", v / 1e3);
  return fmt::format("{:g}", v);
}

// A value shown in a unit chosen for the largest value of a chart.
struct Unit {
  double scale = 1;  // display = seconds * scale
  std::string name;
};

Unit latency_unit(double max_seconds) {
  if (max_seconds < 1e-3) return {1e6, "\u00b5s"};
  if (max_seconds < 1) return {1e3, "ms"};
  return {1, "s"};
}

Unit time_unit(double max_seconds) {
  if (max_seconds <= 180) return {1, "s"};
  if (max_seconds <= 3 * 3600) return {1.0 / 60, "min"};
  return {1.0 / 3600, "h"};
}

/** Up to 3 significant digits without trailing zeros: 0.25, 12.5, 1250. */
std::string short_number(double v) {
  if (v == 0) return "0";
  std::string s = fmt::format("{:.3g}", v);
  if (s.find('e') != std::string::npos) s = fmt::format("{:.0f}", v);
  return s;
}

// --- chart geometry -------------------------------------------------------------------------

constexpr double chart_w = 640;
constexpr double chart_h = 280;
constexpr double pad_left = 66, pad_right = 16, pad_top = 34, pad_bottom = 46;

struct Tick {
  double v;
  std::string label;
};

struct Axis {
  double lo = 0, hi = 1;
  std::vector<Tick> ticks;
  std::string title;
};

/** A "nice" step (1, 2 or 5 times a power of ten) for about `target` intervals over `span`. */
double nice_step(double span, int target) {
  if (!(span > 0) || !std::isfinite(span)) return 1;
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  const double f = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
  return f * mag;
}

/** An axis from 0 (or `lo`) to a nice value at or above `max`, ticks labelled by `label`. */
Axis linear_axis(double lo, double max, int target, const std::function<std::string(double)>& label,
                 std::string title) {
  Axis a;
  a.title = std::move(title);
  if (!(max > lo) || !std::isfinite(max)) max = lo + 1;
  const double step = nice_step(max - lo, target);
  a.lo = lo;
  a.hi = lo + std::ceil((max - lo) / step - 1e-9) * step;
  if (a.hi <= lo) a.hi = lo + step;
  for (int i = 0;; ++i) {
    double v = lo + i * step;
    if (v > a.hi + step * 1e-6) break;
    if (std::fabs(v) < step * 1e-9) v = 0;
    a.ticks.push_back({v, label(v)});
  }
  return a;
}

struct Frame {
  double x0 = pad_left, x1 = chart_w - pad_right, y0 = pad_top, y1 = chart_h - pad_bottom;
  double px(const Axis& a, double v) const { return x0 + (v - a.lo) / (a.hi - a.lo) * (x1 - x0); }
  double py(const Axis& a, double v) const {
    v = std::clamp(v, a.lo, a.hi);
    return y1 - (v - a.lo) / (a.hi - a.lo) * (y1 - y0);
  }
};

void open_figure(Buf& b, std::string_view title, double height, std::string_view note = {}) {
  put(b, "<figure class=\"chart\"><figcaption>{}</figcaption>\n", html_escape(title));
  if (!note.empty()) put(b, "<p class=\"note\">{}</p>\n", html_escape(note));
  put(b, "<svg class=\"plot\" viewBox=\"0 0 {:.0f} {:.0f}\" role=\"img\" aria-label=\"{}\">\n", chart_w, height,
      html_escape(title));
}

void close_figure(Buf& b) { b += "</svg></figure>\n"; }

/** Gridlines, tick labels and axis titles. */
void draw_axes(Buf& b, const Frame& f, const Axis& x, const Axis& y) {
  b += "<g class=\"grid\">";
  for (const auto& t : y.ticks) put(b, "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>", f.x0, f.py(y, t.v), f.x1, f.py(y, t.v));
  for (const auto& t : x.ticks) put(b, "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>", f.px(x, t.v), f.y0, f.px(x, t.v), f.y1);
  b += "</g>\n<g class=\"axis\">";
  put(b, "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>", f.x0, f.y1, f.x1, f.y1);
  put(b, "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>", f.x0, f.y0, f.x0, f.y1);
  for (const auto& t : y.ticks)
    put(b, "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>", f.x0 - 6, f.py(y, t.v) + 4,
        html_escape(t.label));
  for (const auto& t : x.ticks) {  // a label at the right edge ends there instead of being cut off
    const double at = f.px(x, t.v);
    put(b, "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"{}\">{}</text>", at, f.y1 + 16,
        at > f.x1 - 24 ? "end" : "middle", html_escape(t.label));
  }
  put(b, "<text class=\"title\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>", (f.x0 + f.x1) / 2,
      f.y1 + 36, html_escape(x.title));
  put(b, "<text class=\"title\" transform=\"rotate(-90)\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>",
      -(f.y0 + f.y1) / 2, 16.0, html_escape(y.title));
  b += "</g>\n";
}

struct Legend {
  std::string name, color;
  bool dashed = false;
};

void draw_legend(Buf& b, const Frame& f, const std::vector<Legend>& items) {
  double x = f.x0;
  b += "<g class=\"legend\">";
  for (const auto& it : items) {
    put(b, "<line x1=\"{:.1f}\" y1=\"14\" x2=\"{:.1f}\" y2=\"14\" stroke=\"{}\" stroke-width=\"3\"{}/>", x, x + 18,
        it.color, it.dashed ? " stroke-dasharray=\"5 3\"" : "");
    put(b, "<text x=\"{:.1f}\" y=\"18\">{}</text>", x + 24, html_escape(it.name));
    x += 36 + 6.5 * static_cast<double>(it.name.size());
  }
  b += "</g>\n";
}

struct Series {
  std::string name, color;
  std::vector<double> ys;  // one per x of the chart, display units
  bool dashed = false;
};

struct Marker {
  double x, y;
  std::string color, tip;
};

struct LineChart {
  std::string title, note;
  Axis x, y;
  std::vector<double> xs;  // display units, increasing
  std::vector<Series> series;
  std::function<std::string(double)> tip_x, tip_y;  // tooltip texts (display units)
  std::vector<Marker> markers;
};

/** The indices to draw of a long series: the first, last, min and max of each bucket, so spikes
 *  survive while a day of one-second snapshots stays a few kilobytes. */
std::vector<std::size_t> decimate(const std::vector<double>& ys, std::size_t buckets) {
  std::vector<std::size_t> keep;
  const std::size_t n = ys.size();
  if (n <= buckets * 2) {
    keep.resize(n);
    for (std::size_t i = 0; i < n; ++i) keep[i] = i;
    return keep;
  }
  for (std::size_t k = 0; k < buckets; ++k) {
    const std::size_t a = k * n / buckets, e = (k + 1) * n / buckets;
    if (a >= e) continue;
    std::size_t lo = a, hi = a;
    for (std::size_t i = a; i < e; ++i) {
      if (ys[i] < ys[lo]) lo = i;
      if (ys[i] > ys[hi]) hi = i;
    }
    keep.push_back(a);
    keep.push_back(std::min(lo, hi));
    keep.push_back(std::max(lo, hi));
    keep.push_back(e - 1);
  }
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  return keep;
}

void draw_line_chart(Buf& b, const LineChart& c) {
  Frame f;
  open_figure(b, c.title, chart_h, c.note);
  draw_axes(b, f, c.x, c.y);
  std::vector<Legend> legend;
  for (const auto& s : c.series) legend.push_back({s.name, s.color, s.dashed});
  draw_legend(b, f, legend);
  const std::size_t n = c.xs.size();
  for (const auto& s : c.series) {
    if (n >= 2) {
      put(b, "<polyline class=\"line\" stroke=\"{}\"{} points=\"", s.color, s.dashed ? " stroke-dasharray=\"6 4\"" : "");
      bool first = true;
      for (std::size_t i : decimate(s.ys, 600)) {
        put(b, "{}{:.1f},{:.1f}", first ? "" : " ", f.px(c.x, c.xs[i]), f.py(c.y, s.ys[i]));
        first = false;
      }
      b += "\"/>\n";
    }
    if (n <= 60) {  // few points: mark each one (a single point is only a marker)
      for (std::size_t i = 0; i < n; ++i)
        put(b, "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"/>", f.px(c.x, c.xs[i]), f.py(c.y, s.ys[i]),
            n == 1 ? 4 : 2.5, s.color);
      b += "\n";
    }
  }
  for (const auto& m : c.markers)
    put(b, "<circle class=\"marker\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\"><title>{}</title></circle>\n",
        f.px(c.x, m.x), f.py(c.y, m.y), m.color, html_escape(m.tip));
  // Hover bands: one per time slot (at most 240), each with a tooltip listing every series.
  if (n > 0 && c.tip_x && c.tip_y) {
    const std::size_t bands = std::min<std::size_t>(n, 240);
    b += "<g class=\"hover\">";
    for (std::size_t k = 0; k < bands; ++k) {
      const std::size_t a = k * n / bands, e = (k + 1) * n / bands;  // indices [a, e)
      const double left = a == 0 ? f.x0 : (f.px(c.x, c.xs[a - 1]) + f.px(c.x, c.xs[a])) / 2;
      const double right = e >= n ? f.x1 : (f.px(c.x, c.xs[e - 1]) + f.px(c.x, c.xs[e])) / 2;
      if (right <= left) continue;
      std::string tip = c.tip_x(c.xs[a]);
      for (const auto& s : c.series) tip += "\n" + s.name + ": " + c.tip_y(s.ys[a]);
      put(b, "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\"><title>{}</title></rect>", left, f.y0,
          right - left, f.y1 - f.y0, html_escape(tip));
    }
    b += "</g>\n";
  }
  close_figure(b);
}

void no_data(Buf& b, std::string_view title, std::string_view why) {
  put(b, "<figure class=\"chart\"><figcaption>{}</figcaption><p class=\"empty\">{}</p></figure>\n",
      html_escape(title), html_escape(why));
}

// --- charts over time -----------------------------------------------------------------------

constexpr const char* blue = "#1f77b4";
constexpr const char* orange = "#ff7f0e";
constexpr const char* red = "#d62728";
constexpr const char* green = "#2ca02c";
constexpr const char* purple = "#9467bd";
constexpr const char* grey = "#7f7f7f";

void time_charts(Buf& b, const LoadTestResult& r) {
  const auto& h = r.history;
  if (h.empty()) {
    no_data(b, "Over time",
            "No snapshots were taken: the test ended before the first monitor interval, or the result was read "
            "back from a file that keeps no history.");
    return;
  }
  double t_max = 0;
  for (const auto& m : h) t_max = std::max(t_max, finite_or_zero(m.elapsed));
  const Unit tu = time_unit(t_max);
  std::vector<double> xs;
  for (const auto& m : h) xs.push_back(std::max(0.0, finite_or_zero(m.elapsed)) * tu.scale);
  // elapsed should increase; keep the x values monotonic whatever the input says
  for (std::size_t i = 1; i < xs.size(); ++i) xs[i] = std::max(xs[i], xs[i - 1]);
  const Axis x = linear_axis(0, xs.back() > 0 ? xs.back() : 1, 8, [&](double v) { return short_number(v) + " " + tu.name; },
                             "elapsed time (" + tu.name + ")");
  auto tip_x = [tu](double v) { return "at " + short_number(v) + " " + tu.name; };
  auto column = [&](auto get) {
    std::vector<double> ys;
    for (const auto& m : h) ys.push_back(std::max(0.0, finite_or_zero(get(m))));
    return ys;
  };
  auto max_of = [](const std::vector<Series>& ss) {
    double m = 0;
    for (const auto& s : ss)
      for (double v : s.ys) m = std::max(m, v);
    return m;
  };

  {  // throughput
    LineChart c;
    c.title = "Throughput";
    c.xs = xs;
    c.x = x;
    c.series.push_back({"requests/s", blue, column([](const RealTimeMetrics& m) { return m.requests_per_second; })});
    c.series.push_back({"errors/s", red, column([](const RealTimeMetrics& m) {
                          return m.requests_per_second * m.current_error_rate;
                        })});
    c.y = linear_axis(0, max_of(c.series), 5, [](double v) { return compact(v); }, "per second");
    c.tip_x = tip_x;
    c.tip_y = [](double v) { return rate(v) + "/s"; };
    draw_line_chart(b, c);
  }
  {  // latency percentiles
    LineChart c;
    c.title = "Response time percentiles (per interval)";
    c.xs = xs;
    c.x = x;
    double top = 0;
    for (const auto& m : h) top = std::max({top, finite_or_zero(m.p99_response_time), finite_or_zero(m.p95_response_time),
                                            finite_or_zero(m.p50_response_time)});
    const Unit lu = latency_unit(top);
    auto scaled = [&](auto get) {
      auto ys = column(get);
      for (double& v : ys) v *= lu.scale;
      return ys;
    };
    c.series.push_back({"p50", green, scaled([](const RealTimeMetrics& m) { return m.p50_response_time; })});
    c.series.push_back({"p95", orange, scaled([](const RealTimeMetrics& m) { return m.p95_response_time; })});
    c.series.push_back({"p99", red, scaled([](const RealTimeMetrics& m) { return m.p99_response_time; })});
    c.series.push_back({"avg", grey, scaled([](const RealTimeMetrics& m) { return m.avg_response_time; }), true});
    c.y = linear_axis(0, max_of(c.series), 5, [lu](double v) { return short_number(v) + " " + lu.name; },
                      "response time (" + lu.name + ")");
    c.tip_x = tip_x;
    c.tip_y = [lu](double v) { return latency(v / lu.scale); };
    draw_line_chart(b, c);
  }
  {  // users
    LineChart c;
    c.title = r.model == "open" ? "Busy users" : "Active users";
    c.xs = xs;
    c.x = x;
    c.series.push_back(
        {"users", purple, column([](const RealTimeMetrics& m) { return static_cast<double>(m.active_users); })});
    const double top = max_of(c.series);
    c.y = linear_axis(0, std::max(top, 1.0), top < 5 ? static_cast<int>(std::max(top, 1.0)) : 5,
                      [](double v) { return short_number(v); }, "users");
    c.tip_x = tip_x;
    c.tip_y = [](double v) { return fmt::format("{:.0f}", v); };
    draw_line_chart(b, c);
  }
  {  // error rate
    LineChart c;
    c.title = "Error rate (per interval)";
    c.xs = xs;
    c.x = x;
    c.series.push_back({"errors", red, column([](const RealTimeMetrics& m) { return m.current_error_rate * 100; })});
    const double top = max_of(c.series);
    c.y = linear_axis(0, top > 0 ? std::min(top, 100.0) : 1.0, 5, [](double v) { return short_number(v) + "%"; },
                      "failed requests (%)");
    c.tip_x = tip_x;
    c.tip_y = [](double v) { return percent(v / 100); };
    draw_line_chart(b, c);
  }
  {  // load generator
    LineChart c;
    c.title = "Load generator: CPU";
    c.note = "CPU time of the load-testing process itself, in percent of one core: near 100% per I/O thread, the "
             "generator (not the target) may be the bottleneck.";
    c.xs = xs;
    c.x = x;
    c.series.push_back({"CPU %", grey, column([](const RealTimeMetrics& m) { return m.cpu_usage; })});
    c.y = linear_axis(0, std::max(max_of(c.series), 1.0), 5, [](double v) { return short_number(v) + "%"; },
                      "CPU (% of one core)");
    c.tip_x = tip_x;
    c.tip_y = [](double v) { return fmt::format("{:.1f}%", v); };
    draw_line_chart(b, c);

    LineChart m;
    m.title = "Load generator: memory";
    m.xs = xs;
    m.x = x;
    m.series.push_back({"resident MB", blue, column([](const RealTimeMetrics& s) { return s.memory_usage; })});
    m.y = linear_axis(0, std::max(max_of(m.series), 1.0), 5, [](double v) { return short_number(v) + " MB"; },
                      "resident set size (MB)");
    m.tip_x = tip_x;
    m.tip_y = [](double v) { return fmt::format("{:.1f} MB", v); };
    draw_line_chart(b, m);
  }
}

// --- latency distribution -------------------------------------------------------------------

std::string percentile_label(double x) {  // x = log10(1 / (1 - p))
  static const char* labels[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%"};
  const auto i = static_cast<int>(std::lround(x));
  return i >= 0 && i < 8 ? labels[i] : "";
}

void distribution_charts(Buf& b, const LoadTestResult& r) {
  const Histogram* hist = r.response_histogram.get();
  if (r.total_requests == 0 && (hist == nullptr || hist->empty())) {
    no_data(b, "Latency distribution", "No requests were recorded.");
    return;
  }
  struct Named {
    const char* name;
    double p;  // 0..100
    double value;
  };
  std::vector<Named> named;
  std::vector<std::pair<double, double>> curve;  // (x = log10(1/(1-p)), seconds)
  double x_max = 3, max_value = r.max_response_time;
  std::string note;
  if (hist != nullptr && !hist->empty()) {
    const double count = static_cast<double>(hist->count());
    x_max = std::clamp(std::ceil(std::log10(std::max(count, 1.0))), 2.0, 6.0);
    constexpr int steps = 240;
    for (int k = 0; k <= steps; ++k) {
      const double xv = x_max * k / steps;
      const double p = std::min(100.0, 100.0 * (1 - std::pow(10.0, -xv)));
      curve.emplace_back(xv, to_seconds(hist->value_at_percentile(p)));
    }
    max_value = to_seconds(hist->max());
    for (auto [name, p] : std::initializer_list<std::pair<const char*, double>>{
             {"p50", 50}, {"p90", 90}, {"p95", 95}, {"p99", 99}, {"p99.9", 99.9}, {"p99.99", 99.99}})
      if (std::log10(100 / (100 - p)) <= x_max + 1e-9) named.push_back({name, p, to_seconds(hist->value_at_percentile(p))});
    note = fmt::format("{} response times from the HDR histogram (3 significant digits); the x axis stretches the "
                       "tail: each grid line is ten times closer to 100%. Max: {}.",
                       group(hist->count()), latency(max_value));
  } else {
    named = {{"p50", 50, r.p50_response_time},  {"p90", 90, r.p90_response_time},
             {"p95", 95, r.p95_response_time},  {"p99", 99, r.p99_response_time},
             {"p99.9", 99.9, r.p999_response_time}};
    curve.emplace_back(0, r.min_response_time);
    for (const auto& n : named) curve.emplace_back(std::log10(100 / (100 - n.p)), n.value);
    note = fmt::format("Only the summary percentiles are known (the full histogram is not kept in result files), so "
                       "this curve is coarse. Max: {}.",
                       latency(max_value));
  }
  double top = 0;
  for (const auto& [xv, v] : curve) top = std::max(top, finite_or_zero(v));
  const Unit lu = latency_unit(top);
  LineChart c;
  c.title = "Latency by percentile";
  c.note = note;
  for (const auto& [xv, v] : curve) c.xs.push_back(xv);
  Series s{"response time", blue, {}};
  for (const auto& [xv, v] : curve) s.ys.push_back(std::max(0.0, finite_or_zero(v)) * lu.scale);
  c.series.push_back(std::move(s));
  c.x.lo = 0;
  c.x.hi = x_max;
  c.x.title = "percentile (log scale towards 100%)";
  for (int i = 0; i <= static_cast<int>(x_max); ++i) c.x.ticks.push_back({static_cast<double>(i), percentile_label(i)});
  c.y = linear_axis(0, top * lu.scale, 5, [lu](double v) { return short_number(v) + " " + lu.name; },
                    "response time (" + lu.name + ")");
  for (const auto& n : named)
    c.markers.push_back({std::log10(100 / (100 - n.p)), finite_or_zero(n.value) * lu.scale, orange,
                         std::string(n.name) + ": " + latency(n.value)});
  draw_line_chart(b, c);

  if (hist == nullptr || hist->empty()) return;
  // A histogram of the response times on a log axis: 60 bins between min and max.
  double lo = std::max(to_seconds(hist->lowest_equivalent(hist->min())), 1e-6);
  double hi = std::max(to_seconds(hist->max()), lo);
  if (hi / lo < 1.2) {  // (nearly) one value: give the bins some room around it
    const double mid = std::sqrt(lo * hi);
    lo = mid / 1.2;
    hi = mid * 1.2;
  }
  const double llo = std::log10(lo), lhi = std::log10(hi);
  constexpr int bins = 60;
  std::vector<std::uint64_t> counts(bins, 0);
  hist->for_each_recorded([&](Duration a, Duration e, std::uint64_t n) {
    const double mid = std::max((to_seconds(a) + to_seconds(e)) / 2, 1e-7);
    int i = static_cast<int>(std::floor((std::log10(mid) - llo) / (lhi - llo) * bins));
    counts[static_cast<std::size_t>(std::clamp(i, 0, bins - 1))] += n;
  });
  const std::uint64_t peak = *std::max_element(counts.begin(), counts.end());
  Frame f;
  Axis x;
  x.lo = llo;
  x.hi = lhi;
  x.title = "response time (log scale)";
  for (int d = static_cast<int>(std::floor(llo)) - 1; d <= static_cast<int>(std::ceil(lhi)); ++d)
    for (double m : {1.0, 2.0, 5.0}) {
      const double v = std::log10(m) + d;
      if (v >= llo - 1e-9 && v <= lhi + 1e-9) x.ticks.push_back({v, latency_tick(std::pow(10.0, v))});
    }
  if (x.ticks.size() < 2) x.ticks = {{llo, latency(std::pow(10.0, llo))}, {lhi, latency(std::pow(10.0, lhi))}};
  Axis y = linear_axis(0, static_cast<double>(peak), 5, [](double v) { return compact(v); }, "requests");
  open_figure(b, "Latency histogram", chart_h,
              "How many responses took how long: 60 bins, evenly spaced on a log scale; dashed lines mark p50 and p99.");
  draw_axes(b, f, x, y);
  const double bw = (f.x1 - f.x0) / bins;
  const double total = static_cast<double>(hist->count());
  for (int i = 0; i < bins; ++i) {
    if (counts[static_cast<std::size_t>(i)] == 0) continue;
    const auto cnt = counts[static_cast<std::size_t>(i)];
    const double a = std::pow(10.0, llo + (lhi - llo) * i / bins), e = std::pow(10.0, llo + (lhi - llo) * (i + 1) / bins);
    const double top_y = f.py(y, static_cast<double>(cnt));
    put(b, "<rect class=\"bar\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{} \u2013 {}: {} "
           "requests ({})</title></rect>",
        f.x0 + bw * i + 0.5, top_y, std::max(bw - 1, 0.5), std::max(f.y1 - top_y, 0.5), blue, latency(a), latency(e),
        group(cnt), percent(static_cast<double>(cnt) / total));
  }
  b += "\n";
  for (auto [name, p, color] : {std::tuple{"p50", 50.0, green}, std::tuple{"p99", 99.0, red}}) {
    const double v = to_seconds(hist->value_at_percentile(p));
    if (v <= 0) continue;
    const double xv = std::clamp(std::log10(v), llo, lhi);
    put(b, "<line class=\"mark\" x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\"/>", f.px(x, xv),
        f.y0, f.y1, color);
    put(b, "<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\">{} {}</text>\n", f.px(x, xv) + 4, f.y0 + 12, color, name,
        html_escape(latency(v)));
  }
  close_figure(b);
}

// --- errors -----------------------------------------------------------------------------------

const char* category_color(std::string_view c) {
  if (c == "http_4xx") return "#e6a700";
  if (c == "http_5xx") return red;
  if (c == "business") return orange;
  if (c == "timeout" || c == "connect_timeout") return purple;
  if (c == "cancelled") return grey;
  return "#8c564b";
}

void category_chart(Buf& b, const LoadTestResult& r) {
  std::vector<std::pair<std::string, std::uint64_t>> rows(r.errors_by_category.begin(), r.errors_by_category.end());
  rows.erase(std::remove_if(rows.begin(), rows.end(), [](const auto& x) { return x.second == 0; }), rows.end());
  if (rows.empty()) {
    no_data(b, "Errors by category", "No request failed.");
    return;
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& c) { return a.second > c.second; });
  std::uint64_t total = 0, peak = 0;
  for (const auto& [name, n] : rows) {
    total += n;
    peak = std::max(peak, n);
  }
  const double row_h = 26, height = pad_top + row_h * static_cast<double>(rows.size()) + pad_bottom;
  Frame f;
  f.x0 = 130;
  f.x1 = chart_w - 56;  // room for the count after the longest bar
  f.y1 = height - pad_bottom;
  Axis x = linear_axis(0, static_cast<double>(peak), 6, [](double v) { return compact(v); }, "failed requests");
  open_figure(b, "Errors by category", height);
  b += "<g class=\"grid\">";
  for (const auto& t : x.ticks) put(b, "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>", f.px(x, t.v), f.y0, f.y1);
  b += "</g>\n<g class=\"axis\">";
  put(b, "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>", f.x0, f.y0, f.y1);
  for (const auto& t : x.ticks)
    put(b, "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>", f.px(x, t.v), f.y1 + 16, html_escape(t.label));
  put(b, "<text class=\"title\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>", (f.x0 + f.x1) / 2, f.y1 + 36,
      html_escape(x.title));
  b += "</g>\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& [name, n] = rows[i];
    const double yy = f.y0 + row_h * static_cast<double>(i);
    const double w = std::max(f.px(x, static_cast<double>(n)) - f.x0, 1.0);
    const std::string tip = fmt::format("{}: {} ({} of failed requests)", name, group(n),
                                        percent(static_cast<double>(n) / static_cast<double>(total)));
    put(b, "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>", f.x0 - 8, yy + 17, html_escape(name));
    put(b, "<rect class=\"bar\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{}</title></rect>",
        f.x0, yy + 4, w, row_h - 8, category_color(name), html_escape(tip));
    put(b, "<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", f.x0 + w + 6, yy + 17, group(n));
  }
  close_figure(b);
}

// --- tables -----------------------------------------------------------------------------------

void kv_row(Buf& b, std::string_view k, std::string_view v_html) {
  put(b, "<tr><th scope=\"row\">{}</th><td>{}</td></tr>\n", html_escape(k), v_html);
}

std::string status_classes(const EndpointResult& e) {
  static const char* names[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  std::string s;
  for (std::size_t i = 1; i <= 6; ++i) {  // 1xx..5xx first, "none" last
    const std::size_t k = i % 6;
    if (e.status_classes[k] == 0) continue;
    s += fmt::format("<span class=\"scl\"><span class=\"sc sc{}\">{}</span>&nbsp;{}</span>", k, names[k],
                     group(e.status_classes[k]));
  }
  return s.empty() ? "\u2013" : s;
}

void latency_cells(Buf& b, const LatencySummary& l, bool any) {
  for (double v : {l.avg, l.min, l.p50, l.p90, l.p95, l.p99, l.p999, l.max})
    put(b, "<td class=\"num\">{}</td>", any ? latency(v) : "\u2013");
}

void endpoint_table(Buf& b, const LoadTestResult& r) {
  if (r.endpoints.empty()) {
    b += "<p class=\"empty\">No endpoint recorded a request.</p>\n";
    return;
  }
  b += "<div class=\"scroll\"><table class=\"data\"><thead><tr><th>Endpoint</th><th>Requests</th><th>OK</th>"
       "<th>Failed</th><th>Error %</th><th>Req/s</th><th>Avg</th><th>Min</th><th>p50</th><th>p90</th><th>p95</th>"
       "<th>p99</th><th>p99.9</th><th>Max</th><th>Status classes</th></tr></thead>\n<tbody>\n";
  for (const auto& e : r.endpoints) {
    const double err = e.total_requests ? static_cast<double>(e.failed_requests) / static_cast<double>(e.total_requests) : 0;
    put(b, "<tr><th scope=\"row\" class=\"name\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td>"
           "<td class=\"num{}\" title=\"{} failures, {} errors\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
        html_escape(e.name), group(e.total_requests), group(e.successful_requests), e.failed_requests ? " bad" : "",
        e.failures, e.errors, group(e.failed_requests), percent(err), rate(e.requests_per_second));
    latency_cells(b, e.response_time, e.total_requests > 0 || e.response_time.count > 0);
    put(b, "<td>{}</td></tr>\n", status_classes(e));
  }
  b += "</tbody>\n";
  if (r.endpoints.size() > 1) {
    const LatencySummary all = r.response_time();
    EndpointResult total;
    for (const auto& e : r.endpoints)
      for (std::size_t i = 0; i < 6; ++i) total.status_classes[i] += e.status_classes[i];
    put(b, "<tfoot><tr><th scope=\"row\">All endpoints</th><td class=\"num\">{}</td><td class=\"num\">{}</td>"
           "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
        group(r.total_requests), group(r.successful_requests), group(r.failed_requests), percent(r.error_rate),
        rate(r.requests_per_second));
    latency_cells(b, all, r.total_requests > 0);
    put(b, "<td>{}</td></tr></tfoot>\n", status_classes(total));
  }
  b += "</table></div>\n";
}

void error_table(Buf& b, const LoadTestResult& r) {
  if (r.error_table.empty()) {
    if (r.failed_requests == 0) b += "<p class=\"empty\">No errors.</p>\n";
    return;
  }
  std::vector<const ErrorEntry*> rows;
  for (const auto& e : r.error_table) rows.push_back(&e);
  std::stable_sort(rows.begin(), rows.end(), [](auto* a, auto* c) { return a->count > c->count; });
  const std::size_t shown = std::min<std::size_t>(rows.size(), 200);
  put(b, "<div class=\"scroll\"><table class=\"data\"><caption>{} distinct errors{}</caption><thead><tr><th>Category</th>"
         "<th>Count</th><th>% of failed</th><th>Message</th></tr></thead><tbody>\n",
      group(rows.size()), shown < rows.size() ? fmt::format(" (the {} most frequent shown)", shown) : std::string());
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& e = *rows[i];
    const double share = r.failed_requests ? static_cast<double>(e.count) / static_cast<double>(r.failed_requests) : 0;
    put(b, "<tr><td><span class=\"cat\" style=\"border-color:{}\">{}</span></td><td class=\"num\">{}</td>"
           "<td class=\"num\">{}</td><td class=\"msg\">{}</td></tr>\n",
        category_color(to_string(e.category)), html_escape(to_string(e.category)), group(e.count), percent(share),
        html_escape(e.message));
  }
  b += "</tbody></table></div>\n";
  if (r.error_overflow)
    put(b, "<p class=\"note\">{} more errors had messages beyond the error table's capacity (they are counted in the "
           "categories).</p>\n",
        group(r.error_overflow));
}

void card(Buf& b, std::string_view label, std::string_view value, std::string_view cls = {}) {
  put(b, "<div class=\"card{}{}\"><div class=\"label\">{}</div><div class=\"value\">{}</div></div>\n",
      cls.empty() ? "" : " ", cls, html_escape(label), html_escape(value));
}

// --- thresholds -------------------------------------------------------------------------------

/** An observed value in the unit its metric name implies (see threshold.hpp's `metric_name`). */
std::string observed_text(const ThresholdResult& t) {
  const double v = t.observed;
  if (!std::isfinite(v)) return "n/a";
  const std::string_view m = t.metric;
  const bool time = m.rfind("p(", 0) == 0 || m.rfind("service_", 0) == 0 || m.rfind("lag_", 0) == 0 || m == "avg" ||
                    m == "min" || m == "max" || m == "med";
  if (time) return latency(v);
  if (m == "error_rate" || m == "success_rate") return fmt::format("{:.4g} ({})", v, percent(v));
  if (m == "rps") return rate(v) + " req/s";
  if (v >= 0 && v == std::floor(v) && v < 1e18) return group(static_cast<std::uint64_t>(v));
  return fmt::format("{:g}", v);
}

std::string threshold_badge(const LoadTestResult& r) {
  std::size_t failed = 0;
  for (const auto& t : r.thresholds) failed += t.passed ? 0 : 1;
  if (failed == 0) return fmt::format("<span class=\"badge pass\">\u2713 passed {}/{}</span>", r.thresholds.size(), r.thresholds.size());
  return fmt::format("<span class=\"badge fail\">\u2717 failed {} of {}</span>", failed, r.thresholds.size());
}

void threshold_table(Buf& b, const LoadTestResult& r) {
  if (r.thresholds.empty()) return;
  b += "<h3>Thresholds</h3>\n<div class=\"scroll\"><table class=\"data\"><thead><tr><th>Verdict</th><th>Expression</th>"
       "<th>Endpoint</th><th>Metric</th><th>Observed</th></tr></thead><tbody>\n";
  for (const auto& t : r.thresholds)
    put(b, "<tr><td><span class=\"badge {}\">{}</span></td><td class=\"msg\">{}</td><td class=\"msg\">{}</td>"
           "<td>{}</td><td class=\"num\">{}</td></tr>\n",
        t.passed ? "pass" : "fail", t.passed ? "\u2713 pass" : "\u2717 fail", html_escape(t.expression),
        t.endpoint.empty() ? "(all)" : html_escape(t.endpoint), html_escape(t.metric), html_escape(observed_text(t)));
  b += "</tbody></table></div>\n";
}

// --- one test ---------------------------------------------------------------------------------

void render_test(Buf& b, const LoadTestResult& r, const std::string& id) {
  const bool any = r.total_requests > 0;
  put(b, "<section class=\"test\" id=\"{}\">\n<h2>{}</h2>\n", id, html_escape(r.name.empty() ? "(unnamed test)" : r.name));
  put(b, "<p class=\"meta\">{} model \u00b7 started {} \u00b7 ran {}</p>\n", html_escape(r.model),
      html_escape(r.timestamp.empty() ? "(unknown)" : r.timestamp), html_escape(wall_time(r.duration)));
  put(b, "<nav class=\"toc\"><a href=\"#{0}-time\">Over time</a> <a href=\"#{0}-dist\">Distribution</a> "
         "<a href=\"#{0}-endpoints\">Endpoints</a> <a href=\"#{0}-errors\">Errors</a> <a href=\"#{0}-config\">"
         "Configuration</a></nav>\n",
      id);
  if (!r.thresholds.empty()) put(b, "<p>Thresholds: {}</p>\n", threshold_badge(r));

  b += "<div class=\"cards\">\n";
  card(b, "Requests", group(r.total_requests));
  card(b, "Throughput", rate(r.requests_per_second) + " req/s");
  card(b, "Error rate", percent(r.error_rate), r.failed_requests ? "bad" : "good");
  card(b, "p50", any ? latency(r.p50_response_time) : "\u2013");
  card(b, "p95", any ? latency(r.p95_response_time) : "\u2013");
  card(b, "p99", any ? latency(r.p99_response_time) : "\u2013");
  card(b, r.model == "open" ? "Max busy users" : "Max users", group(r.max_active_users));
  card(b, "Duration", wall_time(r.duration));
  b += "</div>\n";

  b += "<div class=\"two\"><div>\n<h3>Summary</h3>\n<table class=\"kv\">\n";
  kv_row(b, "Test", html_escape(r.name));
  kv_row(b, "Model", html_escape(r.model == "open" ? "open (arrival rate)" : r.model == "closed" ? "closed (users)" : r.model));
  kv_row(b, "Started (UTC)", html_escape(r.timestamp));
  kv_row(b, "Duration", html_escape(fmt::format("{:.3f} s", finite_or_zero(r.duration))));
  kv_row(b, "Requests", group(r.total_requests));
  kv_row(b, "Successful", group(r.successful_requests));
  kv_row(b, "Failed", fmt::format("{} ({} failures, {} errors)", group(r.failed_requests), group(r.failures),
                                  group(r.errors_total)));
  if (r.cancelled_requests) kv_row(b, "Cancelled at the end", group(r.cancelled_requests));
  kv_row(b, "Throughput", rate(r.requests_per_second) + " req/s");
  kv_row(b, "Error rate", percent(r.error_rate));
  kv_row(b, "Success rate", percent(r.success_rate));
  kv_row(b, r.model == "open" ? "Max busy users" : "Max active users", group(r.max_active_users));
  b += "</table>\n</div><div>\n<h3>Response time</h3>\n";
  b += "<div class=\"scroll\"><table class=\"data\"><thead><tr><th></th><th>Avg</th><th>Min</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th>"
       "<th>p99.9</th><th>Max</th></tr></thead><tbody>\n";
  {
    const LatencySummary all = r.response_time();
    b += "<tr><th scope=\"row\">Response time</th>";
    latency_cells(b, all, any);
    b += "</tr>\n";
    if (r.service_time) {
      b += "<tr><th scope=\"row\">Service time</th>";
      latency_cells(b, *r.service_time, r.service_time->count > 0 || any);
      b += "</tr>\n";
    }
  }
  b += "</tbody></table></div>\n";
  put(b, "<p class=\"note\">Standard deviation: {}.{}</p>\n", any ? latency(r.stddev_response_time) : "\u2013",
      r.service_time ? " Open model: the response time counts from each arrival's intended start (corrected for "
                       "coordinated omission); the service time from the actual send."
                     : "");
  if (r.schedule) {
    const auto& s = *r.schedule;
    b += "<h3>Arrival schedule (open model)</h3>\n<table class=\"kv\">\n";
    kv_row(b, "Intended arrivals", group(s.intended));
    kv_row(b, "Started", group(s.started));
    kv_row(b, "Late (> 1 ms)", group(s.late));
    kv_row(b, "Dropped (no free user)", fmt::format("<span class=\"{}\">{}</span>", s.dropped ? "bad" : "", group(s.dropped)));
    kv_row(b, "Schedule lag", html_escape(fmt::format("p50 {}, p99 {}, max {}", latency(s.lag_p50), latency(s.lag_p99),
                                                      latency(s.lag_max))));
    b += "</table>\n";
  }
  b += "</div></div>\n";

  threshold_table(b, r);

  put(b, "<h3 id=\"{}-time\">Over time</h3>\n<div class=\"charts\">\n", id);
  time_charts(b, r);
  b += "</div>\n";
  put(b, "<h3 id=\"{}-dist\">Latency distribution</h3>\n<div class=\"charts\">\n", id);
  distribution_charts(b, r);
  b += "</div>\n";
  put(b, "<h3 id=\"{}-endpoints\">Endpoints</h3>\n", id);
  endpoint_table(b, r);
  put(b, "<h3 id=\"{}-errors\">Errors</h3>\n<div class=\"charts\">\n", id);
  category_chart(b, r);
  b += "</div>\n";
  error_table(b, r);
  put(b, "<h3 id=\"{}-config\">Configuration</h3>\n", id);
  if (r.config.empty()) {
    b += "<p class=\"empty\">No configuration was recorded.</p>\n";
  } else {
    b += "<table class=\"kv config\">\n";
    for (const auto& [k, v] : r.config) kv_row(b, k, html_escape(v));
    b += "</table>\n";
  }
  b += "</section>\n";
}

// --- the page ---------------------------------------------------------------------------------

constexpr const char* css = R"css(
:root{--fg:#1d2330;--muted:#5b6475;--line:#d9dde5;--bg:#ffffff;--panel:#f5f7fa;--good:#1a7f37;--bad:#c62828}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 28px 8px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:22px;margin:0 0 2px;word-break:break-word}
h3{font-size:16px;margin:26px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
.meta,.note,footer{color:var(--muted)}.note{font-size:12.5px;margin:4px 0}
section.test{margin:18px 0 40px;padding-top:10px;border-top:3px solid #3b5bdb}
nav.toc a{margin-right:12px;color:#3b5bdb;text-decoration:none}nav.toc a:hover{text-decoration:underline}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(130px,1fr));gap:10px;margin:14px 0}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums;word-break:break-word}
.card.good .value{color:var(--good)}.card.bad .value{color:var(--bad)}
.two{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1.4fr);gap:28px}
@media (max-width:900px){.two{grid-template-columns:1fr}}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
table.kv th{text-align:left;font-weight:500;color:var(--muted);padding:3px 18px 3px 0;vertical-align:top}
table.kv td{padding:3px 0;word-break:break-word}
table.config td{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:12.5px}
table.data{width:100%;font-size:13px}table.data caption{text-align:left;color:var(--muted);padding:4px 0}
table.data th,table.data td{padding:5px 7px;border-bottom:1px solid var(--line);text-align:left}
table.data thead th{background:var(--panel);font-weight:600;white-space:nowrap}
table.data tfoot th,table.data tfoot td{font-weight:600;border-top:2px solid var(--line)}
table.data tbody tr:nth-child(even){background:#fafbfc}
td.num{text-align:right;white-space:nowrap}td.bad,.bad{color:var(--bad);font-weight:600}.good{color:var(--good)}
th.name,td.msg{word-break:break-word;font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:12.5px}
.scroll{overflow-x:auto}table.data th.name{min-width:9em}.scl{display:block;white-space:nowrap}
.cat{border-left:4px solid;padding-left:6px;white-space:nowrap}
.sc{font-weight:600}.sc2{color:var(--good)}.sc4{color:#b26a00}.sc5{color:var(--bad)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px}
.badge.pass{background:#e6f4ea;color:var(--good)}.badge.fail{background:#fdecea;color:var(--bad)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:14px 22px}
figure.chart{margin:0;padding:8px 10px;border:1px solid var(--line);border-radius:8px;background:#fff}
figure.chart figcaption{font-weight:600;margin-bottom:2px}
svg.plot{width:100%;height:auto;display:block;font-size:11px;fill:var(--fg)}
svg.plot .grid line{stroke:#e8ebf0;stroke-width:1}
svg.plot .axis line{stroke:#8a93a3;stroke-width:1}svg.plot .axis text{fill:#4a5262}
svg.plot .title{fill:var(--muted);font-size:11.5px}
svg.plot .line{fill:none;stroke-width:1.8;stroke-linejoin:round;stroke-linecap:round}
svg.plot .hover rect{fill:transparent}svg.plot .hover rect:hover{fill:rgba(59,91,219,.08)}
svg.plot .bar:hover{opacity:.75}svg.plot .mark{stroke-width:1.3;stroke-dasharray:4 3}
.empty{color:var(--muted);font-style:italic;padding:10px 0}
footer{max-width:1180px;margin:0 auto;padding:8px 28px 28px;font-size:12px}
@media print{.charts{grid-template-columns:1fr}section.test{break-before:page}}
)css";

void open_page(Buf& b, std::string_view title) {
  b += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
       // Nothing may be loaded from anywhere: the page is complete as it is.
       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
       "img-src data:\">\n<meta name=\"generator\" content=\"loadtest\">\n";
  put(b, "<title>{}</title>\n<style>", html_escape(title));
  b += css;
  b += "</style>\n</head>\n<body>\n<main>\n";
}

void close_page(Buf& b) {
  put(b, "</main>\n<footer>Generated by loadtest at {} (UTC). This page is self-contained: no scripts, fonts or styles "
         "are loaded from elsewhere. Hover over a chart for the values.</footer>\n</body>\n</html>\n",
      html_escape(iso8601_utc(WallClock::now())));
}

}  // namespace

std::string render_html_report(const LoadTestResult& r) {
  Buf b;
  b.reserve(64 * 1024);
  open_page(b, "Load test report: " + r.name);
  put(b, "<h1>Load test report</h1>\n");
  render_test(b, r, "test-1");
  close_page(b);
  return b;
}

std::string render_html_report(const std::vector<LoadTestResult>& results) {
  Buf b;
  b.reserve(64 * 1024 * (results.size() + 1));
  open_page(b, fmt::format("Load test report: {} test{}", results.size(), results.size() == 1 ? "" : "s"));
  put(b, "<h1>Load test report</h1>\n<p class=\"meta\">{} test{}</p>\n", results.size(), results.size() == 1 ? "" : "s");
  if (results.empty()) {
    b += "<p class=\"empty\">There are no results.</p>\n";
    close_page(b);
    return b;
  }
  b += "<div class=\"scroll\"><table class=\"data suite\"><thead><tr><th>#</th><th>Test</th><th>Model</th><th>Started (UTC)"
       "</th><th>Duration</th><th>Requests</th><th>Req/s</th><th>Error rate</th><th>p50</th><th>p95</th><th>p99</th>"
       "<th>Thresholds</th></tr></thead><tbody>\n";
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const bool any = r.total_requests > 0;
    put(b, "<tr><td class=\"num\">{0}</td><th scope=\"row\" class=\"name\"><a href=\"#test-{0}\">{1}</a></th><td>{2}</td>"
           "<td>{3}</td><td class=\"num\">{4}</td><td class=\"num\">{5}</td><td class=\"num\">{6}</td>"
           "<td class=\"num{7}\">{8}</td><td class=\"num\">{9}</td><td class=\"num\">{10}</td><td class=\"num\">{11}</td><td>{12}</td></tr>\n",
        i + 1, html_escape(r.name.empty() ? "(unnamed test)" : r.name), html_escape(r.model), html_escape(r.timestamp),
        html_escape(wall_time(r.duration)), group(r.total_requests), rate(r.requests_per_second),
        r.failed_requests ? " bad" : "", percent(r.error_rate), any ? latency(r.p50_response_time) : "\u2013",
        any ? latency(r.p95_response_time) : "\u2013", any ? latency(r.p99_response_time) : "\u2013",
        r.thresholds.empty() ? std::string("\u2013") : threshold_badge(r));
  }
  b += "</tbody></table></div>\n";
  for (std::size_t i = 0; i < results.size(); ++i) render_test(b, results[i], fmt::format("test-{}", i + 1));
  close_page(b);
  return b;
}

}  // namespace loadtest
