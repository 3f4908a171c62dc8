// The operators' repositories against a real PostgreSQL: every account whatever its
// state, the last enabled admin kept even when two operators remove admins at once, and
// the audit trail's append, filters, keyset paging, purge and append-only table.
#include "pg_support.hpp"
#include "server_fixture.hpp"
#include "test_env.hpp"

#include "store/pg/pg_admin.hpp"
#include "store/pg/pg_repositories.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <doctest/doctest.h>

#include <set>

using namespace portcullis;
using namespace portcullis::store;
namespace asio = boost::asio;

namespace {

core::deadline soon()
{
    return core::steady_clock::now() + std::chrono::seconds(10);
}

asio::awaitable<void> async_admin_round_trip(pg::pool& pool)
{
    pg::admin_users admins(pool);
    pg::users users(pool);
    const std::string tag = test::unique_name("adm");
    // Named first: g++ 12 destroys a braced temporary inside a co_await expression twice.
    const new_user na{tag + "a@example.com", tag + "a", "h", "", ""};
    const new_user nb{tag + "b@example.com", tag + "b", "h", "", ""};
    const new_user nc{tag + "A@example.com", tag + "c", "h", "", ""};
    const new_user np{tag + "p@example.com", tag + "p", "h", "", ""};
    auto a = co_await admins.async_create_admin(na, soon());
    REQUIRE(a.has_value());
    CHECK(a->role == "admin");
    CHECK(a->verified());
    CHECK(a->is_active);
    auto b = co_await admins.async_create_admin(nb, soon());
    REQUIRE(b.has_value());
    auto dup = co_await admins.async_create_admin(nc, soon());
    REQUIRE_FALSE(dup.has_value());
    CHECK(dup.error() == core::errc::email_taken);
    auto pending = co_await users.async_create_pending(np, soon());
    REQUIRE(pending.has_value());

    // Prefix on e-mail or username, case-insensitive; status filters.
    admin_user_query q;
    q.prefix = tag;
    q.limit = 100;
    auto all = co_await admins.async_list(q, soon());
    REQUIRE(all.has_value());
    CHECK(all->size() == 3);
    q.status = user_status::pending;
    auto only_pending = co_await admins.async_list(q, soon());
    REQUIRE(only_pending.has_value());
    REQUIRE(only_pending->size() == 1);
    CHECK(only_pending->front().id == pending->id);
    q.status = user_status::any;
    q.after_id = all->front().id;
    auto after = co_await admins.async_list(q, soon());
    REQUIRE(after.has_value());
    CHECK(after->size() == 2);

    // Two operators disable the two admins at the same moment: one of them stays.
    auto off_a = admins.async_set_disabled(a->id, true, soon());
    auto off_b = admins.async_set_disabled(b->id, true, soon());
    using namespace asio::experimental::awaitable_operators;
    auto both = co_await (std::move(off_a) && std::move(off_b));
    auto ra = std::get<0>(both);
    auto rb = std::get<1>(both);
    REQUIRE(ra.has_value());
    REQUIRE(rb.has_value());
    std::multiset<admin_change> outcomes{*ra, *rb};
    CHECK(outcomes.count(admin_change::done) == 1);
    CHECK(outcomes.count(admin_change::last_admin) == 1);
    const std::int64_t kept = *ra == admin_change::done ? b->id : a->id;
    const std::int64_t gone = kept == a->id ? b->id : a->id;
    admin_user_update to_user;
    to_user.role = "user";

    auto demote = co_await admins.async_update(kept, to_user, soon());
    REQUIRE(demote.has_value());
    CHECK(*demote == admin_change::last_admin);
    auto remove = co_await admins.async_delete(kept, soon());
    REQUIRE(remove.has_value());
    CHECK(*remove == admin_change::last_admin);
    auto again = co_await admins.async_set_disabled(gone, true, soon());
    REQUIRE(again.has_value());
    CHECK(*again == admin_change::unchanged);
    auto back = co_await admins.async_set_disabled(gone, false, soon());
    REQUIRE(back.has_value());
    CHECK(*back == admin_change::done);
    // Two enabled admins again: one may be demoted now.
    auto demoted = co_await admins.async_update(gone, to_user, soon());
    REQUIRE(demoted.has_value());
    CHECK(*demoted == admin_change::done);
    auto row = co_await admins.async_get(gone, soon());
    REQUIRE(row.has_value());
    REQUIRE(row->has_value());
    CHECK((*row)->role == "user");

    // A disabled account opens no session.
    auto off = co_await admins.async_set_disabled(gone, true, soon());
    REQUIRE(off.has_value());
    pg::sessions sessions(pool);
    new_session ns;
    ns.user_id = gone;
    ns.expires_at = std::chrono::system_clock::now() + std::chrono::hours(1);
    ns.verified_hash = "h";
    auto opened = co_await sessions.async_open(ns, soon());
    REQUIRE_FALSE(opened.has_value());
    CHECK(opened.error() == core::errc::invalid_credentials);

    auto verified = co_await admins.async_verify(pending->id, soon());
    REQUIRE(verified.has_value());
    CHECK(*verified == admin_change::done);
    auto twice = co_await admins.async_verify(pending->id, soon());
    REQUIRE(twice.has_value());
    CHECK(*twice == admin_change::unchanged);
    auto nobody = co_await admins.async_verify(999'999'999, soon());
    REQUIRE(nobody.has_value());
    CHECK(*nobody == admin_change::not_found);
}

asio::awaitable<void> async_audit_round_trip(pg::pool& pool, std::string url)
{
    pg::audit_events log(pool);
    const std::int64_t user =
        700'000'000 + static_cast<std::int64_t>(std::hash<std::string>{}(test::unique_name("a")) % 1'000'000);
    const auto now = std::chrono::system_clock::now();
    std::vector<audit_record> batch;
    for (int i = 0; i < 5; ++i) {
        audit_record r;
        r.at = now - std::chrono::hours(24 * (i == 0 ? 100 : 0));
        r.type = i % 2 == 0 ? "mfa.enabled" : "login.failed";
        r.user_id = user;
        r.ip = "198.51.100.1";
        r.user_agent = "agent \"quoted\" \\ back, comma {brace}";
        r.request_id = "r" + std::to_string(i);
        r.reason = i == 1 ? "invalid_password" : "";
        batch.push_back(r);
    }
    auto appended = co_await log.async_append(batch, soon());
    REQUIRE(appended.has_value());

    audit_query q;
    q.user_id = user;
    auto mine = co_await log.async_list(q, soon());
    REQUIRE(mine.has_value());
    REQUIRE(mine->size() == 5);
    CHECK(mine->front().request_id == "r4");  // newest first
    CHECK(mine->back().user_agent == "agent \"quoted\" \\ back, comma {brace}");
    CHECK(mine->at(3).reason == "invalid_password");
    CHECK(mine->front().session_id.empty());

    q.type = "mfa.*";
    auto family = co_await log.async_list(q, soon());
    REQUIRE(family.has_value());
    CHECK(family->size() == 3);
    q.type = "login.failed";
    q.limit = 1;
    auto page = co_await log.async_list(q, soon());
    REQUIRE(page.has_value());
    REQUIRE(page->size() == 1);
    q.before_id = page->front().id;
    auto older = co_await log.async_list(q, soon());
    REQUIRE(older.has_value());
    REQUIRE(older->size() == 1);
    CHECK(older->front().id < page->front().id);
    q = audit_query{};
    q.user_id = user;
    q.since = now - std::chrono::hours(1);
    auto recent = co_await log.async_list(q, soon());
    REQUIRE(recent.has_value());
    CHECK(recent->size() == 4);

    auto purged = co_await log.async_purge(now - std::chrono::hours(24 * 90), 1000, soon());
    REQUIRE(purged.has_value());
    CHECK(*purged >= 1);
    q = audit_query{};
    q.user_id = user;
    auto left = co_await log.async_list(q, soon());
    REQUIRE(left.has_value());
    CHECK(left->size() == 4);
    CHECK_THROWS(
        test::pg_exec(url, "UPDATE audit_events SET reason = 'changed' WHERE user_id = " + std::to_string(user)));
}

}  // namespace

TEST_CASE("admin users: every state, filters, the last enabled admin kept under concurrent removal, disabled logins")
{
    test::pool_fixture f(test::migrated_database().url());
    test::run(f.ioc, async_admin_round_trip(*f.pool));
}

TEST_CASE("audit events: batch append with awkward text, filters, keyset paging, purge by age, append-only")
{
    test::pool_fixture f(test::migrated_database().url());
    test::run(f.ioc, async_audit_round_trip(*f.pool, test::migrated_database().url()));
}
