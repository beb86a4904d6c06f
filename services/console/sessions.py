"""Server-side sessions: the API key never reaches the browser.

The browser holds only an opaque, random session id in an HttpOnly, SameSite=Strict cookie (Secure, with the
`__Host-` prefix, when the console is served over HTTPS). The key, the identity and the CSRF token stay in this
process. A session ends on sign-out, after `session_idle_s` without a request, `session_max_s` after sign-in,
or when a call finds the key no longer accepted; the id changes at sign-in, so an id planted before sign-in
(session fixation) is worthless after it.

Sessions live in memory: a restart signs everyone out, which is the safe failure. Sessions of people still
signing in are kept apart from signed-in ones, each bounded, so a flood of anonymous visits cannot push a
signed-in examiner out.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from console.api import Identity

#: 256 random bits, URL-safe: nothing else is ever accepted as a session id
_ID_BYTES = 32
_ID_LEN = 43


@dataclass
class Session:
    sid: str
    csrf: str
    started: float
    seen: float
    key: str = ""
    identity: Identity | None = None
    #: one-time messages for the next page (e.g. "decision recorded")
    notices: list[str] = field(default_factory=list)

    @property
    def signed_in(self) -> bool:
        return self.identity is not None

    def csrf_ok(self, presented: str) -> bool:
        return bool(presented) and hmac.compare_digest(presented.encode(), self.csrf.encode())


class SessionStore:
    def __init__(self, idle_s: float, max_s: float, capacity: int, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self._idle, self._max, self._cap, self._clock = idle_s, max_s, capacity, clock
        self._signed_in: OrderedDict[str, Session] = OrderedDict()
        self._anonymous: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def _new(self) -> Session:
        now = self._clock()
        return Session(sid=secrets.token_urlsafe(_ID_BYTES), csrf=secrets.token_urlsafe(_ID_BYTES), started=now,
                       seen=now)

    @staticmethod
    def _put(table: OrderedDict[str, Session], s: Session, cap: int) -> None:
        table[s.sid] = s
        while len(table) > cap:
            table.popitem(last=False)  # the least recently seen

    def anonymous(self) -> Session:
        """A session for someone signing in: it carries only the sign-in form's CSRF token."""
        s = self._new()
        with self._lock:
            self._put(self._anonymous, s, self._cap)
        return s

    def get(self, sid: str) -> Session | None:
        """The live session with this id, refreshed; None for anything else (expired, unknown, malformed)."""
        if len(sid) != _ID_LEN:
            return None
        now = self._clock()
        with self._lock:
            for table in (self._signed_in, self._anonymous):
                s = table.get(sid)
                if s is None:
                    continue
                if now - s.seen > self._idle or now - s.started > self._max:
                    del table[sid]
                    return None
                s.seen = now
                table.move_to_end(sid)
                return s
        return None

    def sign_in(self, old: Session, key: str, identity: Identity) -> Session:
        """A new session (new id, new CSRF token) for a verified key; the anonymous one is gone."""
        s = self._new()
        s.key, s.identity = key, identity
        with self._lock:
            self._anonymous.pop(old.sid, None)
            self._put(self._signed_in, s, self._cap)
        return s

    def end(self, sid: str) -> None:
        with self._lock:
            for table in (self._signed_in, self._anonymous):
                s = table.pop(sid, None)
                if s is not None:
                    s.key = ""  # drop the only reference to the key at once

    def __len__(self) -> int:
        with self._lock:
            return len(self._signed_in) + len(self._anonymous)
