// loadtest: writing an HTTP message head and body in one gathered write, on TCP or TLS.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>

#include <array>
#include <string_view>

namespace loadtest::detail {

/** Writes `head` then `body` with one gathered write.
 *
 *  Beast's ssl_stream (its flat_stream) writes nothing for a buffer sequence that starts with an
 *  empty buffer and goes on past 16 KB; async_write takes that as the end and reports success with
 *  only the head sent. So what is left of the body after a short write goes out on its own. */
template <class Stream>
boost::asio::awaitable<boost::system::error_code> write_message(Stream& stream, std::string_view head,
                                                                std::string_view body) {
  namespace asio = boost::asio;
  constexpr auto token = asio::as_tuple(asio::use_awaitable);
  std::array<asio::const_buffer, 2> bufs{asio::buffer(head.data(), head.size()), asio::buffer(body.data(), body.size())};
  auto [ec, written] = co_await asio::async_write(stream, bufs, token);
  if (!ec && written >= head.size() && written < head.size() + body.size()) {
    std::size_t done = written - head.size();
    auto [rest_ec, rest] = co_await asio::async_write(stream, asio::buffer(body.data() + done, body.size() - done), token);
    (void)rest;
    ec = rest_ec;
  }
  co_return ec;
}

}  // namespace loadtest::detail
