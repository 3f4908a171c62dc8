#!/usr/bin/python3
"""Prints a pgbench script running the refresh rotation statement exactly as
src/store/pg/pg_repositories.cpp defines it (token_rotate), with its parameters as
pgbench variables: $1 the token presented, $2 its successor's jti, $3 the expiry.

Each pgbench client walks its own chain of single-use tokens, as the HTTP scenario does:
the statement's result row (\\gset) gives the token to present next, and one extra
column, gen_random_uuid(), the successor jti for the next rotation (pgbench cannot make
a uuid itself). The first transaction of a client fetches its first token from bench_chain.
"""
import re
import sys

src = open(sys.argv[1]).read()
columns = re.search(r'#define PORTCULLIS_TOKEN_COLUMNS "([^"]*)"', src).group(1)
block = re.search(r"const statement token_rotate\{(.*?)\};", src, re.S).group(1)
pieces = re.findall(r'"((?:[^"\\]|\\.)*)"|(PORTCULLIS_TOKEN_COLUMNS)', block)
strings = [columns if macro else text for text, macro in pieces]
name, sql = strings[0], "".join(strings[1:])
assert name == "refresh_tokens_rotate", name
sql = sql.replace("$1", ":jti").replace("$2::uuid", ":next::uuid").replace("$3", ":expires")
final = ") SELECT " + columns
assert final in sql, "unexpected shape of token_rotate"
sql = sql.replace(final, ") SELECT gen_random_uuid() AS next, " + columns, 1)
print("\\if :n = 0")
print("SELECT jti, gen_random_uuid() AS next FROM bench_chain WHERE client = :client_id \\gset")
print("\\endif")
print("\\set n :n + 1")
print(sql + " \\gset")
