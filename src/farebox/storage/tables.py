"""The schema. Alembic migrations in storage/migrations/ create exactly these tables."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# BigInteger ids render as INTEGER on SQLite so they autoincrement there too.
Id = BigInteger().with_variant(Integer(), "sqlite")

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("tier", String(64), nullable=False),
    Column("balance_nano", BigInteger, nullable=False, default=0),
    # Bumped by every balance change (under the row lock): orders the copies kept in Redis.
    Column("balance_seq", BigInteger, nullable=False, default=0),
    Column("rpm", Integer, nullable=True),  # per-account overrides of the tier's limits
    Column("burst_rpm", Integer, nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(200), nullable=True),
    Column("prefix", String(16), nullable=False),  # visible part for listings, e.g. "sk-AbCd1234"
    Column("hash", String(64), nullable=False, unique=True),  # SHA-256 hex of the whole key
    Column("rpm", Integer, nullable=True),
    Column("burst_rpm", Integer, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)

# Operator keys beside the configured `admin_key`: only their SHA-256 is stored.
admin_keys = Table(
    "admin_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=True),
    Column("prefix", String(16), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # topup | charge | refund | adjustment
    Column("amount_nano", BigInteger, nullable=False),  # signed: charges are negative
    Column("balance_after_nano", BigInteger, nullable=False),
    Column("request_id", String(64), nullable=True, unique=True),
    Column("idempotency_key", String(200), nullable=True, unique=True),
    Column("key_id", Id, nullable=True),
    Column("model_requested", String(200), nullable=True),
    Column("model_used", String(200), nullable=True),
    Column("provider", String(200), nullable=True),
    Column("deployment", String(300), nullable=True),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("cache_write_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("reasoning_tokens", Integer, nullable=False, default=0),
    Column("latency_ms", Float, nullable=True),
    Column("ttft_ms", Float, nullable=True),
    Column("outcome", String(32), nullable=True),  # ok | abandoned | stream_error
    Column("attempts", Text, nullable=True),  # JSON list of failed attempts before the answer
    Column("note", Text, nullable=True),
    Index("ix_ledger_account_time", "account_id", "created_at"),
)

# One row (id = 1) whose version is bumped by every operator change (keys, accounts, credits),
# so gateway processes notice changes with one tiny read a second, not one per request.
state = Table(
    "state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)
