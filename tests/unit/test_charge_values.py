"""Ledger rows are clamped to their columns before a group commit: one odd value must not fail
every charge in the batch on PostgreSQL (which checks lengths and ranges; SQLite does not)."""

from __future__ import annotations

from farebox.storage.charges import COLUMNS, INT32_MAX, ledger_values


def test_long_strings_and_huge_counts_are_clamped_to_their_columns() -> None:
    row = {"account_id": 1, "kind": "charge", "amount_nano": -5, "request_id": "r1", "model_requested": "m" * 256,
           "deployment": "d" * 400, "prompt_tokens": 10**12, "completion_tokens": -(10**12), "note": "n" * 5000}
    _, [values] = ledger_values([row], {1: (100, 1)})
    by_name = dict(zip(COLUMNS, values, strict=True))
    assert by_name["model_requested"] == "m" * 200 and by_name["deployment"] == "d" * 300
    assert by_name["prompt_tokens"] == INT32_MAX and by_name["completion_tokens"] == -INT32_MAX
    assert by_name["note"] == "n" * 5000  # Text: unbounded
    assert by_name["amount_nano"] == -5 and by_name["balance_after_nano"] == 100
