"""The GIL is released while the core works: bcrypt in one thread does not
stop another; threads run in parallel; asyncio keeps its loop turning."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import secrets_core as sc

from conftest import ADMIN, PASSWORD, TENANT


def test_a_bcrypt_call_lets_another_thread_keep_counting() -> None:
    # Cost 12 is about 250 ms here.
    done = threading.Event()
    count = 0

    def counter() -> None:
        nonlocal count
        while not done.is_set():
            count += 1

    t = threading.Thread(target=counter)
    t.start()
    try:
        time.sleep(0.02)
        before = count
        start = time.perf_counter()
        sc.hash_password("correct horse battery staple", cost=12)
        took = time.perf_counter() - start
        during = count - before
    finally:
        done.set()
        t.join()
    assert took > 0.05
    # With the GIL held the counter would barely move (the interpreter's
    # switch interval is 5 ms; a held GIL allows no switch at all).
    assert during > 10_000, (during, took)


@pytest.mark.timeout(120)
def test_eight_threads_of_twenty_vault_calls_finish(vault: sc.Vault) -> None:
    vault.bootstrap(TENANT, "acme", ADMIN, PASSWORD)

    def worker(i: int) -> int:
        ok = 0
        for _ in range(20):
            session = vault.login(TENANT, ADMIN, PASSWORD)
            caller = vault.authenticate_bearer(session["access_token"])
            ok += caller.role == "admin"
        return ok

    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(worker, range(8)))
    assert results == [20] * 8
    assert time.perf_counter() - start < 100


def _os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
def test_asyncio_gather_of_logins_overlaps_and_the_loop_keeps_ticking(ring: sc.KeyRing) -> None:
    async def main() -> None:
        vault = sc.AsyncVault(":memory:", ring, password_cost=10)
        await vault.bootstrap(TENANT, "acme", ADMIN, PASSWORD)
        await vault.login(TENANT, ADMIN, PASSWORD)
        before = _os_threads()

        ticks, most = 0, before
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks, most
            while not stop.is_set():
                await asyncio.sleep(0.01)
                ticks += 1
                most = max(most, _os_threads())

        task = asyncio.create_task(ticker())
        start = time.perf_counter()
        sessions = await asyncio.gather(*(vault.login(TENANT, ADMIN, PASSWORD) for _ in range(20)))
        took = time.perf_counter() - start
        stop.set()
        await task
        assert len({s["refresh_token"] for s in sessions}) == 20
        # The 10 ms ticker kept ticking through the logins (a blocked loop
        # would tick about once).
        assert ticks >= max(3, int(took / 0.01 * 0.3)), (ticks, took)
        # They overlapped: their bcrypt work ran on many threads at once
        # (one at a time would have needed one). Counted rather than timed:
        # the wall-clock gain depends on how busy the machine's 2 cores are.
        assert most - before >= 4, (before, most)

    asyncio.run(main())
