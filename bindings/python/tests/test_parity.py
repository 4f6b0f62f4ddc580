"""Every Vault operation through `Vault` and through `AsyncVault`: the same
scenario gives the same results (test_vault.py checks them)."""

from __future__ import annotations

import asyncio
import pathlib

import secrets_core as sc

from conftest import COST
from scenario import async_call, dump, scenario, sync_call


def run_sync(store: str) -> str:
    vault = sc.Vault(store, sc.KeyRing.from_base64(sc.generate_master_key()), password_cost=COST)
    return dump(asyncio.run(scenario(sync_call(vault), sc.DEFAULT_TENANT)))


def run_async(store: str) -> str:
    async def main() -> str:
        vault = sc.AsyncVault(store, sc.KeyRing.from_base64(sc.generate_master_key()), password_cost=COST)
        return dump(await scenario(async_call(vault), sc.DEFAULT_TENANT))

    return asyncio.run(main())


def test_sync_and_async_give_the_same_results_in_memory() -> None:
    a, b = run_sync(":memory:"), run_async(":memory:")
    assert a == b
    assert '"bootstrap again"' in a  # the scenario really ran


def test_sync_and_async_give_the_same_results_on_sqlite(tmp_path: pathlib.Path) -> None:
    assert run_sync(str(tmp_path / "s.db")) == run_async(str(tmp_path / "a.db"))
