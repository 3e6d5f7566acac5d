// Fuzzes header specs (-H 'Name: value', Config::http.headers, Request::headers): the input is
// split at the first ':' as the CLI does, and the pair goes into an http::Client's options and
// a request's headers. Building the client validates them (token names, no CR/LF/NUL in values)
// and serialises the fixed request head; a bad header must be refused with
// std::invalid_argument before any byte is sent.
#include "loadtest/http.hpp"

#include <boost/asio/io_context.hpp>

#include "fuzz.hpp"

namespace lt = loadtest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view spec = lt::fuzz::text(data, size);
  auto colon = spec.find(':');
  if (colon == std::string_view::npos || colon == 0) return 0;  // the CLI's own usage error
  std::string name(spec.substr(0, colon));
  std::string value(spec.substr(colon + 1));
  value.erase(0, value.find_first_not_of(" \t"));

  static boost::asio::io_context ioc;
  lt::fuzz::expect_parse_or_invalid([&] {
    lt::http::Options opts;
    opts.headers.emplace_back(name, value);
    lt::http::Client client(ioc.get_executor(), "http://127.0.0.1:9", opts);
    (void)client.base();
  });
  return 0;
}
