#pragma once
// The auth flows of the contract: account lifecycle, sessions and tokens, password
// flows and users. One service per I/O thread, bound to that thread's repositories,
// short-lived state, job queue and cache (service_deps, auth/flow_types.hpp). Results
// are records or a `failure`; the HTTP layer turns both into responses.

#include "auth/flow_context.hpp"
#include "auth/flows.hpp"

namespace portcullis::auth {

class service {
public:
    using deps = service_deps;

    service(deps d, auth_settings settings)
        : ctx_(d, std::move(settings)),
          accounts_(ctx_),
          sessions_(ctx_),
          passwords_(ctx_),
          users_(ctx_),
          mfa_(ctx_),
          admin_(ctx_)
    {
    }
    // The flows hold a reference to the shared context.
    service(const service&) = delete;
    service& operator=(const service&) = delete;

    account_flows& accounts() noexcept { return accounts_; }
    session_flows& sessions() noexcept { return sessions_; }
    password_flows& passwords() noexcept { return passwords_; }
    user_flows& users() noexcept { return users_; }
    mfa_flows& mfa() noexcept { return mfa_; }
    admin_flows& admin() noexcept { return admin_; }

    const auth_settings& settings() const noexcept { return ctx_.settings; }

private:
    flow_context ctx_;
    account_flows accounts_;
    session_flows sessions_;
    password_flows passwords_;
    user_flows users_;
    mfa_flows mfa_;
    admin_flows admin_;
};

}  // namespace portcullis::auth
