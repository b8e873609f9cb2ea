"""HTTP edges for files: the upload size cap enforced while the body streams, and signed downloads."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import service as auth_service
from app.chats import attachments
from app.infra import Infra
from app.storage.links import verify_link

MULTIPART_OVERHEAD = 64 * 1024  # the operations and map fields beside the file


class BodyLimit:
    """Refuse a request as soon as its body exceeds its limit (uploads: ``max_upload``, anything else:
    ``max_request``), before it is parsed or stored anywhere."""

    def __init__(self, app: ASGIApp, *, max_upload: int, max_request: int) -> None:
        self._app = app
        self._upload_cap = max_upload + MULTIPART_OVERHEAD
        self._request_cap = max_request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        cap = self._upload_cap if _is_multipart(scope) else self._request_cap
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await _too_large(scope, receive, send, cap, self._upload_cap)
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body.extend(message.get("body", b""))
            more = message.get("more_body", False)
            if len(body) > cap:
                await _too_large(scope, receive, send, cap, self._upload_cap)
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self._app(scope, replay, send)


def _is_multipart(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return bool(value.lower().startswith(b"multipart/form-data"))
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(scope: Scope, receive: Receive, send: Send, cap: int, upload_cap: int) -> None:
    if cap == upload_cap:
        message = f"The upload is larger than {cap - MULTIPART_OVERHEAD:,} bytes."
    else:
        message = f"The request is larger than {cap:,} bytes."
    error = {"message": message, "extensions": {"code": "BAD_USER_INPUT"}}
    response = Response(json.dumps({"data": None, "errors": [error]}), status_code=413, media_type="application/json")
    await response(scope, receive, send)


async def download(request: Request) -> Response:
    """Local storage's files, for whoever holds a link signed in the last minutes (see Attachment.url)."""
    infra: Infra = request.app.state.infra
    link = verify_link(infra.auth.secret_key, request.path_params["token"])
    if link is None:
        return JSONResponse({"error": "This link is invalid or has expired."}, status_code=404)
    found: tuple[str, str, str] | None = None
    async with infra.db.read() as session:
        if link.kind == "attachment":
            attachment = await attachments.get_attachment_for_download(session, link.object_id)
            if attachment is not None:
                found = (attachment.storage_key, attachment.content_type, attachment.filename)
        elif link.kind == "avatar":
            avatar = await auth_service.avatar_of(session, link.object_id)
            if avatar is not None:
                found = (avatar[0], avatar[1], "avatar")
    if found is None:
        return JSONResponse({"error": "This file no longer exists."}, status_code=404)
    key, content_type, filename = found
    try:
        data = await infra.storage.get(key)
    except (OSError, ValueError):
        return JSONResponse({"error": "This file no longer exists."}, status_code=404)
    disposition = "inline" if content_type.startswith("image/") or content_type == "application/pdf" else "attachment"
    headers: dict[str, Any] = {
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{_quote(filename)}",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=300",
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox",
    }
    return Response(data, media_type=content_type, headers=headers)


def _quote(filename: str) -> str:
    return quote(filename)
