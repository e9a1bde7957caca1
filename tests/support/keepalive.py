"""A keep-alive HTTP/1.1 client for tests that send thousands of requests to one gateway."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

from tests.support.http import Reply


class KeepAlive:
    def __init__(self, base_url: str, key: str | None = None, timeout: float = 30) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method: str, path: str, json_body: Any = None, content: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        sent = dict(self.headers, **(headers or {}))
        if json_body is not None:
            content = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        for attempt in (1, 2):
            try:
                self._conn.request(method, self.prefix + path, body=content, headers=sent)
                resp = self._conn.getresponse()
                return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._conn.close()  # the server closed an idle connection: open a new one once
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, json_body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, json_body, **kwargs)

    def close(self) -> None:
        self._conn.close()
