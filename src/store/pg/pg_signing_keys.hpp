#pragma once
// PostgreSQL implementation of the signing-key repository (table signing_keys).

#include "store/pg/key_repository.hpp"
#include "store/pg/pool.hpp"

namespace portcullis::store::pg {

class signing_keys final : public signing_key_repository {
public:
    explicit signing_keys(pool& p) noexcept : pool_(p) {}

    boost::asio::awaitable<core::result<std::vector<signing_key_record>>> async_list(core::deadline d) override;
    boost::asio::awaitable<core::result<bool>> async_insert(const signing_key_record& k,
                                                            std::optional<std::string> if_newest,
                                                            core::deadline d) override;
    boost::asio::awaitable<core::result<bool>> async_retire(std::string_view kid, core::deadline d) override;

private:
    pool& pool_;
};

}  // namespace portcullis::store::pg
