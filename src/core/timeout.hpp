#pragma once
// Deadline helpers. Boost 1.81 has no asio::cancel_after; async_with_timeout races
// an operation against a steady_timer and cancels the loser.
//
// The operation must report its failures as values (core::result), not by
// throwing: the race waits for the first *successful* completion, so an
// exception would only surface as a timeout.

#include "core/error.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <utility>

namespace portcullis::core {

using steady_clock = std::chrono::steady_clock;
using deadline = steady_clock::time_point;

// Time left until `d`, never negative.
inline steady_clock::duration remaining(deadline d) noexcept
{
    auto left = d - steady_clock::now();
    return left < steady_clock::duration::zero() ? steady_clock::duration::zero() : left;
}

// The smaller of what is left of `d` and `own` (a per-call timeout).
inline steady_clock::duration budget(deadline d, steady_clock::duration own) noexcept
{
    return std::min(remaining(d), own);
}

// Runs `op`; if it has not finished after `limit`, cancels it and returns errc::timeout.
template <class T>
boost::asio::awaitable<result<T>> async_with_timeout(boost::asio::awaitable<result<T>> op, steady_clock::duration limit)
{
    using namespace boost::asio::experimental::awaitable_operators;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, limit);
    // as_tuple: a timer cancelled because the operation won must not throw (one exception
    // per query otherwise).
    auto r = co_await (std::move(op) || timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable)));
    if (r.index() == 1) co_return make_error_code(errc::timeout);
    co_return std::move(std::get<0>(r));
}

}  // namespace portcullis::core
