#!/usr/bin/env python3
"""Verifies a secrets-core EdDSA access token with PyJWT, from a JWKS alone.

What another service does: it holds the JWK Set the host publishes
(`Vault::jwks`, `JwtSigner::jwks`) and nothing else, no master key, no
secrets-core code. It picks the key by the token's `kid` (`jwt.PyJWKSet`, no
network: `PyJWKClient` is not used), verifies the signature with the
algorithm pinned to EdDSA, and checks `exp`, `nbf`, `iat`, `iss` and `aud`.

Input, either
  - argv:  pyjwt_verify.py JWKS_FILE TOKEN ISSUER AUDIENCE
  - stdin: one JSON object {"jwks": <JWK Set object or its JSON text>,
           "token": "...", "issuer": "...", "audience": "...",
           "expect": {claims that must be present with these values}}
           (when run with no argument, or with the single argument `-`).

Output: the verified claims as JSON on stdout.

Exit status: 0 verified (and every `expect` claim matched); 1 refused (bad
signature, unknown kid, expired, wrong issuer, a claim not as expected...);
2 usage; 77 PyJWT or its `cryptography` backend is not importable (the
caller decides whether that is a skip or a failure).

Needs: PyJWT >= 2.4 (OKP keys in PyJWKSet) with `cryptography`.
"""

import json
import sys

SKIP = 77


def fail(message: str, status: int = 1):
    print(f"pyjwt_verify: {message}", file=sys.stderr)
    sys.exit(status)


def main() -> None:
    try:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: F401
    except ImportError as e:
        fail(f"PyJWT with cryptography is not importable ({e}); pip install PyJWT cryptography", SKIP)

    args = sys.argv[1:]
    if args in ([], ["-"]):
        try:
            request = json.load(sys.stdin)
            jwks = request["jwks"]
            token = request["token"]
            issuer = request["issuer"]
            audience = request["audience"]
            expect = request.get("expect", {})
        except (ValueError, KeyError, TypeError) as e:
            fail(f"bad request on stdin: {e!r}", 2)
    elif len(args) == 4:
        path, token, issuer, audience = args
        try:
            with open(path, encoding="utf-8") as f:
                jwks = f.read()
        except OSError as e:
            fail(f"cannot read {path}: {e}", 2)
        expect = {}
    else:
        fail("usage: pyjwt_verify.py [JWKS_FILE TOKEN ISSUER AUDIENCE | - < request.json]", 2)

    if isinstance(jwks, str):
        try:
            jwks = json.loads(jwks)
        except ValueError as e:
            fail(f"the JWKS is not JSON: {e}", 2)

    try:
        key_set = jwt.PyJWKSet.from_dict(jwks)
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        if not isinstance(kid, str):
            fail("the token has no kid")
        try:
            key = key_set[kid]
        except KeyError:
            fail(f"no key with kid {kid!r} in the JWKS")
        claims = jwt.decode(
            token,
            key=key.key,
            # Pinned: never taken from the token's header.
            algorithms=["EdDSA"],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]},
        )
    except jwt.PyJWTError as e:
        fail(f"refused: {type(e).__name__}: {e}")

    for name, value in expect.items():
        if claims.get(name) != value:
            fail(f"claim {name!r} is {claims.get(name)!r}, expected {value!r}")

    print(json.dumps(claims, sort_keys=True))


if __name__ == "__main__":
    main()
