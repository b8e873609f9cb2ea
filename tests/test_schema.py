from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.schema import schema

CONTRACT_CHECK = Path(__file__).resolve().parents[2] / "shared" / "tools" / "check_contract.py"


def test_schema_file_is_current(repo_root: Path) -> None:
    committed = (repo_root / "schema.graphql").read_text()
    assert committed == str(schema).rstrip("\n") + "\n", "schema.graphql is stale: run `python -m app export-schema`"


def test_schema_breaks_nothing_in_the_contract(repo_root: Path) -> None:
    if not CONTRACT_CHECK.is_file():
        pytest.skip(f"no ../shared beside the checkout (looked for {CONTRACT_CHECK})")
    result = subprocess.run(
        [sys.executable, str(CONTRACT_CHECK), str(repo_root / "schema.graphql")],
        capture_output=True,
        text=True,
        check=False,
        cwd=repo_root,
    )
    output = result.stdout + result.stderr
    assert "BREAKS CONTRACT" not in output, output
    assert "missing" not in output, output
    assert result.returncode == 0, output
