#!/usr/bin/python3
"""Slowloris load: holds N connections that each send a request header a byte at a time
(one byte every --interval seconds, never finishing it), spread over several loopback
source addresses. A connection the server closes is opened again, so the pressure stays
at N until SIGTERM (or --seconds). Optionally opens --silent connections that never send
a byte, likewise renewed.

Writes "ready <open>" to --ready-file once all are open, and on exit one line of counts to
--stats-file: opened, cut (closed by the server), max_open. Standard library only; loopback only.
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
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--silent", type=int, default=0)
    ap.add_argument("--sources", type=int, default=20, help="source addresses 127.0.1.1 … 127.0.1.N")
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--stats-file", required=True)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.connections + args.silent + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    sel = selectors.DefaultSelector()
    start_line = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    counts = {"opened": 0, "cut": 0, "max_open": 0}
    conns = {}  # fd -> [socket, silent, next_send]
    next_source = [0]

    def open_one(silent):
        src = f"127.0.1.{next_source[0] % args.sources + 1}"
        next_source[0] += 1
        try:
            s = socket.create_connection(("127.0.0.1", args.port), timeout=5, source_address=(src, 0))
        except OSError:
            return False
        s.setblocking(False)
        if not silent:
            try:
                s.send(start_line)
            except OSError:
                s.close()
                return False
        conns[s.fileno()] = [s, silent, time.time() + args.interval]
        sel.register(s, selectors.EVENT_READ)
        counts["opened"] += 1
        counts["max_open"] = max(counts["max_open"], len(conns))
        return True

    def drop(fd):
        s = conns.pop(fd)[0]
        sel.unregister(s)
        s.close()
        counts["cut"] += 1

    for i in range(args.connections + args.silent):
        open_one(i >= args.connections)
    with open(args.ready_file + ".tmp", "w") as f:
        f.write(f"ready {len(conns)}\n")
    os.replace(args.ready_file + ".tmp", args.ready_file)

    end = time.time() + args.seconds
    while not stop["now"] and time.time() < end:
        for key, _ in sel.select(timeout=0.2):
            fd = key.fileobj.fileno()
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data and fd in conns:
                drop(fd)
        now = time.time()
        for fd, c in list(conns.items()):
            if not c[1] and now >= c[2]:
                c[2] = now + args.interval
                try:
                    c[0].send(b"a")
                except OSError:
                    drop(fd)
        missing_slow = args.connections - sum(1 for c in conns.values() if not c[1])
        missing_silent = args.silent - sum(1 for c in conns.values() if c[1])
        for _ in range(max(0, missing_slow)):
            if not open_one(False):
                break
        for _ in range(max(0, missing_silent)):
            if not open_one(True):
                break
    with open(args.stats_file, "w") as f:
        f.write(f"opened={counts['opened']} cut={counts['cut']} max_open={counts['max_open']} "
                f"open_at_end={len(conns)}\n")
    for c in conns.values():
        c[0].close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
