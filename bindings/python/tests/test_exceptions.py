"""The exception table against the native module's kinds, the mapping of
real core errors, pickling, and messages without secrets."""

from __future__ import annotations

import pickle

import pytest

import secrets_core as sc
from secrets_core import exceptions as ex

from conftest import ADMIN, PASSWORD, TENANT


def test_every_core_kind_has_its_own_class_with_its_code() -> None:
    kinds = sc._native.error_kinds()
    assert len(kinds) == 25
    classes = set()
    for number, code, status in kinds:
        cls = ex.BY_NUMBER[number]
        assert (cls.number, cls.code, cls.http_status) == (number, code, status)
        assert ex.BY_CODE[code] is cls
        assert issubclass(cls, sc.SecretsCoreError) and cls is not sc.SecretsCoreError
        classes.add(cls)
    assert len(classes) == len(kinds)
    # And the table has nothing the native module does not know.
    assert set(ex.BY_NUMBER) == {n for n, _, _ in kinds}


@pytest.mark.parametrize(
    ("cls", "mixin"),
    [
        (sc.InvalidInput, ValueError),
        (sc.TooLarge, ValueError),
        (sc.NotFound, LookupError),
        (sc.Forbidden, PermissionError),
        (sc.InvalidCredentials, PermissionError),
        (sc.InvalidToken, PermissionError),
        (sc.StorageError, OSError),
        (sc.ForkError, RuntimeError),
    ],
)
def test_stdlib_mixins(cls: type, mixin: type) -> None:
    assert issubclass(cls, mixin)
    assert issubclass(cls, sc.SecretsCoreError)


def test_an_unknown_future_kind_is_the_base_class_with_its_code() -> None:
    e = ex._from_kind(99, "quantum_flux", "something new")
    assert type(e) is sc.SecretsCoreError
    assert (e.code, e.number, str(e)) == ("quantum_flux", 99, "something new")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is sc.SecretsCoreError and back.code == "quantum_flux" and back.number == 99
    # A known number with another code is not trusted to be that class.
    assert type(ex._from_kind(1, "renamed", "x")) is sc.SecretsCoreError


def test_wrong_password_is_invalid_credentials_picklable_without_the_password(vault: sc.Vault) -> None:
    vault.bootstrap(TENANT, "acme", ADMIN, PASSWORD)
    wrong = "hunter2-but-longer-and-secret"
    with pytest.raises(sc.InvalidCredentials) as info:
        vault.login(TENANT, ADMIN, wrong)
    e = info.value
    assert isinstance(e, sc.SecretsCoreError) and isinstance(e, PermissionError)
    assert e.code == "invalid_credentials" and e.number == 3 and e.http_status == 401
    assert wrong not in str(e) and wrong not in repr(e)
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is sc.InvalidCredentials and str(back) == str(e) and back.code == e.code
    # An unknown user gets the very same error.
    with pytest.raises(sc.InvalidCredentials) as other:
        vault.login(TENANT, "nobody@example.com", wrong)
    assert str(other.value) == str(e)


def test_every_raised_kind_pickles(vault: sc.Vault, ring: sc.KeyRing) -> None:
    raised = []
    for action in (
        lambda: ring.open(b"\x01" * 40),  # unknown key id / decryption
        lambda: sc.pkce_challenge("short"),  # invalid input
        lambda: sc.TokenFormat("scp").check("scp_nope"),  # invalid token
        lambda: vault.list_users(sc.Caller.system(), after="not-a-uuid"),  # invalid input
    ):
        with pytest.raises(sc.SecretsCoreError) as info:
            action()
        raised.append(info.value)
    for e in raised:
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e) and str(back) == str(e) and back.code == e.code


def test_token_and_secret_values_never_appear_in_messages(vault: sc.Vault, admin: sc.Caller) -> None:
    token = sc.TokenFormat("scp").generate()
    with pytest.raises(sc.InvalidToken) as info:
        vault.authenticate_api_token(token)
    assert token not in str(info.value)
    broken = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(sc.InvalidToken) as info:
        vault.authenticate_bearer("Bearer " + broken)
    assert broken not in str(info.value)
    # A secret value refused for being too large is not echoed.
    big = "s3cr3t-" * 200_000
    with pytest.raises(sc.SecretsCoreError) as info2:
        vault.set_secret(admin, "web", "BIG", big)
    assert "s3cr3t-" not in str(info2.value)
