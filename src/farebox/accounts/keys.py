"""API keys: `sk-` plus 45 random base62 characters (48 in all), stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import string

ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 48
PREFIX_LENGTH = 11  # "sk-" + 8 characters, shown in listings


def new_key() -> str:
    return "sk-" + "".join(secrets.choice(ALPHABET) for _ in range(KEY_LENGTH - 3))


ADMIN_KEY_PREFIX = "fbadmin-"


def new_admin_key() -> str:
    """An operator key made by farebox: `fbadmin-` plus 45 random base62 characters."""
    return ADMIN_KEY_PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(45))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def visible_prefix(key: str) -> str:
    return key[:PREFIX_LENGTH]


def looks_like_key(key: str) -> bool:
    return len(key) == KEY_LENGTH and key.startswith("sk-") and key[3:].isalnum() and key.isascii()
