#!/usr/bin/env python3
"""Independent implementation of Standard Webhooks `v1a` (Ed25519), written
from docs/FORMATS.md ("Webhooks v1a") and the Standard Webhooks specification
alone, with Python `cryptography` (OpenSSL's Ed25519) for the signatures and
`base64` for the encodings. It writes standard_webhooks_v1a_vectors.json,
which core/tests/webhook/vectors.rs (and core/src/webhook/tests.rs for the
raw RFC 8032 cases) feed to the Rust code.

Run: python3 core/tests/data/make_webhook_v1a_vectors.py > core/tests/data/standard_webhooks_v1a_vectors.json

Every signature is computed here, and checked against the published values
where there is one (RFC 8032 section 7.1 tests 1-3; the Go library's signing
test), so a mistake in this script fails here, not in the Rust tests.
"""

import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

# The order of the Ed25519 base point (RFC 8032 section 5.1).
L = 2**252 + 27742317777372353535851937790883648493


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def public_of(seed: bytes) -> bytes:
    return (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def sign(seed: bytes, message: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def verifies(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        return True
    except InvalidSignature:
        return False


def signed_content(msg_id: str, timestamp: int, payload: str) -> bytes:
    # FORMATS.md: id "." timestamp "." payload, raw bytes, nothing escaped.
    return f"{msg_id}.{timestamp}.".encode("utf-8") + payload.encode("utf-8")


# --- RFC 8032 section 7.1, tests 1 to 3 (published; checked here) ----------

RFC8032 = [
    {
        "name": "RFC 8032 7.1 TEST 1",
        "secret_key_hex": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "public_key_hex": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "message_hex": "",
        "signature_hex": "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    },
    {
        "name": "RFC 8032 7.1 TEST 2",
        "secret_key_hex": "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "public_key_hex": "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "message_hex": "72",
        "signature_hex": "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    },
    {
        "name": "RFC 8032 7.1 TEST 3",
        "secret_key_hex": "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "public_key_hex": "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "message_hex": "af82",
        "signature_hex": "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    },
]
for case in RFC8032:
    seed = bytes.fromhex(case["secret_key_hex"])
    message = bytes.fromhex(case["message_hex"])
    assert public_of(seed).hex() == case["public_key_hex"], case["name"]
    assert sign(seed, message).hex() == case["signature_hex"], case["name"]
    case["source"] = "https://www.rfc-editor.org/rfc/rfc8032#section-7.1"


# --- Standard Webhooks v1a signing --------------------------------------------

GO_SEED = base64.b64decode("VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=")
GO_SIGNATURE = (
    "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
)


def seed_of(label: str) -> bytes:
    # Deterministic test seeds: never use a derived seed for real keys.
    return hashlib.sha256(b"secrets-core v1a vector seed " + label.encode()).digest()


sign_cases = []


def sign_case(name, source, seed, msg_id, timestamp, payload):
    sig = sign(seed, signed_content(msg_id, timestamp, payload))
    sign_cases.append(
        {
            "name": name,
            "source": source,
            "signing_key": "whsk_" + b64(seed),
            "public_key": "whpk_" + b64(public_of(seed)),
            "msg_id": msg_id,
            "timestamp": timestamp,
            "payload": payload,
            "signature": "v1a," + b64(sig),
        }
    )
    return sign_cases[-1]


go = sign_case(
    "the Go library's signing test",
    "github.com/standard-webhooks/standard-webhooks libraries/go/webhook_asymmetric_test.go "
    "(TestAsymmetricWebhookSign), recomputed here",
    GO_SEED,
    "msg_p5jXN8AQM9LWM0D4loKWxJek",
    1614265330,
    '{"test": 2432232314}',
)
assert go["signature"] == GO_SIGNATURE, go["signature"]

HERE = "computed by this script (Python cryptography)"
sign_case(
    "the specification's example message",
    HERE,
    seed_of("spec"),
    "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
    1674087231,
    '{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1f81eb52-5198-4599-803e-771906343485"}}',
)
sign_case("empty payload", HERE, seed_of("empty"), "msg_1", 0, "")
sign_case(
    "non-ASCII payload, dots and newlines in it",
    HERE,
    seed_of("unicode"),
    "evt-Ωmega",
    1700000000,
    'caf\u00e9.\n{"a":"b.c"}\n',
)
sign_case("longest id", HERE, seed_of("long id"), "m" * 255, 99999999999, "{}")
sign_case(
    "RFC 8032 TEST 1 key",
    HERE,
    bytes.fromhex(RFC8032[0]["secret_key_hex"]),
    "msg_rfc",
    1750000000,
    '{"k":1}',
)

# Two keys (a rotation): one entry per key, in order.
rot_old, rot_new = seed_of("rotation old"), seed_of("rotation new")
rot_content = signed_content("msg_rotation", 1750000000, '{"rotating":true}')
rotation = {
    "name": "two keys during a rotation",
    "source": HERE,
    "signing_keys": ["whsk_" + b64(rot_new), "whsk_" + b64(rot_old)],
    "public_keys": ["whpk_" + b64(public_of(rot_new)), "whpk_" + b64(public_of(rot_old))],
    "msg_id": "msg_rotation",
    "timestamp": 1750000000,
    "payload": '{"rotating":true}',
    "signature": " ".join(
        "v1a," + b64(sign(s, rot_content)) for s in (rot_new, rot_old)
    ),
}


# --- Verification: what a receiver holding the public key must decide ---------

verify_cases = []
vseed = seed_of("verify")
vpub = public_of(vseed)
V_ID, V_TS, V_PAYLOAD = "msg_verify", 1750000000, '{"amount":100}'
vsig = sign(vseed, signed_content(V_ID, V_TS, V_PAYLOAD))
hmac_sig = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="


def verify_case(name, signature_header, expect, payload=V_PAYLOAD, now=V_TS, public=vpub):
    verify_cases.append(
        {
            "name": name,
            "public_key": "whpk_" + b64(public),
            "headers": [
                ["webhook-id", V_ID],
                ["webhook-timestamp", str(V_TS)],
                ["webhook-signature", signature_header],
            ],
            "payload": payload,
            "now": now,
            "expect": expect,
        }
    )


def flip(sig: bytes, i: int) -> bytes:
    b = bytearray(sig)
    b[i] ^= 0x01
    return bytes(b)


good = "v1a," + b64(vsig)
assert verifies(vpub, signed_content(V_ID, V_TS, V_PAYLOAD), vsig)
verify_case("valid", good, "ok")
verify_case("valid, among v1 and unknown versions", f"{hmac_sig} v2,abc {good}", "ok")
verify_case("valid, at the tolerance", good, "ok", now=V_TS + 300)
verify_case("stale", good, "timestamp too old", now=V_TS + 301)
verify_case("tampered payload", good, "no matching signature", payload='{"amount":900}')
other = seed_of("other key")
verify_case("another key's public key", good, "no matching signature", public=public_of(other))
for i, part in ((0, "R"), (40, "S")):
    bad = flip(vsig, i)
    assert not verifies(vpub, signed_content(V_ID, V_TS, V_PAYLOAD), bad)
    verify_case(f"one bit of {part} flipped", "v1a," + b64(bad), "no matching signature")
# Malleability: S + L is the same signature in the group, a different
# encoding; RFC 8032 5.1.7 requires S < L, and OpenSSL refuses it too.
r, s = vsig[:32], int.from_bytes(vsig[32:], "little")
malleable = r + (s + L).to_bytes(32, "little")
assert not verifies(vpub, signed_content(V_ID, V_TS, V_PAYLOAD), malleable)
verify_case("S + L (non-canonical S)", "v1a," + b64(malleable), "no matching signature")
verify_case("truncated signature", "v1a," + b64(vsig[:63]), "no matching signature")
verify_case("unpadded base64", "v1a," + b64(vsig).rstrip("="), "no matching signature")
url_safe = base64.urlsafe_b64encode(vsig).decode()
assert url_safe != b64(vsig), "pick a seed whose signature has + or / in its base64"
verify_case("URL-safe base64", "v1a," + url_safe, "no matching signature")
verify_case(
    "an HMAC signature only",
    hmac_sig,
    "no supported signature (webhook-signature has no `v1a` entry)",
)
verify_case(
    "the v1a signature labelled v1",
    "v1," + b64(vsig),
    "no supported signature (webhook-signature has no `v1a` entry)",
)
verify_case("malformed entry", "v1a", "malformed webhook-signature header")

# Public keys a receiver must refuse: small-order points (any signature of
# the right shape could verify under them) and non-canonical encodings. The
# orders are checked here with textbook Edwards arithmetic (RFC 8032 5.1).
P = 2**255 - 19
D = (-121665 * pow(121666, P - 2, P)) % P


def decode_point(b: bytes):
    y = int.from_bytes(b, "little") & ((1 << 255) - 1)
    sign_bit = b[31] >> 7
    assert y < P
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * pow(2, (P - 1) // 4, P) % P
    assert (x * x - x2) % P == 0, "not a point"
    if x & 1 != sign_bit:
        x = (-x) % P
    return (x, y)


def add(a, b):
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P)


def order(point) -> int:
    acc, n = point, 1
    while acc != (0, 1):
        acc, n = add(acc, point), n + 1
        assert n <= 8, "not of small order"
    return n


SMALL = {
    1: bytes([1]) + bytes(31),
    2: bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    4: bytes(32),
    8: bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
}
for n, encoded in SMALL.items():
    assert order(decode_point(encoded)) == n, n
bad_public_keys = [
    {"name": f"small-order point (order {n})", "public_key": "whpk_" + b64(encoded)}
    for n, encoded in SMALL.items()
] + [
    {"name": "y not below p (non-canonical)", "public_key": "whpk_" + b64((P + 1).to_bytes(32, "little"))},
    {"name": "31 bytes", "public_key": "whpk_" + b64(vpub[:31])},
    {"name": "a whsk_ signing key", "public_key": "whsk_" + b64(vseed)},
    {"name": "no prefix", "public_key": b64(vpub)},
]

doc = {
    "description": "Standard Webhooks v1a (Ed25519) vectors. `rfc8032`: raw Ed25519 (seed, public key, message, "
    "signature). `sign`: the `whsk_` key signing `msg_id`.`timestamp`.`payload` (UTF-8) gives `signature`, "
    "and `public_key` is its `whpk_`. `rotation`: two keys, one entry each, in order. `verify`: a receiver "
    "holding `public_key` at time `now` (tolerance 5 minutes) gets `expect`: `ok` or the start of the "
    "Error::Webhook reason secrets-core returns. `bad_public_keys`: refused by WebhookPublicKey::parse.",
    "source": "RFC 8032 section 7.1 (tests 1-3); the Standard Webhooks specification and its Go library's "
    "signing test; the rest computed by an independent implementation (this generator).",
    "generator": "core/tests/data/make_webhook_v1a_vectors.py (Python cryptography "
    + __import__("cryptography").__version__
    + ")",
    "rfc8032": RFC8032,
    "sign": sign_cases,
    "rotation": rotation,
    "verify": verify_cases,
    "bad_public_keys": bad_public_keys,
}
json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
sys.stdout.write("\n")
