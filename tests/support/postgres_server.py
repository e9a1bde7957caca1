"""A throwaway PostgreSQL cluster on 127.0.0.1 for tests, from the Debian binaries: initdb in a
temp dir, trust auth, durability off (fsync) for speed, stopped and deleted when done.

PostgreSQL refuses to run as root; as root the cluster is owned by and run as the `postgres`
user the Debian package creates (through runuser). Each test gets a fresh database cloned from
a migrated template (CREATE DATABASE ... TEMPLATE), which takes milliseconds.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.redis_server import free_port


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    return Path(which).parent if which else None


PG_BIN = _bindir()
SUPERUSER = "farebox"


class PostgresServer:
    def __init__(self) -> None:
        if PG_BIN is None:
            raise RuntimeError("PostgreSQL is not installed")
        self.bin = PG_BIN
        self.port = free_port()
        # Not under pytest's tmp dir: as root, that is 0700 and the postgres user can't enter it.
        self.dir = Path(tempfile.mkdtemp(prefix="farebox-pg-"))
        self.data = self.dir / "data"
        self._runas: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._runas = ["runuser", "-u", "postgres", "--"]
        self._names = itertools.count(1)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run([*self._runas, str(self.bin / tool), *args], check=True, capture_output=True,
                       cwd=self.dir, timeout=120)

    def start(self) -> PostgresServer:
        self._pg("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                 "--no-instructions", "--locale=C")
        self.restart()
        return self

    def stop(self, mode: str = "fast") -> None:
        if self.data.exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Start (again, after stop()) on the same port, so clients reconnect."""
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB")
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-o", options,
                 "-w", "-t", "60", "start")

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def sql(self, statement: str, database: str = "postgres") -> None:
        self._pg("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", database,
                 "-v", "ON_ERROR_STOP=1", "-q", "-c", statement)

    def create_database(self, template: str | None = None) -> str:
        """A new empty (or cloned) database; returns its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        clause = f" TEMPLATE {template}" if template else ""
        deadline = time.monotonic() + 10
        while True:  # a template still in use by a closing connection refuses to be copied
            try:
                self.sql(f"CREATE DATABASE {name}{clause}")
                return self.url(name)
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
