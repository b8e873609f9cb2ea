"""A fake LLM upstream: a real HTTP server speaking OpenAI's and Gemini's streaming wire formats.

The app's real SDKs talk to it over loopback. Each request is scripted by the
API key it carries (every test uses its own key): token count or texts, pacing,
an HTTP error before streaming, a dropped connection or a stall after K
tokens. Every request is recorded, so tests can assert on what the provider saw.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.servers import free_port

OPENAI_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1")
GEMINI_MODELS = ("gemini-2.0-flash", "gemini-2.5-pro")
ANTHROPIC_MODELS = ("claude-3-5-haiku-latest", "claude-sonnet-4-5")
UNKNOWN_MODEL = "no-such-model"
REJECTED_KEY_PREFIX = "rejected-"  # refused everywhere
REVOKED_KEY_PREFIX = "revoked-"  # lists models (it was fine when stored) but is refused when chatting
UNLISTED_KEY_PREFIX = "nolist-"  # the model list fails with a 500
SLOW_LIST_KEY_PREFIX = "slowlist-"  # the model list takes SLOW_LIST_SECONDS to answer
SLOW_LIST_SECONDS = 3.0


@dataclass
class Script:
    tokens: list[str] | None = None
    token_count: int = 8
    delay: float = 0.0  # seconds between chunks
    first_delay: float = 0.0
    status: int | None = None  # answer with this HTTP error instead of a stream
    retry_after: float | None = None
    drop_after: int | None = None  # close the connection abruptly after this many tokens
    stall_after: int | None = None  # stop sending (but keep the connection) after this many tokens

    def texts(self) -> list[str]:
        if self.tokens is not None:
            return self.tokens
        return [f"t{i} " for i in range(self.token_count)]


@dataclass
class Recorded:
    provider: str
    api_key: str
    model: str
    system: str | None
    turns: list[tuple[str, str]]
    temperature: float | None
    max_tokens: int | None
    body: dict[str, Any]
    received_at: float = field(default_factory=time.monotonic)
    files: list[str] = field(default_factory=list)  # content types of image/document parts, in order


class FakeUpstream:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._scripts: dict[str, deque[Script]] = defaultdict(deque)
        self._requests: list[Recorded] = []
        self._emitted: dict[str, list[float]] = defaultdict(list)  # monotonic send time of each chunk, per key
        self._aborted: set[str] = set()
        self._listings: dict[str, int] = {}  # keys whose stream the client closed before its end
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def gemini_base_url(self) -> str:
        return self.url

    def script(self, api_key: str, *scripts: Script) -> None:
        """Queue scripts for the next requests made with ``api_key`` (later ones use the default)."""
        with self._lock:
            self._scripts[api_key].extend(scripts)

    def requests(self, api_key: str) -> list[Recorded]:
        with self._lock:
            return [request for request in self._requests if request.api_key == api_key]

    def seen_keys(self) -> set[str]:
        """Every provider key that reached this server, in a chat or a model list."""
        with self._lock:
            return {request.api_key for request in self._requests} | set(self._listings)

    def aborted(self, api_key: str) -> bool:
        """Whether a client closed a stream of this key before it ended (a real cancellation)."""
        with self._lock:
            return api_key in self._aborted

    async def _tracked(self, api_key: str, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for chunk in body:
                yield chunk
        except (asyncio.CancelledError, GeneratorExit):
            with self._lock:
                self._aborted.add(api_key)
            raise

    def model_listings(self, api_key: str) -> int:
        """How many times the model list was asked for with this key."""
        with self._lock:
            return self._listings.get(api_key, 0)

    async def _listing_failure(self, api_key: str) -> Response | None:
        with self._lock:
            self._listings[api_key] = self._listings.get(api_key, 0) + 1
        if api_key.startswith(SLOW_LIST_KEY_PREFIX):
            await asyncio.sleep(SLOW_LIST_SECONDS)
        if api_key.startswith(UNLISTED_KEY_PREFIX):
            return JSONResponse({"error": {"message": "listing is down", "type": "server_error"}}, status_code=500)
        return None

    def emitted(self, api_key: str) -> list[float]:
        with self._lock:
            return list(self._emitted.get(api_key, ()))

    def _stamp(self, api_key: str) -> None:
        with self._lock:
            self._emitted[api_key].append(time.monotonic())

    def _next_script(self, api_key: str) -> Script:
        with self._lock:
            queue = self._scripts.get(api_key)
            return queue.popleft() if queue else Script()

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self._requests.append(recorded)

    # --- server -----------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai_chat, methods=["POST"]),
                Route("/v1/messages", self._anthropic_messages, methods=["POST"]),
                Route("/v1/models", self._list_models, methods=["GET"]),
                Route("/v1beta/models", self._gemini_models, methods=["GET"]),
                # Gemini serves the same API under v1 (google-genai's default) and v1beta.
                Route("/v1/models/{target:path}", self._gemini_generate, methods=["POST"]),
                Route("/v1beta/models/{target:path}", self._gemini_generate, methods=["POST"]),
                # Control routes, for a fake running in another process (the benchmark).
                Route("/_control/script", self._control_script, methods=["POST"]),
                Route("/_control/emitted", self._control_emitted, methods=["GET"]),
            ]
        )

    def start(self) -> None:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-upstream", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake upstream did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    async def _control_script(self, request: Request) -> Response:
        body = await request.json()
        self.script(body["api_key"], *(Script(**script) for script in body["scripts"]))
        return JSONResponse({"ok": True})

    async def _control_emitted(self, request: Request) -> Response:
        return JSONResponse({"emitted": self.emitted(request.query_params["api_key"])})

    # --- OpenAI -------------------------------------------------------------------------------------

    async def _openai_chat(self, request: Request) -> Response:
        api_key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        body = await request.json()
        messages = body.get("messages", [])
        system = next((m["content"] for m in messages if m["role"] in ("system", "developer")), None)
        self._record(
            Recorded(
                provider="openai",
                api_key=api_key,
                model=body.get("model", ""),
                system=system,
                turns=[(m["role"], _openai_text(m["content"])) for m in messages if m["role"] in ("user", "assistant")],
                files=[
                    _openai_file_type(part)
                    for m in messages
                    if isinstance(m["content"], list)
                    for part in m["content"]
                    if part.get("type") in ("image_url", "file")
                ],
                temperature=body.get("temperature"),
                max_tokens=body.get("max_completion_tokens", body.get("max_tokens")),
                body=body,
            )
        )
        if api_key.startswith((REJECTED_KEY_PREFIX, REVOKED_KEY_PREFIX)):
            return _openai_error(401, f"Incorrect API key provided: {api_key}.", "invalid_api_key")
        if body.get("model") == UNKNOWN_MODEL:
            return _openai_error(404, f"The model `{UNKNOWN_MODEL}` does not exist.", "model_not_found")
        script = self._next_script(api_key)
        if script.status is not None:
            return _openai_error(script.status, f"Scripted failure for key {api_key}", "scripted", script.retry_after)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)

        async def events() -> AsyncIterator[bytes]:
            base = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model"),
                "system_fingerprint": "fp_fake",
            }
            first = {
                **base,
                "choices": [
                    {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
                ],
            }
            yield _sse(first)
            texts = script.texts()
            async for text in _paced(texts, script):
                self._stamp(api_key)
                chunk = {
                    **base,
                    "choices": [{"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}],
                }
                yield _sse(chunk)
            yield _sse({**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]})
            if include_usage:
                usage = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(texts),
                    "total_tokens": prompt_tokens + len(texts),
                }
                yield _sse({**base, "choices": [], "usage": usage})
            yield b"data: [DONE]\n\n"

        return StreamingResponse(self._tracked(api_key, events()), media_type="text/event-stream")

    async def _list_models(self, request: Request) -> Response:
        # /v1/models is OpenAI's, Anthropic's and Gemini's v1 list: the auth header tells them apart.
        if "x-goog-api-key" in request.headers:
            return await self._gemini_models(request)
        if "anthropic-version" in request.headers:
            return await self._anthropic_models(request)
        return await self._openai_models(request)

    async def _openai_models(self, request: Request) -> Response:
        api_key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if failure := await self._listing_failure(api_key):
            return failure
        if api_key.startswith(REJECTED_KEY_PREFIX):
            return _openai_error(401, "Incorrect API key provided.", "invalid_api_key")
        data = [
            {"id": model, "object": "model", "created": 1700000000, "owned_by": "openai"} for model in OPENAI_MODELS
        ]
        return JSONResponse({"object": "list", "data": data})

    # --- Anthropic ----------------------------------------------------------------------------------

    async def _anthropic_messages(self, request: Request) -> Response:
        api_key = _anthropic_key(request)
        body = await request.json()
        messages = body.get("messages", [])
        turns = [
            (
                m["role"],
                m["content"]
                if isinstance(m["content"], str)
                else "".join(part.get("text", "") for part in m["content"] if part.get("type") == "text"),
            )
            for m in messages
        ]
        system = body.get("system")
        self._record(
            Recorded(
                provider="anthropic",
                api_key=api_key,
                model=body.get("model", ""),
                system=system
                if isinstance(system, str) or system is None
                else "".join(b.get("text", "") for b in system),
                turns=turns,
                temperature=body.get("temperature"),
                max_tokens=body.get("max_tokens"),
                body=body,
                files=[
                    block["source"]["media_type"]
                    for m in messages
                    if isinstance(m["content"], list)
                    for block in m["content"]
                    if block.get("type") in ("image", "document")
                ],
            )
        )
        if "anthropic-version" not in request.headers:
            return _anthropic_error(400, "anthropic-version header is required", "invalid_request_error")
        if api_key.startswith((REJECTED_KEY_PREFIX, REVOKED_KEY_PREFIX)):
            return _anthropic_error(401, "invalid x-api-key", "authentication_error")
        if body.get("model") == UNKNOWN_MODEL:
            return _anthropic_error(404, f"model: {UNKNOWN_MODEL}", "not_found_error")
        if not isinstance(body.get("max_tokens"), int):
            return _anthropic_error(400, "max_tokens: Field required", "invalid_request_error")
        script = self._next_script(api_key)
        if script.status is not None:
            error_type = "overloaded_error" if script.status == 529 else "api_error"
            return _anthropic_error(script.status, f"Scripted failure for key {api_key}", error_type)
        prompt_tokens = sum(len(text.split()) for _, text in turns)

        async def events() -> AsyncIterator[bytes]:
            texts = script.texts()
            message = {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": body["model"],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": prompt_tokens, "output_tokens": 1},
            }
            yield _named_sse("message_start", {"type": "message_start", "message": message})
            yield _named_sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            )
            yield _named_sse("ping", {"type": "ping"})
            async for text in _paced(texts, script):
                self._stamp(api_key)
                yield _named_sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
                )
            yield _named_sse("content_block_stop", {"type": "content_block_stop", "index": 0})
            yield _named_sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": len(texts)},
                },
            )
            yield _named_sse("message_stop", {"type": "message_stop"})

        return StreamingResponse(self._tracked(api_key, events()), media_type="text/event-stream")

    async def _anthropic_models(self, request: Request) -> Response:
        if failure := await self._listing_failure(_anthropic_key(request)):
            return failure
        if _anthropic_key(request).startswith(REJECTED_KEY_PREFIX):
            return _anthropic_error(401, "invalid x-api-key", "authentication_error")
        data = [
            {
                "type": "model",
                "id": model,
                "display_name": model.replace("-", " ").title(),
                "created_at": "2025-02-19T00:00:00Z",
            }
            for model in ANTHROPIC_MODELS
        ]
        return JSONResponse({"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]})

    # --- Gemini -------------------------------------------------------------------------------------

    async def _gemini_generate(self, request: Request) -> Response:
        target = request.path_params["target"]
        model, _, method = target.partition(":")
        api_key = request.headers.get("x-goog-api-key", "")
        body = await request.json()
        system_parts = ((body.get("systemInstruction") or body.get("system_instruction") or {}).get("parts")) or []
        gemini_files = [
            _mime_type(part.get("inlineData") or part.get("inline_data") or {})
            for content in body.get("contents", [])
            for part in content.get("parts", [])
            if "inlineData" in part or "inline_data" in part
        ]
        config = body.get("generationConfig") or {}
        turns = [
            (
                "assistant" if content.get("role") == "model" else "user",
                "".join(part.get("text", "") for part in content.get("parts", [])),
            )
            for content in body.get("contents", [])
        ]
        self._record(
            Recorded(
                provider="gemini",
                api_key=api_key,
                model=model,
                system="".join(part.get("text", "") for part in system_parts) or None,
                turns=turns,
                temperature=config.get("temperature"),
                max_tokens=config.get("maxOutputTokens"),
                body=body,
                files=gemini_files,
            )
        )
        if method != "streamGenerateContent":
            return _gemini_error(404, f"Method {method} is not scripted.", "NOT_FOUND")
        if api_key.startswith((REJECTED_KEY_PREFIX, REVOKED_KEY_PREFIX)):
            return _gemini_error(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT")
        if model == UNKNOWN_MODEL:
            return _gemini_error(404, f"models/{model} is not found for API version v1beta.", "NOT_FOUND")
        script = self._next_script(api_key)
        if script.status is not None:
            return _gemini_error(script.status, f"Scripted failure for key {api_key}", "UNAVAILABLE")
        prompt_tokens = sum(len(text.split()) for _, text in turns)

        async def events() -> AsyncIterator[bytes]:
            texts = script.texts()
            sent = 0
            async for text in _paced(texts, script):
                self._stamp(api_key)
                sent += 1
                chunk: dict[str, Any] = {
                    "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}],
                    "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
                    "modelVersion": model,
                    "responseId": "fake-response",
                }
                if sent == len(texts):
                    chunk["candidates"][0]["finishReason"] = "STOP"
                    chunk["usageMetadata"] = {
                        "promptTokenCount": prompt_tokens,
                        "candidatesTokenCount": len(texts),
                        "totalTokenCount": prompt_tokens + len(texts),
                    }
                yield _sse(chunk, crlf=True)
            if not texts:
                yield _sse(
                    {
                        "candidates": [
                            {"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0}
                        ],
                        "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
                    },
                    crlf=True,
                )

        return StreamingResponse(self._tracked(api_key, events()), media_type="text/event-stream")

    async def _gemini_models(self, request: Request) -> Response:
        api_key = request.headers.get("x-goog-api-key", "")
        if failure := await self._listing_failure(api_key):
            return failure
        if api_key.startswith(REJECTED_KEY_PREFIX):
            return _gemini_error(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT")
        models = [
            {
                "name": f"models/{model}",
                "displayName": model.replace("-", " ").title(),
                "inputTokenLimit": 1048576,
                "outputTokenLimit": 8192,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            }
            for model in GEMINI_MODELS
        ]
        return JSONResponse({"models": models})


class DroppedConnection(Exception):
    """Raised inside a streaming body: the server closes the connection without ending the response."""


async def _paced(texts: list[str], script: Script) -> AsyncIterator[str]:
    if script.first_delay:
        await asyncio.sleep(script.first_delay)
    for position, text in enumerate(texts):
        if script.drop_after is not None and position >= script.drop_after:
            raise DroppedConnection
        if script.stall_after is not None and position >= script.stall_after:
            await asyncio.sleep(3600)
        if position and script.delay:
            await asyncio.sleep(script.delay)
        yield text


def _sse(payload: dict[str, Any], *, crlf: bool = False) -> bytes:
    end = "\r\n\r\n" if crlf else "\n\n"
    return f"data: {json.dumps(payload)}{end}".encode()


def _mime_type(blob: dict[str, Any]) -> str:
    return str(blob.get("mimeType") or blob.get("mime_type") or "")


def _openai_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def _openai_file_type(part: dict[str, Any]) -> str:
    url = part["image_url"]["url"] if part["type"] == "image_url" else part["file"]["file_data"]
    return str(url).removeprefix("data:").split(";", 1)[0]


def _anthropic_key(request: Request) -> str:
    # Anthropic accepts the key as x-api-key or as a bearer token; SDK versions differ in which they send.
    return request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ").strip()


def _named_sse(event: str, payload: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode()


def _anthropic_error(status: int, message: str, error_type: str) -> Response:
    return JSONResponse({"type": "error", "error": {"type": error_type, "message": message}}, status_code=status)


def _openai_error(status: int, message: str, code: str, retry_after: float | None = None) -> Response:
    kind = {401: "invalid_request_error", 404: "invalid_request_error", 429: "rate_limit_exceeded"}.get(
        status, "server_error"
    )
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    if 300 <= status < 400:
        headers["location"] = "http://127.0.0.1:9/elsewhere"  # where a client that follows would go
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _gemini_error(status: int, message: str, reason: str) -> Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": reason}
    if "API key not valid" in message:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
    return JSONResponse({"error": error}, status_code=status)


def main() -> None:
    """Serve the fake on its own: ``python -m tests.fakes.upstream --port 9999`` (used by bench/)."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    fake = FakeUpstream()
    uvicorn.run(fake.app(), host="127.0.0.1", port=args.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
