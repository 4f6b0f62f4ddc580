"""Every Vault operation, checked (the scenario in scenario.py), on memory,
SQLite and PostgreSQL (when SECRETS_CORE_POSTGRES_URL is set and the wheel
was built with it)."""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import subprocess
import uuid
from typing import Any, Dict

import pytest

import secrets_core as sc

from conftest import ADMIN, COST, PASSWORD, TENANT
from scenario import scenario, sync_call


def observed(vault: sc.Vault) -> Dict[str, Any]:
    return dict(asyncio.run(scenario(sync_call(vault), TENANT)))


def check(seen: Dict[str, Any]) -> None:
    assert seen["bootstrap"] is True and seen["bootstrap again"] is None
    assert seen["admin"] == ("caller", "admin", "user")
    assert seen["whoami"]["login"] == ADMIN and "users:manage" in seen["whoami"]["permissions"]
    assert seen["users"] == ["ada@example.com", "dev@example.com", "viewer@example.com"]
    assert seen["refresh after logout"] == "invalid_token"
    assert seen["disabled login"] == "invalid_credentials"
    assert seen["require denied"] == "forbidden"
    assert seen["ci"] == ("caller", "developer", "token") and seen["revoked token"] == "invalid_token"
    assert seen["agent caller"] == ("caller", "developer", "agent")
    assert seen["agent sessions"] == ["deploy-bot"]
    assert (seen["set"], seen["set again"], seen["set many"]) == (1, 2, {"A": 1, "B": 1})
    assert seen["inject"]["DATABASE_URL"] == ("secret", b"postgres://db/web2")
    assert seen["rollback"] == 3 and seen["inject after rollback"] == ("secret", b"postgres://db/web")
    assert (seen["archive"], seen["restore"], seen["names after restore"]) == (2, 2, ["A", "DATABASE_URL"])
    assert seen["setting read"] == ("secret", b"sk_live_x")
    assert (seen["setting is set"], seen["setting is set after clear"]) == (True, False)
    assert seen["theirs verifies"] == {"type": "invoice.paid"}
    assert seen["rotated"] and seen["signing key rotated"]
    assert seen["inbound"]["style"] == "standard" and seen["replay"] == "webhook_rejected"
    assert seen["github inbound"]["style"] == "github"
    assert seen["challenge matches"] and seen["state reused"] == "oauth_failed"
    assert seen["fresh"]["status"] == "fresh" and seen["lease start"] == {"status": "refresh"}
    assert seen["lease token"] == "ghr_refresh_2"
    assert seen["after refresh"]["status"] == "fresh"
    assert seen["connections"][0]["needs_reconnect"] is True
    assert seen["gate"]["decision"] == "hold"
    assert seen["events"][:3] == ["tenant.bootstrap", "auth.login", "user.create"]
    assert seen["login events"][-1] == "failed"
    assert seen["chain"] is True and seen["verify checkpoint"]["count"] == seen["checkpoint"]["count"]


def test_every_operation_in_memory(vault: sc.Vault) -> None:
    check(observed(vault))


def test_every_operation_on_sqlite(sqlite_vault: sc.Vault) -> None:
    check(observed(sqlite_vault))


def test_every_operation_on_postgres(postgres_url: str) -> None:
    owner = os.environ.get("SECRETS_CORE_POSTGRES_OWNER_URL", postgres_url)
    schema = "py_" + uuid.uuid4().hex[:12]  # a fresh schema, as core's PostgreSQL tests use
    try:
        sc.postgres_migrate(owner, schema)
    except sc.InvalidInput as e:
        if "no PostgreSQL support" in str(e):
            pytest.skip("the wheel was built without the postgres feature")
        raise
    try:
        ring = sc.KeyRing.from_base64(sc.generate_master_key())
        vault = sc.Vault(postgres_url, ring, password_cost=COST, postgres_schema=schema)
        check(observed(vault))
        del vault
    finally:
        if shutil.which("psql"):
            subprocess.run(["psql", "-X", "-q", owner, "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE"], check=False)


def test_sqlite_persists_and_refuses_another_master_key(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "v.db")
    key = sc.generate_master_key()
    v1 = sc.Vault(path, sc.KeyRing.from_base64(key), password_cost=COST)
    v1.bootstrap(TENANT, "acme", ADMIN, PASSWORD)
    del v1
    v2 = sc.Vault(path, sc.KeyRing.from_base64(key), password_cost=COST)
    assert v2.login(TENANT, ADMIN, PASSWORD.encode())["token_type"] == "Bearer"
    with pytest.raises(sc.WrongMasterKey):
        sc.Vault(path, sc.KeyRing.from_base64(sc.generate_master_key()), password_cost=COST)


def test_values_and_callers_do_not_show_secrets(vault: sc.Vault, admin: sc.Caller) -> None:
    vault.set_secret(admin, "web", "TOKEN", b"very-secret-value")
    value = vault.inject(admin, "web")["TOKEN"]
    assert "very-secret-value" not in repr(value) and "very-secret-value" not in str(value)
    assert value.expose_secret() == b"very-secret-value"
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(value)
    with pytest.raises(TypeError):
        pickle.dumps(admin)
    logged = admin.to_dict()
    assert logged["role"] == "admin" and logged["actor"].startswith("user:")
    assert admin.role == "admin" and admin.tenant == TENANT and admin.user is not None
    again = vault.authenticate_bearer(vault.login(TENANT, ADMIN, PASSWORD)["access_token"])
    assert again.actor == admin.actor and again == admin  # equal by value


def test_configuration(ring: sc.KeyRing) -> None:
    v = sc.Vault(
        ":memory:",
        ring,
        password_cost=COST,
        api_token_prefix="acme",
        access_token_ttl=60,
        issuer="acme",
        jwt_algorithm="EdDSA",
        permissions={"reports:export": ["admin"]},
    )
    assert v.token_prefixes() == ("acme", "sca", "scr")
    assert v.jwks()["keys"] and v.jwks()["keys"][0]["kty"] == "OKP"
    v.bootstrap(TENANT, "acme", ADMIN, PASSWORD)
    session = v.login(TENANT, ADMIN, PASSWORD)
    assert session["expires_in"] == 60
    admin = v.authenticate_bearer(session["access_token"])
    v.require(admin, "reports:export", "report.export", "report/1")
    with pytest.raises(sc.InvalidInput):
        v.require(admin, "no:such", "x", "y")
    with pytest.raises(sc.InvalidInput):
        sc.Vault(":memory:", ring, password_cost=4)
    with pytest.raises(sc.InvalidInput):
        sc.Vault(":memory:", ring, jwt_algorithm="none")
    with pytest.raises(sc.InvalidInput):
        sc.Vault(":memory:", ring, permissions={"x:y": ["root"]})


def test_as_async_shares_the_core(vault: sc.Vault, admin: sc.Caller) -> None:
    vault.set_secret(admin, "web", "K", b"v")
    av = vault.as_async()

    async def main() -> bytes:
        env = await av.inject(admin, "web")
        return env["K"].expose_secret()

    assert asyncio.run(main()) == b"v"
    assert isinstance(av.as_sync(), sc.Vault)


def test_a_key_store_holds_the_tenant_keys_and_an_erase_destroys_them(tmp_path: pathlib.Path) -> None:
    data, keys = str(tmp_path / "data.db"), str(tmp_path / "keys.db")
    key = sc.generate_master_key()
    vault = sc.Vault(data, sc.KeyRing.from_base64(key), password_cost=COST, key_store=keys)
    other = str(uuid.uuid4())
    for tenant in (TENANT, other):
        vault.bootstrap(tenant, "acme", ADMIN, PASSWORD)
        vault.set_secret(sc.Caller.system(tenant), "web", "API_KEY", b"sk-" + tenant.encode())
    system = sc.Caller.system(TENANT)
    assert vault.inject(system, "web")["API_KEY"].expose_secret() == b"sk-" + TENANT.encode()
    # The store is bound to its key store: without it, or with another, refused.
    with pytest.raises(sc.InvalidInput, match="key store"):
        sc.Vault(data, sc.KeyRing.from_base64(key), password_cost=COST)
    with pytest.raises(sc.InvalidInput, match="key store"):
        sc.Vault(data, sc.KeyRing.from_base64(key), password_cost=COST, key_store=str(tmp_path / "other.db"))
    # Deletion protection holds; then the erase takes the tenant and its keys.
    vault.set_deletion_protection(system, True)
    with pytest.raises(sc.DeletionProtected):
        vault.erase_tenant(system)
    vault.set_deletion_protection(system, False)
    vault.erase_tenant(system)
    with pytest.raises(sc.NotFound):
        vault.erase_tenant(system)
    survivor = vault.inject(sc.Caller.system(other), "web")["API_KEY"].expose_secret()
    assert survivor == b"sk-" + other.encode()
