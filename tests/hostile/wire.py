"""Requests written byte for byte on a socket: what urllib and requests refuse to send (bad
UTF-8 in headers, 64 KB header lines, bodies that stop midway, Expect: 100-continue)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from tests.hostile.verdict import fault
from tests.support.gateway import Gateway


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def fault(self) -> str | None:
        return fault(self.status, self.headers.get("content-type", ""), self.body)


def connect(gateway: Gateway, timeout: float = 10) -> socket.socket:
    host, port = gateway.server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def request_head(method: str, path: str, headers: dict[str, str] | list[tuple[str, str]] | None = None,
                 *, body_length: int | None = None) -> bytes:
    """The request line and headers (Connection: close added), ending with the blank line."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    items.append(("Connection", "close"))
    if body_length is not None:
        items.append(("Content-Length", str(body_length)))
    lines = [f"{method} {path} HTTP/1.1", "Host: gateway", *(f"{k}: {v}" for k, v in items)]
    return "\r\n".join(lines).encode("latin-1", "surrogateescape") + b"\r\n\r\n"


def send(gateway: Gateway, method: str, path: str, headers: dict[str, str] | list[tuple[str, str]] | None = None,
         body: bytes = b"", *, timeout: float = 10) -> Answer:
    """One whole request with a Content-Length; the answer read until the server closes."""
    length = len(body) if body or method in ("POST", "PUT", "PATCH") else None
    return exchange(gateway, request_head(method, path, headers, body_length=length) + body, timeout=timeout)


def exchange(gateway: Gateway, data: bytes, *, then_shut: bool = False, timeout: float = 10) -> Answer:
    """Writes `data` (a half-close after it with `then_shut`) and reads the answer; a server that
    says nothing within `timeout` raises TimeoutError: a hang."""
    with connect(gateway, timeout) as sock:
        started = time.monotonic()
        sock.sendall(data)
        if then_shut:
            sock.shutdown(socket.SHUT_WR)
        return read_answer(sock, started)


def read_answer(sock: socket.socket, started: float) -> Answer:
    """Reads one whole answer (past any 100 Continue), not until the close: after answering early,
    aiohttp keeps reading the unsent rest of a body for a while before it closes."""
    data = b""
    while True:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0 and data.startswith(b"HTTP/1.1 100"):
            data = data[head_end + 4:]
            continue
        if head_end >= 0 and complete(data[:head_end], data[head_end + 4:]):
            break
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:  # the answer came, then the server reset an unread request
            break
        if not chunk:
            break
        data += chunk
    return parse(data, time.monotonic() - started)


def complete(head: bytes, body: bytes) -> bool:
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        return body.endswith(b"0\r\n\r\n")
    if b"content-length:" in lower:
        return len(body) >= int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
    return head.startswith((b"HTTP/1.1 204", b"HTTP/1.1 304"))


def parse(data: bytes, seconds: float) -> Answer:
    head, _, body = data.partition(b"\r\n\r\n")
    if not head:
        raise ConnectionAbortedError("the connection closed without an answer")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = dechunk(body)
    return Answer(int(lines[0].split()[1]), headers, body, seconds)


def dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2:]
    return out
