"""Time one `Dispatcher.complete` (and one whole stream) against the noop provider and a loopback
fake OpenAI upstream (run by hand: PYTHONPATH=src:. python bench/dispatch_timeit.py).

Prints the best of a few rounds, in microseconds per call: wall time (for the fake, the loopback
round trip and the fake's own work included), and the CPU time of the calling thread alone
(`cpu`: the dispatcher's own cost plus the adapter's build and parse; the fake answers from a
thread of its own, so its work is not counted there).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from tests.fakes.fake_openai import FakeOpenAI

from farebox.config import parse_config
from farebox.pipeline.dispatch import Dispatcher
from farebox.providers.base import Target
from farebox.providers.registry import build_adapters
from farebox.routing.catalog import Catalog, adapter_features

CONFIG = """
tiers: {t: {rank: 1, rpm: 60}}
providers:
  noop: {kind: noop}
  fake: {kind: openai, base_url: "%s"}
models:
  noop-test: {tier: t, context: 8192, max_output: 1024, price: {input: 1, output: 1},
              deployments: [{provider: noop, model: noop-test}]}
  fake-model: {tier: t, context: 8192, max_output: 1024, price: {input: 1, output: 1},
               deployments: [{provider: fake, model: m}]}
"""
BODY = {"model": "x", "messages": [{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "Say hello to the benchmark, please."}],
        "temperature": 0.2, "max_tokens": 64}


async def best_us(call: Callable[[], Awaitable[object]], number: int, rounds: int = 7) -> str:
    for _ in range(50):  # warm up: pools, caches
        await call()
    wall = cpu = float("inf")
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.thread_time()
        for _ in range(number):
            await call()
        wall = min(wall, (time.perf_counter() - start) / number)
        cpu = min(cpu, (time.thread_time() - start_cpu) / number)
    return f"{wall * 1e6:7.1f} us (cpu {cpu * 1e6:6.1f})"


async def run(dispatcher: Dispatcher, targets: dict[str, Target]) -> None:
    for name, target in targets.items():
        number = 2000 if name == "noop-test" else 500

        async def complete(t: Target = target) -> object:
            return await dispatcher.complete(t, dict(BODY))

        async def stream(t: Target = target) -> object:
            first, batches = await dispatcher.open_stream(t, dict(BODY, stream=True))
            return first + [c async for batch in batches for c in batch]

        print(f"{name:12} complete {await best_us(complete, number)}   stream {await best_us(stream, number // 2)}",
              flush=True)
    await dispatcher.close()


def main() -> None:
    fake = FakeOpenAI().start()
    try:
        config = parse_config(CONFIG % fake.base_url, "bench")
        adapters = build_adapters(config)
        catalog = Catalog(config, adapter_features(adapters))
        targets = {m: catalog.get(m).targets[0] for m in ("noop-test", "fake-model")}
        asyncio.run(run(Dispatcher(adapters), targets))
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
