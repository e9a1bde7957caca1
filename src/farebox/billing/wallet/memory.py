"""Balances and holds for one process.

Balances mirror the database (refreshed by the ledger writer, which is the only code that changes
them); holds live in memory and vanish with the process, which is exactly "holds of a dead process
are released on restart".
"""

from __future__ import annotations

from farebox.billing.wallet.base import insufficient


class MemoryWallet:
    def __init__(self) -> None:
        self._balances: dict[int, int] = {}
        self._held: dict[int, int] = {}  # per account: the sum of its holds
        self._holds: dict[str, tuple[int, int]] = {}  # hold id -> (account, amount)

    async def start(self) -> None:
        """Nothing runs in the background: holds are this process's own."""

    async def stop(self) -> None:
        """Nothing to give back: the holds vanish with the process."""

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
