// asio: the one way tack includes Boost.Asio, so every file sees the same
// configuration. (Boost 1.74's awaitable.hpp needs <utility> first; the build
// also force-includes it.)
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tack {
namespace asio = boost::asio;
using boost::system::error_code;
}  // namespace tack
