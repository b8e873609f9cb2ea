"""Streaming benchmark: N concurrent conversations through the whole path, against the upstream alone.

    python bench/stream.py [--conversations 50] [--tokens 50] [--interval-ms 20] [--ramp-ms 500] [--embedded]

Full path: sendMessage (HTTP) -> the real OpenAI SDK in the app -> fake upstream (its own process)
-> broker (Redis, or memory with --embedded) -> messageStream over a graphql-transport-ws websocket.
Baseline: the same scripted streams read directly from the fake upstream with httpx.
Conversations start evenly spread over --ramp-ms (default 500 ms, well inside one stream's
duration, so all N run at once); --ramp-ms 0 starts them all in the same instant. One unmeasured
round warms the server up first (--no-warmup measures a cold server).

The fake stamps each chunk with time.monotonic() as it sends it (CLOCK_MONOTONIC is one clock for
every process on the machine), so per-token lag is measured chunk by chunk: arrival - emission.
Prints added time-to-first-token and added per-token lag (p50, p99), tokens lost, and the app
server's peak resident memory. Needs PostgreSQL and Redis for the default shape (`make services`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import migrate  # noqa: E402
from tests.gql import MESSAGE_STREAM, SIGN_UP, ws_connect  # noqa: E402
from tests.servers import TEST_MASTER_KEY, TEST_SECRET_KEY, ServerProcess, free_port  # noqa: E402

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
SEND = """
mutation($input: SendMessageInput!) { sendMessage(input: $input) { assistantMessage { id } } }
"""


@dataclass
class Run:
    started: float = 0.0
    subscribed: float = 0.0  # when the client sent `subscribe` (the baseline reads from its request)
    arrivals: dict[int, float] = field(default_factory=dict)  # chunk index -> arrival time
    text: str = ""
    final_content: str | None = None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return f"p50 {percentile(values, 50) * 1000:7.2f} ms   p99 {percentile(values, 99) * 1000:7.2f} ms"


def added(full: list[float], base: list[float]) -> str:
    p50 = (percentile(full, 50) - percentile(base, 50)) * 1000
    p99 = (percentile(full, 99) - percentile(base, 99)) * 1000
    return f"p50 {p50:7.2f} ms   p99 {p99:7.2f} ms"


async def script(http: httpx.AsyncClient, upstream: str, key: str, tokens: int, interval: float) -> None:
    body = {"api_key": key, "scripts": [{"token_count": tokens, "delay": interval}]}
    (await http.post(f"{upstream}/_control/script", json=body)).raise_for_status()


async def emitted(http: httpx.AsyncClient, upstream: str, key: str) -> list[float]:
    response = await http.get(f"{upstream}/_control/emitted", params={"api_key": key})
    stamps: list[float] = response.json()["emitted"]
    return stamps


async def direct(http: httpx.AsyncClient, upstream: str, key: str, delay: float) -> Run:
    await asyncio.sleep(delay)
    run = Run(started=time.monotonic())
    run.subscribed = run.started
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    headers = {"authorization": f"Bearer {key}"}
    index = 0
    async with http.stream("POST", f"{upstream}/v1/chat/completions", json=body, headers=headers) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:]).get("choices") or []
            text = choices[0]["delta"].get("content") if choices else None
            if text:
                run.arrivals[index] = time.monotonic()
                run.text += text
                index += 1
    return run


async def full_path(http: httpx.AsyncClient, server: ServerProcess, token: str, delay: float) -> Run:
    await asyncio.sleep(delay)
    run = Run(started=time.monotonic())
    payload = {"content": "hi", "provider": "OPENAI", "model": "gpt-4o"}
    response = await http.post(
        server.graphql_url,
        json={"query": SEND, "variables": {"input": payload}},
        headers={"authorization": f"Bearer {token}"},
    )
    message_id = response.json()["data"]["sendMessage"]["assistantMessage"]["id"]
    async with ws_connect(server.ws_url, {"authorization": f"Bearer {token}"}) as ws:
        await ws.receive()
        run.subscribed = time.monotonic()
        await ws.subscribe(MESSAGE_STREAM, {"id": message_id})
        while (message := await ws.receive())["type"] == "next":
            event: dict[str, Any] = message["payload"]["data"]["messageStream"]
            now = time.monotonic()
            if event["__typename"] == "MessageDelta":
                for index in range(event["index"], event["index"] + event["count"]):
                    run.arrivals[index] = now
                run.text += event["text"]
            else:
                run.final_content = event["message"]["content"]
    return run


def lags(runs: list[Run], stamps: list[list[float]]) -> tuple[list[float], list[float], list[float]]:
    """Time to first token; lag of every token from its emission; lag once the client had subscribed.

    The last one counts a token emitted before the client subscribed from the moment it subscribed:
    a client cannot receive what it has not asked for yet, and the first figure already shows that.
    """
    ttft, per_token, subscribed = [], [], []
    for run, emitted_at in zip(runs, stamps, strict=True):
        if run.arrivals:
            ttft.append(run.arrivals[min(run.arrivals)] - run.started)
        for index, arrived in run.arrivals.items():
            if index < len(emitted_at):
                per_token.append(arrived - emitted_at[index])
                subscribed.append(arrived - max(emitted_at[index], run.subscribed))
    return ttft, per_token, subscribed


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's workers)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            pids.extend(process_tree(int(child)))
    return pids


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for member in process_tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def peak_rss_mib(pid: int) -> float:
    """Sum of each process's peak resident memory (an upper bound of the tree's peak)."""
    total = 0
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--ramp-ms", type=float, default=500.0, help="spread the starts over this long")
    parser.add_argument("--embedded", action="store_true", help="SQLite + in-process broker instead")
    parser.add_argument("--workers", type=int, default=1, help="app server processes (not with --embedded)")
    parser.add_argument(
        "--no-warmup", dest="warmup", action="store_false", help="measure the very first round of a cold server"
    )
    args = parser.parse_args()
    n, tokens, interval = args.conversations, args.tokens, args.interval_ms / 1000
    delays = [args.ramp_ms / 1000 * i / n for i in range(n)]
    workdir = Path(tempfile.mkdtemp(prefix="lla-bench-"))

    upstream_port = free_port()
    upstream_proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.upstream", "--port", str(upstream_port), cwd=ROOT
    )
    upstream = f"http://127.0.0.1:{upstream_port}"
    env = {"OPENAI_BASE_URL": f"{upstream}/v1", "LOG_LEVEL": "WARNING"}
    database = None
    if not args.embedded:
        database = f"lla_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'CREATE DATABASE "{database}"')
        await admin.close()
        url = ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{database}"
        await migrate.upgrade(url)
        env |= {
            "DATABASE_URL": url,
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": TEST_SECRET_KEY,
            "MASTER_KEY": TEST_MASTER_KEY,
        }
    workers = ["--workers", str(args.workers)]
    server = ServerProcess(env, cwd=workdir, log_path=workdir / "server.log", extra_args=workers)
    try:
        limits = httpx.Limits(max_connections=4 * n, max_keepalive_connections=4 * n)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            for _ in range(50):
                try:
                    (await http.get(f"{upstream}/v1/models")).raise_for_status()
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            # Baseline: the upstream alone.
            direct_keys = [f"sk-direct-{uuid.uuid4().hex}" for _ in range(n)]
            for key in direct_keys:
                await script(http, upstream, key, tokens, interval)
            direct_runs = await asyncio.gather(
                *(direct(http, upstream, key, delay) for key, delay in zip(direct_keys, delays, strict=True))
            )
            direct_stamps = [await emitted(http, upstream, key) for key in direct_keys]

            # Full path: one account and key per conversation, so the upstream scripts and stamps apart.
            tokens_by_user, keys = [], []
            for i in range(n):
                signed = await http.post(
                    server.graphql_url,
                    json={
                        "query": SIGN_UP,
                        "variables": {"email": f"bench{i}@example.com", "password": "benchmark pw"},
                    },
                )
                token = signed.json()["data"]["signUp"]["token"]
                key = f"sk-bench-{uuid.uuid4().hex}"
                await http.post(
                    server.graphql_url,
                    headers={"authorization": f"Bearer {token}"},
                    json={
                        "query": "mutation($k: String!) { setApiKey(provider: OPENAI, key: $k) { id } }",
                        "variables": {"k": key},
                    },
                )
                tokens_by_user.append(token)
                keys.append(key)

            async def round_of_conversations() -> list[Run]:
                for key in keys:
                    await script(http, upstream, key, tokens, interval)
                return await asyncio.gather(
                    *(full_path(http, server, t, delay) for t, delay in zip(tokens_by_user, delays, strict=True))
                )

            if args.warmup:
                # A server that has served before: pools filled, caches and lazy imports warm.
                await round_of_conversations()
            already = [len(await emitted(http, upstream, key)) for key in keys]
            print(f"streaming through server pid {server.process.pid}", flush=True)
            await asyncio.sleep(float(os.environ.get("BENCH_PAUSE", "0")))  # time to attach a profiler
            cpu_before, wall_before = cpu_seconds(server.process.pid), time.monotonic()
            own_before, upstream_before = time.process_time(), cpu_seconds(upstream_proc.pid)
            full_runs = await round_of_conversations()
            server_cpu = cpu_seconds(server.process.pid) - cpu_before
            wall = time.monotonic() - wall_before
            own_cpu = time.process_time() - own_before
            upstream_cpu = cpu_seconds(upstream_proc.pid) - upstream_before
            full_stamps = [(await emitted(http, upstream, key))[skip:] for key, skip in zip(keys, already, strict=True)]

        expected = "".join(f"t{i} " for i in range(tokens))
        lost = sum(tokens - len(run.arrivals) for run in full_runs)
        wrong = sum(1 for run in full_runs if run.text != expected or run.final_content != expected)
        direct_ttft, direct_lag, _ = lags(direct_runs, direct_stamps)
        full_ttft, full_lag, live_lag = lags(full_runs, full_stamps)
        added_ttft = [f - d for f, d in zip(sorted(full_ttft), sorted(direct_ttft), strict=False)]
        shape = "embedded (SQLite + memory broker)" if args.embedded else "PostgreSQL + Redis"
        print(f"{n} conversations x {tokens} tokens every {args.interval_ms:g} ms, started within {args.ramp_ms:g} ms")
        print(f"  {shape}, {args.workers} server process(es)")
        print(f"  time to first token, upstream alone   {summary(direct_ttft)}")
        print(f"  time to first token, full path       {summary(full_ttft)}")
        print(f"  added time to first token             {summary(added_ttft)}")
        print(f"  per-token lag, upstream alone          {summary(direct_lag)}")
        print(f"  per-token lag, full path               {summary(full_lag)}")
        print(f"  added per-token lag                    {added(full_lag, direct_lag)}")
        print(f"  added per-token lag once subscribed    {added(live_lag, direct_lag)}")
        print(f"  tokens lost {lost}, conversations with wrong text {wrong}")
        per_conversation = server_cpu / n * 1000
        print(f"  server CPU {server_cpu:.2f} s in {wall:.2f} s ({per_conversation:.1f} ms a conversation)")
        print(f"  same {os.cpu_count()} cores: bench clients {own_cpu:.2f} s CPU, fake upstream {upstream_cpu:.2f} s")
        print(f"  peak server memory {peak_rss_mib(server.process.pid):.1f} MiB")
    finally:
        server.stop()
        upstream_proc.terminate()
        await upstream_proc.wait()
        if database is not None:
            admin = await asyncpg.connect(ADMIN_URL)
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
