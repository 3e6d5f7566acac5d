// loadtest internals: how the HTTP client maps transport errors to error categories.
#pragma once

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "loadtest/outcome.hpp"

namespace loadtest::detail {

/** Where in a request's life an error happened. */
enum class HttpPhase : std::uint8_t {
  resolve,    ///< name resolution
  connect,    ///< TCP connect
  handshake,  ///< TLS handshake
  write,      ///< sending the request
  read,       ///< receiving the response
};

/** The category of a transport error in `phase` (defined in src/http_client.cpp).
 *
 *  Resolver failures are `dns`; a refused connection `connect_refused`; a timeout while
 *  resolving, connecting or handshaking `connect_timeout`, while writing or reading `timeout`;
 *  resets, broken pipes and early end of stream `reset`; SSL errors and any handshake failure
 *  `tls`; malformed HTTP `protocol`; a cancelled operation `cancelled`; too many open files or no
 *  free local port `local_resources` (its message names the limit); anything else `reset`.
 */
ErrorCategory categorize(const boost::system::error_code& ec, HttpPhase phase) noexcept;

/** True for errors that mean a local limit, whatever the phase: EMFILE, ENFILE (descriptors) and
 *  EADDRNOTAVAIL (local ports). They are `local_resources`, never `reset` or `cancelled`. */
bool is_local_resource_error(const boost::system::error_code& ec) noexcept;

/** A short, stable message for an error: no ports of our side, no byte counts.
 *  `where` is the peer ("127.0.0.1:8080"), or the host name for DNS errors. */
std::string describe(const boost::system::error_code& ec, HttpPhase phase, std::string_view where);

}  // namespace loadtest::detail
