#pragma once
// The SMTP client dialogue without I/O (RFC 5321, 3207 STARTTLS, 4954 AUTH, 1870 SIZE).
// reply_reader turns received bytes into replies; dialogue takes replies and events and
// returns the next action for the async shell (smtp_client) to perform.

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::mail::smtp {

// One (possibly multi-line) server reply.
struct reply {
    int code = 0;
    std::vector<std::string> lines;  // text after "NNN " / "NNN-", one per line

    int cls() const noexcept { return code / 100; }
    // "550 5.1.1 no such user" (lines joined by " | "), for logs and dead-letter records.
    std::string text() const;
};

class reply_reader {
public:
    enum class status { need_more, ready, malformed };
    static constexpr std::size_t max_line = 4096;
    static constexpr std::size_t max_lines = 256;

    // Appends received bytes.
    void feed(std::string_view bytes);
    // Extracts the next complete reply into `out`. After `malformed` the connection must go.
    status next(reply& out);
    // Bytes received but not yet part of a returned reply.
    std::size_t buffered() const noexcept { return buf_.size() - pos_; }

private:
    std::string buf_;
    std::size_t pos_ = 0;
    reply partial_;
};

enum class tls_mode { none, starttls, implicit };

struct dialogue_options {
    std::string helo_name = "localhost";
    tls_mode tls = tls_mode::none;
    std::string username;  // empty: no AUTH
    std::string password;
    bool allow_plaintext_auth = false;  // send AUTH without TLS (EMAIL_ALLOW_PLAINTEXT_AUTH)
};

struct envelope {
    std::string from;
    std::vector<std::string> to;
    std::size_t size = 0;  // bytes of the message, for SIZE
};

// What the server advertised in its EHLO reply.
struct extensions {
    bool esmtp = false;
    bool starttls = false;
    bool auth_plain = false;
    bool auth_login = false;
    bool size = false;
    std::size_t size_limit = 0;  // 0: no limit given
};

// Why a dialogue step failed. `ec` is core::errc::smtp_unavailable (transient: retry later)
// or core::errc::smtp_rejected (permanent).
struct failure {
    boost::system::error_code ec;
    std::string server_reply;        // the reply that caused it; empty for local causes
    std::string detail;              // which step failed and why
    bool connection_usable = false;  // the session can carry another message (after RSET)
};

struct action {
    enum class kind {
        read_reply,  // read a reply, pass it to on_reply()
        write_line,  // write `line`, read a reply, pass it to on_reply()
        write_body,  // write the dot-stuffed message, read a reply, pass it to on_reply()
        start_tls,   // run the TLS client handshake, then call on_tls_established()
        ready,       // the session is idle: ready for begin_message(), or the message was accepted
        closed,      // QUIT done: close the connection
        failed,      // see `error`
    };
    kind what = kind::failed;
    std::string line;        // write_line: the command with CRLF
    bool sensitive = false;  // `line` carries credentials: never log it
    failure error;
};

class dialogue {
public:
    enum class state {
        connecting,
        greeting,
        ehlo,
        helo,
        starttls,
        tls_handshake,
        auth_plain,
        auth_plain_response,
        auth_login_user,
        auth_login_password,
        auth_login_done,
        ready,
        rset,
        mail,
        rcpt,
        data,
        body,
        quit,
        closed,
        failed,
    };

    explicit dialogue(dialogue_options opts);

    // The connection (and for implicit TLS its handshake) is up: read the greeting.
    action start();
    action on_reply(const reply& r);
    action on_tls_established();
    // Only in state ready. Sends RSET first when a transaction ran on this session before.
    action begin_message(envelope env);
    // From any state but closed/failed: QUIT (the reply is awaited but not judged).
    action quit();

    state current() const noexcept { return state_; }
    // Name of the step in progress ("EHLO", "RCPT TO", …) for error details.
    std::string_view step_name() const noexcept;
    // True while the end of the message data is sent but not yet answered: if the connection
    // breaks now, the server may have taken the message, so the shell must not resend it.
    bool delivery_uncertain() const noexcept { return state_ == state::body; }
    const extensions& ext() const noexcept { return ext_; }
    bool tls_active() const noexcept { return tls_active_; }

private:
    action send(state next, std::string line, bool sensitive = false);
    action after_hello();
    action mail_from();
    action fail(std::string detail, const reply* r, bool usable);
    action fail_local(boost::system::error_code ec, std::string detail, bool usable);
    void parse_ehlo(const reply& r);

    dialogue_options opts_;
    state state_ = state::connecting;
    extensions ext_;
    envelope env_;
    std::size_t next_rcpt_ = 0;
    std::size_t transactions_ = 0;
    bool tls_active_ = false;
    bool authenticated_ = false;
};

}  // namespace portcullis::mail::smtp
