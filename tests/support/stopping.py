"""For tests that stop or kill a gateway mid-stream: a streaming client that records what it
actually received, the process serving a connection, and the charges committed."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import openai

from farebox.storage.db import create_engine
from farebox.storage.repository import Repository


class StreamClient(threading.Thread):
    """One streaming chat request through the official openai SDK, in a thread."""

    def __init__(self, base_url: str, key: str, model: str = "m") -> None:
        super().__init__(daemon=True)
        self.sdk = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=60)
        self.model = model
        self.words = 0  # content words received ("hello " chunks from the fake upstream)
        self.request_id: str | None = None
        self.usage: Any = None  # the final usage chunk's usage: the stream completed
        self.error: BaseException | None = None
        self.client_port: int | None = None  # our end of the connection, to find the serving process
        self.started = threading.Event()  # set once a content chunk arrived (or the request failed)

    @property
    def completed(self) -> bool:
        return self.usage is not None and self.error is None

    def run(self) -> None:
        try:
            stream = self.sdk.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": "hi"}], stream=True,
                stream_options={"include_usage": True})
            network = stream.response.extensions.get("network_stream")
            if network is not None:
                self.client_port = int(network.get_extra_info("client_addr")[1])
            for chunk in stream:
                self.request_id = chunk.id.removeprefix("chatcmpl-")
                if chunk.choices and chunk.choices[0].delta.content:
                    self.words += len(chunk.choices[0].delta.content.split())
                    self.started.set()
                if chunk.usage is not None:
                    self.usage = chunk.usage
        except Exception as exc:  # the gateway stopped or was killed mid-stream
            self.error = exc
        finally:
            self.started.set()


def serving_process(pids: list[int], port: int, client_port: int) -> int | None:
    """Which of `pids` holds the server end of the loopback connection from `client_port` to
    `port` (several processes share the port with SO_REUSEPORT)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[2] == f"0100007F:{client_port:04X}":
            inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) in inodes:
                    return pid
            except OSError:
                continue
    return None


def charges(database: str) -> dict[str, dict[str, Any]]:
    """Every charge row by request id, read from the database (after the gateway stopped)."""
    async def read() -> dict[str, dict[str, Any]]:
        engine = create_engine(database)
        try:
            repo = Repository(engine)
            return {r["request_id"]: r for a in await repo.list_accounts() for r in await repo.ledger_rows(a["id"])
                    if r["kind"] == "charge"}
        finally:
            await engine.dispose()

    return asyncio.run(read())
