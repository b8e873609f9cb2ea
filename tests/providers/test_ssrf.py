"""The endpoint guard's decisions, checked as functions: no test connects to a private or public address."""

from __future__ import annotations

import ipaddress

import pytest

from app.providers import ssrf
from app.providers.ssrf import ForbiddenEndpoint, GuardedBackend, allowed_addresses, check_url_shape, forbidden_reason
from tests.fakes.upstream import FakeUpstream


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address under test; nothing binds to it
        "224.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:8.8.8.8",
        "2002:7f00:1::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    ],
)
def test_refused_addresses(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/v1", "http"),
        ("file:///etc/passwd", "http"),
        ("http://user:pw@example.com/v1", "credentials"),
        ("http:///v1", "host"),
        ("http://example.com:99999/v1", "port"),
    ],
)
def test_url_shapes(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_url_shape(url)


def test_url_shape_defaults_the_port() -> None:
    assert check_url_shape("https://api.example.com/v1") == ("api.example.com", 443)
    assert check_url_shape("http://[2001:db8::1]:8080/v1") == ("2001:db8::1", 8080)


def resolving_to(*addresses: str) -> ssrf.Resolver:
    async def resolve(host: str, port: int) -> list[ssrf.IPAddress]:
        return [ipaddress.ip_address(address) for address in addresses]

    return resolve


async def test_every_resolved_address_must_be_public() -> None:
    # One private answer among public ones is enough to refuse (DNS round-robin tricks).
    with pytest.raises(ForbiddenEndpoint, match="private"):
        await allowed_addresses("mixed.test", 443, allow_private=False, resolver=resolving_to("8.8.8.8", "10.0.0.7"))
    assert await allowed_addresses(
        "public.test", 443, allow_private=False, resolver=resolving_to("8.8.8.8", "8.8.8.8")
    ) == [ipaddress.ip_address("8.8.8.8")]


async def test_allow_private_lifts_the_address_rule_only() -> None:
    assert await allowed_addresses("ollama.lan", 11434, allow_private=True, resolver=resolving_to("192.168.1.20")) == [
        ipaddress.ip_address("192.168.1.20")
    ]


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    async def failing(host: str, port: int) -> list[ssrf.IPAddress]:
        raise OSError("no such host")

    with pytest.raises(ForbiddenEndpoint, match="does not resolve"):
        await allowed_addresses("nowhere.test", 80, allow_private=True, resolver=failing)


async def test_the_backend_refuses_before_connecting() -> None:
    backend = GuardedBackend(allow_private=False, resolver=resolving_to("169.254.169.254"))
    with pytest.raises(ForbiddenEndpoint, match="link-local"):
        await backend.connect_tcp("metadata.test", 80)


async def test_the_backend_connects_to_the_address_it_checked(upstream: FakeUpstream) -> None:
    # The name resolves (once, here) to the loopback fake: the connection goes to that address, not to
    # whatever a second lookup of the name might answer.
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> list[ssrf.IPAddress]:
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    backend = GuardedBackend(allow_private=True, resolver=resolve)
    stream = await backend.connect_tcp("rebinding.test", upstream.port)
    await stream.aclose()
    assert lookups == ["rebinding.test"]
