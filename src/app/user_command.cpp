// `portcullis user create-admin|list|show|disable|enable|logout|delete`: operators'
// shell access to accounts. Builds only what these need: one PostgreSQL connection, one
// Redis connection (ending sessions is announced to every instance through the
// invalidation stream), the keys derived from SECRET_KEY and, for create-admin, the
// hash pool. Every change is audited as the admin API's are (actor: none).
#include "app/commands.hpp"
#include "app/resources.hpp"
#include "app/webhooks.hpp"
#include "auth/audit.hpp"
#include "auth/hash_pool.hpp"
#include "auth/password_policy.hpp"
#include "auth/service.hpp"
#include "auth/session_cache.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
#include "jobs/queue.hpp"
#include "store/kv/redis_auth_kv.hpp"
#include "store/pg/blocking_pool.hpp"
#include "store/pg/pg_admin.hpp"
#include "store/pg/pg_repositories.hpp"
#include "store/pg/pool.hpp"
#include "store/redis/connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <string>

namespace portcullis::app {

namespace asio = boost::asio;

namespace {

constexpr const char* user_usage =
    "usage: portcullis user create-admin --email E --username U\n"
    "       portcullis user list [--q PREFIX] [--status active|pending|disabled|deleted] [--limit N]\n"
    "       portcullis user show|disable|enable|logout|delete ID|EMAIL\n";

int fail(const std::string& why)
{
    std::fprintf(stderr, "portcullis user: %s\n", why.c_str());
    return 1;
}

std::string describe(const auth::failure& f)
{
    std::string out = f.code.message();
    for (const auto& [field, msg] : f.details) out += "; " + field + ": " + msg;
    return out;
}

struct user_request {
    std::string verb;
    std::string target;  // id or e-mail
    std::string email, username, password;
    std::string q;
    store::user_status status = store::user_status::any;
    int limit = 50;
};

// Cache invalidations of this process: it has no caches of its own.
class no_caches final : public auth::invalidation_sink {
public:
    void broadcast(const std::string&) override {}
};

auth::hash_pool_settings one_thread(auth::hash_pool_settings s)
{
    s.threads = 1;
    s.queue_limit = 4;
    return s;
}

// Everything a user command works with, on one io_context.
struct cli_context {
    cli_context(const config& cfg, asio::io_context& ioc, store::pg::blocking_pool& blocking,
                store::pg::settings pg_settings)
        : pool(ioc.get_executor(), blocking, pg_settings),
          users(pool),
          sessions(pool),
          tokens(pool),
          mfa(pool),
          admin(pool),
          audit_log(pool),
          redis(ioc.get_executor(), process_redis_settings(cfg)),
          kv(redis, cfg.queue.prefix),
          producer(redis, cfg.queue),
          keys(cfg.secret_key, cfg.tokens.claims),
          hashes(one_thread(cfg.hashing)),
          audit(ioc.get_executor(), audit_log, counters, cfg.audit),
          hooks(cfg.webhooks.enabled()
                    ? std::make_unique<webhook_sink>(ioc.get_executor(), producer, cfg.webhooks, hook_counters)
                    : nullptr),
          tee(cfg.audit.enabled ? &audit : nullptr, hooks.get()),
          svc(auth::service::deps{users, sessions, tokens, kv, producer, hashes, keys, policy, cache, sink, nullptr,
                                  nullptr, core::system_clock(), &mfa, &tee, &audit_log, &admin},
              cfg.auth)
    {
    }

    store::pg::pool pool;
    store::pg::users users;
    store::pg::sessions sessions;
    store::pg::refresh_tokens tokens;
    store::pg::mfa mfa;
    store::pg::admin_users admin;
    store::pg::audit_events audit_log;
    store::redis::connection redis;
    store::kv::redis_auth_kv kv;
    jobs::producer producer;
    auth::key_set keys;
    auth::hash_pool hashes;
    auth::password_policy policy;
    auth::session_cache cache;
    no_caches sink;
    auth::audit_counters counters;
    auth::audit_writer audit;
    webhook_counters hook_counters;
    std::unique_ptr<webhook_sink> hooks;  // null: no WEBHOOK_URL
    tee_sink tee;
    auth::service svc;
};

void print_user(const store::user& u)
{
    std::string status = !u.verified() ? "pending" : !u.is_active ? "deleted" : u.disabled_at ? "disabled" : "active";
    std::printf("%-10lld %-8s %-9s %-32s %s\n", static_cast<long long>(u.id), u.role.c_str(), status.c_str(),
                u.username.c_str(), u.email.c_str());
}

void print_header()
{
    std::printf("%-10s %-8s %-9s %-32s %s\n", "id", "role", "status", "username", "email");
}

// The id of `target` (an id, or an e-mail address of any account).
asio::awaitable<std::optional<std::string>> async_resolve(cli_context* c, std::string target, core::deadline d)
{
    if (auth::parse_id(target)) co_return target;
    auto found = co_await c->users.async_find_by_email(target, d);
    if (!found || !*found) co_return std::nullopt;
    co_return std::to_string((*found)->id);
}

asio::awaitable<int> async_user_command(cli_context* c, user_request req, core::deadline d)
{
    auth::admin_flows& admin = c->svc.admin();
    auth::operator_ref op;
    op.meta.user_agent = "portcullis-cli";
    if (req.verb == "create-admin") {
        auto u = co_await admin.async_create_admin(op, req.email, req.username, req.password, d);
        if (!u) co_return fail(describe(u.error()));
        print_header();
        print_user(*u);
        co_return 0;
    }
    if (req.verb == "list") {
        std::string cursor;
        print_header();
        for (;;) {
            auto page = co_await admin.async_list(req.limit, cursor, req.q, req.status, d);
            if (!page) co_return fail(describe(page.error()));
            for (const auto& u : page->results) print_user(u);
            // --limit bounds the whole listing; without it every page is printed.
            if (!page->next || req.limit < 1000) break;
            cursor = *page->next;
        }
        co_return 0;
    }
    auto id = co_await async_resolve(c, req.target, d);
    if (!id) co_return fail("no user " + req.target);
    if (req.verb == "show") {
        auto u = co_await admin.async_get(*id, d);
        if (!u) co_return fail(describe(u.error()));
        print_header();
        print_user(*u);
        std::printf("\nfull name:   %s\nverified:    %s\nmfa:         %s\njoined:      %s\nlast login:  %s\n",
                    u->full_name.c_str(), u->verified() ? "yes" : "no", u->mfa_enabled ? "on" : "off",
                    core::format_rfc3339(u->date_joined).c_str(),
                    u->last_login ? core::format_rfc3339(*u->last_login).c_str() : "-");
        co_return 0;
    }
    if (req.verb == "disable" || req.verb == "enable") {
        // Two plain awaits: g++ 12 miscompiles a conditional expression around co_await.
        auth::outcome<store::user> u = auth::outcome<store::user>(boost::system::in_place_error, auth::failure{});
        if (req.verb == "disable") {
            u = co_await admin.async_disable(op, *id, d);
        } else {
            u = co_await admin.async_enable(op, *id, d);
        }
        if (!u) co_return fail(describe(u.error()));
        print_header();
        print_user(*u);
        co_return 0;
    }
    if (req.verb == "logout") {
        auto r = co_await admin.async_logout(op, *id, d);
        if (!r) co_return fail(describe(r.error()));
        std::printf("every session of user %s has ended\n", id->c_str());
        co_return 0;
    }
    if (req.verb == "delete") {
        auto r = co_await admin.async_delete(op, *id, d);
        if (!r) co_return fail(describe(r.error()));
        std::printf("user %s deleted; every session has ended\n", id->c_str());
        co_return 0;
    }
    co_return fail(user_usage);
}

asio::awaitable<void> async_run(cli_context* c, user_request req, core::deadline d, int* code)
{
    *code = co_await async_user_command(c, std::move(req), d);
    co_await c->audit.async_flush(d);
    // Webhook jobs go to the queue before the connections close (the workers deliver them).
    asio::steady_timer pause(co_await asio::this_coro::executor);
    while (c->hooks && !c->hooks->idle() && core::steady_clock::now() < d) {
        pause.expires_after(std::chrono::milliseconds(10));
        co_await pause.async_wait(asio::use_awaitable);
    }
    if (c->counters.failed.load() > 0) {
        std::fprintf(stderr, "portcullis user: warning: the audit trail could not be written\n");
    }
    c->pool.stop();
    c->redis.stop();
}

// The password of create-admin: a line of standard input, or (stdin a terminal) a new
// random one printed once.
std::optional<std::string> admin_password(bool& generated)
{
    generated = false;
    if (::isatty(STDIN_FILENO) != 0) {
        generated = true;
        return core::random_token(18);
    }
    std::string line;
    if (!std::getline(std::cin, line)) return std::nullopt;
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    if (line.empty()) return std::nullopt;
    return line;
}

std::optional<user_request> parse(const std::vector<std::string>& args)
{
    if (args.empty()) return std::nullopt;
    user_request req;
    req.verb = args[0];
    if (req.verb == "create-admin" || req.verb == "list") {
        for (std::size_t i = 1; i < args.size(); ++i) {
            const std::string& a = args[i];
            if (i + 1 >= args.size()) return std::nullopt;
            const std::string& v = args[++i];
            if (req.verb == "create-admin" && a == "--email") {
                req.email = v;
            } else if (req.verb == "create-admin" && a == "--username") {
                req.username = v;
            } else if (req.verb == "list" && a == "--q") {
                req.q = v;
            } else if (req.verb == "list" && a == "--limit") {
                auto n = auth::parse_id(v);
                if (!n || *n > 100000) return std::nullopt;
                req.limit = static_cast<int>(*n);
            } else if (req.verb == "list" && a == "--status") {
                if (v == "active") {
                    req.status = store::user_status::active;
                } else if (v == "pending") {
                    req.status = store::user_status::pending;
                } else if (v == "disabled") {
                    req.status = store::user_status::disabled;
                } else if (v == "deleted") {
                    req.status = store::user_status::deleted;
                } else {
                    return std::nullopt;
                }
            } else {
                return std::nullopt;
            }
        }
        if (req.verb == "create-admin" && (req.email.empty() || req.username.empty())) return std::nullopt;
        return req;
    }
    if ((req.verb == "show" || req.verb == "disable" || req.verb == "enable" || req.verb == "logout" ||
         req.verb == "delete") &&
        args.size() == 2) {
        req.target = args[1];
        return req;
    }
    return std::nullopt;
}

}  // namespace

int run_user(const config& cfg, const std::vector<std::string>& args)
{
    auto req = parse(args);
    if (!req) {
        std::fputs(user_usage, stderr);
        return 2;
    }
    // The answer goes to stdout; keep routine log lines out of it.
    core::log::set_level(core::log::level::warn);
    bool generated = false;
    if (req->verb == "create-admin") {
        auto pw = admin_password(generated);
        if (!pw) return fail("no password on standard input");
        req->password = std::move(*pw);
    }
    const bool print_password = generated;
    const std::string password = req->password;
    store::pg::blocking_pool blocking;
    asio::io_context ioc{1};
    store::pg::settings settings = cfg.database;
    settings.pool_size = 1;
    cli_context ctx(cfg, ioc, blocking, settings);
    ctx.pool.start();
    ctx.redis.start();
    int code = 1;
    const core::deadline d = core::steady_clock::now() + cfg.database.query_timeout * 4;
    asio::co_spawn(ioc, async_run(&ctx, std::move(*req), d, &code), [&ioc](std::exception_ptr e) {
        ioc.stop();
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            fail(ex.what());
        }
    });
    ioc.run_for(cfg.database.query_timeout * 5);
    ctx.hashes.stop();
    if (code == 0 && print_password) std::printf("\npassword (shown once): %s\n", password.c_str());
    return code;
}

}  // namespace portcullis::app
