// `portcullis keys list|rotate [--now]|retire KID`: the stored access-token keys.

#include "app/commands.hpp"
#include "app/resources.hpp"
#include "auth/signing_keys.hpp"
#include "core/log.hpp"
#include "store/pg/blocking_pool.hpp"
#include "store/pg/pg_signing_keys.hpp"
#include "store/pg/pool.hpp"
#include "store/pg/value.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <exception>

namespace portcullis::app {

namespace asio = boost::asio;

namespace {

struct keys_request {
    std::string verb;
    bool now = false;
    std::string kid;
};

int fail(const std::string& why)
{
    std::fprintf(stderr, "portcullis keys: %s\n", why.c_str());
    return 1;
}

std::string when(const std::optional<auth::sys_time>& t)
{
    return t ? store::pg::format_timestamp(*t) : "-";
}

asio::awaitable<int> async_list(store::signing_key_repository& repo, const auth::rotation_policy& p, core::deadline d)
{
    auto keys = co_await repo.async_list(d);
    if (!keys) co_return fail(keys.error().message());
    auto states = auth::classify(*keys, p, std::chrono::system_clock::now());
    std::printf("%-44s %-6s %-9s %-27s %-27s %s\n", "kid", "alg", "state", "signs_from", "accepted_until",
                "retired_at");
    for (std::size_t i = 0; i < keys->size(); ++i) {
        const auto& k = (*keys)[i];
        std::printf("%-44s %-6s %-9s %-27s %-27s %s\n", k.kid.c_str(), k.algorithm.c_str(),
                    std::string(auth::to_string(states[i].state)).c_str(), when(k.signs_from).c_str(),
                    when(states[i].accepted_until).c_str(), when(k.retired_at).c_str());
    }
    if (keys->empty()) std::printf("no stored keys (JWT_ALGORITHM=EdDSA or ES256 creates the first)\n");
    co_return 0;
}

asio::awaitable<int> async_rotate(store::signing_key_repository& repo, const config& cfg,
                                  const auth::rotation_policy& p, bool now, core::deadline d)
{
    if (p.algorithm == auth::jws_alg::hs256) co_return fail("JWT_ALGORITHM=HS256 has no stored keys to rotate");
    if (!cfg.tokens.private_key_file.empty()) co_return fail("keys given by JWT_PRIVATE_KEY_FILE are rotated by hand");
    const auto at = std::chrono::system_clock::now() + (now ? std::chrono::seconds(0) : p.publish_ahead);
    auto rec = auth::new_record(p.algorithm, signing_key_seal(cfg), at);
    auto inserted = co_await repo.async_insert(rec, std::nullopt, d);
    if (!inserted) co_return fail(inserted.error().message());
    if (!*inserted) co_return fail("the new key could not be stored");
    core::log::info("signing_key_created",
                    {{"kid", rec.kid}, {"algorithm", rec.algorithm}, {"reason", now ? "rotate --now" : "rotate"}});
    std::printf("%s %s signs from %s\n", rec.kid.c_str(), rec.algorithm.c_str(),
                store::pg::format_timestamp(at).c_str());
    co_return 0;
}

asio::awaitable<int> async_retire(store::signing_key_repository& repo, const auth::rotation_policy& p, std::string kid,
                                  core::deadline d)
{
    auto keys = co_await repo.async_list(d);
    if (!keys) co_return fail(keys.error().message());
    auto states = auth::classify(*keys, p, std::chrono::system_clock::now());
    for (std::size_t i = 0; i < keys->size(); ++i) {
        if ((*keys)[i].kid != kid) continue;
        if (states[i].state == auth::key_state::active) {
            co_return fail("key " + kid + " signs tokens now; `portcullis keys rotate --now` first, then retire it");
        }
        auto done = co_await repo.async_retire(kid, d);
        if (!done) co_return fail(done.error().message());
        if (!*done) co_return fail("key " + kid + " is already retired");
        core::log::info("signing_key_retired", {{"kid", kid}});
        std::printf("retired %s: no longer published nor accepted (instances stop within JWT_KEY_REFRESH)\n",
                    kid.c_str());
        co_return 0;
    }
    co_return fail("no key " + kid);
}

asio::awaitable<void> async_run(keys_request req, const config* cfg, store::pg::pool* pool, int* code)
{
    store::pg::signing_keys repo(*pool);
    const auto& policy = cfg->tokens.rotation;
    const core::deadline d = core::steady_clock::now() + cfg->database.query_timeout * 2;
    if (req.verb == "list") *code = co_await async_list(repo, policy, d);
    if (req.verb == "rotate") *code = co_await async_rotate(repo, *cfg, policy, req.now, d);
    if (req.verb == "retire") *code = co_await async_retire(repo, policy, req.kid, d);
    pool->stop();
}

}  // namespace

int run_keys(const config& cfg, const std::vector<std::string>& args)
{
    keys_request req;
    if (args.size() == 1 && args[0] == "list") {
        req.verb = "list";
    } else if (!args.empty() && args[0] == "rotate" && args.size() <= 2) {
        req.verb = "rotate";
        if (args.size() == 2) {
            if (args[1] != "--now") return fail("usage: portcullis keys rotate [--now]");
            req.now = true;
        }
    } else if (args.size() == 2 && args[0] == "retire") {
        req.verb = "retire";
        req.kid = args[1];
    } else {
        return fail("usage: portcullis keys list | rotate [--now] | retire KID");
    }
    store::pg::blocking_pool blocking;
    asio::io_context ioc{1};
    store::pg::settings settings = cfg.database;
    settings.pool_size = 1;
    store::pg::pool pool(ioc.get_executor(), blocking, settings);
    pool.start();
    int code = 1;
    asio::co_spawn(ioc, async_run(req, &cfg, &pool, &code), [&ioc](std::exception_ptr e) {
        ioc.stop();
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            fail(ex.what());
        }
    });
    ioc.run_for(cfg.database.query_timeout * 3);
    return code;
}

}  // namespace portcullis::app
