"""Raw HTTP for tests that need what an SDK hides (exact bytes, odd content types, methods)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode()

    def json(self) -> Any:
        return json.loads(self.content)


def request(method: str, url: str, *, headers: dict[str, str] | None = None, json_body: Any = None,
            content: bytes | None = None, timeout: float = 30) -> Reply:
    headers = dict(headers or {})
    if json_body is not None:
        content = json.dumps(json_body).encode()
        headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=content, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


def get(url: str, **kwargs: Any) -> Reply:
    return request("GET", url, **kwargs)


def post(url: str, **kwargs: Any) -> Reply:
    return request("POST", url, **kwargs)


def delete(url: str, **kwargs: Any) -> Reply:
    return request("DELETE", url, **kwargs)
