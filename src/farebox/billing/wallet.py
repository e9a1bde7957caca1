"""Balances and holds. A hold reserves a request's worst-case cost before the upstream call, so
concurrent requests can never spend more than the balance.

Holds are kept by hold id (the request id): growing a hold adds to that id, releasing deletes
it, so a release run twice (or for an id that holds nothing) releases nothing more.

MemoryWallet serves one process: balances mirror the database (refreshed by the ledger writer,
which is the only code that changes them), holds live in memory and vanish with the process,
which is exactly "holds of a dead process are released on restart".
"""

from __future__ import annotations

from typing import Protocol

from farebox.errors import InsufficientCredits
from farebox.money import format_usd


class Wallet(Protocol):
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


class MemoryWallet:
    def __init__(self) -> None:
        self._balances: dict[int, int] = {}
        self._held: dict[int, int] = {}  # per account: the sum of its holds
        self._holds: dict[str, tuple[int, int]] = {}  # hold id -> (account, amount)

    async def reserve(self, account_id: int, amount_nano: int, hold_id: str) -> None:
        balance = self._balances.get(account_id, 0)
        held = self._held.get(account_id, 0)
        if balance - held < amount_nano:
            raise insufficient(balance, held, amount_nano)
        self._held[account_id] = held + amount_nano
        self._holds[hold_id] = (account_id, self.holding(hold_id) + amount_nano)

    async def release(self, account_id: int, hold_id: str) -> None:
        account, amount = self._holds.pop(hold_id, (account_id, 0))
        left = self._held.get(account, 0) - amount
        if left > 0:
            self._held[account] = left
        else:
            self._held.pop(account, None)

    def holding(self, hold_id: str) -> int:
        """What hold `hold_id` holds (0 when none)."""
        return self._holds.get(hold_id, (0, 0))[1]

    def apply(self, account_id: int, delta_nano: int) -> None:
        self._balances[account_id] = self._balances.get(account_id, 0) + delta_nano

    def replace_balances(self, balances: dict[int, int]) -> None:
        self._balances = dict(balances)

    def balance(self, account_id: int) -> tuple[int, int]:
        """(balance, held) in nano-USD."""
        return self._balances.get(account_id, 0), self._held.get(account_id, 0)

    async def snapshot(self, account_id: int) -> tuple[int, int]:
        """One process owns every hold: its own figures are the truth."""
        return self.balance(account_id)

    async def sync(self, marks: dict[int, tuple[int, int]]) -> None:
        """Nothing to share: apply() and replace_balances() already keep this process's copy."""
