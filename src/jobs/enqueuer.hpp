#pragma once
// What a producer of jobs needs: the options of one job and the enqueue call. The auth
// flows program against this interface (`producer` implements it on Redis; a fake
// records jobs in their unit tests).

#include "core/error.hpp"
#include "core/timeout.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::jobs {

struct enqueue_options {
    std::string queue = "default";
    int max_retries = 5;
    std::chrono::milliseconds countdown{0};                    // run no sooner than this from now
    std::optional<std::chrono::system_clock::time_point> eta;  // or at this time (wins over countdown)
    std::chrono::milliseconds backoff_base{1000};
    std::chrono::milliseconds backoff_cap{std::chrono::minutes(5)};
};

class enqueuer {
public:
    virtual ~enqueuer() = default;

    // Enqueues `task` with `args_json` (a JSON value) and returns the job id once the
    // queue holds the job and its state. Errors: validation_failed (args not JSON, empty
    // task), redis_unavailable / timeout / overloaded (the caller answers 503; an
    // ambiguous failure may still have enqueued the job: at-least-once).
    // With g++ 12, pass `options` as a named variable: a braced temporary inside a
    // co_await expression is destroyed twice (compiler bug).
    virtual boost::asio::awaitable<core::result<std::string>> async_enqueue(std::string_view task,
                                                                            std::string_view args_json,
                                                                            enqueue_options options,
                                                                            core::deadline d) = 0;
};

}  // namespace portcullis::jobs
