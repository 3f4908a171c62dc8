#include "mail/smtp_protocol.hpp"

#include "core/error.hpp"
#include "core/text.hpp"
#include "mail/encoding.hpp"

#include <cctype>
#include <charconv>

namespace portcullis::mail::smtp {
namespace {

using core::errc;

std::string upper(std::string_view s)
{
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

std::vector<std::string_view> words(std::string_view s)
{
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (pos < s.size()) {
        std::size_t b = s.find_first_not_of(" \t", pos);
        if (b == std::string_view::npos) break;
        std::size_t e = s.find_first_of(" \t", b);
        if (e == std::string_view::npos) e = s.size();
        out.push_back(s.substr(b, e - b));
        pos = e;
    }
    return out;
}

}  // namespace

std::string reply::text() const
{
    std::string out = std::to_string(code);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        out += i == 0 ? " " : " | ";
        out += lines[i];
    }
    return out;
}

void reply_reader::feed(std::string_view bytes)
{
    // Drop what earlier replies consumed before the buffer grows.
    if (pos_ > 0 && pos_ >= buf_.size() / 2) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
    buf_.append(bytes);
}

reply_reader::status reply_reader::next(reply& out)
{
    for (;;) {
        std::size_t nl = buf_.find('\n', pos_);
        if (nl == std::string::npos) return buf_.size() - pos_ > max_line ? status::malformed : status::need_more;
        std::string_view line(buf_.data() + pos_, nl - pos_);
        pos_ = nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > max_line || line.size() < 3) return status::malformed;
        int code = 0;
        auto [p, ec] = std::from_chars(line.data(), line.data() + 3, code);
        if (ec != std::errc{} || p != line.data() + 3 || code < 200 || code > 599) return status::malformed;
        const char sep = line.size() > 3 ? line[3] : ' ';
        if (sep != ' ' && sep != '-') return status::malformed;
        if (!partial_.lines.empty() && partial_.code != code) return status::malformed;
        partial_.code = code;
        partial_.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view{});
        if (partial_.lines.size() > max_lines) return status::malformed;
        if (sep == ' ') {
            out = std::move(partial_);
            partial_ = reply{};
            return status::ready;
        }
    }
}

dialogue::dialogue(dialogue_options opts) : opts_(std::move(opts)) {}

std::string_view dialogue::step_name() const noexcept
{
    switch (state_) {
    case state::connecting:
        return "connect";
    case state::greeting:
        return "greeting";
    case state::ehlo:
        return "EHLO";
    case state::helo:
        return "HELO";
    case state::starttls:
        return "STARTTLS";
    case state::tls_handshake:
        return "TLS handshake";
    case state::auth_plain:
    case state::auth_plain_response:
    case state::auth_login_user:
    case state::auth_login_password:
    case state::auth_login_done:
        return "AUTH";
    case state::ready:
        return "idle";
    case state::rset:
        return "RSET";
    case state::mail:
        return "MAIL FROM";
    case state::rcpt:
        return "RCPT TO";
    case state::data:
        return "DATA";
    case state::body:
        return "message data";
    case state::quit:
        return "QUIT";
    case state::closed:
        return "closed";
    case state::failed:
        return "failed";
    }
    return "unknown";
}

action dialogue::send(state next, std::string line, bool sensitive)
{
    state_ = next;
    action a;
    a.what = action::kind::write_line;
    a.line = std::move(line);
    a.line += "\r\n";
    a.sensitive = sensitive;
    return a;
}

action dialogue::fail_local(boost::system::error_code ec, std::string detail, bool usable)
{
    state_ = usable ? state::ready : state::failed;
    action a;
    a.what = action::kind::failed;
    a.error.ec = ec;
    a.error.detail = std::move(detail);
    a.error.connection_usable = usable;
    return a;
}

action dialogue::fail(std::string detail, const reply* r, bool usable)
{
    boost::system::error_code ec = core::make_error_code(errc::smtp_unavailable);
    if (r->cls() == 5) {
        ec = core::make_error_code(errc::smtp_rejected);
    } else if (r->cls() != 4) {
        // A positive reply where another was required: we no longer know the server's state.
        detail = "unexpected reply to " + std::string(step_name());
        usable = false;
    }
    // 421: the server is closing the channel.
    if (r->code == 421) usable = false;
    action a = fail_local(ec, std::move(detail), usable);
    a.error.server_reply = r->text();
    return a;
}

void dialogue::parse_ehlo(const reply& r)
{
    ext_ = extensions{};
    ext_.esmtp = true;
    for (std::size_t i = 1; i < r.lines.size(); ++i) {
        auto w = words(r.lines[i]);
        if (w.empty()) continue;
        std::string key = upper(w[0]);
        // "AUTH=PLAIN LOGIN" is an old spelling some servers still send.
        if (key.starts_with("AUTH=")) {
            w[0] = std::string_view(r.lines[i]).substr(r.lines[i].find('=') + 1);
            key = "AUTH";
        } else if (key == "AUTH") {
            w.erase(w.begin());
        }
        if (key == "STARTTLS") {
            ext_.starttls = true;
        } else if (key == "AUTH") {
            for (auto m : w) {
                std::string mech = upper(m);
                if (mech == "PLAIN") ext_.auth_plain = true;
                if (mech == "LOGIN") ext_.auth_login = true;
            }
        } else if (key == "SIZE") {
            ext_.size = true;
            if (w.size() > 1) {
                std::size_t n = 0;
                auto [p, ec] = std::from_chars(w[1].data(), w[1].data() + w[1].size(), n);
                if (ec == std::errc{}) ext_.size_limit = n;
            }
        }
    }
}

action dialogue::start()
{
    state_ = state::greeting;
    tls_active_ = opts_.tls == tls_mode::implicit;
    action a;
    a.what = action::kind::read_reply;
    return a;
}

action dialogue::after_hello()
{
    if (opts_.tls == tls_mode::starttls && !tls_active_) {
        // Never fall back to plain text: that is what a STARTTLS-stripping attacker wants.
        if (!ext_.starttls) {
            return fail_local(core::make_error_code(errc::smtp_unavailable),
                              "STARTTLS is required (EMAIL_USE_TLS) but the server does not offer it", false);
        }
        return send(state::starttls, "STARTTLS");
    }
    if (!opts_.username.empty() && !authenticated_) {
        // Credentials cross the network in clear without TLS: only when asked to.
        if (!tls_active_ && !opts_.allow_plaintext_auth) {
            return fail_local(core::make_error_code(errc::smtp_rejected),
                              "refusing to send EMAIL_HOST_USER's credentials without TLS (set EMAIL_USE_TLS or "
                              "EMAIL_USE_SSL, or EMAIL_ALLOW_PLAINTEXT_AUTH=true)",
                              false);
        }
        const std::string plain = core::base64_encode(std::string(1, '\0') + opts_.username + '\0' + opts_.password);
        if (ext_.auth_plain) return send(state::auth_plain, "AUTH PLAIN " + plain, true);
        if (ext_.auth_login) return send(state::auth_login_user, "AUTH LOGIN");
        return fail_local(core::make_error_code(errc::smtp_rejected),
                          "EMAIL_HOST_USER is set but the server offers neither AUTH PLAIN nor AUTH LOGIN", false);
    }
    state_ = state::ready;
    action a;
    a.what = action::kind::ready;
    return a;
}

action dialogue::on_tls_established()
{
    if (state_ != state::tls_handshake) {
        return fail_local(core::make_error_code(errc::smtp_unavailable), "TLS established out of order", false);
    }
    tls_active_ = true;
    // RFC 3207 4.2: forget everything learnt before TLS and greet again.
    ext_ = extensions{};
    return send(state::ehlo, "EHLO " + opts_.helo_name);
}

action dialogue::begin_message(envelope env)
{
    if (state_ != state::ready) {
        return fail_local(core::make_error_code(errc::smtp_unavailable), "session not ready for a message", false);
    }
    env_ = std::move(env);
    next_rcpt_ = 0;
    if (env_.to.empty()) {
        return fail_local(core::make_error_code(errc::smtp_rejected), "message without recipients", true);
    }
    if (ext_.size_limit > 0 && env_.size > ext_.size_limit) {
        return fail_local(core::make_error_code(errc::smtp_rejected),
                          "message of " + std::to_string(env_.size) + " bytes exceeds the server's SIZE limit of " +
                              std::to_string(ext_.size_limit),
                          true);
    }
    if (transactions_ > 0) return send(state::rset, "RSET");
    return mail_from();
}

action dialogue::mail_from()
{
    ++transactions_;
    std::string cmd = "MAIL FROM:<" + env_.from + ">";
    if (ext_.size) cmd += " SIZE=" + std::to_string(env_.size);
    return send(state::mail, std::move(cmd));
}

action dialogue::quit()
{
    if (state_ == state::closed || state_ == state::failed) {
        state_ = state::closed;
        action a;
        a.what = action::kind::closed;
        return a;
    }
    return send(state::quit, "QUIT");
}

action dialogue::on_reply(const reply& r)
{
    const bool ok = r.cls() == 2;
    switch (state_) {
    case state::greeting:
        if (r.code != 220) return fail("server greeting refused the session", &r, false);
        return send(state::ehlo, "EHLO " + opts_.helo_name);

    case state::ehlo:
        if (ok) {
            parse_ehlo(r);
            return after_hello();
        }
        // Only a plain session may fall back to HELO: STARTTLS and AUTH are ESMTP.
        if (r.cls() == 5 && opts_.tls != tls_mode::starttls && opts_.username.empty()) {
            return send(state::helo, "HELO " + opts_.helo_name);
        }
        return fail("EHLO refused", &r, false);

    case state::helo:
        if (!ok) return fail("HELO refused", &r, false);
        ext_ = extensions{};
        return after_hello();

    case state::starttls:
        if (r.code != 220) return fail("STARTTLS refused", &r, false);
        state_ = state::tls_handshake;
        {
            action a;
            a.what = action::kind::start_tls;
            return a;
        }

    case state::auth_plain:
        if (r.code == 334) {
            // The server did not take the initial response: send it on its own.
            return send(state::auth_plain_response,
                        core::base64_encode(std::string(1, '\0') + opts_.username + '\0' + opts_.password), true);
        }
        [[fallthrough]];
    case state::auth_plain_response:
    case state::auth_login_done:
        if (r.code != 235) return fail("authentication failed", &r, false);
        authenticated_ = true;
        return after_hello();

    case state::auth_login_user:
        if (r.code != 334) return fail("authentication failed", &r, false);
        return send(state::auth_login_password, core::base64_encode(opts_.username), true);

    case state::auth_login_password:
        if (r.code != 334) return fail("authentication failed", &r, false);
        return send(state::auth_login_done, core::base64_encode(opts_.password), true);

    case state::rset:
        // RSET failing means the session is in an unknown state: start a new one.
        if (!ok) return fail("RSET refused", &r, false);
        return mail_from();

    case state::mail:
        if (!ok) return fail("MAIL FROM refused", &r, true);
        return send(state::rcpt, "RCPT TO:<" + env_.to[next_rcpt_++] + ">");

    case state::rcpt:
        if (!ok) return fail("RCPT TO refused", &r, true);
        if (next_rcpt_ < env_.to.size()) return send(state::rcpt, "RCPT TO:<" + env_.to[next_rcpt_++] + ">");
        return send(state::data, "DATA");

    case state::data:
        if (r.code != 354) return fail("DATA refused", &r, true);
        state_ = state::body;
        {
            action a;
            a.what = action::kind::write_body;
            return a;
        }

    case state::body:
        if (!ok) return fail("message refused", &r, true);
        state_ = state::ready;
        {
            action a;
            a.what = action::kind::ready;
            return a;
        }

    case state::quit:
        state_ = state::closed;
        {
            action a;
            a.what = action::kind::closed;
            return a;
        }

    case state::connecting:
    case state::tls_handshake:
    case state::ready:
    case state::closed:
    case state::failed:
        break;
    }
    return fail_local(core::make_error_code(errc::smtp_unavailable),
                      "unexpected reply " + r.text() + " in state " + std::string(step_name()), false);
}

}  // namespace portcullis::mail::smtp
