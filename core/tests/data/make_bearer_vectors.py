#!/usr/bin/env python3
"""Writes bearer_vectors.json: how a bearer value is parsed and routed
(docs/FORMATS.md, "Bearer values"), computed by this independent
implementation of that section, not by the Rust code.

Run from this directory: python3 make_bearer_vectors.py > bearer_vectors.json
"""
import json
import random
import string

MAX_BEARER_LEN = 8 * 1024 + 64
ALPHABET = string.ascii_letters + string.digits + "_-."
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def is_prefix(p):
    return (2 <= len(p) <= 10 and p[0] in string.ascii_lowercase
            and all(c in string.ascii_lowercase + string.digits for c in p))


def token_shape(t):
    """prefix "_" 36 base62: the shape every token has."""
    if not 39 <= len(t) <= 47 or "_" not in t:
        return None
    prefix, rest = t.split("_", 1)
    if not is_prefix(prefix) or len(rest) != 36 or not all(c in BASE62 for c in rest):
        return None
    return prefix


def route(value, api, agent, refresh):
    raw = value.encode("utf-8")
    if len(raw) > MAX_BEARER_LEN:
        return {"reject": "too_large"}
    cred = value
    if raw[:6].lower() == b"bearer" and raw[6:7] == b" ":
        cred = value[6:].lstrip(" ")
    if not cred or not all(c in ALPHABET for c in cred):
        return {"reject": "malformed"}
    if "." in cred:
        return {"kind": "access_token"}
    prefix = cred.split("_", 1)[0] if "_" in cred else ""
    if prefix == api:
        return {"kind": "api_token"}
    if prefix == agent:
        return {"kind": "agent_token"}
    if prefix == refresh:
        return {"reject": "wrong_prefix"}
    return {"reject": "wrong_prefix" if token_shape(cred) else "malformed"}


def main():
    rng = random.Random(20261201)
    body = lambda: "".join(rng.choice(BASE62) for _ in range(36))
    jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    default = ("scp", "sca", "scr")
    values = []
    api, agent, refresh, other = (f"{p}_{body()}" for p in ("scp", "sca", "scr", "ghp"))
    for cred in (api, agent, refresh, other, jwt):
        values += [cred, f"Bearer {cred}", f"bearer {cred}", f"BEARER {cred}",
                   f"bEaReR   {cred}", f"Bearer\t{cred}", f"Bearer{cred}",
                   f" Bearer {cred}", f"Bearer {cred} ", f"Bearer Bearer {cred}",
                   f"Basic {cred}", f"Bearer {cred}\r\n", f"Bearer {cred}\x00",
                   f"Bearer \u00a0{cred}", f"Bearer {cred[:-1]}\u00e9"]
    values += ["", " ", "Bearer", "Bearer ", "Bearer    ", "\x00", "scp", "scp_",
               "x_y", "SCP_" + body(), "scp_" + body()[:-1] + "+", "a.b",
               "eyJ.eyJ.sig=", "scp_" + body() + "0"]
    cases = [{"value": v, "prefixes": list(default)} for v in values]
    # A prefix that begins another.
    short = ("sc", "sca", "scr")
    for cred in (f"sc_{body()}", f"sca_{body()}", f"scb_{body()}"):
        cases.append({"value": f"Bearer {cred}", "prefixes": list(short)})
    # Size: the limit, one byte over, and far over, with any filler.
    pads = [("Bearer ", "a", MAX_BEARER_LEN - 7), ("Bearer ", "a", MAX_BEARER_LEN - 6),
            ("Bearer ", "\u00e9", MAX_BEARER_LEN // 2), ("", "\x00", MAX_BEARER_LEN + 1),
            ("scp_", "A", 1 << 20), ("Bearer ", " ", MAX_BEARER_LEN)]
    for value, char, times in pads:
        cases.append({"value": value, "pad": {"char": char, "times": times},
                      "prefixes": list(default)})
    for c in cases:
        full = c["value"] + (c["pad"]["char"] * c["pad"]["times"] if "pad" in c else "")
        c["expect"] = route(full, *c["prefixes"])
    out = {
        "description": "Bearer values as Vault::authenticate_bearer parses and routes them "
                       "(docs/FORMATS.md, \"Bearer values\"). value, then pad.char repeated "
                       "pad.times if present; prefixes are [api, agent, refresh]; expect is "
                       "the kind routed to, or the TokenRejection code refused with.",
        "source": "computed by core/tests/data/make_bearer_vectors.py, an independent "
                  "Python implementation of that section (no published vectors exist); "
                  "tokens drawn from random.Random(20261201), checksums not computed "
                  "(routing never reads them).",
        "max_bearer_len": MAX_BEARER_LEN,
        "cases": cases,
    }
    print(json.dumps(out, indent=1, ensure_ascii=True))


main()
