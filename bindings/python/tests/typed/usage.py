"""A typed use of the public API, checked by `mypy --strict` (scripts/python-test.sh).

Also run by test_typing.py, so that it is real code, not just annotations.
"""

from __future__ import annotations

import asyncio
from typing import Dict, List, Optional

import secrets_core as sc
from secrets_core.types import ChainSummary, MintedToken, SecretInfo, Session, VerifiedMessage


def sync_use(store: str = ":memory:") -> ChainSummary:
    ring: sc.KeyRing = sc.KeyRing.from_base64(sc.generate_master_key())
    vault: sc.Vault = sc.Vault(store, ring, password_cost=10)
    created: Optional[str] = vault.ensure_bootstrapped(sc.DEFAULT_TENANT, "acme", "ada@example.com", "a long password")
    assert created is not None
    session: Session = vault.login(sc.DEFAULT_TENANT, "ada@example.com", b"a long password")
    admin: sc.Caller = vault.authenticate_bearer("Bearer " + session["access_token"])
    role: str = admin.role
    assert role == "admin"
    minted: MintedToken = vault.mint_api_token(admin, created, "ci", ["apps:read"], ttl=3600)
    ci: sc.Caller = vault.authenticate_api_token(minted["token"])
    assert ci.user == created
    version: int = vault.set_secret(admin, "web", "DATABASE_URL", b"postgres://db/web")
    assert version == 1
    names: List[SecretInfo] = vault.list_secrets(admin, "web")
    assert [n["name"] for n in names] == ["DATABASE_URL"]
    env: Dict[str, sc.SecretValue] = vault.inject(admin, "web")
    raw: bytes = env["DATABASE_URL"].expose_secret()
    assert raw.startswith(b"postgres")
    try:
        vault.login(sc.DEFAULT_TENANT, "ada@example.com", "wrong password")
    except sc.InvalidCredentials as e:
        code: str = e.code
        assert code == "invalid_credentials"
    return vault.verify_audit_log(admin)


async def async_use() -> int:
    ring = sc.KeyRing.from_base64(sc.generate_master_key())
    vault = sc.AsyncVault(":memory:", ring, password_cost=10)
    await vault.bootstrap(sc.DEFAULT_TENANT, "acme", "ada@example.com", "a long password")
    session: Session = await vault.login(sc.DEFAULT_TENANT, "ada@example.com", "a long password")
    admin = await vault.authenticate_bearer(session["access_token"])
    versions: Dict[str, int] = await vault.set_secrets(admin, "web", {"A": b"1", "B": "2"})
    return sum(versions.values())


def primitives() -> VerifiedMessage:
    hook = sc.Webhook(sc.Webhook.generate_secret())
    headers = hook.sign_headers("msg_1", 1_700_000_000, b"{}")
    challenge: str = sc.pkce_challenge(sc.pkce_verifier())
    assert len(challenge) == 43
    found = sc.scan("no tokens here")
    assert found == []
    ring = sc.KeyRing.from_base64(sc.generate_master_key())
    sealed: bytes = ring.seal(b"value", context=[b"tenant", "app"])
    assert ring.open(sealed, context=[b"tenant", "app"]).expose_secret() == b"value"
    allowed: bool = sc.Policy().decide("developer", "secrets:write")
    assert allowed
    body = hook.verify_json(b'{"n": 1}', hook.sign_headers("msg_2", 1_700_000_000, b'{"n": 1}'), now=1_700_000_000)
    assert body == {"n": 1}
    return hook.verify(b"{}", headers, now=1_700_000_000)


def main() -> None:
    assert sync_use()["count"] > 0
    assert asyncio.run(async_use()) == 2
    assert primitives()["id"] == "msg_1"


if __name__ == "__main__":
    main()
