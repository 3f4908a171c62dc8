#!/usr/bin/python3
"""A Portcullis high-availability cluster on one machine, driven under load through four faults.

Why one file of this size: it is both the operator's `scripts/cluster` and the CI test, and the
faults, the load and the checks share the cluster's state.

Starts, on free ports under one directory:
  PostgreSQL primary + streaming standby (pg_basebackup -R),
  Redis master + 2 replicas (AOF on) + 3 sentinels (quorum 2),
  an SMTP sink, 3 Portcullis instances (JOB_WORKERS on two) behind HAProxy.
Drives a steady mixed load at a fixed arrival rate (registrations, logins, me, refreshes,
logouts) through HAProxy and, while it runs, injects one fault after another:
  1. SENTINEL FAILOVER (planned), 2. kill -9 of the Redis master (restarted as a replica once
     another one is promoted),
  3. PostgreSQL primary stopped and the standby promoted, 4. kill -9 of one Portcullis instance.
Per fault it measures the window during which requests failed and checks: failures are 503
only (never 500), logged-out and reused tokens stay dead on every instance, the per-account
login limit still holds across instances, and everything recovered without a restart. At the
end every registration answered 201 must have its code in the sink (duplicates are counted).

Exit status 0 when every assertion held. The report (a Markdown table) goes to stdout and to
--report when given.

usage: cluster.py --binary PORTCULLIS --pg-bin DIR --source CHECKOUT [--dir DIR] [--rate N]
                  [--report FILE] [--max-window SECONDS] [--keep]
Standard library only; run with /usr/bin/python3 (the SMTP sink needs Debian's aiosmtpd).
"""

import argparse
import email
import email.policy
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

AS_PG = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
PASSWORD = "Cluster-Proof-Passphrase-2026"
LOGIN_FAIL_LIMIT = 5


def log(msg):
    print(f"[cluster {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


_taken = set()


def free_port():
    """A port free a moment ago, at random below the kernel's ephemeral range, so that no
    outgoing connection is handed it before the daemon binds it; never one this cluster
    already holds."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(1000):
        port = random.randrange(10000, max(low, 11000))
        if port in _taken:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _taken.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def wait_until(pred, limit, what):
    until = time.monotonic() + limit
    while time.monotonic() < until:
        if pred():
            return
        time.sleep(0.05)
    if not pred():
        raise RuntimeError(f"timed out waiting for {what}")


def request(port, method, path, body=None, token=None, timeout=10.0):
    """(status, parsed JSON or None); status 0 for a connection failure."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Connection": "close"}
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        return r.status, doc
    except (OSError, http.client.HTTPException):
        return 0, None
    finally:
        conn.close()


def redis_cli(port, *args):
    r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args], capture_output=True, text=True)
    return r.stdout.strip()


class Cluster:
    def __init__(self, args):
        self.args = args
        self.dir = args.dir or tempfile.mkdtemp(prefix="pc-cluster-")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.pg_ports = [free_port(), free_port()]
        self.redis_ports = [free_port(), free_port(), free_port()]
        self.sentinel_ports = [free_port(), free_port(), free_port()]
        self.smtp_port = free_port()
        self.app_ports = [free_port(), free_port(), free_port()]
        self.proxy_port = free_port()
        self.procs = {}
        self.secret = secrets.token_hex(32)

    # --- PostgreSQL ---
    def pg_ctl(self, name, *args):
        run(AS_PG + [f"{self.args.pg_bin}/pg_ctl", "-D", f"{self.dir}/{name}", *args])

    def start_pg(self, name, port):
        opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {self.dir} -c max_connections=200 -c fsync=off"
        self.pg_ctl(name, "-l", f"{self.dir}/{name}.log", "-w", "-t", "60", "-o", opts, "start")

    def setup_pg(self):
        if AS_PG:
            run(["chown", "postgres:", self.dir])
        run(AS_PG + [f"{self.args.pg_bin}/initdb", "-D", f"{self.dir}/pg0", "-A", "trust", "-U", "portcullis",
                     "-E", "UTF8", "--locale=C.UTF-8"])
        self.start_pg("pg0", self.pg_ports[0])
        run(AS_PG + [f"{self.args.pg_bin}/pg_basebackup", "-h", "127.0.0.1", "-p", str(self.pg_ports[0]),
                     "-U", "portcullis", "-D", f"{self.dir}/pg1", "-R", "-X", "stream"])
        self.start_pg("pg1", self.pg_ports[1])

    def database_url(self):
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.pg_ports)
        return f"postgresql://portcullis@{hosts}/postgres?target_session_attrs=read-write&connect_timeout=2"

    # --- Redis ---
    def start_redis(self, i, master=None):
        d = f"{self.dir}/redis{i}"
        os.makedirs(d, exist_ok=True)
        cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_ports[i]), "--dir", d,
               "--daemonize", "yes", "--pidfile", f"{d}/pid", "--logfile", f"{d}/log", "--appendonly", "yes",
               "--appendfsync", "everysec", "--save", "", "--repl-diskless-sync-delay", "0"]
        if master:
            cmd += ["--replicaof", "127.0.0.1", str(master)]
        run(cmd)

    def setup_redis(self):
        for i in range(3):
            self.start_redis(i, self.redis_ports[0] if i > 0 else None)
        wait_until(lambda: "connected_slaves:2" in redis_cli(self.redis_ports[0], "INFO", "replication"), 30,
                   "Redis replicas")
        for i, port in enumerate(self.sentinel_ports):
            conf = f"{self.dir}/sentinel{i}.conf"
            with open(conf, "w") as f:
                f.write(f"port {port}\nbind 127.0.0.1\ndaemonize yes\npidfile {self.dir}/sentinel{i}.pid\n"
                        f"logfile {self.dir}/sentinel{i}.log\ndir {self.dir}\n"
                        f"sentinel monitor pc 127.0.0.1 {self.redis_ports[0]} 2\n"
                        "sentinel down-after-milliseconds pc 1000\nsentinel failover-timeout pc 10000\n"
                        "sentinel parallel-syncs pc 2\n")
            run(["redis-sentinel", conf])

        def converged():
            for p in self.sentinel_ports:
                lines = redis_cli(p, "SENTINEL", "master", "pc").split("\n")
                info = dict(zip(lines[0::2], lines[1::2]))
                if info.get("num-slaves") != "2" or info.get("num-other-sentinels") != "2":
                    return False
            return True
        wait_until(converged, 30, "sentinels")

    def redis_master_port(self):
        for p in self.sentinel_ports:
            out = redis_cli(p, "SENTINEL", "get-master-addr-by-name", "pc").split("\n")
            if len(out) == 2:
                return int(out[1])
        return 0

    def redis_pid(self, port):
        i = self.redis_ports.index(port)
        with open(f"{self.dir}/redis{i}/pid") as f:
            return int(f.read().strip())

    # --- SMTP sink ---
    def setup_smtp(self):
        os.makedirs(f"{self.dir}/mail", exist_ok=True)
        ready = f"{self.dir}/smtp.ready"
        self.procs["smtp"] = subprocess.Popen(
            ["/usr/bin/python3", f"{self.args.source}/tests/smtp_sink.py", "--host", "127.0.0.1", "--port",
             str(self.smtp_port), "--dir", f"{self.dir}/mail", "--ready-file", ready],
            stdout=open(f"{self.dir}/smtp.log", "w"), stderr=subprocess.STDOUT)
        wait_until(lambda: os.path.exists(ready), 20, "the SMTP sink")

    # --- Portcullis ---
    def app_env(self, i):
        env = {k: v for k, v in os.environ.items() if k.startswith(("ASAN_", "UBSAN_", "LSAN_", "PATH", "HOME"))}
        env.update({
            "PORTCULLIS_ENV": "production",
            "SECRET_KEY": self.secret,
            "LISTEN": f"127.0.0.1:{self.app_ports[i]}",
            "IO_THREADS": "2",
            "DATABASE_URL": self.database_url(),
            "DATABASE_TIMEOUT": "3",
            "DATABASE_POOL_SIZE": "4",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_ports[0]}/0",
            "REDIS_SENTINELS": ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports),
            "REDIS_SENTINEL_MASTER": "pc",
            "REDIS_MIN_REPLICAS": "2",
            "REDIS_TIMEOUT": "2",
            "EMAIL_BACKEND": "smtp",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.smtp_port),
            "JOB_WORKERS": "2" if i < 2 else "0",
            # Cheap hashes: the machine runs nine servers and the load at once.
            "ARGON2_MEMORY_KIB": "64",
            "ARGON2_ITERATIONS": "1",
            "ARGON2_PARALLELISM": "1",
            "HASH_THREADS": "1",
            "RATE_LIMIT_EXEMPT": "127.0.0.1/32",
            "LOGIN_FAIL_LIMIT": str(LOGIN_FAIL_LIMIT),
            "REFRESH_REUSE_INTERVAL": "10",
            "TEMPLATES_DIR": f"{self.args.source}/templates",
            "LOG_LEVEL": "info",
        })
        return env

    def start_app(self, i):
        d = f"{self.dir}/app{i}"
        os.makedirs(d, exist_ok=True)
        self.procs[f"app{i}"] = subprocess.Popen([self.args.binary, "serve"], cwd=d, env=self.app_env(i),
                                                 stdout=open(f"{d}/out.log", "a"), stderr=subprocess.STDOUT)

    def app_ready(self, i):
        return request(self.app_ports[i], "GET", "/readyz", timeout=2)[0] == 200

    def setup_apps(self):
        # The first one applies the migrations; the others start once it is ready.
        self.start_app(0)
        wait_until(lambda: self.app_ready(0), 90, "the first instance")
        for i in (1, 2):
            self.start_app(i)
        wait_until(lambda: all(self.app_ready(i) for i in range(3)), 90, "all instances")

    # --- HAProxy ---
    def setup_proxy(self):
        body = json.dumps({"error": {"code": "unavailable",
                                     "message": "A service this request needs is unavailable; retry shortly."}})
        with open(f"{self.dir}/503.http", "w") as f:
            f.write("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                    f"Cache-Control: no-store\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n{body}")
        servers = "\n".join(f"  server app{i} 127.0.0.1:{p} check" for i, p in enumerate(self.app_ports))
        with open(f"{self.dir}/haproxy.cfg", "w") as f:
            f.write(f"""global
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 15s
  retries 3
  option redispatch
  # Only a connection never made is retried elsewhere: a request may not run twice.
  retry-on conn-failure
  errorfile 502 {self.dir}/503.http
  errorfile 503 {self.dir}/503.http
  errorfile 504 {self.dir}/503.http
frontend portcullis
  bind 127.0.0.1:{self.proxy_port}
  default_backend instances
backend instances
  balance roundrobin
  option httpchk GET /healthz
  http-check expect status 200
  default-server inter 500ms fall 2 rise 2
{servers}
""")
        self.procs["haproxy"] = subprocess.Popen(["haproxy", "-db", "-f", f"{self.dir}/haproxy.cfg"],
                                                 stdout=open(f"{self.dir}/haproxy.log", "w"),
                                                 stderr=subprocess.STDOUT)
        wait_until(lambda: request(self.proxy_port, "GET", "/healthz", timeout=2)[0] == 200, 20, "HAProxy")

    def start(self):
        log(f"cluster in {self.dir}")
        # Redis with its sentinels comes up beside PostgreSQL and the sink (independent).
        failed = []

        def redis_side():
            try:
                self.setup_redis()
            except Exception as e:
                failed.append(e)
        side = threading.Thread(target=redis_side)
        side.start()
        try:
            self.setup_pg()
            self.setup_smtp()
        finally:
            side.join()
        if failed:
            raise failed[0]
        self.setup_apps()
        self.setup_proxy()
        log("cluster up")

    def stop(self):
        for name, p in self.procs.items():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in self.procs.items():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for i in range(3):
            for pidfile in (f"{self.dir}/redis{i}/pid", f"{self.dir}/sentinel{i}.pid"):
                try:
                    with open(pidfile) as f:
                        os.kill(int(f.read().strip()), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        for name in ("pg0", "pg1"):
            subprocess.run(AS_PG + [f"{self.args.pg_bin}/pg_ctl", "-D", f"{self.dir}/{name}", "-m", "immediate",
                                    "-w", "stop"], capture_output=True)
        if not self.args.keep and not self.args.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- mail ---
    def codes_by_address(self):
        """address -> list of codes found in the sink's messages."""
        out = {}
        for name in os.listdir(f"{self.dir}/mail"):
            if not name.endswith(".eml"):
                continue
            with open(f"{self.dir}/mail/{name}", "rb") as f:
                msg = email.message_from_binary_file(f, policy=email.policy.default)
            to = (msg.get("X-Sink-Envelope-To") or "").strip().lower()
            part = msg.get_body(preferencelist=("plain",))
            text = part.get_content() if part is not None else ""
            m = re.search(r"^\s*(\d{6})\s*$", text, re.M)
            out.setdefault(to, []).append(m.group(1) if m else None)
        return out


class Load:
    """Open-loop load: one request every 1/rate seconds, whatever the latency."""

    def __init__(self, cluster, rate):
        self.c = cluster
        self.rate = rate
        self.lock = threading.Lock()
        self.records = []          # (t_start, t_end, op, status)
        self.verified = []         # (email, username) ready to log in
        self.sessions = []         # [access, refresh, [all refresh tokens of the session]]
        self.dead = []             # (access, [refresh tokens]) of sessions logged out (204)
        self.registered = []       # addresses answered 201
        self.refresh_retries = {}  # status of refreshes retried after a 503 -> count
        self.stop_flag = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=96)
        self.n = 0
        self.inflight = {}         # operation number -> its start (monotonic)
        self.ops_started = 0

    def record(self, t0, op, status):
        with self.lock:
            self.records.append((t0, time.monotonic(), op, status))

    def new_identity(self):
        with self.lock:
            self.n += 1
            n = self.n
        tag = f"{os.getpid()}x{n}x{secrets.token_hex(3)}"
        return f"u{tag}@example.com", f"u{tag}"

    # The operations.
    def op_register(self, email_addr=None, username=None):
        if email_addr is None:
            email_addr, username = self.new_identity()
        t0 = time.monotonic()
        st, _ = request(self.c.proxy_port, "POST", "/api/auth/register",
                     {"email": email_addr, "username": username, "password": PASSWORD})
        self.record(t0, "register", st)
        if st == 201:
            with self.lock:
                self.registered.append(email_addr)
        return st

    def op_login(self):
        with self.lock:
            if not self.verified:
                return
            addr, _ = random.choice(self.verified)
        t0 = time.monotonic()
        st, doc = request(self.c.proxy_port, "POST", "/api/auth/login", {"email": addr, "password": PASSWORD})
        self.record(t0, "login", st)
        if st == 200 and doc:
            with self.lock:
                self.sessions.append([doc["access"], doc["refresh"], [doc["refresh"]]])

    def take_session(self):
        with self.lock:
            if not self.sessions:
                return None
            return self.sessions.pop(random.randrange(len(self.sessions)))

    def put_session(self, s):
        with self.lock:
            self.sessions.append(s)

    def op_me(self):
        s = self.take_session()
        if s is None:
            return
        t0 = time.monotonic()
        st, _ = request(self.c.proxy_port, "GET", "/api/users/me", token=s[0])
        self.record(t0, "me", st)
        self.put_session(s)

    def op_refresh(self):
        s = self.take_session()
        if s is None:
            return
        t0 = time.monotonic()
        st, doc = request(self.c.proxy_port, "POST", "/api/auth/refresh", {"refresh": s[1]})
        if st == 503:
            # Retried once, as a client would: a lost commit reply must not end the session
            # (REFRESH_REUSE_INTERVAL hands out the same successor).
            self.record(t0, "refresh", st)
            time.sleep(1)
            t0 = time.monotonic()
            st, doc = request(self.c.proxy_port, "POST", "/api/auth/refresh", {"refresh": s[1]})
            with self.lock:
                self.refresh_retries[st] = self.refresh_retries.get(st, 0) + 1
        self.record(t0, "refresh", st)
        if st == 200 and doc:
            s[0], s[1] = doc["access"], doc["refresh"]
            s[2].append(doc["refresh"])
            self.put_session(s)
        elif st == 503:
            self.put_session(s)

    def op_logout(self):
        s = self.take_session()
        if s is None:
            return
        t0 = time.monotonic()
        st, _ = request(self.c.proxy_port, "POST", "/api/auth/logout", {"refresh": s[1]}, token=s[0])
        self.record(t0, "logout", st)
        if st in (200, 204):
            with self.lock:
                self.dead.append((s[0], list(s[2])))

    OPS = (("register", 1), ("login", 1), ("me", 4), ("refresh", 3), ("logout", 1))

    def one(self):
        ops = [name for name, w in self.OPS for _ in range(w)]
        name = random.choice(ops)
        with self.lock:
            self.ops_started += 1
            k = self.ops_started
            self.inflight[k] = time.monotonic()
        try:
            getattr(self, "op_" + name)()
        except Exception as e:  # a bug in the load generator must show, not hang the run
            log(f"load op {name} failed: {e!r}")
        finally:
            with self.lock:
                del self.inflight[k]

    def wait_settled(self, t, limit=30):
        """Until every operation started before monotonic time `t` has finished."""
        def settled():
            with self.lock:
                return all(start >= t for start in self.inflight.values())
        wait_until(settled, limit, "the requests in flight during the fault")

    def run(self):
        period = 1.0 / self.rate
        next_t = time.monotonic()
        while not self.stop_flag.is_set():
            self.pool.submit(self.one)
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def start(self):
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_flag.set()
        self.thread.join()
        self.pool.shutdown(wait=True)

    # Setup: verified users to log in with.
    def prepare_users(self, count):
        identities = [self.new_identity() for _ in range(count)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = list(pool.map(lambda iu: self.op_register(*iu), identities))
        pending = [iu for iu, st in zip(identities, statuses) if st == 201]
        wait_until(lambda: all(self.c.codes_by_address().get(a) for a, _ in pending), 60, "registration mails")
        codes = self.c.codes_by_address()
        ready = []
        for addr, user in pending:
            st, _ = request(self.c.proxy_port, "POST", "/api/auth/verify-email", {"email": addr, "otp": codes[addr][-1]})
            if st == 200:
                ready.append((addr, user))
        return ready


def check_dead_tokens(cluster, load, alive):
    """Logged-out access tokens and every refresh token of those sessions, on each instance."""
    with load.lock:
        dead = list(load.dead)
    sample = dead[-8:] + random.sample(dead[:-8], min(4, max(0, len(dead) - 8)))
    bad = 0
    for access, refreshes in sample:
        for i in alive:
            port = cluster.app_ports[i]
            st, _ = request(port, "GET", "/api/users/me", token=access)
            if st == 200:
                bad += 1
            for r in (refreshes[-1], refreshes[0]):
                st, _ = request(port, "POST", "/api/auth/refresh", {"refresh": r})
                if st == 200:
                    bad += 1
    return len(sample), bad


def check_limit(cluster, user, alive):
    """LOGIN_FAIL_LIMIT wrong passwords spread over the instances, then the right one: 429."""
    addr, _ = user
    statuses = []
    for k in range(LOGIN_FAIL_LIMIT):
        port = cluster.app_ports[alive[k % len(alive)]]
        statuses.append(request(port, "POST", "/api/auth/login", {"email": addr, "password": "wrong-" + PASSWORD})[0])
    port = cluster.app_ports[alive[LOGIN_FAIL_LIMIT % len(alive)]]
    last = request(port, "POST", "/api/auth/login", {"email": addr, "password": PASSWORD})[0]
    return statuses, last


def wait_recovered(cluster, load, alive, limit=60):
    """Until the load's requests succeed again (20 in a row) and every live instance is ready."""
    t0 = time.monotonic()

    def healthy():
        with load.lock:
            recent = [r for r in load.records if r[1] > t0][-20:]
        ok = len(recent) == 20 and all(200 <= r[3] < 500 for r in recent)
        return ok and all(cluster.app_ready(i) for i in alive)
    try:
        wait_until(healthy, limit, "recovery")
    except RuntimeError:
        with load.lock:
            recent = [(round(r[0] - t0, 2), round(r[1] - r[0], 2), r[2], r[3]) for r in load.records if r[1] > t0]
        log(f"not recovered; last requests (start, duration, op, status): {recent[-20:]}")
        log("readiness: " + str({i: cluster.app_ready(i) for i in alive}))
        raise
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--pg-bin", default=os.environ.get("PORTCULLIS_TEST_PG_BIN"))
    ap.add_argument("--source", required=True)
    ap.add_argument("--dir")
    ap.add_argument("--rate", type=float, default=12.0)
    ap.add_argument("--report")
    ap.add_argument("--max-window", type=float, default=10.0)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if not args.pg_bin:
        ap.error("--pg-bin (or PORTCULLIS_TEST_PG_BIN) is required")
    args.binary = os.path.abspath(args.binary)

    cluster = Cluster(args)
    failures = []
    rows = []
    try:
        cluster.start()
        load = Load(cluster, args.rate)
        users = load.prepare_users(30)
        if len(users) < 30:
            raise RuntimeError(f"only {len(users)} of 30 users could be prepared")
        limit_users = users[25:]
        load.verified = users[:25]
        log(f"{len(users)} users ready; load at {args.rate}/s")
        load.start()
        time.sleep(8)  # a steady state before the first fault (not a synchronisation)

        alive = [0, 1, 2]

        def fault_redis_planned():
            out = redis_cli(cluster.sentinel_ports[0], "SENTINEL", "FAILOVER", "pc")
            if out != "OK":
                raise RuntimeError("SENTINEL FAILOVER: " + out)

        def fault_redis_kill():
            old = cluster.redis_master_port()
            os.kill(cluster.redis_pid(old), signal.SIGKILL)
            # A supervisor restarts the crashed server; it rejoins as a replica of the master
            # the sentinels promoted (REDIS_MIN_REPLICAS=2 needs it back).
            wait_until(lambda: cluster.redis_master_port() not in (0, old), 30, "a new Redis master")
            cluster.start_redis(cluster.redis_ports.index(old), cluster.redis_master_port())

        def fault_pg():
            cluster.pg_ctl("pg0", "-m", "fast", "-w", "stop")
            cluster.pg_ctl("pg1", "-w", "promote")

        def fault_instance():
            cluster.procs["app1"].kill()
            alive.remove(1)

        faults = [("Redis: SENTINEL FAILOVER (planned)", fault_redis_planned),
                  ("Redis: kill -9 of the master (back as a replica)", fault_redis_kill),
                  ("PostgreSQL: primary stopped, standby promoted", fault_pg),
                  ("Portcullis: kill -9 of one instance (with job workers)", fault_instance)]
        marks = []
        for n, (name, inject) in enumerate(faults):
            before = cluster.redis_master_port()
            log(f"fault {n + 1}: {name}")
            t_fault = time.monotonic()
            inject()
            recovered = wait_recovered(cluster, load, list(alive))
            after = cluster.redis_master_port()
            log(f"  recovered after {recovered:.1f} s (Redis master {before} -> {after})")
            # The requests of the fault finish (they end within their timeouts) before the checks.
            load.wait_settled(time.monotonic())
            checked, resurrected = check_dead_tokens(cluster, load, alive)
            statuses, last = check_limit(cluster, limit_users[n], alive)
            marks.append((name, t_fault, recovered, checked, resurrected, statuses, last))
            # Observation window: failures after the recovery still count in the fault's window.
            time.sleep(4)
        load.stop()
        t_end = time.monotonic()

        # Per fault: the requests sent from its injection to the next one.
        with load.lock:
            records = list(load.records)
        for k, (name, t_fault, recovered, checked, resurrected, statuses, last) in enumerate(marks):
            t_next = marks[k + 1][1] if k + 1 < len(marks) else t_end
            phase = [r for r in records if t_fault <= r[0] < t_next]
            failed = [r for r in phase if r[3] >= 500 or r[3] == 0]
            window = (max(r[1] for r in failed) - t_fault) if failed else 0.0
            by_status = {}
            for r in failed:
                by_status[r[3]] = by_status.get(r[3], 0) + 1
            non_503 = sum(v for s, v in by_status.items() if s != 503)
            limit_ok = all(s == 401 for s in statuses) and last == 429
            failed_ops = {}
            for r in failed:
                failed_ops[r[2]] = failed_ops.get(r[2], 0) + 1
            rows.append({"fault": name, "requests": len(phase), "failed": len(failed), "failed_ops": failed_ops,
                         "last_failures": [(round(r[0] - t_fault, 2), round(r[1] - r[0], 2), r[2], r[3])
                                           for r in failed[-5:]],
                         "statuses": by_status, "window_s": round(window, 2), "recovered_s": round(recovered, 2),
                         "dead_tokens_checked": checked, "dead_tokens_working": resurrected,
                         "limit": f"{statuses} then {last}", "limit_ok": limit_ok})
            if non_503:
                failures.append(f"{name}: failed requests other than 503: {by_status}")
            if window > args.max_window:
                failures.append(f"{name}: failure window {window:.1f} s > {args.max_window} s")
            if resurrected:
                failures.append(f"{name}: {resurrected} logged-out or reused tokens worked again")
            if not limit_ok:
                failures.append(f"{name}: login limit did not hold across instances: {statuses} then {last}")

        # Every 201 got its code by mail (at least once).
        with load.lock:
            registered = list(load.registered)
        def all_mailed():
            codes = cluster.codes_by_address()
            return all(codes.get(a) for a in registered)
        try:
            wait_until(all_mailed, 90, "every registration's mail")
        except RuntimeError:
            pass
        codes = cluster.codes_by_address()
        missing = [a for a in registered if not codes.get(a)]
        duplicates = sum(len(codes[a]) - 1 for a in registered if codes.get(a))
        if missing:
            failures.append(f"{len(missing)} of {len(registered)} registrations answered 201 got no mail")
        ended = sum(v for k, v in load.refresh_retries.items() if 400 <= k < 500)
        if ended:
            failures.append(f"{ended} refreshes retried after a 503 ended their session: {load.refresh_retries}")
        totals = {}
        for r in records:
            totals[r[3]] = totals.get(r[3], 0) + 1
        if totals.get(500):
            failures.append(f"{totals[500]} requests answered 500")
        summary = {"registrations_201": len(registered), "mails_missing": len(missing), "mail_duplicates": duplicates,
                   "refresh_retries": load.refresh_retries,
                   "requests": len(records), "statuses": totals, "rate_per_s": args.rate, "faults": rows,
                   "failures": failures}
    except Exception as e:
        traceback.print_exc()
        failures.append(f"cluster run aborted: {e!r}")
        summary = {"faults": rows, "failures": failures}
    finally:
        cluster.stop()

    lines = ["| Fault | Requests | Failed (status: count) | Failure window | Recovered after | "
             "Dead tokens working | Login limit across instances |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        st = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items())) or "none"
        lines.append(f"| {r['fault']} | {r['requests']} | {r['failed']} ({st}) | {r['window_s']} s | "
                     f"{r['recovered_s']} s | {r['dead_tokens_working']} of {r['dead_tokens_checked']} sessions | "
                     f"{'holds' if r['limit_ok'] else 'BROKEN'} |")
    report = "\n".join(lines)
    report += (f"\n\nRegistrations answered 201: {summary.get('registrations_201')}, without mail: "
               f"{summary.get('mails_missing')}, duplicate mails: {summary.get('mail_duplicates')}; "
               f"requests: {summary.get('requests')} at {args.rate}/s; statuses: {summary.get('statuses')}; "
               f"refreshes retried after a 503 (status: count): {summary.get('refresh_retries')}\n")
    print(report)
    if args.report:
        with open(args.report, "w") as f:
            f.write(report + "\n" + json.dumps(summary, indent=2) + "\n")
    for f in failures:
        print("FAIL: " + f)
    print("cluster: " + ("FAILED" if failures else "all assertions held"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
