// loadtest: the Prometheus exposition text and the tiny Beast server that serves it.
#include "loadtest/prometheus.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "loadtest/detail/process_stats.hpp"
#include "loadtest/text.hpp"

namespace loadtest {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// --- the text format ----------------------------------------------------------------------------

namespace detail {

std::string prometheus_label_value(std::string_view s) {
  const std::string valid = text::to_valid_utf8(s);
  std::string out;
  out.reserve(valid.size() + 8);
  for (char c : valid) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) out += ' ';  // no raw CR: one line per sample
    else out += c;
  }
  return out;
}

}  // namespace detail

namespace {

template <class... Args>
void put(std::string& b, fmt::format_string<Args...> f, Args&&... args) {
  fmt::format_to(std::back_inserter(b), f, std::forward<Args>(args)...);
}

// A sample value: shortest round-trip form, Go's spelling of the special values.
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

void family(std::string& b, std::string_view name, std::string_view type, std::string_view help) {
  put(b, "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

constexpr std::array<std::string_view, 6> status_class_names{"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

}  // namespace

std::string prometheus_text(const RealTimeMetrics& m, const PrometheusState& s) {
  using detail::prometheus_label_value;
  std::string b;
  b.reserve(4096 + 256 * m.endpoints.size());

  family(b, "loadtest_info", "gauge", "The test being run: its name and model as labels; always 1.");
  put(b, "loadtest_info{{test=\"{}\",model=\"{}\"}} 1\n", prometheus_label_value(s.test), prometheus_label_value(s.model));
  family(b, "loadtest_running", "gauge", "1 while the test runs, 0 once it has finished.");
  put(b, "loadtest_running {}\n", s.running ? 1 : 0);
  family(b, "loadtest_elapsed_seconds", "gauge", "Seconds since the test started, at the last snapshot.");
  put(b, "loadtest_elapsed_seconds {}\n", number(m.elapsed));
  family(b, "loadtest_planned_duration_seconds", "gauge", "The load pattern's total length in seconds.");
  put(b, "loadtest_planned_duration_seconds {}\n", number(s.planned_duration));
  family(b, "loadtest_max_users", "gauge", "The most users the test may run at once.");
  put(b, "loadtest_max_users {}\n", s.max_users);
  family(b, "loadtest_active_users", "gauge",
         "Users running (closed model) or busy with an arrival (open model) at the last snapshot.");
  put(b, "loadtest_active_users {}\n", m.active_users);

  // Counters by endpoint; names that escape to the same label value are added up.
  struct Counts {
    std::array<std::uint64_t, 6> classes{};
    std::uint64_t failures = 0, errors = 0;
  };
  std::map<std::string, Counts> by_endpoint;
  for (const auto& e : m.endpoints) {
    Counts& c = by_endpoint[prometheus_label_value(e.name)];
    for (std::size_t i = 0; i < 6; ++i) c.classes[i] += e.status_classes[i];
    c.failures += e.failures;
    c.errors += e.errors;
  }
  family(b, "loadtest_requests_total", "counter",
         "Requests completed since the start, by endpoint and HTTP status class (none: no HTTP status).");
  for (const auto& [name, c] : by_endpoint)
    for (std::size_t i = 0; i < 6; ++i)
      if (c.classes[i] != 0)
        put(b, "loadtest_requests_total{{endpoint=\"{}\",status_class=\"{}\"}} {}\n", name, status_class_names[i],
            c.classes[i]);
  family(b, "loadtest_failed_requests_total", "counter",
         "Requests that did not succeed since the start, by endpoint and kind (failure: ran with a wrong result, "
         "error: could not complete).");
  for (const auto& [name, c] : by_endpoint) {
    put(b, "loadtest_failed_requests_total{{endpoint=\"{}\",kind=\"failure\"}} {}\n", name, c.failures);
    put(b, "loadtest_failed_requests_total{{endpoint=\"{}\",kind=\"error\"}} {}\n", name, c.errors);
  }
  family(b, "loadtest_errors_total", "counter", "Requests that did not succeed since the start, by error category.");
  {
    std::map<std::string, std::uint64_t> by_category;
    for (const auto& [category, n] : m.errors_by_category) by_category[prometheus_label_value(category)] += n;
    for (const auto& [category, n] : by_category)
      put(b, "loadtest_errors_total{{category=\"{}\"}} {}\n", category, n);
  }

  family(b, "loadtest_requests_per_second", "gauge", "Requests completed per second over the last interval.");
  put(b, "loadtest_requests_per_second {}\n", number(m.requests_per_second));
  family(b, "loadtest_error_ratio", "gauge", "Failed requests divided by requests over the last interval (0..1).");
  put(b, "loadtest_error_ratio {}\n", number(m.current_error_rate));
  family(b, "loadtest_response_time_seconds", "summary",
         "Response time: quantiles over the last interval, sum and count since the start.");
  put(b, "loadtest_response_time_seconds{{quantile=\"0.5\"}} {}\n", number(m.p50_response_time));
  put(b, "loadtest_response_time_seconds{{quantile=\"0.95\"}} {}\n", number(m.p95_response_time));
  put(b, "loadtest_response_time_seconds{{quantile=\"0.99\"}} {}\n", number(m.p99_response_time));
  put(b, "loadtest_response_time_seconds_sum {}\n", number(s.response_time_sum));
  put(b, "loadtest_response_time_seconds_count {}\n", s.response_time_count);

  if (m.schedule) {
    const ScheduleStats& sc = *m.schedule;
    family(b, "loadtest_arrivals_intended_total", "counter", "Arrivals the open model's schedule asked for.");
    put(b, "loadtest_arrivals_intended_total {}\n", sc.intended);
    family(b, "loadtest_arrivals_started_total", "counter", "Arrivals that got a user and started.");
    put(b, "loadtest_arrivals_started_total {}\n", sc.started);
    family(b, "loadtest_arrivals_late_total", "counter", "Arrivals that started more than 1 ms after their intended time.");
    put(b, "loadtest_arrivals_late_total {}\n", sc.late);
    family(b, "loadtest_arrivals_dropped_total", "counter", "Arrivals that found no free user and no room in the queue.");
    put(b, "loadtest_arrivals_dropped_total {}\n", sc.dropped);
    family(b, "loadtest_schedule_lag_seconds", "gauge",
           "Seconds between intended and actual starts of arrivals since the start (p50, p99, max).");
    put(b, "loadtest_schedule_lag_seconds{{statistic=\"p50\"}} {}\n", number(sc.lag_p50));
    put(b, "loadtest_schedule_lag_seconds{{statistic=\"p99\"}} {}\n", number(sc.lag_p99));
    put(b, "loadtest_schedule_lag_seconds{{statistic=\"max\"}} {}\n", number(sc.lag_max));
  }
  return b;
}

std::string prometheus_process_text() {
  std::string b;
  family(b, "loadtest_process_resident_memory_bytes", "gauge", "Resident memory of the load-testing process in bytes.");
  put(b, "loadtest_process_resident_memory_bytes {}\n", number(std::round(detail::resident_mb() * 1024 * 1024)));
  family(b, "loadtest_process_cpu_seconds_total", "counter",
         "User and system CPU time the load-testing process has used, in seconds.");
  put(b, "loadtest_process_cpu_seconds_total {}\n", number(to_seconds(detail::cpu_time())));
  return b;
}

// --- the sink -----------------------------------------------------------------------------------

namespace {

constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr int max_connections = 64;
constexpr auto idle_timeout = std::chrono::seconds(30);

asio::ip::address checked_address(const PrometheusSink::Options& o) {
  if (o.linger < Duration::zero())
    throw std::invalid_argument("PrometheusSink: linger must not be negative, got " + format_duration(o.linger));
  const std::string text = o.address == "localhost" ? std::string("127.0.0.1") : o.address;
  error_code ec;
  auto address = asio::ip::make_address(text, ec);
  if (ec) throw std::invalid_argument("PrometheusSink: '" + o.address + "' is not an IP address");
  if (!address.is_loopback() && !o.allow_remote)
    throw std::invalid_argument("PrometheusSink: '" + o.address +
                                "' is not a loopback address; set allow_remote to expose the metrics to other hosts");
  return address;
}

}  // namespace

struct PrometheusSink::Impl {
  explicit Impl(Options o) : options(std::move(o)), address(checked_address(options)) {}
  ~Impl() { stop(); }

  Options options;
  asio::ip::address address;

  // Server side (its own thread). `ctx` and `acceptor` exist while serving.
  std::unique_ptr<asio::io_context> ctx;
  std::optional<tcp::acceptor> acceptor;
  std::thread thread;
  std::atomic<std::uint16_t> port{0};
  std::atomic<int> connections{0};
  std::atomic<std::uint64_t> scrapes{0};

  // Shared: the latest text and which version a scrape last collected.
  mutable std::mutex mutex;
  std::condition_variable scraped;
  std::shared_ptr<const std::string> text = std::make_shared<const std::string>();
  std::uint64_t version = 0;
  std::uint64_t served_version = 0;

  // Control side (the engine's thread).
  PrometheusState state;
  RealTimeMetrics last;

  void publish(std::string rendered) {
    auto next = std::make_shared<const std::string>(std::move(rendered));
    std::lock_guard lock(mutex);
    text = std::move(next);
    ++version;
  }

  // The text of one scrape; counts it as having collected the current version.
  std::string collect(bool count) {
    std::shared_ptr<const std::string> current;
    {
      std::lock_guard lock(mutex);
      current = text;
      if (count) served_version = version;
    }
    if (count) {
      scrapes.fetch_add(1);
      scraped.notify_all();
    }
    return *current + prometheus_process_text();
  }

  void start() {
    if (ctx) return;
    auto context = std::make_unique<asio::io_context>(1);
    tcp::acceptor a(*context);
    const tcp::endpoint ep(address, options.port);
    error_code ec;
    auto where = [&] {
      return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), options.port)
                             : fmt::format("{}:{}", address.to_string(), options.port);
    };
    if (a.open(ep.protocol(), ec); !ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("PrometheusSink: cannot listen on " + where() + ": " + ec.message());
    port.store(a.local_endpoint().port());
    ctx = std::move(context);
    acceptor.emplace(std::move(a));
    asio::co_spawn(*ctx, accept_loop(), asio::detached);
    thread = std::thread([c = ctx.get()] { c->run(); });
  }

  void stop() {
    if (!ctx) return;
    ctx->stop();
    if (thread.joinable()) thread.join();
    acceptor.reset();
    ctx.reset();  // destroys the connections' coroutine frames and sockets
    port.store(0);
    scraped.notify_all();
  }

  asio::awaitable<void> accept_loop() {
    asio::steady_timer pause(acceptor->get_executor());
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(as_tuple_awaitable);
      if (!acceptor->is_open() || ec == asio::error::operation_aborted) co_return;
      if (ec) {  // e.g. out of file descriptors: try again a little later
        pause.expires_after(std::chrono::milliseconds(50));
        co_await pause.async_wait(as_tuple_awaitable);
        continue;
      }
      if (connections.load() >= max_connections) {
        error_code ignored;
        socket.close(ignored);
        continue;
      }
      asio::co_spawn(acceptor->get_executor(), serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    connections.fetch_add(1);
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (int served = 0; served < 10'000; ++served) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(16 * 1024);
      parser.body_limit(16 * 1024);
      stream.expires_after(idle_timeout);
      auto [rec, read] = co_await bhttp::async_read(stream, buffer, parser, as_tuple_awaitable);
      (void)read;
      if (rec) break;
      const auto& req = parser.get();
      bhttp::response<bhttp::string_body> res;
      res.version(req.version());
      res.set(bhttp::field::server, "loadtest");
      std::string_view target(req.target().data(), req.target().size());
      target = target.substr(0, target.find('?'));
      const bool get = req.method() == bhttp::verb::get, head = req.method() == bhttp::verb::head;
      if (target != "/metrics" && target != "/") {
        res.result(bhttp::status::not_found);
        res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
        res.body() = "not found: the metrics are at /metrics\n";
      } else if (!get && !head) {
        res.result(bhttp::status::method_not_allowed);
        res.set(bhttp::field::allow, "GET, HEAD");
        res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
        res.body() = "method not allowed\n";
      } else if (target == "/") {
        res.result(bhttp::status::ok);
        res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
        res.body() = "loadtest Prometheus exporter: the metrics are at /metrics\n";
      } else {
        res.result(bhttp::status::ok);
        res.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.set(bhttp::field::cache_control, "no-store");
        res.body() = collect(/*count=*/get);
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      if (head) res.body().clear();  // keeps the Content-Length of the GET answer
      stream.expires_after(idle_timeout);
      auto [wec, written] = co_await bhttp::async_write(stream, res, as_tuple_awaitable);
      (void)written;
      if (wec || !res.keep_alive()) break;
    }
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.close();
    connections.fetch_sub(1);
  }
};

PrometheusSink::Options PrometheusSink::parse_listen(std::string_view text) {
  auto bad = [&](const char* why) {
    return std::invalid_argument("invalid Prometheus listen address '" + std::string(text) + "': " + why +
                                 " (use HOST:PORT, e.g. 127.0.0.1:9464, [::1]:9464 or :9464)");
  };
  Options o;
  std::string_view host, port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) throw bad("missing ']'");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') throw bad("missing ':PORT' after the address");
    port_text = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) throw bad("write IPv6 addresses in brackets");
    port_text = text.substr(colon + 1);
  } else {
    port_text = text;
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535)
    throw bad("the port must be a number 0..65535");
  if (!host.empty()) o.address = std::string(host);
  o.port = static_cast<std::uint16_t>(port);
  return o;
}

PrometheusSink::PrometheusSink() : PrometheusSink(Options{}) {}
PrometheusSink::PrometheusSink(Options o) : impl_(std::make_unique<Impl>(std::move(o))) {}
PrometheusSink::~PrometheusSink() = default;
PrometheusSink::PrometheusSink(PrometheusSink&&) noexcept = default;
PrometheusSink& PrometheusSink::operator=(PrometheusSink&&) noexcept = default;

void PrometheusSink::on_start(const TestInfo& info) {
  Impl& d = *impl_;
  d.state = PrometheusState{};
  d.state.test = info.name;
  d.state.model = info.model;
  d.state.planned_duration = info.planned_duration;
  d.state.max_users = info.max_users;
  d.last = RealTimeMetrics{};
  d.last.planned_duration = info.planned_duration;
  d.publish(prometheus_text(d.last, d.state));
  d.start();
}

void PrometheusSink::on_interval(const RealTimeMetrics& m) {
  Impl& d = *impl_;
  const double avg = std::isfinite(m.avg_response_time) ? m.avg_response_time : 0.0;
  d.state.response_time_sum += avg * static_cast<double>(m.interval_requests);
  d.state.response_time_count += m.interval_requests;
  d.last = m;
  d.last.top_errors.clear();
  d.publish(prometheus_text(d.last, d.state));
}

void PrometheusSink::on_finish(const LoadTestResult& r) {
  Impl& d = *impl_;
  d.state.running = false;
  if (d.state.test.empty()) d.state.test = r.name;
  RealTimeMetrics m = d.last;
  m.active_users = 0;
  m.endpoints = r.endpoints;
  m.errors_by_category = r.errors_by_category;
  m.total_requests = r.total_requests;
  m.total_errors = r.failed_requests;
  if (r.schedule) m.schedule = r.schedule;
  if (d.state.response_time_count == 0 && r.total_requests > 0) {  // no snapshot was seen: use the result
    d.state.response_time_count = r.total_requests;
    d.state.response_time_sum = r.avg_response_time * static_cast<double>(r.total_requests);
  }
  d.last = m;
  d.publish(prometheus_text(m, d.state));
  if (d.options.linger > Duration::zero() && d.ctx) {
    std::unique_lock lock(d.mutex);
    const std::uint64_t wanted = d.version;
    d.scraped.wait_for(lock, d.options.linger, [&] { return d.served_version >= wanted; });
  }
}

std::uint16_t PrometheusSink::port() const noexcept { return impl_ ? impl_->port.load() : 0; }

std::string PrometheusSink::url() const {
  if (!impl_ || impl_->port.load() == 0) return {};
  const auto& a = impl_->address;
  return a.is_v6() ? fmt::format("http://[{}]:{}/metrics", a.to_string(), impl_->port.load())
                   : fmt::format("http://{}:{}/metrics", a.to_string(), impl_->port.load());
}

std::string PrometheusSink::metrics_text() const { return impl_ ? impl_->collect(/*count=*/false) : std::string(); }

std::uint64_t PrometheusSink::scrapes() const noexcept { return impl_ ? impl_->scrapes.load() : 0; }

void PrometheusSink::stop() {
  if (impl_) impl_->stop();
}

}  // namespace loadtest
