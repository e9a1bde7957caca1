"""The quickstart's demo: on an empty database, a pro account with $5 and one key, and an admin key."""

from __future__ import annotations

from dataclasses import dataclass

from farebox.config import Config
from farebox.services.operator import Operator
from farebox.storage.db import create_engine
from farebox.storage.repository import Repository

DEMO_ACCOUNT = "demo"
DEMO_CREDIT_USD = "5"


@dataclass
class DemoKeys:
    customer: str | None = None  # the demo account's key, when the account was just made
    admin: str | None = None  # an admin key, when none was configured or stored


async def ensure_demo(config: Config, *, admin_configured: bool) -> DemoKeys:
    """On an empty database: the demo account and its key; and an admin key, unless one is
    configured or stored. Only the embedded default calls this (`farebox serve` without a
    config), so an operator's own database never gets a $5 account."""
    engine = create_engine(config.database)
    made = DemoKeys()
    try:
        operator = Operator(Repository(engine), config)
        if not await operator.list_accounts():
            tier = "pro" if "pro" in config.tiers else max(config.tiers, key=lambda t: config.tiers[t].rank)
            await operator.create_account(DEMO_ACCOUNT, tier)
            await operator.post_credit(DEMO_ACCOUNT, DEMO_CREDIT_USD, note="demo credit")
            made.customer = str((await operator.create_key(DEMO_ACCOUNT, "demo"))["key"])
        if not admin_configured and not await operator.has_admin_keys():
            made.admin = str((await operator.create_admin_key("demo"))["key"])
        return made
    finally:
        await engine.dispose()
