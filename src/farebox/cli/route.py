"""farebox route explain: what smart-route would do with a request, and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from farebox.cli.common import ConfigOption, JsonOption, console, emit, err_console, get_config
from farebox.config import ConfigError
from farebox.errors import InvalidRequest
from farebox.money import NANO_PER_USD, format_usd
from farebox.providers.registry import build_adapters
from farebox.routing.catalog import Catalog, adapter_features
from farebox.routing.explain import explain_request
from farebox.routing.health import Health

route_app = typer.Typer(help="Routing: see what smart-route would choose.", no_args_is_help=True)


@route_app.command("explain")
def route_explain(tier: str = typer.Option(..., "--tier", help="The tier to route for."),
                  request: Path = typer.Option(..., "--request", help="A chat completion body (JSON file)."),
                  config: str | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """Print smart-route's candidates for a request: kept ones in the order it would try them
    (cheapest first), dropped ones with the reason, and the estimated cost of each.

    Offline: every deployment counts as live (the running gateway's health is in
    POST /admin/v1/route/explain)."""
    cfg, source = get_config(config)
    try:
        body = json.loads(request.read_text())
    except (OSError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] cannot read {request}: {exc}")
        raise typer.Exit(2) from None
    try:
        catalog = Catalog(cfg, adapter_features(build_adapters(cfg, source)))
    except ConfigError as exc:
        err_console.print(f"[red]config error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        report = explain_request(catalog, Health(cfg.circuit), tier, body)
    except InvalidRequest as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    if as_json:
        emit(report, True)
        return
    _print(report)


def _print(report: dict[str, Any]) -> None:
    needs = report["needs"]
    asked = needs["max_output"]
    output = f"{asked} output tokens (max_tokens)" if asked is not None else \
        f"{needs['ranking_output_tokens']} output tokens (no max_tokens: the ranking default)"
    console.print(f"tier {report['tier']}; pool: {', '.join(report['pool'] or ['every model'])}")
    console.print(f"needs: {', '.join(needs['features']) or 'no special features'}; "
                  f"~{needs['prompt_tokens']} prompt tokens; {output}")
    table = Table()
    for name in ("#", "model", "tier", "est. cost", "context", "status"):
        table.add_column(name, no_wrap=True)
    table.add_column("verdict")
    for c in report["candidates"]:
        cost = c["estimated_cost_usd"]
        table.add_row("" if c["rank"] is None else str(c["rank"]), c["model"], c["tier"],
                      "" if cost is None else format_usd(round(cost * NANO_PER_USD)), str(c["context_length"]),
                      c["status"], c["reason"] if c["kept"] else f"dropped: {c['reason']}")
    console.print(table)
    if report["chosen"]:
        console.print(f"chosen: {report['chosen']}")
    else:
        error = report["error"]
        console.print(f"no model: {error['status']} {error['code']}: {error['message']}")
