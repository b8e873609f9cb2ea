"""Real faults for the tests: a TCP fault proxy and a throw-away redis-server.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from pathlib import Path

from tests.servers import free_port


class FaultProxy:
    """Forwards 127.0.0.1:<port> to a target, with faults on demand: added latency, a reset of every
    open connection, a stall (bytes held, connections kept), and a byte limit after which it resets."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.latency = 0.0
        self.byte_limit: int | None = None
        self._stalled = asyncio.Event()
        self._stalled.set()  # set = flowing
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.bytes_forwarded = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self.reset()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def reset(self) -> None:
        """Drop every open connection at once (RST where the OS allows), as a crash or a network cut would."""
        for writer in list(self._writers):
            transport = writer.transport
            with contextlib.suppress(Exception):
                transport.abort()
        self._writers.clear()

    def stall(self) -> None:
        self._stalled.clear()

    def resume(self) -> None:
        self._stalled.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))
        await asyncio.gather(
            self._pipe(reader, upstream_writer, writer), self._pipe(upstream_reader, writer, upstream_writer)
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, other: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await reader.read(65536):
                await self._stalled.wait()
                if self.latency:
                    await asyncio.sleep(self.latency)
                self.bytes_forwarded += len(data)
                if self.byte_limit is not None and self.bytes_forwarded > self.byte_limit:
                    self.reset()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for side in (writer, other):
                self._writers.discard(side)
                side.transport.abort()


class RedisServer:
    """A redis-server of the test's own, on a free loopback port, that can be restarted."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self, down_for: float = 0.5) -> None:
        """Kill it (its data is gone, as in a crash without persistence) and start it again."""
        self.stop()
        time.sleep(down_for)
        self.start()
