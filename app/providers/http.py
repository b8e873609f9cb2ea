"""Connection pools shared by every provider client of this process.

Building an SDK client is costly (TLS contexts, pools), so clients share these
transports. Keys never live here: each request's client carries its own key.
"""

from __future__ import annotations

import ssl

import certifi
import httpx2

from app.providers.ssrf import GuardedTransport

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0


class ProviderHttp:
    def __init__(self, *, allow_private_endpoints: bool = False) -> None:
        timeout = httpx2.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT, write=30.0, pool=CONNECT_TIMEOUT)
        limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
        # No redirects: a provider that redirects is answering something else than asked.
        self.async_client = httpx2.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)
        # google-genai builds a sync client too unless given one; it is never used for requests here.
        self.sync_client = httpx2.Client(timeout=timeout, follow_redirects=False)
        # For endpoints users supply (OpenAI-compatible servers): checked addresses only.
        self.guarded_client = httpx2.AsyncClient(
            transport=GuardedTransport(allow_private=allow_private_endpoints, limits=limits),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
        )
        # google-genai otherwise loads the CA bundle for every client (tens of milliseconds each).
        self.ssl_context = ssl.create_default_context(cafile=certifi.where())

    async def aclose(self) -> None:
        await self.async_client.aclose()
        await self.guarded_client.aclose()
        self.sync_client.close()
