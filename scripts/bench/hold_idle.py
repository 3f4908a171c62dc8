#!/usr/bin/python3
"""Opens N keep-alive connections to the server, sends one GET /healthz on each as it opens (so the
server treats them as idle keep-alive connections, not as clients still sending their
first request), reads the answers and then holds them open, idle, until SIGTERM.

Writes "ready <open>" to --ready-file once every connection is idle. Standard library only.
"""

import argparse
import os
import resource
import selectors
import signal
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--sources", type=int, default=1,
                    help="spread the connections over source addresses 127.0.2.1 … 127.0.2.N (under the per-address cap)")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.connections + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))

    request = f"GET /healthz HTTP/1.1\r\nHost: {args.host}\r\n\r\n".encode()
    socks = []
    for i in range(args.connections):
        for attempt in range(50):
            try:
                source = (f"127.0.2.{i % args.sources + 1}", 0) if args.sources > 1 else None
                s = socket.create_connection((args.host, args.port), timeout=10, source_address=source)
                break
            except OSError:
                time.sleep(0.05 * (attempt + 1))
        else:
            print(f"could not open connection {i}", file=sys.stderr)
            return 1
        # The request goes out at once: a connection that sends nothing is closed after
        # FIRST_BYTE_TIMEOUT (or shed at the connection cap).
        s.sendall(request)
        s.setblocking(False)
        socks.append(s)

    sel = selectors.DefaultSelector()
    pending = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        pending[s.fileno()] = b""
    deadline = time.time() + 60
    while pending and time.time() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            data = s.recv(4096)
            if not data:
                print("a connection closed before answering", file=sys.stderr)
                return 1
            buf = pending[s.fileno()] + data
            if b"\r\n\r\n" in buf and buf.endswith(b'{"status":"ok"}'):
                del pending[s.fileno()]
                sel.unregister(s)
            else:
                pending[s.fileno()] = buf
    if pending:
        print(f"{len(pending)} connections got no answer", file=sys.stderr)
        return 1

    with open(args.ready_file + ".tmp", "w") as f:
        f.write(f"ready {len(socks)}\n")
    os.replace(args.ready_file + ".tmp", args.ready_file)
    while not stop["now"]:
        time.sleep(0.2)
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
