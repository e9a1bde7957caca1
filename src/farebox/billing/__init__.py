"""Prices, holds and the ledger: the money path."""
