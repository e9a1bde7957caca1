"""Balances and holds: the interface (base), in-memory and Redis stores, and the chooser (backends)."""
