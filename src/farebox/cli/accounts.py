"""farebox accounts ... and farebox keys ..."""

from __future__ import annotations

import typer

from farebox.cli.common import ConfigOption, JsonOption, console, emit, with_operator

accounts_app = typer.Typer(help="Customer accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)

ACCOUNT_COLUMNS = ["id", "name", "tier", "balance_usd", "created_at"]
KEY_COLUMNS = ["id", "account", "name", "prefix", "status", "created_at"]


@accounts_app.command("create")
def accounts_create(name: str, tier: str = typer.Option(..., "--tier", "-t", help="The account's tier."),
                    config: str | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """Create an account."""
    emit(with_operator(config, lambda op: op.create_account(name, tier)), as_json, ACCOUNT_COLUMNS)


@accounts_app.command("list")
def accounts_list(config: str | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """List accounts with their balances."""
    emit(with_operator(config, lambda op: op.list_accounts()), as_json, ACCOUNT_COLUMNS)


@accounts_app.command("show")
def accounts_show(account: str, config: str | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """Show one account (by name or id) with its keys."""
    data = with_operator(config, lambda op: op.show_account(account))
    if as_json:
        emit(data, True)
        return
    emit({k: v for k, v in data.items() if k != "keys"}, False, ACCOUNT_COLUMNS)
    emit(data["keys"], False, KEY_COLUMNS, title="keys")


@accounts_app.command("set-tier")
def accounts_set_tier(account: str, tier: str, config: str | None = ConfigOption,
                      as_json: bool = JsonOption) -> None:
    """Move an account to another tier (takes effect on running gateways within a second)."""
    emit(with_operator(config, lambda op: op.set_tier(account, tier)), as_json, ACCOUNT_COLUMNS)


RpmOption = typer.Option(None, "--rpm", help="Sustained requests per minute.")
BurstOption = typer.Option(None, "--burst-rpm", help="Requests per minute allowed for a 30 s burst.")
ClearOption = typer.Option(False, "--clear", help="Drop the overrides: back to the tier's limits.")
LIMIT_COLUMNS = ["id", "name", "rpm", "burst_rpm"]


@accounts_app.command("set-limits")
def accounts_set_limits(account: str, rpm: int | None = RpmOption, burst_rpm: int | None = BurstOption,
                        clear: bool = ClearOption, config: str | None = ConfigOption,
                        as_json: bool = JsonOption) -> None:
    """Override the tier's rate limits for an account (running gateways apply it within a second)."""
    emit(with_operator(config, lambda op: op.set_account_limits(account, rpm, burst_rpm, clear=clear)),
         as_json, LIMIT_COLUMNS)


@keys_app.command("create")
def keys_create(account: str, name: str | None = typer.Option(None, "--name", "-n", help="A label."),
                config: str | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """Create a key for an account. The key is shown once, now, and never again."""
    data = with_operator(config, lambda op: op.create_key(account, name))
    if as_json:
        emit(data, True)
        return
    console.print(f"key id {data['id']} for account {data['account']}:")
    console.print(data["key"], markup=False, highlight=False)
    console.print("[dim]Store it now: farebox keeps only its hash.[/dim]")


@keys_app.command("list")
def keys_list(account: str | None = typer.Argument(None), config: str | None = ConfigOption,
              as_json: bool = JsonOption) -> None:
    """List keys (prefixes only), of one account or all."""
    emit(with_operator(config, lambda op: op.list_keys(account)), as_json, KEY_COLUMNS)


@keys_app.command("revoke")
def keys_revoke(key_id: int, config: str | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """Revoke a key (running gateways refuse it within a second)."""
    emit(with_operator(config, lambda op: op.revoke_key(key_id)), as_json, KEY_COLUMNS)


@keys_app.command("set-limits")
def keys_set_limits(key_id: int, rpm: int | None = RpmOption, burst_rpm: int | None = BurstOption,
                    clear: bool = ClearOption, config: str | None = ConfigOption,
                    as_json: bool = JsonOption) -> None:
    """Override the rate limits of one key (before its account's and its tier's)."""
    emit(with_operator(config, lambda op: op.set_key_limits(key_id, rpm, burst_rpm, clear=clear)),
         as_json, LIMIT_COLUMNS)
