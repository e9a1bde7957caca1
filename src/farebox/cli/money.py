"""farebox credits ..., farebox ledger ..."""

from __future__ import annotations

import sys

import typer

from farebox.cli.common import ConfigOption, JsonOption, emit, with_operator
from farebox.services.operator import ledger_csv, parse_since

credits_app = typer.Typer(help="Prepaid credit.", no_args_is_help=True)

ENTRY_COLUMNS = ["id", "account", "kind", "amount_usd", "balance_after_usd", "note", "created"]
LEDGER_COLUMNS = ["id", "created_at", "kind", "amount_usd", "balance_after_usd", "model_used",
                  "prompt_tokens", "completion_tokens", "request_id", "note"]


@credits_app.command("add")
def credits_add(account: str, usd: str = typer.Argument(..., help="Amount in USD, e.g. 5 or 12.50."),
                note: str | None = typer.Option(None, "--note"),
                idempotency_key: str | None = typer.Option(None, "--idempotency-key",
                                                           help="Credit at most once per key."),
                config: str | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """Top up an account's balance."""
    emit(with_operator(config, lambda op: op.post_credit(account, usd, kind="topup", note=note,
                                                         idempotency_key=idempotency_key)),
         as_json, ENTRY_COLUMNS)


@credits_app.command("adjust", context_settings={"ignore_unknown_options": True})
def credits_adjust(account: str, usd: str = typer.Argument(..., help="Signed USD amount, e.g. -1.25."),
                   note: str | None = typer.Option(None, "--note"),
                   refund: bool = typer.Option(False, "--refund", help="Record it as a refund (positive)."),
                   config: str | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """Correct a balance up or down (an adjustment, or a refund with --refund)."""
    kind = "refund" if refund else "adjustment"
    emit(with_operator(config, lambda op: op.post_credit(account, usd, kind=kind, note=note)),
         as_json, ENTRY_COLUMNS)


def ledger_command(account: str, limit: int | None = typer.Option(None, "--limit", help="Only the newest N."),
                   since: str | None = typer.Option(None, "--since",
                                                    help="Only entries from then on (Unix seconds or ISO 8601)."),
                   kind: str | None = typer.Option(None, "--kind", help="topup, charge, refund or adjustment."),
                   as_csv: bool = typer.Option(False, "--csv", help="Print CSV."),
                   config: str | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """An account's ledger: top-ups, charges, refunds, adjustments."""
    rows = with_operator(config, lambda op: op.ledger(account, limit, kind=kind,
                                                      since=None if since is None else parse_since(since)))
    if as_csv:
        sys.stdout.write(ledger_csv(rows))
        return
    emit(rows, as_json, LEDGER_COLUMNS)
