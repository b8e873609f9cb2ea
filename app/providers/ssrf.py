"""The guard on user-supplied endpoints (OpenAI-compatible servers): no way into the private network.

A user's base URL is checked twice: when it is stored (scheme, no credentials,
and every address its host resolves to must be public) and at every connection.
At connection time the transport resolves the host itself, checks each address,
and connects to the address it checked, so a DNS answer that changes between
check and use (rebinding) cannot steer it inside. TLS still verifies the
certificate against the host name. Redirects are never followed, and no proxy
from the environment is used (a proxy would do its own resolution).

``ALLOW_PRIVATE_ENDPOINTS=true`` lifts the address rule, for self-hosters whose
Ollama or vLLM runs next door.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore2
import httpx2
from httpcore2 import AsyncNetworkBackend, AsyncNetworkStream

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


class ForbiddenEndpoint(OSError):
    """The endpoint resolves to an address users may not reach (or not at all)."""


def forbidden_reason(address: IPAddress) -> str | None:
    """Why a user-supplied endpoint may not connect to ``address``; None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        if address.sixtofour is not None or address.teredo is not None:
            return "an IPv6 address that tunnels to IPv4"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a carrier-grade NAT address"
    if address.is_private or address.is_reserved or not address.is_global:
        return "a private or reserved address"
    return None


_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


def check_url_shape(url: str) -> tuple[str, int]:
    """The host and port of an acceptable endpoint URL, or ValueError saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("has no host")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError("has an invalid port") from None
    return parts.hostname, port


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def allowed_addresses(host: str, port: int, *, allow_private: bool, resolver: Resolver) -> list[IPAddress]:
    """Every address ``host`` resolves to, provided all of them may be reached."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    try:
        addresses = [literal] if literal is not None else await resolver(host, port)
    except OSError as error:
        raise ForbiddenEndpoint(f"the host {host!r} does not resolve") from error
    if not addresses:
        raise ForbiddenEndpoint(f"the host {host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = forbidden_reason(address)
            if reason is not None:
                raise ForbiddenEndpoint(f"the host {host!r} resolves to {reason}")
    return list(dict.fromkeys(addresses))


class GuardedBackend(AsyncNetworkBackend):
    """Connects only to checked addresses: resolution and check happen here, once, per connection."""

    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        self._inner = httpcore2.AnyIOBackend()
        self._allow_private = allow_private
        self._resolver = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncNetworkStream:
        addresses = await allowed_addresses(host, port, allow_private=self._allow_private, resolver=self._resolver)
        *earlier, last = addresses
        for address in earlier:  # the next address when one does not answer, as any client does
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout):
                continue
        return await self._inner.connect_tcp(
            str(last), port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(self, *_args: Any, **_kwargs: Any) -> AsyncNetworkStream:
        raise ForbiddenEndpoint("unix sockets are not endpoints")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    def __init__(self, *, allow_private: bool, limits: httpx2.Limits, resolver: Resolver = system_resolver) -> None:
        super().__init__(trust_env=False, limits=limits)
        ssl_context = self._pool._ssl_context  # the verified default context httpx2 built
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow_private=allow_private, resolver=resolver),
        )
