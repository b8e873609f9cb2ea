"""The suite-wide secret watch: every secret the tests use, every log line and every error they see.

The GraphQL client notes passwords, passphrases and keys it sends and tokens it receives, and keeps
every error it is answered with; each app server registers its log file; the fake upstream knows
every provider key that reached it; in-process log records are captured too. At the end of the run
(conftest's ``no_secret_leaks``) none of those secrets may appear in any of those texts.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Variable names under which the tests send secrets (CHANGE_PASSWORD uses $c/$n, SET_KEY $k).
SECRET_VARIABLES = re.compile(r"pass|^key$|^k$|^c$|^n$", re.IGNORECASE)
MIN_SECRET_LENGTH = 12  # shorter strings are test noise ("wrong", "short"), not secrets worth a search

secrets: set[str] = set()
errors: list[str] = []
log_paths: list[Path] = []
log_lines: list[str] = []
summary = ""  # what the last scan covered, for the end of the run


def note_secret(value: object) -> None:
    if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
        secrets.add(value)


def note_request(variables: dict[str, Any] | None) -> None:
    for name, value in (variables or {}).items():
        if SECRET_VARIABLES.search(name):
            note_secret(value)


def note_response(body: Any) -> None:
    for token in _values_named(body, "token"):
        note_secret(token)
    if isinstance(body, dict) and body.get("errors"):
        errors.append(json.dumps(body["errors"]))


def note_stream_error(payload: Any) -> None:
    errors.append(json.dumps(payload))


def _values_named(node: Any, name: str) -> Iterable[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == name:
                yield value
            yield from _values_named(value, name)
    elif isinstance(node, list):
        for item in node:
            yield from _values_named(item, name)


class _Capture(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            log_lines.append(self.format(record))
        except Exception:  # a test's deliberately odd record must not break the capture
            log_lines.append(str(record.msg))


def capture_logs() -> logging.Handler:
    handler = _Capture(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def find_leaks(known: Iterable[str], texts: dict[str, str]) -> list[str]:
    """``where: secret…`` for each secret found in a text (the secret itself shortened)."""
    found = []
    for secret in known:
        if len(secret) < MIN_SECRET_LENGTH:
            continue
        for where, text in texts.items():
            if secret in text:
                found.append(f"{where}: {secret[:6]}…")
    return found


def all_texts() -> dict[str, str]:
    texts = {str(path): path.read_text(errors="replace") for path in log_paths if path.exists()}
    texts["in-process logs"] = "\n".join(log_lines)
    texts["errors returned"] = "\n".join(errors)
    return texts
