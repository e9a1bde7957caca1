"""Who is calling: API keys (made, hashed, recognised), the in-memory directory of keys, accounts
and tiers that the hot path reads, and turning a Bearer key into a principal."""
