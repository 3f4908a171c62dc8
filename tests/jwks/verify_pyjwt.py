#!/usr/bin/env python3
"""Verifies access tokens with PyJWT against a served JWKS (PyJWKClient), or with a
shared HS256 secret.

usage: verify_pyjwt.py --jwks URL | --secret-file PATH  --issuer ISS [--audience AUD] TOKENS_FILE
One token a line; prints one line per token, "ok <kid>" or "fail <reason>", and exits 0
when every token verified, 1 otherwise.
"""
import argparse
import sys

import jwt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jwks")
    ap.add_argument("--secret-file")
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--audience")
    ap.add_argument("tokens")
    a = ap.parse_args()
    client = jwt.PyJWKClient(a.jwks) if a.jwks else None
    secret = open(a.secret_file, encoding="utf-8").read() if a.secret_file else None
    options = {"require": ["exp", "iat", "iss", "sub"]}
    if a.audience is None:
        options["verify_aud"] = False
    failures = 0
    for token in open(a.tokens, encoding="utf-8").read().split():
        try:
            if client is not None:
                key = client.get_signing_key_from_jwt(token)
                algs = ["EdDSA", "ES256"]
                claims = jwt.decode(token, key.key, algorithms=algs, issuer=a.issuer, audience=a.audience,
                                    options=options)
                kid = key.key_id
            else:
                claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=a.issuer, audience=a.audience,
                                    options=options)
                kid = jwt.get_unverified_header(token).get("kid", "-")
            if claims.get("typ") != "access":
                raise ValueError("not an access token")
            print("ok", kid)
        except Exception as e:  # noqa: BLE001 - every failure is reported, none is fatal
            failures += 1
            print("fail", type(e).__name__, str(e).replace("\n", " "))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
