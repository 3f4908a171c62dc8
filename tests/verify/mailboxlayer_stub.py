#!/usr/bin/python3
"""A local stand-in for the Mailboxlayer API (GET /api/check), for the tests.

It answers in the documented response shape, over TLS with the certificate it is
given, and chooses its answer from the address:

  nobody@…        smtp_check false (no such mailbox)
  …@gmial.com     mx_found false, with a did_you_mean suggestion
  …@mailinator.com disposable true
  slow@…          answers after 5 s
  broken@…        HTTP 500
  garbage@…       200 with an HTML body
  quota@…         the error object of an exhausted plan (code 104)
  anything else   a deliverable address

A missing or wrong access_key gets the documented error object (code 101). Each request
is appended to --log as one JSON line (the access key replaced by whether it matched).
"""

import argparse
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def answer_for(email):
    user, _, domain = email.partition("@")
    valid = bool(user) and bool(domain) and " " not in email
    body = {
        "email": email,
        "did_you_mean": "",
        "user": user,
        "domain": domain,
        "format_valid": valid,
        "mx_found": valid,
        "smtp_check": valid,
        "catch_all": False,
        "role": user in ("admin", "support", "info"),
        "disposable": False,
        "free": domain in ("gmail.com", "yahoo.com"),
        "score": 0.96 if valid else 0.0,
    }
    if user == "nobody":
        body["smtp_check"] = False
        body["score"] = 0.32
    if domain == "gmial.com":
        body["mx_found"] = False
        body["smtp_check"] = False
        body["did_you_mean"] = user + "@gmail.com"
    if domain == "mailinator.com":
        body["disposable"] = True
    return body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj, content_type="application/json"):
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        key = query.get("access_key", [""])[0]
        email = query.get("email", [""])[0]
        key_ok = key == self.server.expected_key
        with self.server.lock:
            with open(self.server.log_path, "a") as f:
                f.write(json.dumps({"path": url.path, "email": email, "key_ok": key_ok,
                                    "smtp": query.get("smtp", [""])[0],
                                    "host": self.headers.get("Host", "")}) + "\n")
        if url.path != "/api/check":
            self.send_json(404, {"success": False, "error": {"code": 404, "type": "404_not_found",
                                                             "info": "User requested a resource which does not exist."}})
            return
        if not key_ok:
            self.send_json(200, {"success": False, "error": {
                "code": 101, "type": "invalid_access_key",
                "info": "You have not supplied a valid API Access Key. [Technical Support: support@apilayer.com]"}})
            return
        user = email.partition("@")[0]
        if user == "slow":
            time.sleep(5)
        if user == "broken":
            self.send_json(500, b"<html>internal error</html>", "text/html")
            return
        if user == "garbage":
            self.send_json(200, b"<html>maintenance</html>", "text/html")
            return
        if user == "quota":
            self.send_json(200, {"success": False, "error": {
                "code": 104, "type": "usage_limit_reached",
                "info": "Your monthly usage limit has been reached. Please upgrade your Subscription Plan."}})
            return
        self.send_json(200, answer_for(email))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--access-key", required=True)
    p.add_argument("--log", required=True)
    a = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    server.expected_key = a.access_key
    server.log_path = a.log
    server.lock = threading.Lock()
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    # With --port 0 the kernel picked the port: say which.
    print("listening", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
