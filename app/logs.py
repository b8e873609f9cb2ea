"""Logging set-up with a filter that scrubs anything shaped like a secret."""

from __future__ import annotations

import logging
import re

_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\blla_[A-Za-z0-9_-]{16,}"),  # our own session tokens
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),  # OpenAI, Anthropic and many compatible servers
    re.compile(r"\bAIza[A-Za-z0-9_-]{20,}"),  # Google API keys
    re.compile(r"(?i)((?:api[_-]?key|password|secret|token|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
)


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[REDACTED]", text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces every internal plugin at INFO; keep its "Running upgrade" lines only.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # One line per upstream request is noise at INFO, and URLs of user endpoints are not for the log.
    for name in ("httpx", "httpx2", "google_genai"):
        logging.getLogger(name).setLevel(logging.WARNING)
