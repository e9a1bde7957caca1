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
