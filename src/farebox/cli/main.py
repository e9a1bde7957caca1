"""The `farebox` command."""

from __future__ import annotations

import typer

from farebox.cli.accounts import accounts_app, keys_app
from farebox.cli.admin_keys import admin_keys_app
from farebox.cli.db import db_app
from farebox.cli.money import credits_app, ledger_command
from farebox.cli.route import route_app
from farebox.cli.serve import serve

app = typer.Typer(name="farebox", help="farebox: an OpenAI-compatible LLM API gateway with prepaid credits.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.command("serve")(serve)
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")
app.add_typer(credits_app, name="credits")
app.command("ledger")(ledger_command)
app.add_typer(db_app, name="db")
app.add_typer(route_app, name="route")
app.add_typer(admin_keys_app, name="admin-keys")
