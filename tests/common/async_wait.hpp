#pragma once
// Waiting for a condition inside a test coroutine: poll with a bound instead of sleeping
// for a guess. Header-only (the tests that use it link Asio; tests/common does not).

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

namespace portcullis::test {

// Polls `cond` every `step` until it holds; after `timeout` throws std::runtime_error
// "timed out after N ms waiting for <what>", which fails the test case with that message.
// g++ 12: name the condition's lambda before the co_await, never write it inside.
template <class Cond>
boost::asio::awaitable<void> async_wait_for(Cond cond, std::chrono::milliseconds timeout, const char* what,
                                            std::chrono::milliseconds step = std::chrono::milliseconds(5))
{
    const auto end = std::chrono::steady_clock::now() + timeout;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    while (!cond()) {
        if (std::chrono::steady_clock::now() >= end) {
            throw std::runtime_error("timed out after " + std::to_string(timeout.count()) + " ms waiting for " + what);
        }
        timer.expires_after(step);
        co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
}

}  // namespace portcullis::test
