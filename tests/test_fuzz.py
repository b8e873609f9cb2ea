"""Schemathesis in GraphQL mode against a running server, signed in: no 5xx, no hang.

It reads the schema by introspection and generates queries and mutations for every root field,
valid and invalid, each answered within the request timeout. Left out: the mutations that would end
the fuzzing session itself (signOut, changePassword), setApiKey, whose generated base URLs would
send the SSRF guard resolving random host names (the tests touch loopback only), and uploadFile.
Schemathesis counts every GraphQL error as a failure; tests/fuzz_checks.py says what one is here.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.gql import GraphQLClient
from tests.servers import ServerProcess

# uploadFile needs a multipart request; schemathesis sends JSON (its own tests cover it).
LEFT_OUT = ("Mutation.signOut", "Mutation.changePassword", "Mutation.setApiKey", "Mutation.uploadFile")
ROOT = Path(__file__).resolve().parent.parent
REQUEST_TIMEOUT_SECONDS = 15
EXAMPLES_PER_OPERATION = 25


async def test_schemathesis_finds_no_server_error(server: ServerProcess, tmp_path: Path) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        account = await GraphQLClient(http, server.graphql_url, server.ws_url).sign_up()
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        server.graphql_url,
        "--header",
        f"Authorization: Bearer {account.token}",
        "--checks",
        "answered_with_a_code",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--request-timeout",
        str(REQUEST_TIMEOUT_SECONDS),
        "--seed",
        "20261204",
        "--generation-database",
        "none",
        "--report-dir",
        str(tmp_path),
        "--no-color",
        *(argument for name in LEFT_OUT for argument in ("--exclude-name", name)),
    ]
    # A hang shows up as the request timeout inside schemathesis, and as this overall limit.
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_checks", "PYTHONPATH": str(ROOT)}
    result = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env, check=False
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    tested = re.search(r"Tested: (\d+)", report)
    assert tested is not None, report
    assert int(tested.group(1)) >= 20, report  # every root field but the ones left out
