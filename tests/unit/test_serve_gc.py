"""`farebox serve` moves what startup built out of the cyclic GC's reach, once the runtime has
started: a full collection then only scans what requests create."""

from __future__ import annotations

import gc

from aiohttp import web

from farebox.cli.serve import freeze_startup_heap


async def test_startup_objects_are_frozen_after_the_runtime_started() -> None:
    app = web.Application()
    built_at_startup = [{"table": list(range(100))} for _ in range(1000)]  # like a tokenizer table
    app.on_startup.append(freeze_startup_heap)
    runner = web.AppRunner(app)
    gc.unfreeze()
    try:
        await runner.setup()  # runs on_startup
        assert gc.get_freeze_count() >= len(built_at_startup)
    finally:
        await runner.cleanup()
        gc.unfreeze()
