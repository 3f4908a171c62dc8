// Round trips of every repository operation against a real PostgreSQL.
// Why one file of this size: one case per repository over one migrated database, so the
// schema and every statement the server prepares are checked together.
#include "pg_support.hpp"
#include "test_env.hpp"

#include "store/pg/pg_repositories.hpp"

#include <doctest/doctest.h>

#include <libpq-fe.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

using namespace portcullis;
using namespace portcullis::store;
namespace asio = boost::asio;
using std::chrono::hours;
using std::chrono::seconds;
using std::chrono::system_clock;

namespace {

core::deadline soon()
{
    return core::steady_clock::now() + seconds(10);
}

new_user make_user(const std::string& tag)
{
    return new_user{tag + "@Example.COM", tag, "hash-" + tag, "Full " + tag, "+100"};
}

asio::awaitable<void> async_users_round_trip(pg::pool& pool)
{
    pg::users users(pool);
    auto tag = test::unique_name("u");

    const auto nu1 = make_user(tag);

    auto created = co_await users.async_create_pending(nu1, soon());
    REQUIRE(created.has_value());
    CHECK(created->id > 0);
    CHECK_FALSE(created->is_active);
    CHECK_FALSE(created->verified());
    CHECK(created->full_name == "Full " + tag);

    // Re-registering a pending address replaces its data and keeps the row.
    auto again = make_user(tag);
    again.email = tag + "@example.com";
    again.username = tag + "_2";
    again.password_hash = "hash-2";
    auto replaced = co_await users.async_create_pending(again, soon());
    REQUIRE(replaced.has_value());
    CHECK(replaced->id == created->id);
    CHECK(replaced->username == tag + "_2");
    CHECK(replaced->password_hash == "hash-2");

    auto by_email = co_await users.async_find_by_email(tag + "@EXAMPLE.com", soon());
    REQUIRE(by_email.has_value());
    REQUIRE(by_email->has_value());
    CHECK((*by_email)->id == created->id);
    auto by_name = co_await users.async_find_by_username(tag + "_2", soon());
    REQUIRE(by_name.has_value());
    CHECK(by_name->has_value());
    auto by_login_mail = co_await users.async_find_by_login(tag + "@example.COM", soon());
    REQUIRE(by_login_mail.has_value());
    CHECK(by_login_mail->has_value());
    auto by_login_name = co_await users.async_find_by_login(tag + "_2", soon());
    REQUIRE(by_login_name.has_value());
    REQUIRE(by_login_name->has_value());
    CHECK((*by_login_name)->id == created->id);
    auto missing = co_await users.async_find_by_id(-1, soon());
    REQUIRE(missing.has_value());
    CHECK_FALSE(missing->has_value());

    // Another user may not take the username.
    auto clash = make_user(tag + "x");
    clash.username = tag + "_2";
    auto taken = co_await users.async_create_pending(clash, soon());
    REQUIRE_FALSE(taken.has_value());
    CHECK(taken.error() == core::errc::username_taken);

    auto act = co_await users.async_activate(created->id, "hash-2", soon());
    REQUIRE(act.has_value());
    CHECK(act->activated);
    CHECK(act->account.is_active);
    CHECK(act->account.verified());
    auto act2 = co_await users.async_activate(created->id, "hash-2", soon());
    REQUIRE(act2.has_value());
    CHECK_FALSE(act2->activated);
    CHECK(act2->account.is_active);
    auto none = co_await users.async_activate(-5, "hash-2", soon());
    REQUIRE_FALSE(none.has_value());
    CHECK(none.error() == core::errc::not_found);

    // A verified address cannot be registered again, whatever its case.
    auto dup = make_user(tag + "y");
    dup.email = tag + "@EXAMPLE.COM";
    auto email_taken = co_await users.async_create_pending(dup, soon());
    REQUIRE_FALSE(email_taken.has_value());
    CHECK(email_taken.error() == core::errc::email_taken);

    auto pw = co_await users.async_set_password(created->id, "hash-3", soon());
    REQUIRE(pw.has_value());
    CHECK(*pw);
    auto after_pw = co_await users.async_find_by_id(created->id, soon());
    REQUIRE(after_pw.has_value());
    REQUIRE(after_pw->has_value());
    CHECK((*after_pw)->password_hash == "hash-3");
    REQUIRE((*after_pw)->password_changed_at.has_value());
    auto changed_at = *(*after_pw)->password_changed_at;

    auto stale = co_await users.async_rehash_password(created->id, "hash-old", "hash-4", soon());
    REQUIRE(stale.has_value());
    CHECK_FALSE(*stale);
    auto rehashed = co_await users.async_rehash_password(created->id, "hash-3", "hash-4", soon());
    REQUIRE(rehashed.has_value());
    CHECK(*rehashed);
    auto after_rehash = co_await users.async_find_by_id(created->id, soon());
    REQUIRE(after_rehash.has_value());
    CHECK((*after_rehash)->password_hash == "hash-4");
    CHECK((*after_rehash)->password_changed_at == changed_at);

    auto login = co_await users.async_set_last_login(created->id, soon());
    REQUIRE(login.has_value());
    CHECK(*login);

    profile_update upd;
    upd.full_name = "Renamed";
    upd.username = tag + "_3";
    auto updated = co_await users.async_update_profile(created->id, upd, soon());
    REQUIRE(updated.has_value());
    REQUIRE(updated->has_value());
    CHECK((*updated)->full_name == "Renamed");
    CHECK((*updated)->username == tag + "_3");
    CHECK((*updated)->phone_number == "+100");
    CHECK((*updated)->last_login.has_value());

    const auto nu2 = make_user(tag + "o");

    auto other = co_await users.async_create_pending(nu2, soon());
    REQUIRE(other.has_value());
    profile_update steal;
    steal.username = tag + "_3";
    auto stolen = co_await users.async_update_profile(other->id, steal, soon());
    REQUIRE_FALSE(stolen.has_value());
    CHECK(stolen.error() == core::errc::username_taken);

    auto off = co_await users.async_deactivate(created->id, soon());
    REQUIRE(off.has_value());
    CHECK(*off);
    auto off_again = co_await users.async_deactivate(created->id, soon());
    REQUIRE(off_again.has_value());
    CHECK_FALSE(*off_again);
    auto deactivated = co_await users.async_find_by_id(created->id, soon());
    REQUIRE(deactivated.has_value());
    CHECK_FALSE((*deactivated)->is_active);
    CHECK((*deactivated)->verified());  // not confused with a pending registration
    const auto nu3 = make_user(tag);

    auto reregister = co_await users.async_create_pending(nu3, soon());
    REQUIRE_FALSE(reregister.has_value());
    CHECK(reregister.error() == core::errc::email_taken);
}

asio::awaitable<void> async_list_users(pg::pool& pool)
{
    pg::users users(pool);
    auto tag = test::unique_name("lst");
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 5; ++i) {
        auto u = make_user(tag + "_" + std::to_string(i));
        auto c = co_await users.async_create_pending(u, soon());
        REQUIRE(c.has_value());
        auto a = co_await users.async_activate(c->id, c->password_hash, soon());
        REQUIRE(a.has_value());
        ids.push_back(c->id);
    }
    // One with a LIKE wildcard in its name, and one inactive.
    auto wild = make_user(tag + "%w");
    auto w = co_await users.async_create_pending(wild, soon());
    REQUIRE(w.has_value());
    auto wa = co_await users.async_activate(w->id, w->password_hash, soon());
    REQUIRE(wa.has_value());
    const auto nu4 = make_user(tag + "_9");

    auto pending = co_await users.async_create_pending(nu4, soon());
    REQUIRE(pending.has_value());

    user_list_query q;
    q.username_prefix = tag + "_";
    q.limit = 2;
    std::vector<std::int64_t> seen;
    for (int page = 0; page < 5; ++page) {
        auto r = co_await users.async_list_active(q, soon());
        REQUIRE(r.has_value());
        for (const auto& u : *r) seen.push_back(u.id);
        if (r->size() < 2) break;
        q.after_id = r->back().id;
    }
    CHECK(seen == ids);

    user_list_query wq;
    wq.username_prefix = tag + "%";
    auto wr = co_await users.async_list_active(wq, soon());
    REQUIRE(wr.has_value());
    REQUIRE(wr->size() == 1);
    CHECK(wr->front().id == w->id);

    user_list_query all;
    all.limit = 1000;
    auto ar = co_await users.async_list_active(all, soon());
    REQUIRE(ar.has_value());
    for (std::size_t i = 1; i < ar->size(); ++i) CHECK((*ar)[i - 1].id < (*ar)[i].id);
    for (const auto& u : *ar) CHECK(u.is_active);
}

asio::awaitable<void> async_parallel_activation(pg::pool& pool, int* activated, int* active_seen)
{
    pg::users users(pool);
    const auto nu5 = make_user(test::unique_name("par"));

    auto created = co_await users.async_create_pending(nu5, soon());
    REQUIRE(created.has_value());
    auto ex = co_await asio::this_coro::executor;
    int done = 0;
    struct tally {
        int* activated;
        int* active_seen;
        int* done;
        void operator()(std::exception_ptr e, core::result<activation> r) const
        {
            ++*done;
            if (e || !r) return;
            if (r->activated) ++*activated;
            if (r->account.is_active && r->account.verified()) ++*active_seen;
        }
    };
    for (int i = 0; i < 10; ++i) {
        asio::co_spawn(ex, users.async_activate(created->id, created->password_hash, soon()),
                       tally{activated, active_seen, &done});
    }
    asio::steady_timer t(ex);
    while (done < 10) {
        t.expires_after(std::chrono::milliseconds(5));
        co_await t.async_wait(asio::use_awaitable);
    }
}

asio::awaitable<void> async_sessions_round_trip(pg::pool& pool)
{
    pg::users users(pool);
    pg::sessions sessions(pool);
    const auto nu6 = make_user(test::unique_name("ses"));

    auto u = co_await users.async_create_pending(nu6, soon());
    REQUIRE(u.has_value());
    const auto nu7 = make_user(test::unique_name("ses"));

    auto other = co_await users.async_create_pending(nu7, soon());
    REQUIRE(other.has_value());

    REQUIRE((co_await users.async_activate(u->id, u->password_hash, soon())).has_value());
    auto now = system_clock::now();
    new_session ns{u->id, now + hours(24), "agent/1.0", "127.0.0.1", u->password_hash, 0};
    auto s1 = co_await sessions.async_create(ns, soon());
    REQUIRE(s1.has_value());
    CHECK(pg::is_uuid(s1->id));
    CHECK(s1->user_agent == "agent/1.0");
    CHECK(s1->live(system_clock::now()));

    auto opened = co_await sessions.async_open(ns, soon());
    REQUIRE(opened.has_value());
    CHECK(opened->sess.user_id == u->id);
    CHECK(opened->sess.live(system_clock::now()));
    auto with_login = co_await users.async_find_by_id(u->id, soon());
    REQUIRE(with_login.has_value());
    CHECK((*with_login)->last_login.has_value());
    auto s3 = co_await sessions.async_create(ns, soon());
    REQUIRE(s3.has_value());

    auto found = co_await sessions.async_find(s1->id, soon());
    REQUIRE(found.has_value());
    REQUIRE(found->has_value());
    CHECK((*found)->user_id == u->id);
    CHECK((*found)->ip == "127.0.0.1");
    auto bad = co_await sessions.async_find("not-a-uuid", soon());
    REQUIRE(bad.has_value());
    CHECK_FALSE(bad->has_value());

    auto touched = co_await sessions.async_touch(s1->id, soon());
    REQUIRE(touched.has_value());
    CHECK(*touched);

    auto live = co_await sessions.async_list_live(u->id, 100, soon());
    REQUIRE(live.has_value());
    CHECK(live->size() == 3);

    auto not_mine = co_await sessions.async_revoke(s1->id, other->id, "user", soon());
    REQUIRE(not_mine.has_value());
    CHECK_FALSE(*not_mine);
    auto mine = co_await sessions.async_revoke(s1->id, u->id, "user", soon());
    REQUIRE(mine.has_value());
    CHECK(*mine);
    auto twice = co_await sessions.async_revoke(s1->id, u->id, "user", soon());
    REQUIRE(twice.has_value());
    CHECK_FALSE(*twice);
    auto garbage = co_await sessions.async_revoke("x'; --", u->id, "user", soon());
    REQUIRE(garbage.has_value());
    CHECK_FALSE(*garbage);
    auto revoked = co_await sessions.async_find(s1->id, soon());
    REQUIRE(revoked.has_value());
    CHECK((*revoked)->revoked_at.has_value());
    CHECK((*revoked)->revoke_reason == std::optional<std::string>("user"));

    auto all = co_await sessions.async_revoke_all(u->id, std::string_view(s3->id), "password_change", soon());
    REQUIRE(all.has_value());
    REQUIRE(all->size() == 1);
    CHECK(all->front() == opened->sess.id);
    auto left = co_await sessions.async_list_live(u->id, 100, soon());
    REQUIRE(left.has_value());
    REQUIRE(left->size() == 1);
    CHECK(left->front().id == s3->id);
    auto by_id = co_await sessions.async_revoke_by_id(s3->id, "token_reused", soon());
    REQUIRE(by_id.has_value());
    CHECK(*by_id);
    auto everything = co_await sessions.async_revoke_all(u->id, std::nullopt, "logout_all", soon());
    REQUIRE(everything.has_value());
    CHECK(everything->empty());
}

asio::awaitable<void> async_refresh_round_trip(pg::pool& pool, const std::string& url)
{
    pg::users users(pool);
    pg::sessions sessions(pool);
    pg::refresh_tokens tokens(pool);
    const auto nu8 = make_user(test::unique_name("rt"));

    auto u = co_await users.async_create_pending(nu8, soon());
    REQUIRE(u.has_value());
    auto now = system_clock::now();
    REQUIRE((co_await users.async_activate(u->id, u->password_hash, soon())).has_value());
    const new_session arg10{u->id, now + hours(24), "", "", u->password_hash, 0};

    auto opened = co_await sessions.async_open(arg10, soon());
    REQUIRE(opened.has_value());
    const std::string sid = opened->sess.id;
    auto fresh = co_await tokens.async_inspect(sid, soon());
    REQUIRE(fresh.has_value());
    REQUIRE(fresh->has_value());
    CHECK((*fresh)->counter == 0);
    CHECK_FALSE((*fresh)->refreshed_at.has_value());
    CHECK((*fresh)->user_id == u->id);

    // Counter 0 rotates once; the winner sees counter 1 and its time.
    const refresh_position at1{sid, 0, std::nullopt};
    auto next = co_await tokens.async_rotate(at1, soon());
    REQUIRE(next.has_value());
    REQUIRE(next->has_value());
    CHECK((*next)->session_id == sid);
    CHECK((*next)->user_id == u->id);
    CHECK((*next)->counter == 1);

    const refresh_position at2{sid, 0, std::nullopt};
    auto reuse = co_await tokens.async_rotate(at2, soon());
    REQUIRE(reuse.has_value());
    CHECK_FALSE(reuse->has_value());
    const refresh_position at3{sid, 5, std::nullopt};
    auto ahead = co_await tokens.async_rotate(at3, soon());
    REQUIRE(ahead.has_value());
    CHECK_FALSE(ahead->has_value());
    auto state = co_await tokens.async_inspect(sid, soon());
    REQUIRE(state.has_value());
    REQUIRE(state->has_value());
    CHECK((*state)->counter == 1);
    REQUIRE((*state)->refreshed_at.has_value());
    CHECK(*(*state)->refreshed_at == (*next)->rotated_at);
    CHECK((*state)->live(system_clock::now()));

    auto unknown = co_await tokens.async_inspect(pg::random_uuid(), soon());
    REQUIRE(unknown.has_value());
    CHECK_FALSE(unknown->has_value());
    const refresh_position at4{"nope", 0, std::nullopt};
    auto malformed = co_await tokens.async_rotate(at4, soon());
    REQUIRE(malformed.has_value());
    CHECK_FALSE(malformed->has_value());

    // A token from before counters: usable as counter 0 while it is the legacy token, and
    // only then (a wrong or malformed id, or a second use, rotates nothing).
    auto legacy_session = co_await sessions.async_open(arg10, soon());
    REQUIRE(legacy_session.has_value());
    const std::string lsid = legacy_session->sess.id;
    const std::string legacy = pg::random_uuid();
    test::admin_exec(url, "UPDATE sessions SET legacy_jti = '" + legacy + "' WHERE id = '" + lsid + "'");
    const refresh_position at5{lsid, 0, std::nullopt};
    auto plain = co_await tokens.async_rotate(at5, soon());
    REQUIRE(plain.has_value());
    CHECK_FALSE(plain->has_value());
    const refresh_position at6{lsid, 0, pg::random_uuid()};
    auto wrong = co_await tokens.async_rotate(at6, soon());
    REQUIRE(wrong.has_value());
    CHECK_FALSE(wrong->has_value());
    const refresh_position at7{lsid, 0, std::string("x")};
    auto bad = co_await tokens.async_rotate(at7, soon());
    REQUIRE(bad.has_value());
    CHECK_FALSE(bad->has_value());
    auto legacy_state = co_await tokens.async_inspect(lsid, soon());
    REQUIRE(legacy_state.has_value());
    CHECK((*legacy_state)->legacy_jti == std::optional<std::string>(legacy));
    const refresh_position at8{lsid, 0, legacy};
    auto migrated = co_await tokens.async_rotate(at8, soon());
    REQUIRE(migrated.has_value());
    REQUIRE(migrated->has_value());
    CHECK((*migrated)->counter == 1);
    const refresh_position at9{lsid, 0, legacy};
    auto again = co_await tokens.async_rotate(at9, soon());
    REQUIRE(again.has_value());
    CHECK_FALSE(again->has_value());
    auto cleared = co_await tokens.async_inspect(lsid, soon());
    REQUIRE(cleared.has_value());
    CHECK_FALSE((*cleared)->legacy_jti.has_value());
    const refresh_position at10{lsid, 1, std::nullopt};
    auto onward = co_await tokens.async_rotate(at10, soon());
    REQUIRE(onward.has_value());
    CHECK(onward->has_value());

    // An expired session cannot rotate.
    const new_session arg12{u->id, now - seconds(1), "", "", u->password_hash, 0};
    auto expired_session = co_await sessions.async_create(arg12, soon());
    REQUIRE(expired_session.has_value());
    const refresh_position at11{expired_session->id, 0, std::nullopt};
    auto expired = co_await tokens.async_rotate(at11, soon());
    REQUIRE(expired.has_value());
    CHECK_FALSE(expired->has_value());

    // Logout: only the owner's session ends, and it stays ended; it no longer rotates.
    auto not_mine = co_await tokens.async_end(sid, u->id + 1000000, "logout", soon());
    REQUIRE(not_mine.has_value());
    CHECK_FALSE(not_mine->has_value());
    auto out = co_await tokens.async_end(sid, u->id, "logout", soon());
    REQUIRE(out.has_value());
    REQUIRE(out->has_value());
    CHECK(**out == sid);
    auto twice = co_await tokens.async_end(sid, u->id, "other", soon());
    REQUIRE(twice.has_value());
    CHECK(twice->has_value());
    const refresh_position at12{sid, 1, std::nullopt};
    auto after = co_await tokens.async_rotate(at12, soon());
    REQUIRE(after.has_value());
    CHECK_FALSE(after->has_value());
    auto after_state = co_await tokens.async_inspect(sid, soon());
    REQUIRE(after_state.has_value());
    CHECK_FALSE((*after_state)->live(system_clock::now()));
    auto sess = co_await sessions.async_find(sid, soon());
    REQUIRE(sess.has_value());
    CHECK((*sess)->revoke_reason == std::optional<std::string>("logout"));

    // Purge removes expired sessions.
    auto purged = co_await tokens.async_purge(10000, soon());
    REQUIRE(purged.has_value());
    CHECK(purged->sessions >= 1);
    auto gone_session = co_await sessions.async_find(expired_session->id, soon());
    REQUIRE(gone_session.has_value());
    CHECK_FALSE(gone_session->has_value());
}

struct rotation_tally {
    int* wins;
    int* losses;
    int* errors;
    void operator()(std::exception_ptr e, core::result<std::optional<rotation>> r) const
    {
        if (e || !r) {
            ++*errors;
        } else if (r->has_value()) {
            ++*wins;
        } else {
            ++*losses;
        }
    }
};

asio::awaitable<void> async_parallel_rotation(pg::pool& pool, int* wins, int* losses, int* errors)
{
    pg::users users(pool);
    pg::sessions sessions(pool);
    pg::refresh_tokens tokens(pool);
    const auto nu9 = make_user(test::unique_name("prt"));

    auto u = co_await users.async_create_pending(nu9, soon());
    REQUIRE(u.has_value());
    auto now = system_clock::now();
    REQUIRE((co_await users.async_activate(u->id, u->password_hash, soon())).has_value());
    const new_session arg13{u->id, now + hours(1), "", "", u->password_hash, 0};

    auto opened = co_await sessions.async_open(arg13, soon());
    REQUIRE(opened.has_value());
    auto ex = co_await asio::this_coro::executor;
    // The position outlives this loop: the spawned coroutines hold a reference to it.
    static refresh_position at;
    at = refresh_position{opened->sess.id, 0, std::nullopt};
    for (int i = 0; i < 20; ++i) {
        asio::co_spawn(ex, tokens.async_rotate(at, soon()), rotation_tally{wins, losses, errors});
    }
    asio::steady_timer t(ex);
    while (*wins + *losses + *errors < 20) {
        t.expires_after(std::chrono::milliseconds(5));
        co_await t.async_wait(asio::use_awaitable);
    }
}

// An active user whose password hash is "hash-<tag>".
asio::awaitable<user> async_active_user(pg::users& users, const std::string& tag)
{
    auto c = co_await users.async_create_pending(make_user(tag), soon());
    REQUIRE(c.has_value());
    auto a = co_await users.async_activate(c->id, c->password_hash, soon());
    REQUIRE(a.has_value());
    co_return a->account;
}

asio::awaitable<void> async_open_checks_state(pg::pool& pool)
{
    pg::users users(pool);
    pg::sessions sessions(pool);
    auto now = system_clock::now();

    // The password changed after the login checked the old one: no session.
    auto u = co_await async_active_user(users, test::unique_name("m1a"));
    auto set = co_await users.async_set_password(u.id, "hash-new", soon());
    REQUIRE(set.has_value());
    new_session stale{u.id, now + hours(1), "", "", u.password_hash, 0};
    auto refused = co_await sessions.async_open(stale, soon());
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error() == core::errc::invalid_credentials);
    auto none = co_await sessions.async_list_live(u.id, 100, soon());
    REQUIRE(none.has_value());
    CHECK(none->empty());
    new_session fresh{u.id, now + hours(1), "", "", "hash-new", 0};
    CHECK((co_await sessions.async_open(fresh, soon())).has_value());

    // The account was deleted (deactivated) meanwhile: no session.
    auto v = co_await async_active_user(users, test::unique_name("m1b"));
    REQUIRE((co_await users.async_deactivate(v.id, soon())).has_value());
    new_session gone{v.id, now + hours(1), "", "", v.password_hash, 0};
    auto refused2 = co_await sessions.async_open(gone, soon());
    REQUIRE_FALSE(refused2.has_value());
    CHECK(refused2.error() == core::errc::invalid_credentials);
}

asio::awaitable<void> async_session_cap(pg::pool& pool)
{
    pg::users users(pool);
    pg::sessions sessions(pool);
    auto u = co_await async_active_user(users, test::unique_name("cap"));
    auto now = system_clock::now();
    new_session ns{u.id, now + hours(1), "", "", u.password_hash, 3};
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        auto o = co_await sessions.async_open(ns, soon());
        REQUIRE(o.has_value());
        ids.push_back(o->sess.id);
        // The 4th and 5th logins end the oldest live session each.
        if (i < 3) {
            CHECK(o->ended.empty());
        } else {
            REQUIRE(o->ended.size() == 1);
            CHECK(o->ended[0] == ids[static_cast<std::size_t>(i) - 3]);
        }
    }
    auto live = co_await sessions.async_list_live(u.id, 100, soon());
    REQUIRE(live.has_value());
    REQUIRE(live->size() == 3);
    auto first = co_await sessions.async_find(ids[0], soon());
    REQUIRE(first.has_value());
    CHECK((*first)->revoke_reason == std::optional<std::string>("session_limit"));
}

asio::awaitable<void> async_activation_bound(pg::pool& pool)
{
    pg::users users(pool);
    auto tag = test::unique_name("m8");
    // The owner registers; before the code is used, someone registers the address again.
    auto mine = co_await users.async_create_pending(make_user(tag), soon());
    REQUIRE(mine.has_value());
    auto theirs_in = make_user(tag);
    theirs_in.username = tag + "_x";
    theirs_in.password_hash = "hash-attacker";
    auto theirs = co_await users.async_create_pending(theirs_in, soon());
    REQUIRE(theirs.has_value());
    CHECK(theirs->id == mine->id);
    // The owner's code (bound to the owner's registration) does not activate the other one.
    auto act = co_await users.async_activate(mine->id, mine->password_hash, soon());
    REQUIRE_FALSE(act.has_value());
    CHECK(act.error() == core::errc::not_found);
    auto row = co_await users.async_find_by_id(mine->id, soon());
    REQUIRE(row.has_value());
    CHECK_FALSE((*row)->verified());
    CHECK_FALSE((*row)->is_active);
    auto ok = co_await users.async_activate(mine->id, "hash-attacker", soon());
    REQUIRE(ok.has_value());
    CHECK(ok->activated);
}

asio::awaitable<void> async_purge_pending(pg::pool& pool, const std::string& url)
{
    pg::users users(pool);
    pg::refresh_tokens tokens(pool);
    auto tag = test::unique_name("old");
    auto in = make_user(tag);
    in.password_hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
    auto stale = co_await users.async_create_pending(in, soon());
    REQUIRE(stale.has_value());
    auto in2 = make_user(tag + "_v");
    in2.password_hash = in.password_hash;
    auto kept = co_await users.async_create_pending(in2, soon());
    REQUIRE(kept.has_value());
    REQUIRE((co_await users.async_activate(kept->id, kept->password_hash, soon())).has_value());
    auto in3 = make_user(tag + "_n");
    in3.password_hash = in.password_hash;
    auto recent = co_await users.async_create_pending(in3, soon());
    REQUIRE(recent.has_value());
    test::admin_exec(url,
                     "UPDATE users SET date_joined = now() - interval '8 days', updated_at = now() - interval "
                     "'8 days' WHERE id IN (" +
                         std::to_string(stale->id) + ", " + std::to_string(kept->id) + ")");
    auto purged = co_await tokens.async_purge(10000, soon());
    REQUIRE(purged.has_value());
    CHECK(purged->pending_users >= 1);
    auto a = co_await users.async_find_by_id(stale->id, soon());
    REQUIRE(a.has_value());
    CHECK_FALSE(a->has_value());
    auto b = co_await users.async_find_by_id(kept->id, soon());
    REQUIRE(b.has_value());
    CHECK(b->has_value());
    auto c = co_await users.async_find_by_id(recent->id, soon());
    REQUIRE(c.has_value());
    CHECK(c->has_value());
}

asio::awaitable<void> async_mfa_round_trip(pg::pool& pool)
{
    pg::users users(pool);
    pg::mfa mfa(pool);
    auto created = co_await users.async_create_pending(make_user(test::unique_name("m")), soon());
    REQUIRE(created.has_value());
    const std::int64_t id = created->id;
    CHECK_FALSE(created->mfa_enabled);

    auto empty = co_await mfa.async_get(id, soon());
    REQUIRE(empty.has_value());
    CHECK_FALSE(empty->enabled());
    CHECK_FALSE(empty->pending_sealed);
    CHECK(empty->last_step == -1);
    CHECK(empty->recovery_codes_left == 0);
    auto no_step = co_await mfa.async_use_step(id, 5, soon());
    REQUIRE(no_step.has_value());
    CHECK_FALSE(*no_step);

    // A new setup replaces the pending one; enabling needs the current pending secret.
    auto first = co_await mfa.async_set_pending(id, "sealed-1", soon());
    REQUIRE(first.has_value());
    CHECK(*first);
    auto second = co_await mfa.async_set_pending(id, "sealed-2", soon());
    REQUIRE(second.has_value());
    CHECK(*second);
    const std::vector<std::string> codes = {"d1", "d2", "d3"};
    auto stale = co_await mfa.async_enable(id, "sealed-1", 100, codes, soon());
    REQUIRE(stale.has_value());
    CHECK_FALSE(*stale);
    auto on = co_await mfa.async_enable(id, "sealed-2", 100, codes, soon());
    REQUIRE(on.has_value());
    CHECK(*on);
    auto st = co_await mfa.async_get(id, soon());
    REQUIRE(st.has_value());
    CHECK(st->secret_sealed == std::optional<std::string>("sealed-2"));
    CHECK_FALSE(st->pending_sealed);
    CHECK(st->last_step == 100);
    CHECK(st->recovery_codes_left == 3);
    auto row = co_await users.async_find_by_id(id, soon());
    REQUIRE(row.has_value());
    CHECK((*row)->mfa_enabled);
    auto while_on = co_await mfa.async_set_pending(id, "sealed-3", soon());
    REQUIRE(while_on.has_value());
    CHECK_FALSE(*while_on);

    // Steps only move forward: the same step or an earlier one is refused.
    const std::int64_t steps[] = {100, 99, 101, 101};
    const bool accepted[] = {false, false, true, false};
    for (int i = 0; i < 4; ++i) {
        auto used = co_await mfa.async_use_step(id, steps[i], soon());
        REQUIRE(used.has_value());
        CHECK(*used == accepted[i]);
    }

    // Recovery codes: once each; a new set replaces the old one.
    auto first_use = co_await mfa.async_use_recovery_code(id, "d1", soon());
    REQUIRE(first_use.has_value());
    CHECK(*first_use);
    auto again = co_await mfa.async_use_recovery_code(id, "d1", soon());
    REQUIRE(again.has_value());
    CHECK_FALSE(*again);
    auto unknown = co_await mfa.async_use_recovery_code(id, "nope", soon());
    REQUIRE(unknown.has_value());
    CHECK_FALSE(*unknown);
    const std::vector<std::string> fresh = {"e1", "e2"};
    auto replaced = co_await mfa.async_replace_recovery_codes(id, fresh, soon());
    REQUIRE(replaced.has_value());
    CHECK(*replaced);
    auto old_code = co_await mfa.async_use_recovery_code(id, "d2", soon());
    REQUIRE(old_code.has_value());
    CHECK_FALSE(*old_code);
    st = co_await mfa.async_get(id, soon());
    REQUIRE(st.has_value());
    CHECK(st->recovery_codes_left == 2);

    // Off: everything goes, once.
    auto off = co_await mfa.async_disable(id, soon());
    REQUIRE(off.has_value());
    CHECK(*off);
    auto off_again = co_await mfa.async_disable(id, soon());
    REQUIRE(off_again.has_value());
    CHECK_FALSE(*off_again);
    st = co_await mfa.async_get(id, soon());
    REQUIRE(st.has_value());
    CHECK_FALSE(st->enabled());
    CHECK(st->recovery_codes_left == 0);
    row = co_await users.async_find_by_id(id, soon());
    REQUIRE(row.has_value());
    CHECK_FALSE((*row)->mfa_enabled);
    auto replaced_off = co_await mfa.async_replace_recovery_codes(id, fresh, soon());
    REQUIRE(replaced_off.has_value());
    CHECK_FALSE(*replaced_off);
}

}  // namespace

TEST_CASE("users: every operation round-trips; unique violations are domain errors")
{
    test::pool_fixture f(test::migrated_database().url());
    test::run(f.ioc, async_users_round_trip(*f.pool));
}

TEST_CASE("users: keyset pagination of active users with a literal prefix")
{
    test::pool_fixture f(test::migrated_database().url());
    test::run(f.ioc, async_list_users(*f.pool));
}

TEST_CASE("users: 10 parallel activations activate once, all see the final state")
{
    test::pool_fixture f(test::migrated_database().url(), 10);
    int activated = 0, active_seen = 0;
    test::run(f.ioc, async_parallel_activation(*f.pool, &activated, &active_seen));
    CHECK(activated == 1);
    CHECK(active_seen == 10);
}

TEST_CASE("mfa: pending secret, enabling, monotonic steps, single-use recovery codes, replacement, disabling")
{
    test::pool_fixture f(test::migrated_database().url());
    test::run(f.ioc, async_mfa_round_trip(*f.pool));
}

TEST_CASE("sessions: create, open, find, touch, revoke, revoke all, list")
{
    test::pool_fixture f(test::migrated_database().url());
    test::run(f.ioc, async_sessions_round_trip(*f.pool));
}

TEST_CASE("refresh counters: rotation, older and newer counters, legacy tokens, expiry, logout, purge")
{
    test::pool_fixture f(test::migrated_database().url());
    test::run(f.ioc, async_refresh_round_trip(*f.pool, test::migrated_database().url()));
}

TEST_CASE("refresh tokens: of 20 parallel rotations of one token exactly one wins")
{
    test::pool_fixture f(test::migrated_database().url(), 8);
    int wins = 0, losses = 0, errors = 0;
    test::run(f.ioc, async_parallel_rotation(*f.pool, &wins, &losses, &errors));
    CHECK(wins == 1);
    CHECK(losses == 19);
    CHECK(errors == 0);
}

TEST_CASE("sessions: a login opens no session once the password changed or the account was deleted")
{
    test::pool_fixture f(test::migrated_database().url());
    test::run(f.ioc, async_open_checks_state(*f.pool));
}

TEST_CASE("sessions: a login waiting on a concurrent password change sees the new hash and opens nothing")
{
    const std::string url = test::migrated_database().url();
    test::pool_fixture f(url);
    pg::users users(*f.pool);
    user u = test::run(f.ioc, async_active_user(users, test::unique_name("m1c")));

    // Another transaction changes the password and has not committed yet.
    PGconn* other = PQconnectdb(url.c_str());
    REQUIRE(PQstatus(other) == CONNECTION_OK);
    PQclear(PQexec(other, "BEGIN"));
    PGresult* upd = PQexec(other, ("UPDATE users SET password_hash = 'hash-changed', password_changed_at = now()"
                                   " WHERE id = " +
                                   std::to_string(u.id))
                                      .c_str());
    REQUIRE(PQresultStatus(upd) == PGRES_COMMAND_OK);
    PQclear(upd);

    pg::sessions sessions(*f.pool);
    auto now = system_clock::now();
    static new_session ns;
    ns = new_session{u.id, now + hours(1), "", "", u.password_hash, 0};
    std::optional<core::result<opened_session>> result;
    asio::co_spawn(f.ioc, sessions.async_open(ns, soon()),
                   [&](std::exception_ptr, core::result<opened_session> r) { result = std::move(r); });
    // Until the login's statement waits for the row lock.
    const std::string waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = '" +
                                test::migrated_database().name() + "'";
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (test::admin_value(url, waiting) == "0" && std::chrono::steady_clock::now() < until) {
        f.ioc.run_for(std::chrono::milliseconds(20));
    }
    CHECK(test::admin_value(url, waiting) == "1");
    PQclear(PQexec(other, "COMMIT"));
    PQfinish(other);
    while (!result) f.ioc.run_one();
    REQUIRE_FALSE(result->has_value());
    CHECK(result->error() == core::errc::invalid_credentials);
}

TEST_CASE("sessions: a login beyond the per-user cap ends the oldest live session")
{
    test::pool_fixture f(test::migrated_database().url());
    test::run(f.ioc, async_session_cap(*f.pool));
}

TEST_CASE("users: a code's activation applies only to the registration it was sent for")
{
    test::pool_fixture f(test::migrated_database().url());
    test::run(f.ioc, async_activation_bound(*f.pool));
}

TEST_CASE("users: registrations left unverified for 7 days are purged; verified and recent ones stay")
{
    test::pool_fixture f(test::migrated_database().url());
    test::run(f.ioc, async_purge_pending(*f.pool, test::migrated_database().url()));
}
