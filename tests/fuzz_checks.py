"""Schemathesis hooks for tests/test_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

Schemathesis counts every GraphQL error as a server error; ours are answers (NOT_FOUND,
BAD_USER_INPUT …). What must never happen is a 5xx, an error without a code, or an internal one.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def answered_with_a_code(ctx: Any, response: Any, case: Any) -> None:
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}")
    body = response.json()
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code is None or code == "INTERNAL_SERVER_ERROR":
            raise AssertionError(f"an error the client cannot act on: {error}")
