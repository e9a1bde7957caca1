"""farebox admin-keys ...: operator keys for the admin API, stored as SHA-256 like customer keys."""

from __future__ import annotations

import typer

from farebox.cli.common import ConfigOption, JsonOption, console, emit, with_operator

admin_keys_app = typer.Typer(help="Admin API keys (besides `admin_key` in the config).", no_args_is_help=True)


@admin_keys_app.command("create")
def admin_keys_create(name: str | None = typer.Option(None, "--name", help="A label for the key."),
                      config: str | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """Create an admin key; it is printed once, only its SHA-256 is stored."""
    created = with_operator(config, lambda op: op.create_admin_key(name))
    if as_json:
        emit(created, True)
        return
    console.print(f"admin key: {created['key']}")
