#pragma once
// Waiting for a condition in tests: poll with a bound instead of sleeping for a guess.

#include <chrono>
#include <functional>
#include <string>

namespace portcullis::test {

// Polls `cond` every `step` until it holds or `timeout` passes; returns its last value.
bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(10));

// Polls `cond` every `step` until it holds; after `timeout` throws std::runtime_error "timed out after
// N ms waiting for <what>", which fails the test case with that message.
void wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout, const std::string& what,
              std::chrono::milliseconds step = std::chrono::milliseconds(10));

}  // namespace portcullis::test
