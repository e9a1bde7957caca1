"""Operator actions: accounts, keys, credits, ledger, usage, checks. The CLI and the admin API
both call this; neither talks to the repository directly."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from farebox.accounts import keys
from farebox.config import Config
from farebox.errors import shown
from farebox.money import NANO_PER_USD, nano_to_usd, usd_to_nano
from farebox.storage.repository import Conflict, Repository, Row


class OperatorError(Exception):
    """A refused operator action, phrased for the operator: the input is not acceptable. The
    subclasses say why in domain terms; the admin API maps each to its HTTP answer."""


class RecordNotFound(OperatorError):
    """The account or key named does not exist."""


class RecordConflict(OperatorError):
    """The action clashes with what is stored (a name taken, an idempotency key reused...)."""


ENTRY_KINDS = ("topup", "refund", "adjustment")
MAX_ENTRY_USD = 1_000_000  # one ledger entry; keeps every balance far inside a 64-bit integer
MAX_NOTE_CHARS = 1000
LEDGER_KINDS = ("topup", "charge", "refund", "adjustment")
LEDGER_CSV_COLUMNS = ["id", "created_at", "account_id", "kind", "amount_usd", "amount_nano", "balance_after_usd",
                      "balance_after_nano", "request_id", "key_id", "model_requested", "model_used", "provider",
                      "deployment", "prompt_tokens", "cached_tokens", "cache_write_tokens", "completion_tokens",
                      "reasoning_tokens", "latency_ms", "ttft_ms", "outcome", "attempts", "idempotency_key",
                      "note"]


class Operator:
    def __init__(self, repo: Repository, config: Config) -> None:
        self.repo = repo
        self.config = config

    # -- accounts -----------------------------------------------------------------------------
    async def create_account(self, name: str, tier: str) -> dict[str, Any]:
        name = name.strip()
        if not name or len(name) > 200:
            raise OperatorError("an account name must be 1 to 200 characters")
        if name.isdigit():
            raise OperatorError("an account name cannot be all digits (it would read as an id)")
        self._check_tier(tier)
        try:
            return account_view(await self.repo.create_account(name, tier))
        except Conflict as exc:
            raise RecordConflict(str(exc)) from None

    async def list_accounts(self) -> list[dict[str, Any]]:
        return [account_view(row) for row in await self.repo.list_accounts()]

    async def account(self, ref: str | int) -> Row:
        row = await self.repo.find_account(ref)
        if row is None:
            raise RecordNotFound(f"no account {ref!r}")
        return row

    async def show_account(self, ref: str | int) -> dict[str, Any]:
        row = await self.account(ref)
        view = account_view(row)
        view["keys"] = [key_view(k) for k in await self.repo.list_keys(row["id"])]
        return view

    async def set_tier(self, ref: str | int, tier: str) -> dict[str, Any]:
        self._check_tier(tier)
        row = await self.account(ref)
        return account_view(await self.repo.update_account(row["id"], tier=tier))

    async def set_account_limits(self, ref: str | int, rpm: int | None = None, burst_rpm: int | None = None,
                                 *, clear: bool = False) -> dict[str, Any]:
        """Override the tier's rpm / burst_rpm for every key of the account (unless a key has
        its own); `clear` goes back to the tier's. Running gateways apply it within a second."""
        values = _limit_values(rpm, burst_rpm, clear)
        row = await self.account(ref)
        return account_view(await self.repo.update_account(row["id"], **values))

    def _check_tier(self, tier: str) -> None:
        if tier not in self.config.tiers:
            raise OperatorError(f"unknown tier {tier!r} (tiers: {', '.join(self.config.tiers)})")

    # -- keys ---------------------------------------------------------------------------------
    async def create_key(self, account_ref: str | int, name: str | None = None) -> dict[str, Any]:
        account = await self.account(account_ref)
        key = keys.new_key()
        row = await self.repo.create_key(account["id"], name, keys.visible_prefix(key), keys.hash_key(key))
        view = key_view(dict(row, account=account["name"]))
        view["key"] = key  # shown once, never stored
        return view

    async def create_admin_key(self, name: str | None = None) -> dict[str, Any]:
        key = keys.new_admin_key()
        row = await self.repo.create_admin_key(name, key[:12], keys.hash_key(key))
        return {"id": row["id"], "name": row["name"], "prefix": row["prefix"], "created_at": row["created_at"],
                "key": key}  # shown once, never stored

    async def is_admin_key(self, key: str) -> bool:
        return key.startswith(keys.ADMIN_KEY_PREFIX) and await self.repo.admin_key_exists(keys.hash_key(key))

    async def has_admin_keys(self) -> bool:
        return await self.repo.admin_key_exists(None)

    async def list_keys(self, account_ref: str | int | None = None) -> list[dict[str, Any]]:
        account_id = None if account_ref is None else (await self.account(account_ref))["id"]
        return [key_view(row) for row in await self.repo.list_keys(account_id)]

    async def revoke_key(self, key_id: int) -> dict[str, Any]:
        row = await self.repo.revoke_key(key_id)
        if row is None:
            raise RecordNotFound(f"no key with id {key_id}")
        account = await self.repo.find_account(int(row["account_id"]))
        return key_view(dict(row, account=account["name"] if account else None))

    async def set_key_limits(self, key_id: int, rpm: int | None = None, burst_rpm: int | None = None,
                             *, clear: bool = False) -> dict[str, Any]:
        """Override the limits of one key (before its account's and its tier's)."""
        row = await self.repo.update_key(key_id, **_limit_values(rpm, burst_rpm, clear))
        if row is None:
            raise RecordNotFound(f"no key with id {key_id}")
        return key_view(row)

    # -- money --------------------------------------------------------------------------------
    async def post_credit(self, account_ref: str | int, usd: str | float, *, kind: str = "topup",
                          note: str | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        if kind not in ENTRY_KINDS:
            raise OperatorError(f"kind must be one of {', '.join(ENTRY_KINDS)}")
        try:
            amount = usd_to_nano(usd)
        except (ValueError, ArithmeticError):
            raise OperatorError(f"{shown(usd, 40)!r} is not a USD amount with at most 9 decimals") from None
        if abs(amount) > MAX_ENTRY_USD * NANO_PER_USD:
            raise OperatorError(f"one entry may move at most ${MAX_ENTRY_USD:,} (got {shown(usd, 40)})")
        if note is not None and len(note) > MAX_NOTE_CHARS:
            raise OperatorError(f"a note may be at most {MAX_NOTE_CHARS} characters")
        if kind in ("topup", "refund") and amount <= 0:
            raise OperatorError("a top-up or refund must be a positive amount")
        if amount == 0:
            raise OperatorError("an adjustment cannot be zero")
        account = await self.account(account_ref)
        try:
            row, created = await self.repo.post_entry(account["id"], kind, amount, note=note,
                                                      idempotency_key=idempotency_key)
        except Conflict as exc:
            raise RecordConflict(str(exc)) from None
        view = ledger_view(row)
        view["created"] = created
        view["account"] = account["name"]
        return view

    async def ledger(self, account_ref: str | int, limit: int | None = None, *, since: float | None = None,
                     kind: str | None = None) -> list[dict[str, Any]]:
        """An account's ledger, oldest first; `limit` keeps the newest N."""
        if kind is not None and kind not in LEDGER_KINDS:
            raise OperatorError(f"kind must be one of {', '.join(LEDGER_KINDS)}")
        if limit is not None and limit < 1:
            raise OperatorError("limit must be a positive number")
        account = await self.account(account_ref)
        rows = await self.repo.ledger_rows(account["id"], limit=limit, since=since, kind=kind)
        return [ledger_view(row) for row in rows]

    async def usage(self, account_ref: str | int, held_nano: int = 0) -> dict[str, Any]:
        account = await self.account(account_ref)
        return await usage_report(self.repo, account, held_nano)

    async def check(self) -> list[dict[str, Any]]:
        """Per account: balance == sum(ledger) (`ok`), and its overruns (charges above their hold)."""
        return [{"account_id": r["id"], "account": r["name"], "balance_usd": nano_to_usd(r["balance_nano"]),
                 "ledger_usd": nano_to_usd(int(r["ledger_nano"])), "balance_nano": int(r["balance_nano"]),
                 "ledger_nano": int(r["ledger_nano"]), "ok": r["ok"], "overruns": int(r["overruns"]),
                 "overrun_usd": nano_to_usd(int(r["overrun_nano"])), "overrun_nano": int(r["overrun_nano"])}
                for r in await self.repo.check_balances()]


def _limit_values(rpm: int | None, burst_rpm: int | None, clear: bool) -> dict[str, int | None]:
    if clear:
        if rpm is not None or burst_rpm is not None:
            raise OperatorError("give either --clear or new limits, not both")
        return {"rpm": None, "burst_rpm": None}
    if rpm is None and burst_rpm is None:
        raise OperatorError("give --rpm and/or --burst-rpm (or --clear)")
    for name, value in (("rpm", rpm), ("burst_rpm", burst_rpm)):
        if value is not None and value <= 0:
            raise OperatorError(f"{name} must be a positive number of requests per minute")
    if rpm is not None and burst_rpm is not None and burst_rpm < rpm:
        raise OperatorError("burst_rpm must be at least rpm")
    values: dict[str, int | None] = {}
    if rpm is not None:
        values["rpm"] = rpm
    if burst_rpm is not None:
        values["burst_rpm"] = burst_rpm
    return values


def parse_since(text: str) -> float:
    """A point in time as Unix seconds or ISO 8601 (UTC unless it says otherwise)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise OperatorError(f"since must be Unix seconds or an ISO 8601 time; got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def ledger_csv(rows: list[dict[str, Any]]) -> str:
    """Ledger rows (as `ledger_view` gives them) as CSV with a fixed header."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=LEDGER_CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    now = now or dt.datetime.now(dt.UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def usage_report(repo: Repository, account: Row, held_nano: int) -> dict[str, Any]:
    """The /v1/usage body: balance, open holds, and month-to-date (UTC) usage per model."""
    start = month_start()
    per_model = []
    totals = {"requests": 0, "prompt_tokens": 0, "cached_tokens": 0, "cache_write_tokens": 0,
              "completion_tokens": 0, "reasoning_tokens": 0, "cost_nano": 0}
    for row in await repo.usage_by_model(account["id"], start.timestamp()):
        entry = {k: int(row[k] or 0) for k in totals}
        for k in totals:
            totals[k] += entry[k]
        per_model.append(_usage_entry(str(row["model"]), entry))
    return {
        "object": "usage",
        "account": account["name"],
        "tier": account["tier"],
        "currency": "USD",
        "balance_usd": nano_to_usd(int(account["balance_nano"])),
        "held_usd": nano_to_usd(held_nano),
        "available_usd": nano_to_usd(int(account["balance_nano"]) - held_nano),
        "period": {"start": start.isoformat(), "end": dt.datetime.now(dt.UTC).isoformat()},
        "total": _usage_entry(None, totals),
        "models": per_model,
    }


def _usage_entry(model: str | None, entry: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {} if model is None else {"model": model}
    out.update({k: v for k, v in entry.items() if k != "cost_nano"})
    out["cost_usd"] = nano_to_usd(entry["cost_nano"])
    return out


def account_view(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "tier": row["tier"],
            "balance_usd": nano_to_usd(int(row["balance_nano"])), "balance_nano": int(row["balance_nano"]),
            "disabled": bool(row["disabled"]), "created_at": _iso(row["created_at"]),
            "rpm": row.get("rpm"), "burst_rpm": row.get("burst_rpm")}


def key_view(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "account_id": row["account_id"], "account": row.get("account"),
            "name": row["name"], "prefix": row["prefix"], "created_at": _iso(row["created_at"]),
            "revoked_at": _iso(row["revoked_at"]), "status": "revoked" if row["revoked_at"] else "active",
            "rpm": row.get("rpm"), "burst_rpm": row.get("burst_rpm")}


def ledger_view(row: Row) -> dict[str, Any]:
    view = {k: v for k, v in row.items() if k not in ("amount_nano", "balance_after_nano", "created_at")}
    view["created_at"] = _iso(row["created_at"])
    view["amount_usd"] = nano_to_usd(int(row["amount_nano"]))
    view["amount_nano"] = int(row["amount_nano"])
    view["balance_after_usd"] = nano_to_usd(int(row["balance_after_nano"]))
    view["balance_after_nano"] = int(row["balance_after_nano"])
    return view


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()
