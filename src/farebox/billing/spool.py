"""The charge spool: ledger rows that could not be committed yet, kept on local disk until they
are, so a charge survives the gateway being killed while the database is unreachable.

Each process appends to its own file, `charges-<pid>-<random>.jsonl` (one JSON row per line,
fsynced once per failed batch), and holds an exclusive flock on it while it lives. When every
spooled row has committed, the file is emptied. At start a process adopts the files no live
process holds (a killed gateway's, or its own from before a restart): it copies their rows into
its own file (fsynced), deletes them, and retries the rows before serving. Replaying a row that
did commit is harmless: the retry skips request ids already in the ledger.

The methods block on the disk: call them from a thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy.engine import make_url

log = logging.getLogger("farebox.ledger")

Row = dict[str, Any]
PATTERN = "charges-*.jsonl"
_decode = msgspec.json.Decoder(dict[str, Any]).decode


def default_spool_dir(database_url: str) -> Path:
    """Next to a SQLite file (`farebox.db.spool/`); for a server database, one directory per
    database under $XDG_STATE_HOME (default ~/.local/state)/farebox, so a spool is never
    replayed into another database."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().with_name(Path(url.database).name + ".spool")
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return state / "farebox" / f"spool-{digest}"


class ChargeSpool:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"charges-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self._fd: int | None = None

    def _own(self) -> int:
        """This process's file, created (and locked) on first use: a healthy gateway writes none."""
        if self._fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._fd = fd
        return self._fd

    def append(self, rows: Iterable[Row]) -> None:
        """Durably add rows: one write and one fsync for the batch."""
        data = b"".join(msgspec.json.encode(row) + b"\n" for row in rows)
        if not data:
            return
        fd = self._own()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)

    def rewrite(self, rows: list[Row]) -> None:
        """Replace the file's rows with `rows` (those still pending) after some committed."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # O_APPEND: later writes start at the new end
        if rows:
            self.append(rows)
        else:
            os.fsync(self._fd)

    def adopt(self) -> list[Row]:
        """Rows spooled by processes that are gone, moved into this process's file."""
        if not self.directory.is_dir():
            return []
        rows: list[Row] = []
        files: list[Path] = []
        for path in sorted(self.directory.glob(PATTERN)):
            if path == self.path:
                continue
            found = _read_unowned(path)
            if found is not None:
                rows.extend(found)
                files.append(path)
        unique = list({row["request_id"]: row for row in rows}.values())
        if unique:
            self.append(unique)  # durable here before the old files go
        for path in files:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return unique

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            with contextlib.suppress(OSError):
                if self.path.stat().st_size == 0:
                    self.path.unlink()


def _read_unowned(path: Path) -> list[Row] | None:
    """The rows of `path`, or None while a live process holds it. A torn last line (the
    process died mid-write, before the fsync that would have let its client go) is skipped."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        with os.fdopen(os.dup(fd), "rb") as file:
            lines = file.read().splitlines()
    finally:
        os.close(fd)
    rows = []
    for line in lines:
        try:
            row = _decode(line)
        except msgspec.DecodeError:
            log.warning("skipping a torn line in the charge spool %s", path)
            continue
        if row.get("request_id"):
            rows.append(row)
    return rows
