"""Session credentials: an AWS-style access key, secret and session token for one case and purpose.

The session id is the access key id. The secret is HMAC-SHA256(deployment session signing key, session id):
derived, never stored, so a copy of the identity bucket yields no usable credential, and the Rekognition
endpoint (which holds the same signing key) can verify Signature V4 without a database round trip. The
session token carries the expiry under a MAC, so an expired or tampered token is refused before any call
reaches ingest; revocation is checked by ingest on every call (the session document is read each time).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

#: session ids look like AWS temporary access key ids (20 upper-case characters, fixed prefix)
SESSION_ID_RE = re.compile(r"^LSES[0-9A-F]{16}$")
#: shortest deployment session signing key accepted (setting LINEUP_SESSION_SIGNING_KEY)
MIN_SIGNING_KEY_LEN = 32
DEFAULT_TTL_S = 8 * 3600
MAX_TTL_S = 7 * 24 * 3600
_TOKEN_RE = re.compile(r"^(?P<sid>LSES[0-9A-F]{16})\.(?P<agency>[a-z0-9][a-z0-9-]{1,62})\.(?P<exp>[0-9]{1,12})\."
                       r"(?P<mac>[0-9a-f]{64})$")


def new_session_id() -> str:
    return "LSES" + secrets.token_hex(8).upper()


def _mac(signing_key: str, purpose: str, text: str) -> bytes:
    return hmac.new(signing_key.encode(), f"{purpose}|{text}".encode(), hashlib.sha256).digest()


def derive_secret(signing_key: str, session_id: str) -> str:
    """The session's AWS secret access key (40 characters like AWS's), recomputable from the id alone."""
    return base64.b64encode(_mac(signing_key, "lineup-session-secret", session_id)).decode()[:40]


def make_token(signing_key: str, session_id: str, agency_id: str, expires_epoch_s: int) -> str:
    """The AWS session token: session id, agency and expiry in the clear (the endpoint needs them before it
    talks to ingest), under a MAC so none of them can be changed."""
    mac = _mac(signing_key, "lineup-session-token", f"{session_id}|{agency_id}|{expires_epoch_s}").hex()
    return f"{session_id}.{agency_id}.{expires_epoch_s}.{mac}"


@dataclass(frozen=True)
class SessionToken:
    session_id: str
    agency_id: str
    expires_epoch_s: int


def parse_token(signing_key: str, token: str) -> SessionToken | None:
    """The contents of an authentic token, else None (malformed or tampered)."""
    m = _TOKEN_RE.fullmatch(token)
    if m is None:
        return None
    expected = make_token(signing_key, m["sid"], m["agency"], int(m["exp"]))
    if not hmac.compare_digest(expected.encode(), token.encode()):
        return None
    return SessionToken(m["sid"], m["agency"], int(m["exp"]))
