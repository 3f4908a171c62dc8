#include "auth/otp.hpp"

#include "core/random.hpp"
#include "core/text.hpp"

#include <algorithm>

namespace portcullis::auth {

std::string_view to_string(otp_purpose p) noexcept
{
    switch (p) {
    case otp_purpose::verify_email:
        return "verify_email";
    case otp_purpose::reset_password:
        return "reset_password";
    }
    return "verify_email";
}

std::string generate_otp()
{
    auto v = core::random_below(1'000'000);
    std::string code(otp_digits, '0');
    for (std::size_t i = otp_digits; i-- > 0;) {
        code[i] = static_cast<char>('0' + v % 10);
        v /= 10;
    }
    return code;
}

bool is_otp_syntax(std::string_view code) noexcept
{
    return code.size() == otp_digits &&
           std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string otp_digest(const hmac_key& otp_key, otp_purpose purpose, std::string_view email, std::string_view code)
{
    return otp_digest(otp_key, purpose, email, code, {});
}

std::string otp_digest(const hmac_key& otp_key, otp_purpose purpose, std::string_view email, std::string_view code,
                       std::string_view binding)
{
    std::string address(email);
    std::transform(address.begin(), address.end(), address.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
    // NUL separators: no field can contain one, so (purpose, email, code) is unambiguous.
    static constexpr char sep[1] = {'\0'};
    const std::string_view nul(sep, 1);
    const auto mac = binding.empty() ? otp_key.mac({to_string(purpose), nul, address, nul, code})
                                     : otp_key.mac({to_string(purpose), nul, address, nul, code, nul, binding});
    return core::hex_encode(mac);
}

bool otp_digest_equal(std::string_view a, std::string_view b) noexcept
{
    return constant_time_equal(a, b);
}

}  // namespace portcullis::auth
