"""farebox db ..."""

from __future__ import annotations

import typer

from farebox.cli.common import ConfigOption, JsonOption, console, emit, err_console, get_config, with_operator
from farebox.storage.db import migrate

db_app = typer.Typer(help="The database.", no_args_is_help=True)


@db_app.command("migrate")
def db_migrate(config: str | None = ConfigOption) -> None:
    """Create or upgrade the schema (serve does this by itself)."""
    cfg, _ = get_config(config)
    migrate(cfg.database)
    console.print("database is up to date")


@db_app.command("check")
def db_check(config: str | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """Prove balance == sum(ledger) for every account; exits 1 when any differs."""
    rows = with_operator(config, lambda op: op.check())
    emit(rows, as_json, ["account_id", "account", "balance_usd", "ledger_usd", "ok"])
    bad = [r for r in rows if not r["ok"]]
    if bad:
        err_console.print(f"[red]{len(bad)} account(s) out of balance[/red]")
        raise typer.Exit(1)
    if not as_json:
        console.print(f"ok: {len(rows)} account(s), every balance equals its ledger")
