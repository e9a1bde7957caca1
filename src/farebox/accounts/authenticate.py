"""Bearer key -> principal, from the in-memory directory (no database read)."""

from __future__ import annotations

from farebox.accounts.directory import Directory, Principal
from farebox.accounts.keys import hash_key, looks_like_key
from farebox.errors import InvalidApiKey


def authenticate(directory: Directory, authorization: str | None) -> Principal:
    if not authorization:
        raise InvalidApiKey("You didn't provide an API key. Send it as 'Authorization: Bearer sk-...'.")
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise InvalidApiKey("Malformed Authorization header; expected 'Bearer sk-...'.")
    principal = directory.lookup(hash_key(key)) if looks_like_key(key) else None
    if principal is None:
        raise InvalidApiKey(f"Incorrect API key provided: {_redact(key)}.")
    return principal


def _redact(key: str) -> str:
    """Enough of a mistyped customer key to recognise it; nothing of anything else (an admin key
    sent here by mistake, a password, bytes that are no key at all)."""
    return key[:6] + "*" * 4 + key[-4:] if looks_like_key(key) else "****"
