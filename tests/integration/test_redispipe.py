"""ScriptPipe against a real redis-server: concurrent calls share round trips and each gets its
own reply; a Lua error stays with its caller; NOSCRIPT after a flush is recovered; a dead server
fails the whole batch with redis-py's ConnectionError; cancelled callers never break a batch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, ResponseError

from farebox.storage.redispipe import ScriptPipe, script_pipe
from tests.support.redis_server import REDIS_SERVER, RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")]

ECHO = "if ARGV[1] == 'bad' then return redis.error_reply('boom ' .. KEYS[1]) end return {KEYS[1], ARGV[1]}"
COUNT = "return redis.call('INCR', KEYS[1])"
# Keeps the server busy for ARGV[1] ms, so that calls pile up behind it.
BUSY = """
local t0 = redis.call('TIME')
repeat local t = redis.call('TIME') until (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) >= tonumber(ARGV[1]) * 1000
return 'done'
"""



@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    # The gateway's retry policy (redisconn: none), with room for the BUSY script's replies.
    client = Redis(host="127.0.0.1", port=redis_server.port, retry=Retry(NoBackoff(), 0), socket_timeout=5,
                   socket_connect_timeout=0.5)
    yield client
    await client.aclose()


async def stats(client: Redis) -> dict[str, Any]:
    return await client.info("all")


def evalsha_calls(info: dict[str, Any]) -> int:
    return int(info.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_concurrent_calls_share_round_trips(client: Redis) -> None:
    echo, pipe = client.register_script(ECHO), script_pipe(client)
    assert script_pipe(client) is pipe  # one per client: limiters and wallet batch together
    await pipe.call(echo, ["warm"], ["up"])
    before = await stats(client)
    for _ in range(5):
        replies = await asyncio.gather(*(pipe.call(echo, [f"k{i}"], [f"v{i}"]) for i in range(100)))
        assert replies == [[f"k{i}".encode(), f"v{i}".encode()] for i in range(100)]
    after = await stats(client)
    assert evalsha_calls(after) - evalsha_calls(before) == 500  # each call ran exactly once
    # Socket reads on the server ~ round trips (one more for the INFO itself): far fewer than calls.
    reads = after["total_reads_processed"] - before["total_reads_processed"]
    assert reads <= 5 * 3 + 1, reads


async def test_idle_call_goes_out_alone_and_at_once(client: Redis) -> None:
    echo, pipe = client.register_script(ECHO), ScriptPipe(client)
    for i in range(20):  # one at a time: each is its own round trip, nothing waits for company
        assert await asyncio.wait_for(pipe.call(echo, ["k"], [str(i)]), 1) == [b"k", str(i).encode()]
    assert pipe.batches == 0


async def test_lua_error_stays_with_its_caller(client: Redis) -> None:
    echo, pipe = client.register_script(ECHO), ScriptPipe(client)
    args = ["bad" if i in (0, 7, 8) else str(i) for i in range(20)]  # 0 goes alone, 7 and 8 in the batch
    replies = await asyncio.gather(*(pipe.call(echo, [f"k{i}"], [a]) for i, a in enumerate(args)),
                                   return_exceptions=True)
    assert pipe.batches >= 1
    for i, reply in enumerate(replies):
        if args[i] == "bad":
            assert isinstance(reply, ResponseError) and str(reply) == f"boom k{i}"
        else:
            assert reply == [f"k{i}".encode(), str(i).encode()]


async def test_noscript_after_flush_is_recovered(client: Redis) -> None:
    busy, count, pipe = client.register_script(BUSY), client.register_script(COUNT), ScriptPipe(client)
    assert await pipe.call(count, ["n"], []) == 1
    await client.script_flush()
    # The first call goes alone and is reloaded by redis-py; the batch behind it gets NOSCRIPT.
    replies = await asyncio.gather(pipe.call(busy, [], [50]), *(pipe.call(count, ["n"], []) for _ in range(10)))
    assert replies[0] == b"done" and sorted(replies[1:]) == list(range(2, 12))
    info = await stats(client)
    assert info["errorstat_NOSCRIPT"]["count"] >= 10 and pipe.batches >= 2
    assert await client.get("n") == b"11"  # the retried calls ran once each


async def test_dead_server_fails_the_batch_with_connection_error(redis_server: RedisServer, client: Redis) -> None:
    busy, echo, pipe = client.register_script(BUSY), client.register_script(ECHO), ScriptPipe(client)
    await pipe.call(echo, ["k"], ["v"])
    first = asyncio.ensure_future(pipe.call(busy, [], [300]))
    await asyncio.sleep(0.05)  # the server is busy with it; these queue behind it
    queued = [asyncio.ensure_future(pipe.call(echo, [f"k{i}"], ["v"])) for i in range(10)]
    await asyncio.sleep(0.05)
    redis_server.kill()
    results = await asyncio.gather(first, *queued, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results), results  # what the callers catch today
    redis_server.start()  # same port, empty: reconnects, reloads the scripts
    replies = await asyncio.gather(*(pipe.call(echo, [f"k{i}"], ["v"]) for i in range(10)))
    assert replies == [[f"k{i}".encode(), b"v"] for i in range(10)]


async def test_cancelled_callers_do_not_break_the_batch(client: Redis) -> None:
    busy, count, pipe = client.register_script(BUSY), client.register_script(COUNT), ScriptPipe(client)
    abandoned: list[Any] = []
    assert await pipe.call(count, ["warm"], []) == 1  # loaded: no NOSCRIPT round below
    first = asyncio.ensure_future(pipe.call(busy, [], [200]))
    await asyncio.sleep(0.05)
    never_sent = asyncio.ensure_future(pipe.call(count, ["dropped"], []))
    in_batch = [asyncio.ensure_future(pipe.call(busy, [], [200]))]
    in_batch += [asyncio.ensure_future(pipe.call(count, ["n"], [], abandoned.append)) for _ in range(5)]
    await asyncio.sleep(0.05)
    never_sent.cancel()  # still queued: it is dropped, never sent
    assert await first == b"done"
    await asyncio.sleep(0.05)  # the batch is in flight now
    in_batch[3].cancel()
    results = await asyncio.gather(*in_batch, return_exceptions=True)
    assert results[0] == b"done" and isinstance(results[3], asyncio.CancelledError)
    assert sorted([r for r in results[1:] if isinstance(r, int)] + abandoned) == [1, 2, 3, 4, 5]
    assert len(abandoned) == 1  # the cancelled caller's reply went to its hook
    assert await client.get("dropped") is None and await client.get("n") == b"5"
