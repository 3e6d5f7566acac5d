//
// loadtest-target: a standalone HTTP/1.1 target server on loopback.
//
// Serves the embedded `loadtest::testing::TargetServer` for manual runs and for comparing
// loadtest with wrk. Every path answers 200 "ok\n" after --delay (with --error-rate of them
// answered 500), and any request can override that with query parameters, e.g.
// `/?delay=20ms&status=503`. Prints one line, `listening on http://127.0.0.1:PORT`, once ready,
// then serves until SIGINT/SIGTERM or until --duration has elapsed, and prints
// `served N requests on M connections` as its last line. `--stall-after 2s --stall-for 1s`
// holds every response due in that second (a server stall, for coordinated-omission checks).
//
// With --tls-cert and --tls-key (PEM files) it serves HTTPS instead.
//
// Usage:
//   loadtest-target [--address 127.0.0.1] [--port 0] [--threads 1] [--delay 20ms]
//                   [--error-rate 0.0] [--duration 10m] [--tls-cert FILE --tls-key FILE]
//                   [--stall-after DUR [--stall-for 1s]]
//
// Example:
//   ./loadtest-target --port 8080 --delay 5ms &
//   wrk -t2 -c50 -d10s http://127.0.0.1:8080/
//

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/program_options.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "loadtest/testing/target_server.hpp"
#include "loadtest/time.hpp"

namespace asio = boost::asio;
namespace po = boost::program_options;

int main(int argc, char* argv[]) {
  std::string address = "127.0.0.1", delay_text = "0", duration_text = "10m", tls_cert, tls_key;
  std::string stall_after_text, stall_for_text = "1s";
  unsigned port = 0, threads = 1;
  double error_rate = 0;
  po::options_description desc("Usage: loadtest-target [options]\nOptions");
  desc.add_options()
      ("help,h", "print this help")
      ("address", po::value(&address)->default_value(address), "listen address (loopback only)")
      ("port", po::value(&port)->default_value(port), "listen port, 0 for any free port")
      ("threads", po::value(&threads)->default_value(threads), "server threads")
      ("delay", po::value(&delay_text)->default_value(delay_text), "answer every request after this long, e.g. 20ms")
      ("error-rate", po::value(&error_rate)->default_value(error_rate), "fraction of requests answered 500, 0..1")
      ("duration", po::value(&duration_text)->default_value(duration_text), "stop by itself after this long")
      ("tls-cert", po::value(&tls_cert), "serve HTTPS with this PEM certificate (with --tls-key)")
      ("tls-key", po::value(&tls_key), "the PEM private key of --tls-cert")
      ("stall-after", po::value(&stall_after_text), "after this long, hold every response for --stall-for (a server stall)")
      ("stall-for", po::value(&stall_for_text)->default_value(stall_for_text), "how long the --stall-after stall lasts");

  loadtest::testing::TargetServer::Options opts;
  loadtest::testing::RouteSpec spec;
  loadtest::Duration duration{}, stall_after{-1}, stall_for{};
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return EXIT_SUCCESS;
    }
    po::notify(vm);
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(address, ec);
    if (ec) throw std::invalid_argument("invalid address '" + address + "': " + ec.message());
    if (!addr.is_loopback())
      throw std::invalid_argument("refusing non-loopback address '" + address + "' (use 127.0.0.1 or ::1)");
    if (port > 65535) throw std::invalid_argument("invalid port '" + std::to_string(port) + "': must be 0..65535");
    if (threads == 0 || threads > 256)
      throw std::invalid_argument("invalid thread count '" + std::to_string(threads) + "': must be 1..256");
    if (!(error_rate >= 0 && error_rate <= 1))
      throw std::invalid_argument("invalid error rate '" + std::to_string(error_rate) + "': must be 0..1");
    spec.delay = loadtest::parse_duration(delay_text);
    spec.error_rate = error_rate;
    duration = loadtest::parse_duration(duration_text);
    if (!stall_after_text.empty()) stall_after = loadtest::parse_duration(stall_after_text);
    stall_for = loadtest::parse_duration(stall_for_text);
    opts.address = address;
    opts.port = static_cast<std::uint16_t>(port);
    opts.threads = threads;
    opts.tls_cert_file = tls_cert;
    opts.tls_key_file = tls_key;
  } catch (const std::exception& e) {
    std::cerr << "loadtest-target: " << e.what() << "\n";
    return 2;
  }

  try {
    // Signals are caught before the server starts, so an early Ctrl-C still exits cleanly.
    asio::io_context ioc(1);
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    asio::steady_timer deadline(ioc);

    loadtest::testing::TargetServer server(opts);
    server.set_default(spec);
    server.route("/", spec);
    server.route("/health", loadtest::testing::RouteSpec{});
    std::printf("listening on %s\n", server.url("").c_str());
    std::fflush(stdout);

    // Serve until a signal or the end of --duration.
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (!ec) ioc.stop();
    });
    deadline.expires_after(duration);
    deadline.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) ioc.stop();
    });
    asio::steady_timer stall(ioc);
    if (stall_after >= loadtest::Duration{0}) {
      stall.expires_after(stall_after);
      stall.async_wait([&](const boost::system::error_code& ec) {
        if (!ec) server.pause_for(stall_for);
      });
    }
    ioc.run();
    server.stop();
    // For tests and comparisons: what the server saw, on its last line.
    std::printf("served %llu requests on %llu connections\n", static_cast<unsigned long long>(server.total_requests()),
                static_cast<unsigned long long>(server.connections_accepted()));
  } catch (const std::invalid_argument& e) {  // e.g. a certificate that cannot be loaded
    std::cerr << "loadtest-target: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "loadtest-target: " << e.what() << "\n";
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
