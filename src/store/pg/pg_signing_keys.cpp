#include "store/pg/pg_signing_keys.hpp"

namespace portcullis::store::pg {
namespace {

const statement key_list{"signing_keys_list",
                         "SELECT kid, algorithm, public_key, private_key, created_at, signs_from, retired_at"
                         " FROM signing_keys ORDER BY signs_from, kid"};
const statement key_insert{"signing_keys_insert",
                           "INSERT INTO signing_keys (kid, algorithm, public_key, private_key, signs_from)"
                           " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kid) DO NOTHING"};
// Serializes conditional inserts across instances for the rest of the transaction.
const statement key_lock{"signing_keys_lock", "SELECT pg_advisory_xact_lock(hashtext('portcullis.signing_keys'))"};
const statement key_insert_if_newest{
    "signing_keys_insert_if_newest",
    "INSERT INTO signing_keys (kid, algorithm, public_key, private_key, signs_from)"
    " SELECT $1, $2, $3, $4, $5"
    " WHERE coalesce((SELECT kid FROM signing_keys WHERE algorithm = $2 AND retired_at IS NULL"
    "                 ORDER BY signs_from DESC, kid DESC LIMIT 1), '') = $6"
    " ON CONFLICT (kid) DO NOTHING"};
const statement key_retire{"signing_keys_retire",
                           "UPDATE signing_keys SET retired_at = now() WHERE kid = $1 AND retired_at IS NULL"};

// result<bool> from an error code must say which alternative it means.
core::result<bool> bool_error(const boost::system::error_code& ec)
{
    return core::result<bool>(boost::system::in_place_error, ec);
}

}  // namespace

boost::asio::awaitable<core::result<std::vector<signing_key_record>>> signing_keys::async_list(core::deadline d)
{
    static const params none;
    auto rows = co_await pool_.async_query(key_list, none, d);
    if (!rows) co_return rows.error();
    std::vector<signing_key_record> out;
    out.reserve(static_cast<std::size_t>(rows->size()));
    for (int i = 0; i < rows->size(); ++i) {
        auto r = (*rows)[i];
        signing_key_record k;
        k.kid = r.get<std::string>(0);
        k.algorithm = r.get<std::string>(1);
        k.public_pem = r.get<std::string>(2);
        k.private_sealed = r.get<std::string>(3);
        k.created_at = r.get<time_point>(4);
        k.signs_from = r.get<time_point>(5);
        k.retired_at = r.get<std::optional<time_point>>(6);
        out.push_back(std::move(k));
    }
    co_return out;
}

boost::asio::awaitable<core::result<bool>> signing_keys::async_insert(const signing_key_record& k,
                                                                      std::optional<std::string> if_newest,
                                                                      core::deadline d)
{
    if (!if_newest) {
        const params args(k.kid, k.algorithm, k.public_pem, k.private_sealed, k.signs_from);
        auto r = co_await pool_.async_query(key_insert, args, d);
        if (!r) co_return bool_error(r.error());
        co_return r->affected() == 1;
    }
    auto tx = co_await pool_.async_begin(d);
    if (!tx) co_return bool_error(tx.error());
    static const params none;
    auto locked = co_await tx->async_exec(key_lock, none, d);
    if (!locked) co_return bool_error(locked.error());
    const params args(k.kid, k.algorithm, k.public_pem, k.private_sealed, k.signs_from, *if_newest);
    auto r = co_await tx->async_exec(key_insert_if_newest, args, d);
    if (!r) co_return bool_error(r.error());
    const bool inserted = r->affected() == 1;
    auto done = co_await tx->async_commit(d);
    if (!done) co_return bool_error(done.error());
    co_return inserted;
}

boost::asio::awaitable<core::result<bool>> signing_keys::async_retire(std::string_view kid, core::deadline d)
{
    const params args(kid);
    auto r = co_await pool_.async_query(key_retire, args, d);
    if (!r) co_return bool_error(r.error());
    co_return r->affected() == 1;
}

}  // namespace portcullis::store::pg
