#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets added for issue 10 item 15.

Each seed is small: a valid input or a near miss. A seed named `ok_*` must
be accepted by its harness and one named `bad_*` refused; the replay test
(core/tests/fuzz_corpus.rs) checks both, so this file is also a table of
known answers. Values that need a MAC (row tags, a literal webhook
signature) are computed here with Python's own hmac, independently of the
Rust code, from the descriptions in docs/FORMATS.md.

Usage: python3 fuzz/seeds.py   (rewrites fuzz/corpus/<target>/ for the
targets below; the five older targets' corpora are not touched)
"""

import base64
import hashlib
import hmac
import json
import struct
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"


def write(target, seeds):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    for old in d.iterdir():
        old.unlink()
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode()
        (d / name).write_bytes(data)


def message(headers, body=b""):
    """The harness layout: `name: value` lines, a blank line, the body."""
    if isinstance(body, str):
        body = body.encode()
    head = "".join(f"{n}: {v}\n" for n, v in headers).encode()
    return head + b"\n" + body


# --- oauth_token_response ---------------------------------------------------

def j(obj):
    return json.dumps(obj, separators=(",", ":"))


write("oauth_token_response", {
    # RFC 6749 section 5.1, with its extension parameter.
    "ok_rfc6749_example": j({
        "access_token": "2YotnFZFEjr1zCsicMWpAA", "token_type": "example",
        "expires_in": 3600, "refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA",
        "example_parameter": "example_value"}),
    # GitHub: comma-separated scopes stay one entry.
    "ok_github": j({"access_token": "gho_16C7e42F292c6912E7710c838347Ae178B4a",
                    "scope": "repo,gist", "token_type": "bearer"}),
    "ok_google_id_token": j({
        "access_token": "ya29.a0AfH6SMBxExample", "expires_in": 3599,
        "scope": "openid https://www.googleapis.com/auth/drive.file",
        "token_type": "Bearer", "id_token": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}),
    "ok_expires_in_string": j({"access_token": "at-1", "token_type": "Bearer",
                               "expires_in": "3600"}),
    "ok_nulls_are_absent": j({"access_token": "at-1", "token_type": "Bearer",
                              "refresh_token": None, "scope": None, "expires_in": None}),
    "ok_empty_refresh_token": j({"access_token": "at-1", "token_type": "Bearer",
                                 "refresh_token": ""}),
    "ok_escapes": '{"access_token":"a\\"b\\\\c\\u0041","token_type":"Bearer","scope":"a:b  c"}',
    "ok_max_expires_in": j({"access_token": "at-1", "token_type": "Bearer",
                            "expires_in": 315360000}),
    # A sealed token set is also a token response (its extra members are
    # ignored): a seed for the sealed-JSON reader too.
    "ok_sealed_token_set": j({"v": 1, "token_type": "Bearer", "access_token": "at-1",
                              "refresh_token": "rt-1", "expires_at_ms": 1700000000000,
                              "scopes": ["repo", "read:org"]}),
    "bad_error_response": j({"error": "invalid_grant",
                             "error_description": "refresh token rt-sekrit-0123456789abcdef is invalid"}),
    "bad_duplicate_access_token": '{"access_token":"a","access_token":"b","token_type":"Bearer"}',
    "bad_duplicate_after_null": '{"access_token":null,"access_token":"b","token_type":"Bearer"}',
    "bad_negative_expires_in": j({"access_token": "at-1", "token_type": "Bearer", "expires_in": -1}),
    "bad_expires_in_over_limit": j({"access_token": "at-1", "token_type": "Bearer",
                                    "expires_in": 315360001}),
    "bad_fractional_expires_in": '{"access_token":"at-1","token_type":"Bearer","expires_in":3600.5}',
    "bad_control_in_token": '{"access_token":"at\\u0001-sekrit-token-value","token_type":"Bearer"}',
    "bad_missing_token_type": j({"access_token": "at-1"}),
    "bad_scope_backslash": j({"access_token": "at-1", "token_type": "Bearer", "scope": "a\\b"}),
    "bad_not_an_object": j(["access_token", "at-1"]),
    "bad_trailing_text": j({"access_token": "at-1", "token_type": "Bearer"}) + " x",
    # Unknown members are skipped without recursion: deep nesting is fine
    # there, and refused (at serde_json's limit of 128) in a known member.
    "ok_deep_unknown_member": '{"access_token":"at-1","token_type":"Bearer","x":' + "[" * 200 + "]" * 200 + "}",
    # Unknown members are skipped without decoding (as serde_json skips
    # ignored values): invalid UTF-8 or a lone surrogate there is not read.
    # The first is the input the fuzzer found (the harness assumed
    # otherwise).
    "ok_fuzz_invalid_utf8_in_unknown_member":
        b'{"v":1,"token_type":"Bearer","access_token":"atm1","refrs_at_ms":170000\n,'
        b'"s\'copes":["repo","re\xe1d:org"]}',
    "ok_lone_surrogate_in_unknown_member": '{"access_token":"at-1","token_type":"Bearer","x":"\\ud800"}',
    "bad_lone_surrogate_in_token": '{"access_token":"at-1\\ud800","token_type":"Bearer"}',
    "bad_deep_scope": '{"access_token":"at-1","token_type":"Bearer","scope":' + "[" * 200 + "]" * 200 + "}",
})

# --- endpoint_url -------------------------------------------------------------

write("endpoint_url", {
    "ok_https": "https://provider.example/oauth/authorize",
    "ok_existing_query": "https://accounts.example/o/oauth2/auth?prompt=consent&access_type=offline&",
    "ok_loopback_ipv4_port": "http://127.0.0.1:8080/callback",
    "ok_loopback_short_form": "http://127.1/cb",
    "ok_loopback_ipv6": "http://[::1]:3000/cb",
    "ok_localhost_upper": "HTTP://LOCALHOST:5173/cb",
    "ok_native_app": "com.example.app:/oauth2redirect",
    # The url crate reads the host evil.example (`\\` ends the authority),
    # Python's urllib app.example (after userinfo): no backslash anywhere.
    "bad_backslash_before_at": "https://evil.example\\@app.example/",
    "bad_backslash_in_path": "https://app.example/c\\b",
    "bad_backslash_native_app": "com.example.app:/c\\b",
    "ok_percent_encoded_backslash": "https://app.example/c%5Cb",
    "ok_percent_in_path": "https://hooks.example.com/in/%E2%82%AC?t=1",
    # Unpinned: refused as an endpoint (it would downgrade PKCE), accepted
    # as a redirect URI.
    "endpoint_sets_challenge_method": "https://provider.example/auth?code%5Fchallenge%5Fmethod=plain",
    "bad_http_remote": "http://provider.example/auth",
    "bad_localhost_suffix": "http://localhost.evil.example/cb",
    "bad_loopback_nip_io": "http://127.0.0.1.nip.io/cb",
    "bad_userinfo": "https://user@evil.example/",
    "bad_userinfo_localhost": "http://localhost@evil.example/",
    "bad_fragment": "https://app.example/cb#frag",
    "bad_javascript": "javascript:alert(1)//",
    "bad_data": "data:text/html,<script>alert(1)</script>",
    "bad_no_host": "https:///evil.example",
    "bad_tab_inside": "https://app.exa\tmple/cb",
    "bad_relative": "/oauth/callback",
    "bad_native_userinfo": "com.example.app://user@cb",
    # Found by the fuzzer: the text before the first `://` is not a scheme;
    # the parser reads `https` with a host before it.
    "bad_fuzz_scheme_with_slash": "https:/.://htt`://u54\\a%",
    "bad_scheme_before_host": "https:/evil.example/a://b",
})

# --- pkce_verifier ------------------------------------------------------------

UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
write("pkce_verifier", {
    "ok_rfc7636_appendix_b": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    "ok_min_43": "a" * 43,
    "ok_max_128": ("~._-" * 32),
    "ok_all_unreserved": UNRESERVED,
    "bad_42": "a" * 42,
    "bad_129": "a" * 129,
    "bad_plus": "a" * 42 + "+",
    "bad_space": "a" * 21 + " " + "a" * 21,
    "bad_non_ascii": "a" * 42 + "\u00e9",
    "bad_percent_escape": "a" * 40 + "%7E",
    "bad_trailing_newline": "a" * 43 + "\n",
    "bad_empty": "",
})

# --- cors_preflight -----------------------------------------------------------

def preflight(origin=None, method=None, headers=None, extra=()):
    lines = []
    if origin is not None:
        lines.append(("Origin", origin))
    if method is not None:
        lines.append(("Access-Control-Request-Method", method))
    if headers is not None:
        lines.append(("Access-Control-Request-Headers", headers))
    lines.extend(extra)
    return message(lines)


write("cors_preflight", {
    "ok_delete_with_headers": preflight("https://app.example.com", "DELETE", "content-type, authorization"),
    "ok_upper_case_default_port": preflight("HTTPS://APP.EXAMPLE.COM:443", "GET"),
    "ok_leading_zero_port": preflight("https://app.example.com:0443", "POST"),
    "ok_localhost_dev": preflight("http://localhost:5173", "POST", "X-Request-Id"),
    "ok_ipv6": preflight("https://[::1]:8443", "PATCH", " content-type ,, "),
    "ok_extension": preflight("chrome-extension://abcdefghijklmnop", "GET"),
    "bad_suffix": preflight("https://app.example.com.evil.com", "GET"),
    "bad_prefix": preflight("https://evil-app.example.com", "GET"),
    "bad_null": preflight("null", "GET"),
    "bad_wildcard": preflight("*", "GET"),
    "bad_other_scheme": preflight("http://app.example.com", "GET"),
    "bad_other_port": preflight("http://localhost:5174", "GET"),
    "bad_trailing_slash": preflight("https://app.example.com/", "GET"),
    "bad_carriage_return": preflight("https://app.example.com\r", "GET"),
    "bad_lowercase_patch": preflight("https://app.example.com", "patch"),
    "bad_header_not_allowed": preflight("https://app.example.com", "POST", "content-type, x-debug"),
    "bad_no_method": preflight("https://app.example.com"),
    "bad_no_origin": preflight(None, "GET"),
    # Unpinned: a configuration from the input (the fixed one refuses).
    "custom_allowlist": preflight("https://A.example:443", "PUT", "content-type", extra=[
        ("x-allow", "https://a.example http://localhost:3000 https://b.example:8443"),
        ("x-methods", "GET, PUT"), ("x-headers", "Content-Type"), ("x-credentials", "yes")]),
})

# --- webhook_headers ----------------------------------------------------------

SECRET_A = b"\x5a" * 32
NOW = 1700000000
PING = b'{"type":"ping","data":{"id":1}}'


def v1(secret, msg_id, ts, payload):
    mac = hmac.new(secret, f"{msg_id}.{ts}.".encode() + payload, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def webhook(msg_id="msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", ts=NOW, sig="$a", body=PING, names=None):
    names = names or ("webhook-id", "webhook-timestamp", "webhook-signature")
    lines = [(n, v) for n, v in zip(names, (msg_id, str(ts), sig)) if v is not None]
    return message(lines, body)


LITERAL = v1(SECRET_A, "msg_literal", NOW, PING)
write("webhook_headers", {
    "ok_secret_a": webhook(),
    "ok_secret_b": webhook(sig="v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= $b"),
    "ok_both_secrets": webhook(sig="$a $b"),
    "ok_beside_v1a": webhook(sig="v1a,bm90IGFuIGVkMjU1MTkgc2lnbmF0dXJl $a"),
    "ok_oldest_second": webhook(ts=NOW - 300),
    "ok_newest_second": webhook(ts=NOW + 300),
    "ok_header_case": webhook(names=("Webhook-Id", "WEBHOOK-TIMESTAMP", "Webhook-Signature")),
    "ok_empty_payload": webhook(body=b""),
    "ok_extra_spaces": webhook(sig=" $a  $b "),
    # Computed here with Python's hmac (secret 32 bytes of 0x5a).
    "ok_literal_signature": webhook(msg_id="msg_literal", sig=LITERAL),
    "bad_literal_other_payload": webhook(msg_id="msg_literal", sig=LITERAL, body=PING + b" "),
    "bad_stale": webhook(ts=NOW - 301),
    "bad_future": webhook(ts=NOW + 301),
    "bad_milliseconds": webhook(ts=NOW * 1000),
    "bad_leading_zero": webhook(ts="0" + str(NOW)),
    "bad_dot_in_id": webhook(msg_id="msg.1"),
    "bad_duplicate_signature": message([("webhook-id", "msg_1"), ("webhook-timestamp", str(NOW)),
                                        ("webhook-signature", "$a"), ("webhook-signature", "$a")], PING),
    "bad_missing_id": webhook(msg_id=None),
    # Not a signature (too short for one): refused by both schemes.
    "bad_only_garbage_v1a": webhook(sig="v1a,bm90IGFuIGVkMjU1MTkgc2lnbmF0dXJl"),
    # `$v1a`: the Ed25519 (`v1a`) entry under the harness's fixed key.
    "ok_only_v1a": webhook(sig="$v1a"),
    "ok_v1a_beside_v1": webhook(sig="$v1a $a"),
    "ok_v1a_beside_garbage_v1": webhook(sig="v1," + "A" * 43 + "= $v1a"),
    "ok_v1a_header_case": webhook(sig="$v1a", names=("Webhook-Id", "WEBHOOK-TIMESTAMP", "Webhook-Signature")),
    "ok_v1a_empty_payload": webhook(sig="$v1a", body=b""),
    "bad_v1a_stale": webhook(ts=NOW - 301, sig="$v1a"),
    "bad_v1a_inside_v1_entry": webhook(sig="v1,$v1a"),
    "bad_v1a_trailing_text": webhook(sig="$v1aA"),
    "bad_garbage_v1": webhook(sig="v1," + "A" * 43 + "="),
    "bad_empty_entry_value": webhook(sig="v1, $a"),
})

# --- webhook_secret -----------------------------------------------------------

def whsec(raw, pad=True):
    b64 = base64.b64encode(raw).decode()
    return "whsec_" + (b64 if pad else b64.rstrip("="))


write("webhook_secret", {
    # The Standard Webhooks specification's example secret.
    "ok_spec_example": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "ok_24_bytes": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    "ok_32_bytes_padded": whsec(bytes(range(32))),
    "ok_64_bytes": whsec(bytes(range(100, 164))),
    "ok_trailing_newline": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
    "bad_no_prefix": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "bad_missing_padding": whsec(bytes(range(32)), pad=False),
    "bad_trailing_bits": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr",
    "bad_url_safe": "whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(),
    "bad_16_bytes": whsec(bytes(16)),
    "bad_65_bytes": whsec(bytes(65)),
    "bad_prefix_only": "whsec_",
    "bad_github_style": "It's a Secret to Everybody",
    "bad_inner_space": "whsec_MfKQ9r8G KYqrTwjUPD8ILPZIo2LaLaSw",
    "bad_raw_32_bytes": bytes(range(200, 232)),
})

# --- github_signature ---------------------------------------------------------

GITHUB_SECRET = "It's a Secret to Everybody"
# GitHub's documentation ("Validating webhook deliveries").
GITHUB_EXAMPLE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
assert GITHUB_EXAMPLE == "sha256=" + hmac.new(
    GITHUB_SECRET.encode(), b"Hello, World!", hashlib.sha256).hexdigest()
SIG = "x-hub-signature-256"
write("github_signature", {
    "ok_github_docs_example": message([("x-secret", GITHUB_SECRET), (SIG, GITHUB_EXAMPLE)], "Hello, World!"),
    "ok_placeholder": message([(SIG, "$sig")], '{"zen":"Keep it logically awesome."}'),
    "ok_upper_hex": message([(SIG, "$SIG")], '{"zen":"hi"}'),
    "ok_other_secret": message([("x-secret", "s3cr3t-from-settings"), (SIG, "$sig")], "{}"),
    "ok_empty_payload": message([(SIG, "$sig")], ""),
    "bad_sha1": message([("X-Hub-Signature", "sha1=0123456789abcdef0123456789abcdef01234567")], "{}"),
    "bad_prefix_upper_case": message([(SIG, GITHUB_EXAMPLE.replace("sha256", "SHA256"))], "Hello, World!"),
    "bad_other_payload": message([(SIG, GITHUB_EXAMPLE)], "Hello, World?"),
    "bad_short_hex": message([(SIG, GITHUB_EXAMPLE[:20])], "Hello, World!"),
    "bad_trailing_space": message([(SIG, GITHUB_EXAMPLE + " ")], "Hello, World!"),
    "bad_non_hex": message([(SIG, "sha256=" + "zz" * 32)], "Hello, World!"),
    "bad_empty_secret": message([("x-secret", ""), (SIG, "$sig")], "{}"),
})

# --- stored_row ---------------------------------------------------------------

MASTER = b"\x42" * 32
ROW_KEY = hmac.new(MASTER, b"secrets-core/v1/subkey/row-integrity", hashlib.sha256).digest()
KINDS = ["user", "api_token", "agent_session", "refresh_family", "refresh_token",
         "app_secret", "app_secret_previous", "app_archive", "setting_secret",
         "webhook_endpoint", "webhook_previous_secret", "oauth_state",
         "oauth_connection", "seen_webhook", "deploy_evaluation"]


def s(b):
    return struct.pack(">I", len(b)) + b


def o(b):
    return b"\x00" if b is None else b"\x01" + s(b)


def tag(tenant, kind, id_, parent, owner, lookup, expires, version, body, sealed):
    """docs/FORMATS.md, "Row tag"."""
    c = s(b"secrets-core/v1/row") + tenant + s(kind.encode()) + s(id_.encode())
    c += o(None if parent is None else parent.encode()) + o(owner) + o(lookup)
    c += b"\x00" if expires is None else b"\x01" + struct.pack(">q", expires)
    c += struct.pack(">Q", version) + s(body) + o(sealed)
    return hmac.new(ROW_KEY, c, hashlib.sha256).digest()


def row(tenant, kind, id_, body, parent=None, owner=None, lookup=None, expires=None,
        version=1, sealed=None, tag_of=None, tagged=True):
    """The harness layout; the tag is the row's own unless `tag_of` (the
    fields of another row) says whose it is."""
    fields = dict(tenant=tenant, kind=kind, id_=id_, parent=parent, owner=owner,
                  lookup=lookup, expires=expires, version=version, body=body, sealed=sealed)
    t = tag(**{**fields, **(tag_of or {})}) if tagged else None
    flags = ((parent is not None) * 0x01 | (owner is not None) * 0x02 | (lookup is not None) * 0x04
             | (expires is not None) * 0x08 | (sealed is not None) * 0x10 | (t is not None) * 0x20)
    out = tenant + bytes([KINDS.index(kind), flags]) + struct.pack(">Q", version)
    if expires is not None:
        out += struct.pack(">q", expires)
    if owner is not None:
        out += owner
    if t is not None:
        out += t
    f = lambda b: struct.pack(">H", len(b)) + b
    out += f(id_.encode())
    if parent is not None:
        out += f(parent.encode())
    if lookup is not None:
        out += f(lookup)
    if sealed is not None:
        out += f(sealed)
    return out + body


T = bytes(range(16))
VECTOR = dict(tenant=T, kind="api_token", id_="tok-1", body=b'{"role":"admin"}',
              owner=b"\x11" * 16, lookup=b"\xab" * 32, expires=1700000000000, version=2)
assert tag(**{**VECTOR, "parent": None, "sealed": None}).hex() == \
    "6130de691ed5e7e8513ce8667918d21dfd3186f596954cc97618a8584c7bdd63"
ADA = "11111111-1111-4111-8111-111111111111"
USER_BODY = j({"id": ADA, "login": "ada@example.com", "role": "admin", "password_hash": None,
               "disabled": False, "created_at": 1700000000000})
SECRET_BODY = j({"app": "web", "name": "DATABASE_URL", "updated_by": "system",
                 "updated_at": 1700000000000}).encode()
SEEN_BODY = j({"source": "github", "message_id": "msg_1", "expires_at": 1700000300000}).encode()
# An envelope-shaped sealed value (version 1, key id 1, a nonce, a tag):
# the row tag covers it whatever it holds.
SEALED = b"\x01" + struct.pack(">I", 1) + bytes(12) + bytes(range(40))

write("stored_row", {
    # The vector of docs/FORMATS.md.
    "ok_formats_vector": row(**VECTOR),
    "ok_user": row(T, "user", ADA, USER_BODY.encode(), lookup=b"ada@example.com"),
    "ok_app_secret_sealed": row(T, "app_secret", "web/DATABASE_URL", SECRET_BODY, parent="web",
                                sealed=SEALED, version=7),
    "ok_seen_webhook": row(T, "seen_webhook", "github/msg_1", SEEN_BODY, parent="github",
                           expires=1700000300000),
    "ok_empty_body_max_version": row(T, "deploy_evaluation", "d1", b"", version=2**64 - 1),
    "bad_untagged": row(**VECTOR, tagged=False),
    "bad_other_tenant": row(**{**VECTOR, "tenant": bytes(16)}, tag_of={"tenant": T}),
    "bad_version_bumped": row(**{**VECTOR, "version": 3}, tag_of={"version": 2}),
    "bad_admin_tag_on_viewer": row(**{**VECTOR, "body": b'{"role":"viewer"}'},
                                   tag_of={"body": b'{"role":"admin"}'}),
    "bad_kind_changed": row(**{**VECTOR, "kind": "agent_session"}, tag_of={"kind": "api_token"}),
    "bad_owner_removed": row(**{**VECTOR, "owner": None}, tag_of={"owner": b"\x11" * 16}),
    "bad_lookup_changed": row(**{**VECTOR, "lookup": b"\xac" * 32}, tag_of={"lookup": b"\xab" * 32}),
    "bad_expiry_extended": row(**{**VECTOR, "expires": 4102444800000}, tag_of={"expires": 1700000000000}),
    # Length prefixes: the same bytes split differently between id and parent.
    "bad_id_parent_shift": row(T, "app_secret", "a", b"{}", parent="bc",
                               tag_of={"id_": "ab", "parent": "c"}),
    "bad_sealed_dropped": row(T, "app_secret", "web/DATABASE_URL", SECRET_BODY, parent="web",
                              tag_of={"sealed": SEALED}),
    "bad_truncated": row(**VECTOR)[:40],
    "bad_kind_out_of_range": T + bytes([200, 0]) + bytes(8) + b"\x00\x01x",
})

# --- bearer_value -------------------------------------------------------------

# Shapes only: parse_bearer routes by prefix and never checks a checksum.
API = "scp_" + "0123456789abcdefghijABCDEFGHIJ012345"
AGENT = "sca_" + "Zyxwvutsrqponmlkji9876543210ZYXWVUT"
REFRESH = "scr_" + "0123456789abcdefghijABCDEFGHIJ012345"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
MAX_BEARER_LEN = 8192 + 64
write("bearer_value", {
    "ok_api_bare": API,
    "ok_api_bearer": "Bearer " + API,
    "ok_agent_upper_scheme": "BEARER " + AGENT,
    "ok_jwt_many_spaces": "bEaReR    " + JWT,
    "ok_jwt_bare": JWT,
    "ok_dot_beats_prefix": "scr_" + JWT,
    "ok_at_limit": "Bearer " + "a" * (MAX_BEARER_LEN - 7 - len(".b")) + ".b",
    "bad_refresh": "Bearer " + REFRESH,
    "bad_other_prefix": "ghp_" + "0123456789abcdefghijABCDEFGHIJ012345",
    "bad_no_underscore": "scp",
    "bad_upper_prefix": "SCP_" + "0123456789abcdefghijABCDEFGHIJ012345",
    "bad_double_scheme": "Bearer Bearer " + JWT,
    "bad_tab_after_scheme": "Bearer\t" + JWT,
    "bad_no_space_after_scheme": "Bearer" + API,
    "bad_leading_space": " " + API,
    "bad_trailing_newline": API + "\n",
    "bad_nul": API[:10] + "\0" + API[10:],
    "bad_non_ascii": API + "\u00e9",
    "bad_padding": JWT + "=",
    "bad_scheme_only": "Bearer ",
    "bad_empty": "",
    "bad_too_large": "Bearer " + "a" * (MAX_BEARER_LEN - 8) + ".b",
})

print("seed corpora written under", CORPUS)
