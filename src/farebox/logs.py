"""Logging: one JSON line per request on farebox.access; plain lines for everything else."""

from __future__ import annotations

import logging
import sys
import time

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


def setup_logging(log_requests: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("farebox.access").setLevel(logging.INFO if log_requests else logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.Formatter.converter = time.gmtime
