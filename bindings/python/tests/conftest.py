"""Shared fixtures. The suite imports the installed wheel (never the source
tree): scripts/python-test.sh builds it, installs it into a fresh venv and
runs pytest from this directory, which holds no `secrets_core` package."""

from __future__ import annotations

import os
import pathlib
from typing import Iterator

import pytest

import secrets_core as sc

# bcrypt cost 10 (the floor) keeps the suite quick; the GIL tests use 12.
COST = 10
TENANT = sc.DEFAULT_TENANT
ADMIN = "ada@example.com"
PASSWORD = "correct horse battery staple"


def pytest_report_header(config: pytest.Config) -> str:
    return f"secrets_core {sc.__version__} from {pathlib.Path(sc.__file__).parent}"


@pytest.fixture(scope="session", autouse=True)
def _installed_wheel() -> None:
    # Under scripts/python-test.sh the package must come from the installed
    # wheel (site-packages), not from bindings/python/python.
    if os.environ.get("SECRETS_CORE_WHEEL_TEST") != "1":
        return
    here = pathlib.Path(__file__).resolve().parents[1]
    assert here not in pathlib.Path(sc.__file__).resolve().parents, sc.__file__


@pytest.fixture
def ring() -> sc.KeyRing:
    return sc.KeyRing.from_base64(sc.generate_master_key())


@pytest.fixture
def vault(ring: sc.KeyRing) -> sc.Vault:
    return sc.Vault(":memory:", ring, password_cost=COST)


@pytest.fixture
def sqlite_vault(ring: sc.KeyRing, tmp_path: pathlib.Path) -> sc.Vault:
    return sc.Vault(str(tmp_path / "vault.db"), ring, password_cost=COST)


@pytest.fixture
def admin(vault: sc.Vault) -> sc.Caller:
    vault.bootstrap(TENANT, "acme", ADMIN, PASSWORD)
    session = vault.login(TENANT, ADMIN, PASSWORD)
    return vault.authenticate_bearer("Bearer " + session["access_token"])


@pytest.fixture
def postgres_url() -> Iterator[str]:
    url = os.environ.get("SECRETS_CORE_POSTGRES_URL")
    if not url:
        pytest.skip("SECRETS_CORE_POSTGRES_URL is not set")
    yield url
