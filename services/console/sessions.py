"""Server-side sessions: the API key never reaches the browser.

The browser holds only an opaque, random session id in an HttpOnly, SameSite=Strict cookie (Secure, with the
`__Host-` prefix, when the console is served over HTTPS). The key, the identity and the CSRF token stay in this
process. A session ends on sign-out, after `session_idle_s` without a request, `session_max_s` after sign-in,
or when a call finds the key no longer accepted; the id changes at sign-in, so an id planted before sign-in
(session fixation) is worthless after it. Whenever a session ends, its key is dropped at once, and expired
sessions are swept on every new session, not only when their id comes back.

Sessions live in memory: a restart signs everyone out, which is the safe failure. Capacity is shared fairly:
- one key holds at most `PER_KEY` sessions (its own oldest goes), so one person signing in over and over cannot
  push other people out;
- when every signed-in place is taken by a live session, a new sign-in is refused (the person is told), never
  paid for by signing someone else out;
- sessions of people still signing in (anonymous: a CSRF token, no key) are kept apart, in a larger table, so a
  flood of visits can at worst make a sign-in in progress ask for a reload (rate-limit sign-in at the ingress).
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
#: sessions one API key may hold at once (a few browsers or tabs of one person)
PER_KEY = 5
#: anonymous sessions held per signed-in place
ANONYMOUS_FACTOR = 5
#: how often the signed-in table is swept for expired sessions (the sweep reads it whole)
SWEEP_EVERY_S = 1.0


class ConsoleFull(Exception):
    """Every signed-in place (of the console, or of the person's agency) is taken by a live session."""

    def __init__(self, agency: bool) -> None:
        super().__init__("agency" if agency else "console")
        self.agency = agency


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
    def __init__(self, idle_s: float, max_s: float, capacity: int, per_agency: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._idle, self._max, self._cap, self._clock = idle_s, max_s, capacity, clock
        #: one agency cannot take every place: the others can still sign in
        self._per_agency = per_agency or capacity
        self._swept = float("-inf")
        #: both tables in least-recently-seen order
        self._signed_in: OrderedDict[str, Session] = OrderedDict()
        self._anonymous: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def _new(self) -> Session:
        now = self._clock()
        return Session(sid=secrets.token_urlsafe(_ID_BYTES), csrf=secrets.token_urlsafe(_ID_BYTES), started=now,
                       seen=now)

    def _expired(self, s: Session, now: float) -> bool:
        return now - s.seen > self._idle or now - s.started > self._max

    @staticmethod
    def _drop(table: OrderedDict[str, Session], sid: str) -> None:
        s = table.pop(sid, None)
        if s is not None:
            s.key = ""  # drop the only reference to the key at once (a request still running fails its calls)

    def _sweep(self, now: float) -> None:
        """Remove expired sessions (callers hold the lock). Idle expiry follows the tables' order; the
        absolute cap does not, so the signed-in table is read whole, at most once a SWEEP_EVERY_S."""
        if now - self._swept >= SWEEP_EVERY_S:
            self._swept = now
            for sid in [sid for sid, s in self._signed_in.items() if self._expired(s, now)]:
                self._drop(self._signed_in, sid)
        while self._anonymous:
            sid, s = next(iter(self._anonymous.items()))
            if not self._expired(s, now):
                break
            self._drop(self._anonymous, sid)

    def anonymous(self) -> Session:
        """A session for someone signing in: it carries only the sign-in form's CSRF token."""
        s = self._new()
        with self._lock:
            self._sweep(s.started)
            self._anonymous[s.sid] = s
            while len(self._anonymous) > self._cap * ANONYMOUS_FACTOR:
                self._drop(self._anonymous, next(iter(self._anonymous)))
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
                if self._expired(s, now):
                    self._drop(table, sid)
                    return None
                s.seen = now
                table.move_to_end(sid)
                return s
        return None

    def sign_in(self, old: Session, key: str, identity: Identity) -> Session:
        """A new session (new id, new CSRF token) for a verified key; the session it came from is gone.
        Raises ConsoleFull rather than sign anyone else out."""
        s = self._new()
        s.key, s.identity = key, identity
        with self._lock:
            self._sweep(s.started)
            live = [(sid, t.identity) for sid, t in self._signed_in.items() if t.identity is not None]
            same_key = [sid for sid, who in live if who.key_id == identity.key_id and sid != old.sid]
            freed = same_key[:max(0, len(same_key) - PER_KEY + 1)]  # this key's own oldest make room
            leaving = len(freed) + (old.sid in self._signed_in)
            agency = sum(who.agency_id == identity.agency_id for _, who in live)
            if agency - leaving >= self._per_agency:  # checked before anything changes: a refusal costs nothing
                raise ConsoleFull(agency=True)
            if len(self._signed_in) - leaving >= self._cap:
                raise ConsoleFull(agency=False)
            for table in (self._signed_in, self._anonymous):
                self._drop(table, old.sid)
            for sid in freed:
                self._drop(self._signed_in, sid)
            self._signed_in[s.sid] = s
        return s

    def end(self, sid: str) -> None:
        with self._lock:
            for table in (self._signed_in, self._anonymous):
                self._drop(table, sid)

    def __len__(self) -> int:
        with self._lock:
            return len(self._signed_in) + len(self._anonymous)
