#!/usr/bin/python3
"""Writes docs/PERFORMANCE.md from the results of scripts/bench/run.

usage: report.py RESULTS_DIR OUT.md
RESULTS_DIR holds results.tsv (name, wrk BENCH line, command) and facts.tsv (key, value).
"""
import os
import sys

results_dir, out_path = sys.argv[1], sys.argv[2]


def read_facts():
    facts = {}
    with open(os.path.join(results_dir, "facts.tsv")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            facts[key] = value
    return facts


def read_results():
    rows = {}
    order = []
    with open(os.path.join(results_dir, "results.tsv")) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or not parts[1].startswith("BENCH "):
                continue
            name, bench, cmd = parts[0], parts[1], parts[2]
            fields = dict(kv.split("=", 1) for kv in bench[len("BENCH "):].split() if "=" in kv)
            fields["cmd"] = cmd
            rows[name] = fields
            order.append(name)
    return rows, order


facts = read_facts()
rows, order = read_results()


def num(value, default=0.0):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def rps(name):
    return num(rows.get(name, {}).get("rps"))


def ok_rps(name):
    r = rows.get(name, {})
    return num(r.get("ok_rps", r.get("rps")))


def fmt(x, digits=0):
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def pct(a, b):
    return (100.0 * a / b) if b else 0.0


ceiling = num(facts.get("ceiling"))
hash_ms = num(facts.get("hash_ms"))
status_503 = {}

LABELS = {
    "healthz": "`GET /healthz`",
    "nginx_healthz": "nginx `return 200` (same body), for comparison",
    "me": "`GET /api/users/me`",
    "users": "`GET /api/users?limit=20`",
    "login": "`POST /api/auth/login`",
    "login_paced70": "login paced at 70% of the argon2 ceiling",
    "refresh": "`POST /api/auth/refresh` (each token once)",
    "register": "`POST /api/auth/register`",
    "mixed": "mixed: 80% me, 10% users, 5% login, 5% refresh",
    "me_alone": "`me` alone (isolation baseline)",
    "me_eddsa": "`GET /api/users/me`, EdDSA access tokens (JWT_ALGORITHM=EdDSA)",
    "login_flood": "login flood at 2× the ceiling (256 connections, paced)",
    "me_during_flood": "`me` during the login flood",
    "me_with_idle": "`me` with 10,000 idle keep-alive connections open",
    "me_during_slowloris": "`me` during 2,000 slowloris connections",
}

lines = []
w = lines.append
w("# Performance")
w("")
w("Measured by `scripts/bench/run` (one command: installs wrk, pgbench, redis-benchmark and nginx, builds the")
w("release binary, starts a private PostgreSQL and Redis, prepares verified users through the API, runs every")
w("scenario and comparison, and rewrites this file). The load generator runs on the same machine as the server,")
w("so every figure is compared with one measured in the same run.")
w("")
w("## Machine and settings")
w("")
w(f"- CPU: {facts.get('cpu_model', '?')}, {facts.get('cpu_count', '?')} cores; kernel {facts.get('kernel', '?')}; "
  f"memory {facts.get('memory', '?')}")
w(f"- Run: {facts.get('date', '?')}, commit `{facts.get('commit', '?')}`; 1-minute load average "
  f"{facts.get('load_at_start', '?')} at the start, {facts.get('load_at_end', '?')} at the end")
w(f"- wrk {facts.get('wrk_version', '?')}, PostgreSQL {facts.get('pg_version', '?')} (default durability: fsync on, "
  f"synchronous_commit on), Redis {facts.get('redis_version', '?')}, nginx {facts.get('nginx_version', '?')}")
w(f"- `build/portcullis serve` (release build) with `IO_THREADS=2`, `DATABASE_POOL_SIZE=8` (per I/O thread: "
  f"{facts.get('pg_clients', '16')} connections), `HASH_THREADS` default (= cores), default argon2id parameters "
  "(m = 19 MiB, t = 2, p = 1), `RATE_LIMIT_EXEMPT=127.0.0.1/32`, `EMAIL_BACKEND=file`, access log "
  f"**{facts.get('access_log', 'on')}**")
w("- Load: `wrk -t2 -c64 -d10s --timeout 10s` unless stated (the timeout only sets which answers wrk counts as too slow); the Lua scenarios are in `scripts/bench/*.lua` and count every "
  "non-2xx answer through `response()`")
w("")
w("## HTTP scenarios")
w("")
w("| scenario | requests/s | 2xx/s | p50 ms | p99 ms | non-2xx | socket errors |")
w("|---|---:|---:|---:|---:|---:|---:|")
for name in order:
    r = rows[name]
    non2xx = r.get("non2xx", "0")
    if r.get("statuses", "-") != "-":
        non2xx += f" ({r['statuses']})"
    w(f"| {LABELS.get(name, name)} | {fmt(num(r.get('rps')))} | {fmt(ok_rps(name))} | {num(r.get('p50_ms')):.2f} | "
      f"{num(r.get('p99_ms')):.2f} | {non2xx} | {r.get('socket_errors', '?')} |")
w("")
w("Commands (run from the checkout; the bench server listens on `127.0.0.1:28700`, nginx on `:28701`):")
w("")
w("```")
for name in order:
    w(f"# {name}")
    w(rows[name]["cmd"])
w("```")
w("")

# --- targets ---------------------------------------------------------------------------
w("## Targets (issue 7) and store benchmarks (issue 3)")
w("")
w("| target | measured | reference | ratio | required | met |")
w("|---|---:|---:|---:|---|:-:|")


def target(label, value, ref, required, ok, value_fmt=None, ref_fmt=None, ratio=None):
    ratio_text = f"{ratio:.1f}%" if ratio is not None else (f"{pct(value, ref):.1f}%" if ref else "–")
    w(f"| {label} | {value_fmt or fmt(value)} | {ref_fmt or fmt(ref)} | {ratio_text} | {required} | "
      f"{'yes' if ok else '**no**'} |")


results_met = {}
if "me" in rows and "healthz" in rows:
    r = pct(rps("me"), rps("healthz"))
    p99 = num(rows["me"].get("p99_ms"))
    ok = r >= 50 and p99 < 10
    results_met["me"] = ok
    target("1. `me` vs `healthz` (req/s), p99", rps("me"), rps("healthz"), "≥ 50%, p99 < 10 ms", ok)
if "login" in rows and ceiling:
    r = pct(ok_rps("login"), ceiling)
    ok = r >= 90
    results_met["login"] = ok
    target("2. `login` (2xx/s) vs argon2id ceiling (hashes/s, `bench-hash`)", ok_rps("login"), ceiling, "≥ 90%", ok,
           ref_fmt=fmt(ceiling, 1))
if "login_paced70" in rows and hash_ms:
    p99 = num(rows["login_paced70"].get("p99_ms"))
    ok = p99 < 3 * hash_ms
    results_met["login_p99"] = ok
    target(f"2. `login` p99 at 70% of the ceiling ({facts.get('rate70', '?')}/s) vs one hash", p99, hash_ms,
           "< 3× one hash", ok, value_fmt=f"{p99:.1f} ms", ref_fmt=f"{hash_ms:.1f} ms",
           ratio=100.0 * p99 / hash_ms)
if "me_during_flood" in rows and "me_alone" in rows:
    r = pct(rps("me_during_flood"), rps("me_alone"))
    ok = r >= 45
    results_met["isolation"] = ok
    target("3. `me` during a login flood at 2× the ceiling vs `me` alone", rps("me_during_flood"), rps("me_alone"),
           "≥ 45%", ok)
pg_refresh = num(facts.get("pgbench_refresh_tps"))
if "refresh" in rows and pg_refresh:
    r = pct(rps("refresh"), pg_refresh)
    ok = r >= 60 and rows["refresh"].get("non2xx") == "0"
    results_met["refresh"] = ok
    target(f"4. `refresh` vs pgbench, identical transaction, {facts.get('pg_clients', '16')} clients",
           rps("refresh"), pg_refresh, "≥ 60%, no non-2xx", ok)
idle_n = num(facts.get("idle_connections"))
if idle_n and "me_with_idle" in rows:
    growth = num(facts.get("idle_rss_after_kib")) - num(facts.get("idle_rss_before_kib"))
    per_conn = growth * 1024 / idle_n
    ok = per_conn <= 8192
    results_met["idle_mem"] = ok
    target(f"5. memory per idle keep-alive connection ({int(idle_n):,} open)", per_conn, 8192, "≤ 8 KiB (aim 4)",
           ok, value_fmt=f"{per_conn:,.0f} B", ref_fmt="8,192 B")
    base = rps("me_alone") or rps("me")
    r = pct(rps("me_with_idle"), base)
    ok = r >= 90
    results_met["idle_me"] = ok
    target("5. `me` with the idle connections open vs `me` alone", rps("me_with_idle"), base, "≥ 90%", ok)
if "me_during_slowloris" in rows and "me_alone" in rows:
    r = pct(rps("me_during_slowloris"), rps("me_alone"))
    p99 = num(rows["me_during_slowloris"].get("p99_ms"))
    ok = r >= 80 and p99 < 20
    results_met["slowloris"] = ok
    target(f"8. `me` during {int(num(facts.get('slowloris_connections'))):,} slowloris connections vs "
           "`me` alone, p99", rps("me_during_slowloris"), rps("me_alone"), "≥ 80%, p99 < 20 ms", ok)
if facts.get("idle_fds_after"):
    errors = int(num(facts.get("idle_accept_errors")))
    before, after = int(num(facts.get("idle_fds_before"))), int(num(facts.get("idle_fds_after")))
    ok = errors == 0 and after <= before
    results_met["idle_soak"] = ok
    target(f"9. {int(idle_n):,} idle connections + `me` for {facts.get('idle_seconds', '?')} s: accept errors; "
           "server fds after vs before", after, before, "no accept error, fds back to the baseline", ok,
           value_fmt=f"{errors} errors, {after} fds", ref_fmt=f"{before} fds")
if "me_eddsa" in rows and "me" in rows:
    r = pct(rps("me_eddsa"), rps("me"))
    ok = r >= 90 and num(rows["me_eddsa"].get("non2xx")) == 0
    results_met["me_eddsa"] = ok
    target("7. `me` with EdDSA tokens vs `me` with HS256 tokens", rps("me_eddsa"), rps("me"), "≥ 90%", ok)
if "nginx_healthz" in rows and "healthz" in rows:
    r = pct(rps("healthz"), rps("nginx_healthz"))
    ok = r >= 80
    results_met["healthz"] = ok
    target("6. `healthz` vs nginx `return 200` (same body)", rps("healthz"), rps("nginx_healthz"), "≥ 80%", ok)
bad = []
for name in order:
    r = rows[name]
    if num(r.get("socket_errors")) > 0:
        bad.append(f"{name}: {r['socket_errors']} socket errors")
    for item in (r.get("statuses", "-") or "-").split(","):
        if ":" in item:
            status = item.split(":")[0]
            if status not in ("429", "503"):
                bad.append(f"{name}: {item}")
ok = not bad
results_met["clean"] = ok
w(f"| 7. no non-2xx but deliberate 429/503, no socket errors | {'none' if ok else '; '.join(bad)} | – | – | "
  f"none | {'yes' if ok else '**no**'} |")
pg_select = num(facts.get("pgbench_select_tps"))
pool_select = num(facts.get("pool_select_qps"))
if pg_select and pool_select:
    target(f"issue 3: primary-key lookup through the pool vs `pgbench -S` ({facts.get('pg_clients', '16')} clients)",
           pool_select, pg_select, "≥ 70%", pct(pool_select, pg_select) >= 70)
for op in ("set", "get"):
    mine = num(facts.get(f"client_{op}_ops"))
    ref = num(facts.get(f"redis_benchmark_{op}"))
    if mine and ref:
        target(f"issue 3: Redis {op.upper()} through the client vs `redis-benchmark -P 1` (50 clients)", mine, ref,
               "≥ 70%", pct(mine, ref) >= 70)
w("")
w("Reference commands:")
w("")
w("```")
for key in ("bench_hash_cmd", "pgbench_refresh_cmd", "pgbench_select_cmd", "pool_select_cmd", "redis_benchmark_cmd",
            "client_set_cmd", "client_get_cmd"):
    if facts.get(key):
        w(facts[key])
w("```")
w("")
if facts.get("nginx_conf"):
    w(f"nginx ({facts.get('nginx_version', '?')}), the minimal server: `{facts['nginx_conf']}`")
    w("")
if facts.get("hash_line"):
    w(f"`bench-hash`: {facts['hash_line']}")
    w("")
if facts.get("node_argon2_line"):
    w(f"`scripts/bench/argon2-ceiling` (the Node.js peer's @node-rs/argon2): {facts['node_argon2_line']}")
    w("")
w(f"pgbench's refresh script is generated from the `token_rotate` statement by `scripts/bench/rotate_sql.py`:")
w("the same SQL, prepared, with each client presenting every token once (the successor's jti is chained through")
w("`\\gset`). `portcullis_bench_store` is built with `meson configure build -Dbench=true`.")
w("")

# --- memory -----------------------------------------------------------------------------
w("## Memory")
w("")
hwm = num(facts.get("server_vmhwm_kib"))
w(f"- Peak RSS of the server over the whole run (VmHWM): **{hwm / 1024:.1f} MiB**; "
  f"after start-up {num(facts.get('rss_after_start_kib')) / 1024:.1f} MiB; "
  f"at the end {num(facts.get('server_rss_end_kib')) / 1024:.1f} MiB ({facts.get('server_threads', '?')} threads).")
if idle_n:
    before = num(facts.get("idle_rss_before_kib"))
    after = num(facts.get("idle_rss_after_kib"))
    w(f"- {int(idle_n):,} idle keep-alive connections: RSS {before / 1024:.1f} → {after / 1024:.1f} MiB, "
      f"{(after - before) * 1024 / idle_n:,.0f} bytes per connection; "
      f"{num(facts.get('idle_rss_after_me_kib')) / 1024:.1f} MiB after the `me` run on top of them.")
if facts.get("slowloris_rss_peak_kib"):
    w(f"- During the slowloris run ({facts.get('slowloris_stats', '')}; {facts.get('slowloris_cut_by_rate', '?')} "
      f"cut for `MIN_INGRESS_RATE`): RSS {num(facts.get('slowloris_rss_before_kib')) / 1024:.1f} MiB before, "
      f"peak {num(facts.get('slowloris_rss_peak_kib')) / 1024:.1f} MiB (`{facts.get('slowloris_cmd', '')}`).")
if facts.get("rss_during_flood_kib"):
    w(f"- During the login flood: RSS {num(facts.get('rss_before_flood_kib')) / 1024:.1f} → "
      f"{num(facts.get('rss_during_flood_kib')) / 1024:.1f} MiB (the hash queue is bounded; excess logins get 503).")
w("")

flood_path = os.path.join(results_dir, "flood_statuses.txt")
if os.path.exists(flood_path):
    w("## Isolation: answers seen by the server during the login flood")
    w("")
    w("| route | status | count | p99 ms (server) | max ms (server) |")
    w("|---|---:|---:|---:|---:|")
    with open(flood_path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 5:
                w(f"| {parts[0]} | {parts[1]} | {int(parts[2]):,} | {parts[3]} | {parts[4]} |")
    w("")
    w("Durations from the access log (`duration_ms`: from the first byte of the request to the last of the answer).")
    w("")

limits_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "limits.md")
if os.path.exists(limits_path):
    with open(limits_path) as f:
        w(f.read().rstrip("\n"))
    w("")

os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
with open(out_path, "w") as f:
    f.write("\n".join(lines) + "\n")
