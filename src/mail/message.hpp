#pragma once
// An outgoing e-mail and its MIME form: multipart/alternative (text/plain + text/html),
// UTF-8, quoted-printable bodies, RFC 2047 headers, Date and Message-ID.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::mail {

// An address with an optional display name ("Zoë <zoe@example.com>").
struct mailbox {
    std::string name;     // UTF-8, may be empty
    std::string address;  // ASCII addr-spec local@domain
};

struct message {
    mailbox from;
    std::vector<mailbox> to;
    std::string subject;  // UTF-8, one line
    std::string text;     // UTF-8 text/plain body
    std::string html;     // UTF-8 text/html body; empty for a text-only message
};

// True for a plausible ASCII addr-spec (local@domain): no blanks, controls, angle brackets or
// other characters that could break an SMTP command or a header. Non-ASCII addresses need
// SMTPUTF8, which this client does not speak, and are refused.
bool valid_address(std::string_view address) noexcept;

// Parses "addr", "<addr>", "Name <addr>" or "\"Name\" <addr>" (DEFAULT_FROM_EMAIL);
// std::nullopt when the address part is not valid_address().
std::optional<mailbox> parse_mailbox(std::string_view text);

// "Name <addr>" with the name encoded for a header (or just "addr").
std::string format_mailbox(const mailbox& m);

// A fresh Message-ID "<32 hex digits@domain-of-from>".
std::string make_message_id(const mailbox& from);

// The complete message (headers and body, CRLF lines, not dot-stuffed). The caller has
// checked the addresses with valid_address().
std::string build_mime(const message& m, std::chrono::system_clock::time_point date, std::string_view message_id);

}  // namespace portcullis::mail
