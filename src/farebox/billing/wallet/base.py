"""What the money path needs from a wallet (balances and holds); memory.py and redis.py
implement it, backends.py picks one from the config.

A hold reserves a request's worst-case cost before the upstream call, so concurrent requests can
never spend more than the balance. Holds are kept by hold id (the request id): growing a hold
adds to that id, releasing deletes it, so a release run twice (or for an id that holds nothing)
releases nothing more.
"""

from __future__ import annotations

from typing import Protocol

from farebox.errors import InsufficientCredits
from farebox.money import format_usd


class Wallet(Protocol):
    # A Service: the runtime starts it before serving and stops it after draining.
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    # Grow hold `hold_id` on the account by `amount_nano` (InsufficientCredits when it can't).
    async def reserve(self, account_id: int, amount_nano: int, hold_id: str) -> None: ...
    # Give back all of hold `hold_id`; harmless when it was released already or never taken.
    async def release(self, account_id: int, hold_id: str) -> None: ...
    def apply(self, account_id: int, delta_nano: int) -> None: ...
    def replace_balances(self, balances: dict[int, int]) -> None: ...
    # (balance, held) as this process last saw them: cheap, for decisions inside a request.
    def balance(self, account_id: int) -> tuple[int, int]: ...
    # (balance, held) from the source of truth, the same in every process (for the API).
    async def snapshot(self, account_id: int) -> tuple[int, int]: ...
    # Committed (balance, balance_seq) per account, after a ledger commit or a refresh from the
    # database: a wallet shared between processes (Redis) keeps the highest seq it has seen.
    async def sync(self, marks: dict[int, tuple[int, int]]) -> None: ...


def insufficient(balance_nano: int, held_nano: int, estimate_nano: int) -> InsufficientCredits:
    available = balance_nano - held_nano
    return InsufficientCredits(
        f"Balance {format_usd(max(available, 0))} is below the estimated cost "
        f"{format_usd(estimate_nano)} for this request.")
