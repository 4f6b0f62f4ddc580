"""The typed usage file runs (mypy --strict checks it in scripts/python-test.sh)."""

from __future__ import annotations

import pathlib
import runpy


def test_the_typed_usage_file_runs() -> None:
    runpy.run_path(str(pathlib.Path(__file__).parent / "typed" / "usage.py"), run_name="__main__")
