#!/usr/bin/python3
"""Prints a pgbench script running the refresh rotation statement exactly as
src/store/pg/pg_repositories.cpp defines it (token_rotate), with its parameters as
pgbench variables: $1 the session, $2 the counter presented, $3 the legacy token id
(NULL: a token with a counter, as every token issued by this version).

Each pgbench client rotates its own session, as the HTTP scenario walks its own chain of
single-use tokens: the statement's result row (\\gset) gives the counter to present next.
The first transaction of a client fetches its session from bench_chain.
"""
import re
import sys

src = open(sys.argv[1]).read()
block = re.search(r"const statement token_rotate\{(.*?)\};", src, re.S).group(1)
strings = re.findall(r'"((?:[^"\\]|\\.)*)"', block)
name, sql = strings[0], "".join(strings[1:])
assert name == "refresh_rotate", name
for param in ("$1", "$2", "$3::uuid"):
    assert param in sql, "unexpected shape of token_rotate: no " + param
assert "RETURNING user_id, refresh_counter, refreshed_at" in sql, "unexpected shape of token_rotate"
sql = sql.replace("$1", ":sid").replace("$2", ":refresh_counter").replace("$3::uuid", "NULL::uuid")
print("\\if :n = 0")
print("SELECT sid, 0 AS refresh_counter FROM bench_chain WHERE client = :client_id \\gset")
print("\\endif")
print("\\set n :n + 1")
print(sql + " \\gset")
