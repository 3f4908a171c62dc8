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
import collections
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
    conns = {}  # fd -> [socket, silent]
    open_now = {False: 0, True: 0}  # trickling, silent
    # Trickling connections in the order of their next byte: every one waits the same
    # interval, so appending keeps the queue sorted and each round only looks at its
    # front (the generator's own CPU must stay small beside the server it loads).
    due = collections.deque()  # (next_send, fd, socket)
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
            due.append((time.time() + args.interval, s.fileno(), s))
        conns[s.fileno()] = [s, silent]
        open_now[silent] += 1
        sel.register(s, selectors.EVENT_READ)
        counts["opened"] += 1
        counts["max_open"] = max(counts["max_open"], len(conns))
        return True

    def drop(fd):
        s, silent = conns.pop(fd)
        open_now[silent] -= 1
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
        wait = 0.2 if not due else min(0.2, max(0.0, due[0][0] - time.time()))
        for key, _ in sel.select(timeout=wait):
            fd = key.fileobj.fileno()
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data and fd in conns:
                drop(fd)
        now = time.time()
        while due and due[0][0] <= now:
            _, fd, s = due.popleft()
            if conns.get(fd, [None])[0] is not s:
                continue  # cut meanwhile (the descriptor may already be a new connection's)
            try:
                s.send(b"a")
            except OSError:
                drop(fd)
                continue
            due.append((now + args.interval, fd, s))
        for _ in range(max(0, args.connections - open_now[False])):
            if not open_one(False):
                break
        for _ in range(max(0, args.silent - open_now[True])):
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
