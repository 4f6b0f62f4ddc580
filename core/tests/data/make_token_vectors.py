#!/usr/bin/env python3
"""Writes token_vectors.json: API tokens built from the format description in
core/src/token.rs (module docs) by an independent implementation, using only
Python's standard library (zlib.crc32 for the checksum, hashlib.sha256).

Run: python3 core/tests/data/make_token_vectors.py > core/tests/data/token_vectors.json
"""

import hashlib
import json
import random
import sys
import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
assert len(ALPHABET) == 62


def base62_6(n: int) -> str:
    assert 0 <= n < 2**32
    return "".join(ALPHABET[n // 62**i % 62] for i in range(5, -1, -1))


def make(prefix: str, rnd: str, name: str) -> dict:
    assert len(rnd) == 30 and all(c in ALPHABET for c in rnd)
    body = f"{prefix}_{rnd}"
    crc = zlib.crc32(body.encode("ascii"))
    token = body + base62_6(crc)
    return {
        "name": name,
        "prefix": prefix,
        "random": rnd,
        "body": body,
        "crc32": crc,
        "crc32_hex": f"{crc:08x}",
        "checksum": base62_6(crc),
        "token": token,
        "sha256_hex": hashlib.sha256(token.encode("ascii")).hexdigest(),
        "display_prefix": f"{prefix}_{rnd[:4]}",
    }


rng = random.Random(20240601)


def rand30() -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(30))


valid = [
    make("scp", "0" * 30, "api, all-zero random part"),
    make("scp", "z" * 30, "api, all-z random part"),
    make("scp", "0123456789ABCDEFGHIJKLMNOPQRST", "api, counting"),
    make("sca", rand30(), "agent"),
    make("scr", rand30(), "refresh"),
    make("ab", rand30(), "shortest prefix"),
    make("abcdefghij", rand30(), "longest prefix"),
    make("acme2", rand30(), "host prefix with a digit"),
]

# Checksums with leading zero digits (CRC below 62^5 and below 62^4), found by
# a deterministic search, to pin the zero padding.
for limit, label in ((62**5, "one leading zero digit"), (62**4, "two leading zero digits")):
    while True:
        r = rand30()
        if zlib.crc32(f"scp_{r}".encode()) < limit:
            v = make("scp", r, f"api, checksum with {label}")
            assert v["checksum"].startswith("0" * (1 if limit == 62**5 else 2))
            valid.append(v)
            break

base = valid[2]["token"]
swap_last = base[:-1] + ("0" if base[-1] != "0" else "1")
invalid = [
    {"name": "last checksum digit changed", "token": swap_last, "format": "scp", "reason": "bad checksum"},
    {"name": "one random digit changed", "token": base[:10] + ("x" if base[10] != "x" else "y") + base[11:], "format": "scp", "reason": "bad checksum"},
    {"name": "two random digits swapped", "token": base[:4] + base[5] + base[4] + base[6:], "format": "scp", "reason": "bad checksum"},
    {"name": "valid token of another format", "token": valid[3]["token"], "format": "scp", "reason": "wrong prefix"},
    {"name": "prefix changed, rest kept", "token": "sca" + base[3:], "format": "sca", "reason": "bad checksum"},
    {"name": "one character short", "token": base[:-1], "format": "scp", "reason": "malformed"},
    {"name": "one character long", "token": base + "0", "format": "scp", "reason": "malformed"},
    {"name": "uppercase prefix", "token": "SCP" + base[3:], "format": "scp", "reason": "malformed"},
    {"name": "dash instead of underscore", "token": "scp-" + base[4:], "format": "scp", "reason": "malformed"},
    {"name": "non-base62 character", "token": base[:20] + "+" + base[21:], "format": "scp", "reason": "malformed"},
    {"name": "non-ASCII character of the same byte length", "token": base[:20] + "\u00e9" + base[22:], "format": "scp", "reason": "malformed"},
    {"name": "trailing newline", "token": base + "\n", "format": "scp", "reason": "malformed"},
    {"name": "empty", "token": "", "format": "scp", "reason": "malformed"},
]

doc = {
    "description": "API tokens `<prefix>_<30 base62><6 base62 of CRC32>` (format in core/src/token.rs module docs). "
    "valid: each token parses under TokenFormat::new(prefix), with sha256_hex as its hash and display_prefix; "
    "invalid: TokenFormat::new(format).parse(token) fails with InvalidToken { reason }.",
    "source": "computed independently with Python 3.11 standard library: zlib.crc32 (CRC-32/IEEE) of the ASCII "
    "body `<prefix>_<random>`, written as 6 base62 digits (0-9A-Za-z), most significant first, zero-padded; "
    "hashlib.sha256 of the whole token; random parts from random.Random(20240601) (not secret).",
    "generator": "core/tests/data/make_token_vectors.py",
    "alphabet": ALPHABET,
    "valid": valid,
    "invalid": invalid,
}
json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
sys.stdout.write("\n")
