"""Bad input of every kind raises a clear exception and never crashes the
interpreter: None, wrong types, huge strings, NUL bytes, malformed ids."""

from __future__ import annotations

from typing import Any, Callable

import pytest

import secrets_core as sc

from conftest import ADMIN, PASSWORD, TENANT

HUGE = "x" * 5_000_000
NUL = "abc\x00def"
WRONG_TYPES: list[Any] = [None, 42, 3.5, object(), [1, 2], {"a": 1}]


def raises_cleanly(fn: Callable[[], Any]) -> BaseException:
    with pytest.raises((sc.SecretsCoreError, TypeError, ValueError, OverflowError)) as info:
        fn()
    return info.value


@pytest.mark.parametrize("bad", WRONG_TYPES)
def test_wrong_types_are_type_errors(vault: sc.Vault, ring: sc.KeyRing, bad: Any) -> None:
    caller = sc.Caller.system()
    hook = sc.Webhook(sc.Webhook.generate_secret())
    signer = sc.JwtSigner(ring)
    for fn in (
        lambda: hook.verify(bad, {}),
        lambda: hook.verify(b"{}", bad),
        lambda: hook.verify_json(bad, {}),
        lambda: hook.verify_json(b"{}", bad),
        lambda: signer.validate(bad),
        lambda: vault.login(bad, ADMIN, PASSWORD),
        lambda: vault.login(TENANT, bad, PASSWORD),
        lambda: vault.login(TENANT, ADMIN, bad),
        lambda: vault.authenticate_bearer(bad),
        lambda: vault.set_secret(bad, "web", "K", b"v"),
        lambda: vault.set_secret(caller, "web", "K", bad),
        lambda: vault.set_secrets(caller, "web", bad),
        lambda: vault.verify_inbound_webhook(TENANT, "src", bad, b"{}"),
        lambda: ring.seal(bad),
        lambda: ring.open(bad),
        lambda: sc.hash_password(bad),
        lambda: sc.verify_password(bad, "$2b$10$abc"),
        lambda: sc.Webhook(bad),
        lambda: sc.scan(bad),
        lambda: sc.KeyRing(bad),
    ):
        raises_cleanly(fn)


def test_none_where_optional_is_fine_and_where_required_is_not(vault: sc.Vault) -> None:
    vault.bootstrap(TENANT, "acme", ADMIN, PASSWORD, None)
    with pytest.raises(TypeError):
        vault.login(TENANT, None, PASSWORD)  # type: ignore[arg-type]


def test_huge_strings_are_refused_by_the_core(vault: sc.Vault, ring: sc.KeyRing) -> None:
    vault.bootstrap(TENANT, "acme", ADMIN, PASSWORD)
    caller = sc.Caller.system()
    for fn in (
        lambda: vault.login(TENANT, HUGE, PASSWORD),
        lambda: vault.login(TENANT, ADMIN, HUGE),
        lambda: vault.authenticate_bearer(HUGE),
        lambda: vault.authenticate_api_token(HUGE),
        lambda: vault.set_secret(caller, HUGE, "K", b"v"),
        lambda: vault.set_secret(caller, "web", HUGE, b"v"),
        lambda: vault.set_secret(caller, "web", "K", HUGE * 4),
        lambda: vault.create_user(caller, HUGE, "viewer"),
        lambda: ring.seal(HUGE * 20),
        lambda: sc.pkce_challenge(HUGE),
        lambda: sc.TokenFormat(HUGE),
        lambda: sc.hash_password(HUGE, cost=10),
    ):
        e = raises_cleanly(fn)
        assert isinstance(e, sc.SecretsCoreError), repr(e)
        assert len(str(e)) < 1000  # the input is not echoed back
    # Scanning a huge text is fine: it finds nothing.
    assert sc.scan(HUGE) == []


def test_nul_bytes_are_refused_or_handled(vault: sc.Vault) -> None:
    vault.bootstrap(TENANT, "acme", ADMIN, PASSWORD)
    caller = sc.Caller.system()
    for fn in (
        lambda: vault.login(TENANT, NUL, PASSWORD),
        lambda: vault.create_user(caller, NUL, "viewer", "a long enough password"),
        lambda: vault.set_secret(caller, NUL, "K", b"v"),
        lambda: vault.set_secret(caller, "web", NUL, b"v"),
        lambda: vault.authenticate_bearer(NUL),
        lambda: sc.TokenFormat(NUL),
    ):
        assert isinstance(raises_cleanly(fn), sc.SecretsCoreError)
    # A NUL inside a secret value is data, not a terminator.
    assert vault.set_secret(caller, "web", "K", b"a\x00b") == 1
    assert vault.inject(caller, "web")["K"].expose_secret() == b"a\x00b"


def test_malformed_ids_roles_and_durations(vault: sc.Vault) -> None:
    caller = sc.Caller.system()
    with pytest.raises(sc.InvalidInput):
        vault.login("not-a-tenant-id", ADMIN, PASSWORD)
    with pytest.raises(sc.InvalidInput):
        vault.disable_user(caller, "not-a-user-id")
    with pytest.raises(sc.InvalidInput):
        vault.create_user(caller, "a@example.com", "superuser")
    with pytest.raises(sc.InvalidInput):
        vault.mint_api_token(caller, "0190d9a0-0000-7000-8000-000000000001", "t", [], -5.0)
    with pytest.raises(sc.InvalidInput):
        vault.mint_api_token(caller, "0190d9a0-0000-7000-8000-000000000001", "t", [], float("nan"))
    with pytest.raises(sc.InvalidInput):
        vault.register_webhook_source(caller, "s", "carrier-pigeon", "x")
    with pytest.raises(OverflowError):
        sc.hash_password("pw", cost=2**40)
    with pytest.raises(sc.InvalidInput):
        vault.audit_events(caller, {"limit": "many"})
    with pytest.raises(sc.InvalidInput):
        vault.verify_checkpoint(caller, {"tenant": "x"})
    with pytest.raises(TypeError):
        vault.verify_inbound_webhook(TENANT, "s", [("only-a-name",)], b"{}")


def test_non_utf8_password_bytes_for_a_login_are_invalid_input(vault: sc.Vault) -> None:
    vault.bootstrap(TENANT, "acme", ADMIN, PASSWORD)
    with pytest.raises(sc.InvalidInput):
        vault.login(TENANT, ADMIN, b"\xff\xfe")
    # As bytes of the right UTF-8, it logs in.
    assert vault.login(TENANT, ADMIN, PASSWORD.encode())["token_type"] == "Bearer"


def test_wrong_objects_for_callers_and_leases(vault: sc.Vault) -> None:
    with pytest.raises(TypeError):
        vault.whoami("system")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        vault.complete_refresh(sc.Caller.system(), "lease", "token")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sc.Caller()  # type: ignore[call-arg]


def test_webhook_headers_of_the_wrong_shape_are_type_errors() -> None:
    hook = sc.Webhook(sc.Webhook.generate_secret())
    for headers in (
        {"webhook-id": 1},
        {1: "msg_1"},
        {"webhook-id": b"msg_1"},
        {"webhook-id": "\ud800"},  # a lone surrogate has no UTF-8
        {"webhook-\udc00": "msg_1"},
    ):
        for verify in (hook.verify, hook.verify_json):
            with pytest.raises(TypeError):
                verify(b"{}", headers)  # type: ignore[arg-type]
