#pragma once
// Completion handler for co_spawn that logs an escaped exception instead of
// dropping it (plain asio::detached would hide bugs).

#include "core/log.hpp"

#include <exception>
#include <string_view>

namespace portcullis::core {

struct log_escape {
    std::string_view what;  // a string literal naming the task
    void operator()(std::exception_ptr e) const noexcept
    {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::error("task_failed", {{"task", what}, {"error", ex.what()}});
        } catch (...) {
            log::error("task_failed", {{"task", what}, {"error", "unknown exception"}});
        }
    }
};

}  // namespace portcullis::core
