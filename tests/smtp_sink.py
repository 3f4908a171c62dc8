#!/usr/bin/python3
"""SMTP sink for Portcullis tests (needs Debian's python3-aiosmtpd: run with /usr/bin/python3).

Every accepted message is written atomically to --dir as <unix-ms>-<pid>-<n>.eml (written to a
dot-file first, then renamed), with three headers prepended:
  X-Sink-Session: N           the connection number (1, 2, ...), so tests can see connection reuse
  X-Sink-Envelope-From: addr  MAIL FROM
  X-Sink-Envelope-To: a, b    RCPT TO
Read only *.eml files; the dot-files are partial.

Faults:
  --fail-first N --fail-code 451   the first N transactions get a temporary failure
  --reject-code 550                every transaction is refused permanently
  --fail-stage mail|rcpt|data      which reply carries the failure (default: data)
  --delay-data SECONDS             wait this long after the message data arrived before storing it
                                   and answering (a slow server); a client that drops the connection
                                   meanwhile cancels it: the message is not stored

Journal (--journal FILE): one JSON line per event, appended and flushed at once, so tests can
see refused attempts and their timing (accepted messages are also in --dir):
  {"t": unix-ms, "session": N, "event": "mail"|"rcpt"|"data", "code": 250|4xx|5xx, "to": [...]}
  {"t": unix-ms, "session": N, "event": "data_received", "to": [...]}   (before --delay-data)

Examples:
  /usr/bin/python3 tests/smtp_sink.py --port 2525 --dir /tmp/mail --ready-file /tmp/mail.ready
  /usr/bin/python3 tests/smtp_sink.py --port 2465 --dir D --tls --cert server.pem --key server.key \
      --auth user:secret
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True, help="directory for accepted messages (created if missing)")
    p.add_argument("--starttls", action="store_true", help="offer STARTTLS (needs --cert and --key)")
    p.add_argument("--require-tls", action="store_true", help="refuse MAIL before STARTTLS")
    p.add_argument("--tls", action="store_true", help="implicit TLS from the first byte (needs --cert and --key)")
    p.add_argument("--cert", help="server certificate chain (PEM)")
    p.add_argument("--key", help="server private key (PEM)")
    p.add_argument("--auth", metavar="USER:PASS", help="require AUTH with these credentials")
    p.add_argument("--auth-exclude", action="append", default=[], metavar="MECH",
                   help="do not offer this AUTH mechanism (e.g. PLAIN, to exercise LOGIN)")
    p.add_argument("--fail-first", type=int, default=0, metavar="N")
    p.add_argument("--fail-code", type=int, default=451)
    p.add_argument("--reject-code", type=int, default=0)
    p.add_argument("--fail-stage", choices=["mail", "rcpt", "data"], default="data")
    p.add_argument("--delay-data", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--journal", help="append one JSON line per transaction event to this file")
    p.add_argument("--ready-file", help="created once the server listens")
    p.add_argument("--hostname", default="sink.test", help="name in the greeting and EHLO reply")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    if (a.starttls or a.tls) and not (a.cert and a.key):
        p.error("--starttls and --tls need --cert and --key")
    if a.starttls and a.tls:
        p.error("--starttls and --tls are exclusive")
    if a.require_tls and not a.starttls:
        p.error("--require-tls needs --starttls")
    if a.auth and ":" not in a.auth:
        p.error("--auth takes USER:PASS")
    if a.delay_data < 0:
        p.error("--delay-data must not be negative")
    return a


class sink_handler:
    def __init__(self, args):
        self.args = args
        self.failures_left = args.fail_first
        self.stored = 0
        self.journal = open(args.journal, "a", buffering=1) if args.journal else None

    def _note(self, server, event, envelope, code=None, to=None):
        if self.journal is None:
            return
        entry = {"t": int(time.time() * 1000), "session": server.sink_session, "event": event,
                 "to": list(to if to is not None else envelope.rcpt_tos)}
        if code is not None:
            entry["code"] = code
        self.journal.write(json.dumps(entry) + "\n")

    def _answer(self, server, stage, envelope, reply, to=None):
        self._note(server, stage, envelope, int(reply[:3]), to)
        return reply

    def _fault(self, stage):
        """The fault reply for this stage, or None to go on."""
        if stage != self.args.fail_stage:
            return None
        if self.args.reject_code:
            return f"{self.args.reject_code} 5.7.1 Rejected by the test sink"
        if self.failures_left > 0:
            self.failures_left -= 1
            return f"{self.args.fail_code} 4.3.0 Temporary failure from the test sink, try again later"
        return None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        fault = self._fault("mail")
        if fault:
            return self._answer(server, "mail", envelope, fault)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return self._answer(server, "mail", envelope, "250 OK")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        fault = self._fault("rcpt")
        if fault:
            return self._answer(server, "rcpt", envelope, fault, envelope.rcpt_tos + [address])
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return self._answer(server, "rcpt", envelope, "250 OK")

    async def handle_DATA(self, server, session, envelope):
        fault = self._fault("data")
        if fault:
            return self._answer(server, "data", envelope, fault)
        self._note(server, "data_received", envelope)
        if self.args.delay_data > 0:
            # aiosmtpd cancels this coroutine when the client goes away: nothing is stored.
            await asyncio.sleep(self.args.delay_data)
        try:
            self._store(server, envelope)
        except OSError as e:
            logging.error("cannot store message: %s", e)
            return self._answer(server, "data", envelope, "451 4.3.0 Sink cannot store the message")
        return self._answer(server, "data", envelope, "250 2.0.0 Message accepted")

    def _store(self, server, envelope):
        self.stored += 1
        name = f"{int(time.time() * 1000)}-{os.getpid()}-{self.stored}.eml"
        head = (f"X-Sink-Session: {server.sink_session}\r\n"
                f"X-Sink-Envelope-From: {envelope.mail_from}\r\n"
                f"X-Sink-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n").encode()
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        tmp = os.path.join(self.args.dir, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(head)
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.args.dir, name))
        logging.info("stored %s (session %d, to %s)", name, server.sink_session, envelope.rcpt_tos)


class sink_smtp(SMTP):
    """Numbers its connections so the stored files show which one carried each message."""
    connections = 0

    def connection_made(self, transport):
        if not hasattr(self, "sink_session"):
            sink_smtp.connections += 1
            self.sink_session = sink_smtp.connections
        super().connection_made(transport)


def make_authenticator(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == user.encode() and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False)
    return authenticate


def server_tls_context(args):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    return ctx


async def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    handler = sink_handler(args)
    kwargs = dict(hostname=args.hostname, data_size_limit=10 * 1024 * 1024, timeout=120)
    if args.starttls:
        kwargs["tls_context"] = server_tls_context(args)
        kwargs["require_starttls"] = args.require_tls
    if args.auth:
        user, password = args.auth.split(":", 1)
        kwargs["authenticator"] = make_authenticator(user, password)
        kwargs["auth_required"] = True
        # With STARTTLS, AUTH is offered only after it (as real servers do); with implicit TLS
        # aiosmtpd does not know the transport is encrypted, and without TLS the test asked for it.
        kwargs["auth_require_tls"] = args.starttls
        if args.auth_exclude:
            kwargs["auth_exclude_mechanism"] = [m.upper() for m in args.auth_exclude]

    loop = asyncio.get_running_loop()

    def factory():
        return sink_smtp(handler, loop=loop, **kwargs)

    server = await loop.create_server(factory, host=args.host, port=args.port, reuse_address=True,
                                      ssl=server_tls_context(args) if args.tls else None)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.replace(tmp, args.ready_file)
    logging.info("listening on %s:%d (pid %d)", args.host, args.port, os.getpid())

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    logging.info("stopped")


def main(argv):
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="smtp_sink %(levelname)s %(message)s", stream=sys.stderr)
    # aiosmtpd logs every command at INFO: keep its noise for --verbose runs only.
    # --quiet also hides the tracebacks aiosmtpd logs for refused TLS handshakes (tests cause them).
    logging.getLogger("mail.log").setLevel(logging.CRITICAL if args.quiet else logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module="aiosmtpd")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main(sys.argv[1:])
