"""The quickstart's demo account: on an empty database, a pro account with $5 and one key."""

from __future__ import annotations

from farebox.config import Config
from farebox.services.operator import Operator
from farebox.storage.db import create_engine
from farebox.storage.repository import Repository

DEMO_ACCOUNT = "demo"
DEMO_CREDIT_USD = "5"


async def ensure_demo_account(config: Config) -> str | None:
    """Create the demo account and return its new key, or None when the database has accounts."""
    engine = create_engine(config.database)
    try:
        operator = Operator(Repository(engine), config)
        if await operator.list_accounts():
            return None
        tier = "pro" if "pro" in config.tiers else max(config.tiers, key=lambda t: config.tiers[t].rank)
        await operator.create_account(DEMO_ACCOUNT, tier)
        await operator.post_credit(DEMO_ACCOUNT, DEMO_CREDIT_USD, note="demo credit")
        created = await operator.create_key(DEMO_ACCOUNT, "demo")
        return str(created["key"])
    finally:
        await engine.dispose()
