#include "wait.hpp"

#include <stdexcept>
#include <thread>

namespace portcullis::test {

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout, std::chrono::milliseconds step)
{
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (cond()) return true;
        if (std::chrono::steady_clock::now() >= end) return cond();
        std::this_thread::sleep_for(step);
    }
}

void wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout, const std::string& what,
              std::chrono::milliseconds step)
{
    if (!wait_until(cond, timeout, step)) {
        throw std::runtime_error("timed out after " + std::to_string(timeout.count()) + " ms waiting for " + what);
    }
}

}  // namespace portcullis::test
