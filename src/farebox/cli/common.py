"""What every command shares: loading the config, running the service layer, printing."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from farebox.config import Config, ConfigError, load_config
from farebox.services.operator import Operator, OperatorError
from farebox.storage.db import create_engine, migrate
from farebox.storage.repository import Repository

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)

ConfigOption = typer.Option(None, "--config", "-c", envvar="FAREBOX_CONFIG",
                            help="Path to farebox.yaml (default: the built-in config).")
JsonOption = typer.Option(False, "--json", help="Print JSON for scripts.")


def get_config(path: str | None) -> tuple[Config, str]:
    try:
        return load_config(path)
    except ConfigError as exc:
        err_console.print(f"[red]config error:[/red] {exc}")
        raise typer.Exit(2) from None


def with_operator(path: str | None, action: Callable[[Operator], Awaitable[T]]) -> T:
    """Run `action` against the configured database (migrated first)."""
    config, _ = get_config(path)

    async def main() -> T:
        engine = create_engine(config.database)
        try:
            return await action(Operator(Repository(engine), config))
        finally:
            await engine.dispose()

    try:
        migrate(config.database)
        return asyncio.run(main())
    except OperatorError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def emit(data: Any, as_json: bool, columns: Sequence[str] | None = None, title: str | None = None) -> None:
    """Print `data` (a dict or a list of dicts) as JSON or as a table."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    rows = data if isinstance(data, list) else [data]
    if not rows:
        console.print("(none)")
        return
    columns = list(columns or rows[0].keys())
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if row.get(c) is None else str(row.get(c)) for c in columns])
    console.print(table)
