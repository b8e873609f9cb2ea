"""Two app instances sharing PostgreSQL and Redis: a generation on A, its subscribers on B."""

from __future__ import annotations

import asyncio

from tests.fakes.upstream import FakeUpstream, Script
from tests.generation.helpers import assert_contiguous, send, with_key
from tests.gql import GraphQLClient, follow_stream


async def test_a_subscriber_on_b_sees_everything_generated_on_a(
    client: GraphQLClient, client_b: GraphQLClient, upstream: FakeUpstream
) -> None:
    account, key = await with_key(client)
    upstream.script(key, Script(token_count=40, delay=0.02))
    sent = await send(client, account)  # the generation task runs on instance A
    message_id = sent["assistantMessage"]["id"]

    async def join_late() -> list[dict[str, object]]:
        await asyncio.sleep(0.4)  # about half of the answer is out
        return await follow_stream(client_b.ws_url, account.token, message_id)

    on_b, late_on_b, on_a = await asyncio.gather(
        follow_stream(client_b.ws_url, account.token, message_id),
        join_late(),
        follow_stream(client.ws_url, account.token, message_id),
    )
    expected = "".join(f"t{i} " for i in range(40))
    for events in (on_b, late_on_b, on_a):
        assert assert_contiguous(events) == expected
    assert on_b[-1] == on_a[-1] == late_on_b[-1]
    assert on_b[-1]["message"]["content"] == expected
    finished = await follow_stream(client_b.ws_url, account.token, message_id)
    assert finished == [on_b[-1]]


async def test_many_subscribers_across_instances_each_get_the_whole_stream(
    client: GraphQLClient, client_b: GraphQLClient, upstream: FakeUpstream
) -> None:
    account, key = await with_key(client_b)
    upstream.script(key, Script(token_count=25, delay=0.02))
    sent = await send(client_b, account)  # generated on B this time
    message_id = sent["assistantMessage"]["id"]
    followers = [follow_stream((client if n % 2 else client_b).ws_url, account.token, message_id) for n in range(6)]
    results = await asyncio.gather(*followers)
    expected = "".join(f"t{i} " for i in range(25))
    for events in results:
        assert assert_contiguous(events) == expected
