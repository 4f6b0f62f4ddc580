"""The README's quick start (examples/python/quickstart.py) runs, twice."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).resolve().parents[3] / "examples" / "python" / "quickstart.py"


def run(cwd: pathlib.Path, env: "dict[str, str] | None" = None) -> str:
    out = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return out.stdout


def test_quickstart_runs_and_runs_again(tmp_path: pathlib.Path) -> None:
    first = run(tmp_path)
    assert "authenticated user:" in first and "as admin" in first
    assert "secrets of web: ['DATABASE_URL']" in first
    assert "postgres://db/web" not in first  # the value is printed redacted
    assert "webhook verified:" in first and "replay refused: webhook_rejected" in first
    assert "audit chain verified:" in first
    key = tmp_path / "keys" / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert (tmp_path / "data" / "quickstart.db").exists()
    second = run(tmp_path)
    assert "audit chain verified:" in second


def test_quickstart_takes_the_master_key_from_the_environment(tmp_path: pathlib.Path) -> None:
    import secrets_core as sc

    env = dict(os.environ, SECRETS_CORE_MASTER_KEY=sc.generate_master_key())
    assert "audit chain verified:" in run(tmp_path, env)
    assert not (tmp_path / "keys").exists()
