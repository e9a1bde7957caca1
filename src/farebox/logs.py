"""Logging: one JSON line per request on farebox.access; plain lines for everything else."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import TextIO

import msgspec

_encode = msgspec.json.Encoder().encode


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        doc = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name}
        if fields:
            doc.update(fields)
        else:
            doc["message"] = record.getMessage()
        return _encode(doc).decode()


ACCESS = "farebox.access"
FLUSH_EVERY = 1.0  # seconds an access line may wait in the buffer


class BufferedLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to a buffered stream: access lines (one per request) are flushed by a background
    thread at least every FLUSH_EVERY seconds and at shutdown, not one write syscall each;
    every other line is flushed at once."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._stopped = threading.Event()
        threading.Thread(target=self._flush_often, name="farebox-log-flush", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(line)
                if record.name != ACCESS:
                    self.stream.flush()
        except Exception:
            self.handleError(record)

    def _flush_often(self) -> None:
        while not self._stopped.wait(FLUSH_EVERY):
            self.flush()

    def close(self) -> None:
        self._stopped.set()
        self.flush()
        super().close()


def _buffered_stderr() -> TextIO | None:
    try:
        fd = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # stderr replaced by something without a file
        return None
    return open(fd, "w", buffering=1 << 16, encoding="utf-8", errors="replace")


def flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


def setup_logging(log_requests: bool = True) -> None:
    stream = _buffered_stderr()
    handler = BufferedLineHandler(stream) if stream is not None else logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger(ACCESS).setLevel(logging.INFO if log_requests else logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.Formatter.converter = time.gmtime
