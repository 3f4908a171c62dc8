#include "auth/session_cache.hpp"

#include <charconv>

namespace portcullis::auth {

void session_cache::set_enabled(bool on)
{
    if (!on) clear();
    enabled_ = on;
    ++generation_;
}

session_cache::session_entry* session_cache::find_session(std::string_view sid, steady::time_point now)
{
    if (!enabled_) return nullptr;
    auto it = sessions_.find(sid);
    if (it == sessions_.end() || now - it->second.cached_at > settings_.ttl) {
        ++misses_;
        return nullptr;
    }
    ++hits_;
    return &it->second;
}

void session_cache::put_session(const std::string& sid, std::int64_t user_id, store::time_point expires_at,
                                steady::time_point now, std::uint64_t read_generation)
{
    if (!enabled_ || (read_generation != any_generation && read_generation != generation_)) return;
    if (sessions_.size() >= settings_.max_entries) sessions_.clear();
    sessions_[sid] = session_entry{user_id, expires_at, now, now};
}

const store::user* session_cache::find_user(std::int64_t id, steady::time_point now)
{
    if (!enabled_) return nullptr;
    auto it = users_.find(id);
    if (it == users_.end() || now - it->second.cached_at > settings_.ttl) return nullptr;
    return &it->second.row;
}

void session_cache::put_user(const store::user& u, steady::time_point now, std::uint64_t read_generation)
{
    if (!enabled_ || (read_generation != any_generation && read_generation != generation_)) return;
    if (users_.size() >= settings_.max_entries) users_.clear();
    users_[u.id] = user_entry{u, now};
}

void session_cache::apply(std::string_view event)
{
    ++generation_;
    if (event == "*") {
        clear();
        return;
    }
    if (event.size() < 3 || event[1] != ':') return;
    std::string_view value = event.substr(2);
    if (event[0] == 's') {
        auto it = sessions_.find(value);
        if (it != sessions_.end()) sessions_.erase(it);
    } else if (event[0] == 'u' || event[0] == 'r') {
        std::int64_t uid = 0;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), uid);
        if (ec != std::errc{}) return;
        users_.erase(uid);
        // "r" only refreshes the row (login, profile change): no scan of the sessions.
        if (event[0] == 'r') return;
        // A user event also ends that user's cached sessions (password change, deletion).
        for (auto it = sessions_.begin(); it != sessions_.end();) {
            if (it->second.user_id == uid)
                it = sessions_.erase(it);
            else
                ++it;
        }
    }
}

void session_cache::clear()
{
    ++generation_;
    sessions_.clear();
    users_.clear();
}

}  // namespace portcullis::auth
