"""Fork safety: a Vault made before fork raises ForkError in the child at
once; a child's own Vault works; spawn works."""

from __future__ import annotations

import multiprocessing as mp
import os
import pathlib
import sys
import time

import pytest

import secrets_core as sc

from conftest import ADMIN, PASSWORD, TENANT

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _in_child(fn) -> int:  # type: ignore[no-untyped-def]
    """Runs fn in a forked child; returns its exit code (killed after 10 s)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            code = fn()
        except BaseException as e:  # noqa: BLE001
            print(f"child failed: {e!r}", file=sys.stderr)
        finally:
            os._exit(code)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return -9


def test_a_parent_vault_in_a_child_raises_fork_error_within_5_seconds(vault: sc.Vault) -> None:
    vault.bootstrap(TENANT, "acme", ADMIN, PASSWORD)
    vault.login(TENANT, ADMIN, PASSWORD)  # the runtime is running in the parent

    def child() -> int:
        start = time.monotonic()
        try:
            vault.login(TENANT, ADMIN, PASSWORD)
        except sc.ForkError as e:
            ok = "after fork" in str(e) and "post_fork" in str(e) and isinstance(e, sc.SecretsCoreError)
            return 0 if ok and time.monotonic() - start < 5 else 2
        return 3

    assert _in_child(child) == 0


def test_a_parent_async_vault_in_a_child_raises_fork_error(ring: sc.KeyRing) -> None:
    av = sc.AsyncVault(":memory:", ring, password_cost=10)

    def child() -> int:
        try:
            av.login(TENANT, ADMIN, PASSWORD)
        except sc.ForkError:
            return 0
        return 3

    assert _in_child(child) == 0


def test_a_child_s_own_vault_works(vault: sc.Vault, tmp_path: pathlib.Path) -> None:
    vault.bootstrap(TENANT, "acme", ADMIN, PASSWORD)
    key = sc.generate_master_key()
    path = str(tmp_path / "child.db")

    def child() -> int:
        own = sc.Vault(path, sc.KeyRing.from_base64(key), password_cost=10)
        own.bootstrap(TENANT, "acme", ADMIN, PASSWORD)
        caller = own.authenticate_bearer(own.login(TENANT, ADMIN, PASSWORD)["access_token"])
        own.set_secret(caller, "web", "K", b"v")

        import asyncio

        async def main() -> bytes:
            av = sc.AsyncVault(":memory:", sc.KeyRing.from_base64(key), password_cost=10)
            await av.bootstrap(TENANT, "acme", ADMIN, PASSWORD)
            s = await av.login(TENANT, ADMIN, PASSWORD)
            return (await av.authenticate_bearer(s["access_token"])).role.encode()

        return 0 if own.inject(caller, "web")["K"].expose_secret() == b"v" and asyncio.run(main()) == b"admin" else 2

    assert _in_child(child) == 0
    # The parent's Vault still works after the fork.
    assert vault.login(TENANT, ADMIN, PASSWORD)["token_type"] == "Bearer"
    # And the child's work is on disk.
    reopened = sc.Vault(path, sc.KeyRing.from_base64(key), password_cost=10)
    assert reopened.login(TENANT, ADMIN, PASSWORD)["token_type"] == "Bearer"


def _spawned(key: str, q: "mp.Queue[str]") -> None:
    v = sc.Vault(":memory:", sc.KeyRing.from_base64(key), password_cost=10)
    v.bootstrap(TENANT, "acme", ADMIN, PASSWORD)
    q.put(v.authenticate_bearer(v.login(TENANT, ADMIN, PASSWORD)["access_token"]).role)


def test_spawn_works(vault: sc.Vault) -> None:
    vault.bootstrap(TENANT, "acme", ADMIN, PASSWORD)
    ctx = mp.get_context("spawn")
    q: "mp.Queue[str]" = ctx.Queue()
    p = ctx.Process(target=_spawned, args=(sc.generate_master_key(), q))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    assert q.get(timeout=5) == "admin"
