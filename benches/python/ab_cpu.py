"""The three cases of issue 12 still argued over (webhook verify+parse,
HS256 validation, seal 1 KiB), measured for a shared, loaded machine:
ours and the peers in *interleaved* batches, each timed in CPU time
(`time.process_time`), so that a neighbour's build landing on one side's
batches moves neither side alone and time spent descheduled is not
counted. bench.py (wall clock, one side after the other) stays the
reference; this is the cross-check.

    benches/python/run.sh                           # once: installs the peers
    target/python-test-venv/bin/python benches/python/ab_cpu.py [wh] [jwt] [seal]

Prints, per case, the median CPU time per call of each side over 21
interleaved batches and its ratio to the peer (higher: ours faster), with
the pieces each is made of beside it (os.urandom(12) alone, AESGCM.encrypt
alone, json.loads alone, a no-op native call).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict

import secrets_core as sc


def cpu_per_call(fns: Dict[str, Callable[[], Any]], number: int, rounds: int = 21) -> Dict[str, float]:
    for f in fns.values():
        f()
    res: Dict[str, list] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t = time.process_time()
            for _ in range(number):
                f()
            res[k].append((time.process_time() - t) / number)
    return {k: statistics.median(v) for k, v in res.items()}


def show(title: str, r: Dict[str, float], base: str) -> None:
    parts = [f"{k} {v * 1e6:.2f} µs" + ("" if k == base else f" ({r[base] / v:.2f}x)") for k, v in r.items()]
    print(f"{title:<6} " + "   ".join(parts), flush=True)


def main() -> None:
    which = sys.argv[1:] or ["wh", "jwt", "seal"]
    print(f"secrets_core {sc.__version__}, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}", flush=True)
    if "wh" in which:
        from standardwebhooks.webhooks import Webhook as SwWebhook
        from svix.webhooks import Webhook as SvixWebhook

        secret = sc.Webhook.generate_secret()
        head = json.dumps({"type": "invoice.paid", "data": ""}).encode()
        payload = json.dumps({"type": "invoice.paid", "data": "x" * (1024 - len(head))}).encode()
        ours = sc.Webhook(secret)
        headers = dict(ours.sign_headers("msg_bench", int(time.time()), payload))
        sw, sv = SwWebhook(secret), SvixWebhook(secret)
        # standardwebhooks' verify parses (ours: verify_json); svix 2.9.1's
        # does not and returns None (ours: verify).
        assert ours.verify_json(payload, headers) == sw.verify(payload, headers)
        assert sv.verify(payload, headers) is None
        r = cpu_per_call(
            {
                "standardwebhooks": lambda: sw.verify(payload, headers),
                "svix": lambda: sv.verify(payload, headers),
                "verify_json": lambda: ours.verify_json(payload, headers),
                "verify": lambda: ours.verify(payload, headers),
                "json.loads": lambda: json.loads(payload),
                "no-op call": ours.__repr__,
            },
            2000,
        )
        show("wh", r, "standardwebhooks")
        print(f"       verify (no parse) against svix (no parse): {r['svix'] / r['verify']:.2f}x", flush=True)
    if "jwt" in which:
        import jwt as pyjwt

        ring = sc.KeyRing.from_base64(sc.generate_master_key())
        hs = sc.JwtSigner(ring)
        user = "0190d9a0-0000-7000-8000-000000000001"
        token = hs.issue(user, sc.DEFAULT_TENANT, "developer", ["apps:read"])
        claims = hs.validate(token)
        key = os.urandom(32)
        theirs = pyjwt.encode(dict(claims), key, algorithm="HS256", headers={"typ": "at+jwt"})
        opts: Dict[str, Any] = dict(
            algorithms=["HS256"], audience=claims["aud"], issuer=claims["iss"], options={"require": ["exp", "iat", "nbf", "sub"]}
        )
        assert pyjwt.decode(theirs, key, **opts)["sub"] == user
        r = cpu_per_call({"PyJWT": lambda: pyjwt.decode(theirs, key, **opts), "validate": lambda: hs.validate(token)}, 2000)
        show("jwt", r, "PyJWT")
    if "seal" in which:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        ring = sc.KeyRing.from_base64(sc.generate_master_key())
        aes = AESGCM(AESGCM.generate_key(bit_length=256))
        data = os.urandom(1024)
        zero = bytes(12)

        def theirs_seal() -> bytes:
            nonce = os.urandom(12)
            return nonce + aes.encrypt(nonce, data, None)

        r = cpu_per_call(
            {
                "AESGCM+urandom": theirs_seal,
                "seal": lambda: ring.seal(data),
                "os.urandom(12)": lambda: os.urandom(12),
                "AESGCM.encrypt": lambda: aes.encrypt(zero, data, None),
            },
            5000,
        )
        show("seal", r, "AESGCM+urandom")


if __name__ == "__main__":
    main()
