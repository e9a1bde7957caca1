"""farebox db ..."""

from __future__ import annotations

import asyncio

import typer

from farebox.cli.common import ConfigOption, JsonOption, console, emit, err_console, get_config, with_operator
from farebox.money import format_usd
from farebox.storage.copy import CopyError, copy_database
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
    """Prove balance == sum(ledger) for every account (exits 1 when any differs), and report
    overruns: charges above their request's hold, which may take a balance below zero."""
    rows = with_operator(config, lambda op: op.check())
    emit(rows, as_json, ["account_id", "account", "balance_usd", "ledger_usd", "ok", "overruns", "overrun_usd"])
    overrun = [r for r in rows if r["overruns"]]
    if overrun and not as_json:
        count, total = sum(r["overruns"] for r in overrun), sum(r["overrun_nano"] for r in overrun)
        err_console.print(f"[yellow]{count} overrun(s) totalling {format_usd(total)} on {len(overrun)} "
                          f"account(s): {', '.join(r['account'] for r in overrun[:10])}[/yellow]")
    bad = [r for r in rows if not r["ok"]]
    if bad:
        err_console.print(f"[red]{len(bad)} account(s) out of balance[/red]")
        raise typer.Exit(1)
    if not as_json:
        console.print(f"ok: {len(rows)} account(s), every balance equals its ledger")


@db_app.command("copy")
def db_copy(source: str = typer.Option(..., "--from", help="Database URL to copy from, e.g. sqlite:///farebox.db."),
            target: str = typer.Option(..., "--to", help="Database URL to copy into, e.g. postgresql://u:p@host/db."),
            force: bool = typer.Option(False, "--force", help="Replace the contents of a non-empty target."),
            batch_size: int = typer.Option(1000, "--batch-size", min=1, help="Rows per insert."),
            as_json: bool = JsonOption) -> None:
    """Copy accounts, keys and the ledger to another database, ids preserved, in one verified
    transaction (stop the gateways writing to the source first)."""
    try:
        report = asyncio.run(copy_database(source, target, force=force, batch_size=batch_size))
    except CopyError as exc:
        err_console.print(f"[red]copy refused:[/red] {exc}")
        raise typer.Exit(1) from None
    result = {"rows": report.rows, "accounts_checked": report.accounts_checked, "version": report.version}
    if as_json:
        emit(result, True)
        return
    counts = ", ".join(f"{n} {table}" for table, n in report.rows.items())
    console.print(f"copied {counts}; {report.accounts_checked} account(s) checked: every balance equals its ledger")
