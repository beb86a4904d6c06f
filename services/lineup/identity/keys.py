"""API key format: `lk_<key_id>.<secret>`.

The key id is public (it appears in audit records and key listings); the secret is 256 random bits shown
once at creation. Only SHA-256 of the secret is stored: with that much entropy a slow password hash adds
nothing, and the authenticator must verify a key on every call.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PREFIX = "lk_"
_KEY_RE = re.compile(r"^lk_(?P<key_id>[0-9a-f]{16})\.(?P<secret>[A-Za-z0-9_\-]{32,128})$")
#: the bootstrap credential is any string of at least this many characters
MIN_BOOTSTRAP_LEN = 32


def new_key() -> tuple[str, str, str]:
    """A fresh key: (key_id, the full key to hand out once, the hash to store)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{PREFIX}{key_id}.{secret}", secret_hash(secret)


def parse(key: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    m = _KEY_RE.fullmatch(key)
    return (m["key_id"], m["secret"]) if m else None


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(secret), stored_hash)
