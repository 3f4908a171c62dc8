#!/usr/bin/python3
"""Creates N verified users through the HTTP API and stores their tokens for the wrk scripts.

register -> the code from the file mail backend's .eml (the standalone 6-digit number of the
text/plain part) -> verify-email -> login. Writes, one per line, in the same order:
  OUT/users.txt    email<TAB>password
  OUT/access.txt   access tokens
  OUT/refresh.txt  refresh tokens (each used once by the scenarios, which write back the unused
                   ones and the successors they were given)
Standard library only. Hashing dominates (register and login each cost one argon2id hash).
"""

import argparse
import concurrent.futures
import email
import email.policy
import http.client
import json
import os
import re
import sys
import threading
import time

PASSWORD = "tulip-Harbor-93-quartz"
CODE_RE = re.compile(r"(?<![0-9])([0-9]{6})(?![0-9])")


class client:
    """One keep-alive connection per worker thread."""

    local = threading.local()

    def __init__(self, host, port):
        self.host = host
        self.port = port

    def call(self, method, path, body=None, token=None):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.local.conn = conn
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(20):
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                self.local.conn = conn
                time.sleep(0.05 * (attempt + 1))
                continue
            if resp.status == 503:  # a full hash queue: back off as told, and retry
                retry_after = resp.getheader("Retry-After") or "1"
                time.sleep(min(5.0, float(retry_after) if retry_after.isdigit() else 1.0) * (0.5 + attempt / 10))
                continue
            return resp.status, (json.loads(payload) if payload else None)
        raise RuntimeError(f"{method} {path}: no answer after retries")


def read_codes(mail_dir, seen, codes):
    """Parses .eml files not yet seen into codes[address] (the newest wins)."""
    try:
        names = sorted(os.listdir(mail_dir))
    except FileNotFoundError:
        return
    for name in names:
        if not name.endswith(".eml") or name in seen:
            continue
        path = os.path.join(mail_dir, name)
        with open(path, "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        seen.add(name)
        to = str(msg["To"] or "").strip().lower()
        if "<" in to:
            to = to[to.index("<") + 1:to.index(">")]
        body = msg.get_body(preferencelist=("plain",))
        if body is None:
            continue
        match = CODE_RE.search(body.get_content())
        if match:
            codes[to] = match.group(1)


def write_tokens(out, emails, tokens):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "users.txt"), "w") as f:
        f.writelines(f"{e}\t{PASSWORD}\n" for e in emails)
    with open(os.path.join(out, "access.txt"), "w") as f:
        f.writelines(a + "\n" for a, _ in tokens)
    with open(os.path.join(out, "refresh.txt"), "w") as f:
        f.writelines(r + "\n" for _, r in tokens)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--mail-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--prefix", default="bench")
    ap.add_argument("--login-only", action="store_true",
                    help="the users exist and are verified: only log them in again (new tokens)")
    args = ap.parse_args()

    c = client(args.host, args.port)
    emails = [f"{args.prefix}{i}@example.com" for i in range(args.users)]
    started = time.time()

    def register(i):
        status, body = c.call("POST", "/api/auth/register",
                              {"email": emails[i], "username": f"{args.prefix}_{i}", "password": PASSWORD,
                               "full_name": f"Bench User {i}"})
        if status not in (201, 409):
            raise RuntimeError(f"register {emails[i]}: {status} {body}")

    def login(i):
        status, body = c.call("POST", "/api/auth/login", {"email": emails[i], "password": PASSWORD})
        if status != 200:
            raise RuntimeError(f"login {emails[i]}: {status} {body}")
        return body["access"], body["refresh"]

    if args.login_only:
        with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
            tokens = list(pool.map(login, range(args.users)))
        write_tokens(args.out, emails, tokens)
        print(f"logged {args.users} users in again in {time.time() - started:.1f} s", file=sys.stderr)
        return

    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(register, range(args.users)))
    print(f"registered {args.users} users in {time.time() - started:.1f} s", file=sys.stderr)

    codes, seen = {}, set()
    deadline = time.time() + 120
    while time.time() < deadline:
        read_codes(args.mail_dir, seen, codes)
        if all(e in codes for e in emails):
            break
        time.sleep(0.2)
    missing = [e for e in emails if e not in codes]
    if missing:
        raise RuntimeError(f"no code mailed to {len(missing)} users (e.g. {missing[0]})")

    def verify(i):
        status, body = c.call("POST", "/api/auth/verify-email", {"email": emails[i], "otp": codes[emails[i]]})
        if status not in (200, 409):
            raise RuntimeError(f"verify {emails[i]}: {status} {body}")

    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(verify, range(args.users)))
        tokens = list(pool.map(login, range(args.users)))
    write_tokens(args.out, emails, tokens)
    print(f"prepared {args.users} verified users with tokens in {time.time() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
