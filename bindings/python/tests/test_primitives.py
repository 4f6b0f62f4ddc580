"""The primitives without a Vault, and interop with the packages a Python
user would otherwise pick: `standardwebhooks`, pyca `bcrypt`, RFC 7636."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timezone

import bcrypt
import pytest
from standardwebhooks.webhooks import Webhook as TheirWebhook
from standardwebhooks.webhooks import WebhookVerificationError

import secrets_core as sc


def test_pkce_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert sc.pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pkce_verifier_is_fresh_and_valid() -> None:
    a, b = sc.pkce_verifier(), sc.pkce_verifier()
    assert a != b and 43 <= len(a) <= 128
    digest = hashlib.sha256(a.encode()).digest()
    assert sc.pkce_challenge(a) == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    with pytest.raises(sc.InvalidInput):
        sc.pkce_challenge("too-short")


def test_our_standard_webhooks_verify_in_theirs_and_theirs_in_ours() -> None:
    secret = sc.Webhook.generate_secret()
    assert secret.startswith("whsec_")
    ours, theirs = sc.Webhook(secret), TheirWebhook(secret)
    payload = json.dumps({"type": "invoice.paid", "n": 1}).encode()
    now = datetime.now(timezone.utc)
    ts = int(now.timestamp())

    # Ours signs, theirs verifies.
    headers = dict(ours.sign_headers("msg_ours", ts, payload))
    assert theirs.verify(payload, headers) == {"type": "invoice.paid", "n": 1}
    assert ours.sign("msg_ours", now, payload) == headers["webhook-signature"]

    # Theirs signs, ours verifies.
    sig = theirs.sign("msg_theirs", now, payload.decode())
    msg = ours.verify(payload, {"webhook-id": "msg_theirs", "webhook-timestamp": str(ts), "webhook-signature": sig})
    assert msg == {"id": "msg_theirs", "timestamp": ts}

    # Both refuse a tampered payload.
    tampered = payload.replace(b"1", b"2")
    with pytest.raises(WebhookVerificationError):
        theirs.verify(tampered, headers)
    with pytest.raises(sc.WebhookRejected):
        ours.verify(tampered, headers)


def test_verify_json_returns_what_json_loads_does() -> None:
    # The peers' `verify` shape: the verified payload, parsed. Ours builds
    # the common shapes directly and leaves the rest to json.loads: either
    # way the result must be json.loads' own, value and type.
    secret = sc.Webhook.generate_secret()
    ours, theirs = sc.Webhook(secret), TheirWebhook(secret)
    ts = int(time.time())
    payloads = [
        b'{"type":"invoice.paid","data":{"id":"in_1","amount":1200,"paid":true,"note":null,"tags":["a","b"]}}',
        b'{"a":1,"a":2,"b":[],"c":{}}',  # a repeated key: first place, last value
        b'{"big":18446744073709551615,"neg":-9223372036854775808,"bigger":18446744073709551616,"minus":-0}',
        b'{"f":0.1,"e":1e400,"g":-1.5e-3,"i":1.0}',
        b'{"esc":"\\u00e9\\n\\"\\/","u":"\xc3\xa9\xe2\x82\xac","pair":"\\ud83d\\ude00"}',
        b'{"lone":"\\ud800"}',
        b'[NaN, Infinity, -Infinity]',
        b'\xef\xbb\xbf{"bom":1}',
        "[1, 2]".encode("utf-16"),
        b" 42 ",
        b'"text"',
        b"null",
        b"[" * 200 + b"]" * 200,
    ]
    for payload in payloads:
        headers = dict(ours.sign_headers("msg_1", ts, payload))
        got = ours.verify_json(payload, headers)
        want = json.loads(payload)
        assert repr(got) == repr(want), payload
        assert [type(v) for v in (got.values() if isinstance(got, dict) else [got])] == [
            type(v) for v in (want.values() if isinstance(want, dict) else [want])
        ], payload
    payload = payloads[0]
    headers = dict(ours.sign_headers("msg_1", ts, payload))
    assert ours.verify_json(payload, headers) == theirs.verify(payload, headers)
    assert ours.verify_json(bytearray(payload), headers) == ours.verify_json(payload.decode(), headers)
    # Refused before anything is parsed; not JSON: json.loads' own error.
    with pytest.raises(sc.WebhookRejected):
        ours.verify_json(payload.replace(b"1200", b"1201"), headers)
    for bad in (b"", b"{", b'{"a":1} x', b"\xff"):
        with pytest.raises(ValueError):
            ours.verify_json(bad, dict(ours.sign_headers("msg_1", ts, bad)))


def test_webhook_refuses_stale_and_missing_headers() -> None:
    hook = sc.Webhook(sc.Webhook.generate_secret())
    old = int(time.time()) - 3600
    headers = hook.sign_headers("msg_1", old, b"{}")
    with pytest.raises(sc.WebhookRejected):
        hook.verify(b"{}", headers)
    assert hook.verify(b"{}", headers, now=old)["id"] == "msg_1"
    with pytest.raises(sc.WebhookRejected):
        hook.verify(b"{}", {"webhook-id": "msg_1"})
    assert "[REDACTED]" in repr(hook)


def test_github_signatures_interop_with_hmac() -> None:
    secret, payload = "a-github-webhook-secret", b'{"action":"opened"}'
    expected = "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    assert sc.sign_github(payload, secret) == expected
    sc.verify_github(expected, payload, secret)
    with pytest.raises(sc.WebhookRejected):
        sc.verify_github(expected, payload + b" ", secret)


def test_our_bcrypt_hashes_verify_in_pyca_bcrypt_and_theirs_in_ours() -> None:
    pw = "correct horse battery staple"
    ours = sc.hash_password(pw, cost=10)
    assert ours.startswith("$2")
    assert bcrypt.checkpw(pw.encode(), ours.encode())
    assert not bcrypt.checkpw(b"wrong", ours.encode())

    theirs = bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=10)).decode()
    assert sc.verify_password(pw, theirs)
    assert sc.verify_password(pw.encode(), theirs)  # bytes too
    assert not sc.verify_password("wrong", theirs)


def test_passwords_as_bytes_over_72_and_low_cost_are_refused() -> None:
    raw = b"\xff\xfe non-UTF-8 password"
    h = sc.hash_password(raw, cost=10)
    assert sc.verify_password(raw, h) and bcrypt.checkpw(raw, h.encode())
    with pytest.raises(sc.SecretsCoreError):
        sc.hash_password("x" * 73, cost=10)
    with pytest.raises(sc.InvalidInput):
        sc.hash_password("fine", cost=4)
    assert sc.needs_rehash(h, cost=12) and not sc.needs_rehash(h, cost=10)


def test_token_format_generate_check_and_scan() -> None:
    fmt = sc.TokenFormat("scp")
    token = fmt.generate()
    assert token.startswith("scp_") and fmt.prefix == "scp"
    display = fmt.check(token)
    assert token.startswith(display) and len(display) < len(token)
    bad = token[:-1] + ("a" if token[-1] != "a" else "b")
    with pytest.raises(sc.InvalidToken):
        fmt.check(bad)

    agent = sc.TokenFormat("sca").generate()
    text = f"héllo {token} and {bad} then {agent}."
    found = sc.scan(text)
    assert [f["prefix"] for f in found] == ["scp", "sca"]
    assert text[found[0]["start"] : found[0]["end"]] == token  # str indices, past a non-ASCII char
    assert text[found[1]["start"] : found[1]["end"]] == agent
    assert all(token not in json.dumps(f) for f in found)
    assert [f["prefix"] for f in fmt.scan(text)] == ["scp"]
    assert sc.scan(text, ["sca"])[0]["prefix"] == "sca"
    assert sc.token_hash(token) == hashlib.sha256(token.encode()).hexdigest()


def test_key_ring_seal_open_rewrap_and_context() -> None:
    key = sc.generate_master_key()
    ring = sc.KeyRing.from_base64(key)
    assert sc.KeyRing(base64.b64decode(key)).open(ring.seal(b"x")).expose_secret() == b"x"
    sealed = ring.seal(b"provider key", context=[b"tenant", "settings/stripe"])
    opened = ring.open(sealed, context=[b"tenant", "settings/stripe"])
    assert opened.expose_secret() == b"provider key" and len(opened) == 12
    assert "provider key" not in repr(opened) and "REDACTED" in repr(opened)
    assert opened == b"provider key" and opened != b"other"
    with pytest.raises(sc.DecryptionFailed):
        ring.open(sealed, context=b"another context")
    first = ring.active_key_id
    assert ring.rotate() != first
    rewrapped = ring.rewrap(sealed, context=[b"tenant", "settings/stripe"])
    assert rewrapped != sealed
    assert ring.open(rewrapped, context=[b"tenant", "settings/stripe"]).expose_secret() == b"provider key"
    # Another master key cannot open it.
    other = sc.KeyRing.from_base64(sc.generate_master_key())
    with pytest.raises(sc.SecretsCoreError):
        other.open(sealed, context=[b"tenant", "settings/stripe"])
    big = b"\x00" * 200_000
    assert ring.open(ring.seal(big)).expose_secret() == big
    # bytes are sealed in place; bytearray and str are copied first: all
    # three seal the same bytes.
    for value in (b"v\xc3\xa9", bytearray(b"v\xc3\xa9"), "v\u00e9", bytearray(200_000), "x" * 200_000):
        expect = value.encode() if isinstance(value, str) else bytes(value)
        assert ring.open(ring.seal(value, context="c"), context="c").expose_secret() == expect


def test_security_headers_and_cors() -> None:
    names = {n.lower() for n, _ in sc.security_headers()}
    assert {"strict-transport-security", "content-security-policy", "x-content-type-options"} <= names
    assert ("Cache-Control", "no-store") in sc.security_headers(no_store=True)

    cors = sc.Cors(["https://app.example"], allow_credentials=True, methods=["GET", "POST"], max_age=600)
    assert cors.is_allowed("https://app.example") and not cors.is_allowed("https://evil.example")
    simple = dict(cors.simple("https://app.example"))
    assert simple["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Access-Control-Allow-Origin" not in dict(cors.simple("https://evil.example"))
    ok, headers, refusal = cors.preflight("https://app.example", "POST")
    assert ok and refusal is None and dict(headers)["Access-Control-Allow-Origin"] == "https://app.example"
    ok, _, refusal = cors.preflight("https://app.example", "DELETE")
    assert not ok and refusal is not None and "DELETE" in refusal
    with pytest.raises(sc.InvalidInput):
        sc.Cors(["*"], allow_credentials=True)


def test_deploy_gate_evaluate() -> None:
    critical = [{"id": "CVE-2021-44228", "package": "log4j-core", "severity": "critical", "title": "Log4Shell"}]
    held = sc.evaluate_gate("hardened", critical, [])
    assert held["decision"] == "hold" and held["reasons"]
    clean = sc.evaluate_gate("hardened", [], [{"name": "dockerfile-user", "passed": True, "message": "ok"}])
    assert clean["decision"] == "proceed"
    with pytest.raises(sc.InvalidInput):
        sc.evaluate_gate("hardened", [{"id": "x"}], [])
    with pytest.raises(sc.InvalidInput):
        sc.evaluate_gate("no-such-profile", [], [])


def test_rbac_policy_decisions() -> None:
    policy = sc.Policy()
    assert "secrets:write" in policy.permissions() or policy.permissions()
    perms = policy.permissions()
    policy.register("reports:export", ["admin", "developer"])
    assert policy.decide("developer", "reports:export")
    assert not policy.decide("viewer", "reports:export")
    assert not policy.decide("admin", "no:such:permission")
    assert len(policy.permissions()) == len(perms) + 1
    with pytest.raises(sc.InvalidInput):
        policy.decide("superuser", "reports:export")


def test_jwt_signer_issue_and_validate() -> None:
    ring = sc.KeyRing.from_base64(sc.generate_master_key())
    signer = sc.JwtSigner(ring, issuer="acme", audience="api", ttl=60)
    user = "0190d9a0-0000-7000-8000-000000000001"
    token = signer.issue(user, sc.DEFAULT_TENANT, "developer", ["apps:read"])
    claims = signer.validate(token)
    assert claims["sub"] == user and claims["role"] == "developer" and claims["iss"] == "acme"
    assert claims["scopes"] == ["apps:read"]
    with pytest.raises(sc.InvalidToken):
        signer.validate(token, now=claims["exp"] + 3600)
    with pytest.raises(sc.InvalidToken):
        sc.JwtSigner(ring, issuer="other").validate(token)


def test_jwt_claims_have_the_core_s_serde_shape() -> None:
    # validate() builds the dict by hand (a hot path): it must stay the
    # claims' serde shape, which the Vault's JSON outputs use too.
    ring = sc.KeyRing.from_base64(sc.generate_master_key())
    signer = sc.JwtSigner(ring)
    user = "0190d9a0-0000-7000-8000-000000000001"
    claims = signer.validate(signer.issue(user, sc.DEFAULT_TENANT, "admin", ["a:b"], epoch=3))
    assert set(claims) == {"sub", "tid", "role", "scopes", "epoch", "jti", "iat", "nbf", "exp", "iss", "aud"}
    assert (claims["sub"], claims["tid"], claims["role"], claims["scopes"], claims["epoch"]) == (
        user,
        sc.DEFAULT_TENANT,
        "admin",
        ["a:b"],
        3,
    )
    assert claims["exp"] - claims["iat"] == 900 and claims["aud"] == "secrets-core"
    # Every role, and a configured issuer and audience, come back as issued.
    custom = sc.JwtSigner(ring, issuer="iss-\u00e9", audience="aud-x")
    for role in ("viewer", "developer", "admin"):
        c = custom.validate(custom.issue(user, sc.DEFAULT_TENANT, role))
        assert (c["role"], c["iss"], c["aud"], c["tid"]) == (role, "iss-\u00e9", "aud-x", sc.DEFAULT_TENANT)
