"""The suite-wide secret watch itself (conftest's no_secret_leaks runs it over the whole run)."""

from __future__ import annotations

import logging

from tests import leaks


def test_finds_a_planted_secret_and_nothing_else() -> None:
    texts = {"server.log": "INFO app: started\nERROR app: upstream said sk-test-0123456789abcdef", "errors": "[]"}
    assert leaks.find_leaks({"sk-test-0123456789abcdef", "never-said-anywhere-123"}, texts) == ["server.log: sk-tes…"]
    assert leaks.find_leaks({"short"}, {"x": "short"}) == []  # too short to be a secret worth searching


def test_notes_what_the_client_sends_and_receives() -> None:
    leaks.note_request({"password": "a long password value", "p": "OPENAI", "k": "sk-abcdefghijklmnop"})
    assert {"a long password value", "sk-abcdefghijklmnop"} <= leaks.secrets
    assert "OPENAI" not in leaks.secrets
    leaks.note_response({"data": {"signUp": {"token": "lla_0123456789abcdefghij", "user": {}}}})
    assert "lla_0123456789abcdefghij" in leaks.secrets


def test_in_process_log_records_are_captured() -> None:
    logging.getLogger("app.test").warning("a line to find %s", "here")
    assert any("a line to find here" in line for line in leaks.log_lines)
