#pragma once
// systemd readiness protocol: plain datagrams to $NOTIFY_SOCKET ("READY=1",
// "STOPPING=1", "WATCHDOG=1"). Does nothing when the variable is unset.

#include <chrono>
#include <optional>
#include <string_view>

namespace portcullis::app {

// Sends `state` to the notify socket; returns false if the send failed (never throws).
bool sd_notify(std::string_view state) noexcept;

// Watchdog interval from $WATCHDOG_USEC when it is meant for this process.
std::optional<std::chrono::microseconds> watchdog_interval() noexcept;

}  // namespace portcullis::app
