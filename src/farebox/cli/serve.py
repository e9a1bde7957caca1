"""farebox serve: run the gateway (one process, or N sharing the port with SO_REUSEPORT)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys

import typer
from aiohttp import web

from farebox.app import create_app
from farebox.cli.common import ConfigOption, err_console, get_config
from farebox.config import Config
from farebox.logs import setup_logging
from farebox.services.demo import ensure_demo_account
from farebox.storage.db import migrate


def serve(config: str | None = ConfigOption,
          host: str | None = typer.Option(None, "--host", help="Listen address (default: config listen.host)."),
          port: int | None = typer.Option(None, "--port", "-p", help="Port (default: config listen.port)."),
          workers: int = typer.Option(1, "--workers", "-w", min=1, help="Processes sharing the port."),
          demo: bool = typer.Option(True, "--demo/--no-demo",
                                    help="On an empty database, create a demo account and print its key."),
          ) -> None:
    """Run the gateway."""
    cfg, source = get_config(config)
    setup_logging(cfg.log_requests)
    migrate(cfg.database)
    if demo:
        key = asyncio.run(ensure_demo_account(cfg))
        if key:
            print(f"demo key: {key}", flush=True)
    host = host or cfg.listen.host
    port = port or cfg.listen.port
    print(f"farebox serving on http://{host}:{port} ({source}, {workers} worker(s))", flush=True)
    if workers == 1:
        _run(cfg, source, host, port, reuse_port=False)
        return
    processes = [multiprocessing.Process(target=_run, args=(cfg, source, host, port, True), daemon=False)
                 for _ in range(workers)]
    for process in processes:
        process.start()

    def stop(signum: int, _frame: object) -> None:
        for process in processes:
            if process.is_alive():
                os.kill(process.pid or 0, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in processes:
        process.join()


def _run(cfg: Config, source: str, host: str, port: int, reuse_port: bool) -> None:
    setup_logging(cfg.log_requests)
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    app = create_app(cfg, source=source)
    try:
        web.run_app(app, host=host, port=port, reuse_port=reuse_port or None, access_log=None,
                    handler_cancellation=True, print=None, shutdown_timeout=10)
    except OSError as exc:
        err_console.print(f"[red]cannot listen on {host}:{port}:[/red] {exc.strerror}")
        sys.exit(1)
    logging.getLogger("farebox").info("stopped")
