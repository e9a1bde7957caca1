"""Balances and holds. A hold reserves a request's worst-case cost before the upstream call, so
concurrent requests can never spend more than the balance.

MemoryWallet serves one process: balances mirror the database (refreshed by the ledger writer,
which is the only code that changes them), holds live in memory and vanish with the process,
which is exactly "holds of a dead process are released on restart".
"""

from __future__ import annotations

from typing import Protocol

from farebox.errors import InsufficientCredits
from farebox.money import format_usd


class Wallet(Protocol):
    async def reserve(self, account_id: int, amount_nano: int) -> None: ...
    async def release(self, account_id: int, amount_nano: int) -> None: ...
    def apply(self, account_id: int, delta_nano: int) -> None: ...
    def replace_balances(self, balances: dict[int, int]) -> None: ...
    def balance(self, account_id: int) -> tuple[int, int]: ...
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
        self._held: dict[int, int] = {}

    async def reserve(self, account_id: int, amount_nano: int) -> None:
        balance = self._balances.get(account_id, 0)
        held = self._held.get(account_id, 0)
        if balance - held < amount_nano:
            raise insufficient(balance, held, amount_nano)
        self._held[account_id] = held + amount_nano

    async def release(self, account_id: int, amount_nano: int) -> None:
        left = self._held.get(account_id, 0) - amount_nano
        if left > 0:
            self._held[account_id] = left
        else:
            self._held.pop(account_id, None)

    def apply(self, account_id: int, delta_nano: int) -> None:
        self._balances[account_id] = self._balances.get(account_id, 0) + delta_nano

    def replace_balances(self, balances: dict[int, int]) -> None:
        self._balances = dict(balances)

    def balance(self, account_id: int) -> tuple[int, int]:
        """(balance, held) in nano-USD."""
        return self._balances.get(account_id, 0), self._held.get(account_id, 0)

    async def sync(self, marks: dict[int, tuple[int, int]]) -> None:
        """Nothing to share: apply() and replace_balances() already keep this process's copy."""
