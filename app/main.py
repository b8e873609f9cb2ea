"""The ASGI application: GraphQL over HTTP and websockets, health and readiness probes."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from graphql import GraphQLError
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types.unset import UnsetType

from app.auth import service as auth_service
from app.auth.service import Identity
from app.auth.tokens import parse_bearer
from app.config import Settings, ensure_secrets
from app.context import Context, build_loaders
from app.errors import RateLimited
from app.http import SecurityHeaders
from app.infra import Infra
from app.schema import build_schema, schema
from app.uploads import BodyLimit, download

logger = logging.getLogger("app")
PROBE_TIMEOUT_SECONDS = 2.0


def _infra(connection: Request | WebSocket) -> Infra:
    infra: Infra = connection.app.state.infra
    return infra


async def _identify(infra: Infra, authorization: str | None) -> Identity | None:
    token = parse_bearer(authorization)
    if token is None:
        return None
    async with infra.db.transaction() as session:
        return await auth_service.authenticate(session, infra.auth, token)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        limit = self.max_subscriptions_per_connection
        if self.connection_acknowledged and limit is not None and len(self.operations) >= limit:
            # Strawberry's own refusal carries no code; ours says what to do.
            refusal = RateLimited(f"At most {limit} operations run at once on one connection; complete one first.")
            error = GraphQLError(refusal.message, extensions={"code": refusal.code})
            await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
            return
        await super().handle_subscribe(message)

    async def shutdown(self) -> None:
        if self.context.detach_socket is not None:
            self.context.detach_socket()
        await super().shutdown()


class GraphQLApp(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWSHandler

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        infra = _infra(request)
        # Websockets authenticate once, from connection_init (see on_ws_connect), never from headers.
        identity = (
            await _identify(infra, request.headers.get("authorization")) if isinstance(request, Request) else None
        )
        return Context(
            request=request,
            response=response,
            infra=infra,
            identity=identity,
            loaders=build_loaders(infra.db, identity.user_id if identity else None),
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        authorization = next((v for k, v in params.items() if str(k).lower() == "authorization"), None)
        identity = await _identify(context.infra, authorization) if isinstance(authorization, str) else None
        if identity is None:
            raise ConnectionRejectionError
        context.sign_in_as(identity)
        websocket = context.request
        if isinstance(websocket, WebSocket):
            context.detach_socket = context.infra.sockets.attach(identity, websocket.close)
        return await super().on_ws_connect(context)


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    infra = _infra(request)
    checks: dict[str, str] = {"database": await _probe(_ping_database(infra))}
    if infra.redis is not None:
        checks["redis"] = await _probe(infra.redis.ping())
    ready = all(state == "ok" for state in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )


async def _ping_database(infra: Infra) -> None:
    async with infra.db.read() as session:
        await session.execute(text("SELECT 1"))


async def _probe(check: Any) -> str:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            await check
    except Exception:
        return "unavailable"
    return "ok"


def app_from_environment() -> Starlette:
    """The app as each `serve --workers N` process builds it, from the same environment."""
    from app.config import load_settings
    from app.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def create_app(settings: Settings) -> Starlette:
    settings = ensure_secrets(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        infra = Infra.build(settings)
        await infra.start()
        app.state.infra = infra
        # Everything built so far (modules, schema, mappers, pools) lives as long as the process: out
        # of the collector's sight, a full collection no longer walks it, which cut pauses that showed
        # as latency spikes in streams.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await infra.close()

    graphql_app = GraphQLApp(
        schema if settings.graphql_introspection else build_schema(introspection=False),
        graphql_ide="graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        # Uploads authenticate by the Authorization header only (never cookies), so a cross-site form
        # cannot upload in a user's name.
        multipart_uploads_enabled=True,
        connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
        max_subscriptions_per_connection=settings.ws_max_operations,
        # Pages on other origins may open sockets only when CORS_ORIGINS lists them (same-origin and
        # non-browser clients always may).
        allowed_origins=settings.cors_origins,
    )
    graphql_http = BodyLimit(graphql_app, max_upload=settings.max_upload_bytes, max_request=settings.max_request_bytes)
    middleware = [Middleware(SecurityHeaders)]
    if settings.trusted_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=settings.trusted_hosts))
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type"],
            )
        )
    routes = [
        Route("/graphql", graphql_http, methods=["GET", "POST"]),
        Route("/files/{token}", download),
        WebSocketRoute("/graphql", graphql_app),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
