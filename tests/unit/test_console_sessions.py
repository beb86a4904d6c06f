"""The console's server-side sessions and its security headers, without a browser or a stack."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from werkzeug.test import Client

from console.api import Identity
from console.sessions import ANONYMOUS_FACTOR, PER_KEY, ConsoleFull, SessionStore
from console.settings import ConsoleSettings
from lineup.settings import SettingsError, load_settings

ME = Identity(agency_id="a", agency_name="A", key_id="k", holder="Rita", roles=frozenset({"reviewer"}),
              purposes=("investigation",), require_justification=False)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_idle_and_absolute_expiry() -> None:
    clock = Clock()
    store = SessionStore(idle_s=60, max_s=300, capacity=10, clock=clock)
    s = store.sign_in(store.anonymous(), "secret-key", ME)
    for _ in range(4):  # kept alive by use ...
        clock.now += 59
        assert store.get(s.sid) is s
    clock.now += 61  # ... until a minute without a request
    assert store.get(s.sid) is None
    t = store.sign_in(store.anonymous(), "secret-key", ME)
    for _ in range(5):  # 295 s of steady use ...
        clock.now += 59
        assert store.get(t.sid) is t
    clock.now += 59  # ... then past the 300 s cap since sign-in, however active
    assert store.get(t.sid) is None


def test_sign_in_rotates_the_id_and_sign_out_forgets_the_key() -> None:
    store = SessionStore(idle_s=60, max_s=300, capacity=10)
    anon = store.anonymous()
    s = store.sign_in(anon, "secret-key", ME)
    assert s.sid != anon.sid and s.csrf != anon.csrf and store.get(anon.sid) is None
    store.end(s.sid)
    assert store.get(s.sid) is None and s.key == ""


def _me(key_id: str) -> Identity:
    return dataclasses.replace(ME, key_id=key_id)


def test_an_anonymous_flood_cannot_push_out_signed_in_people() -> None:
    store = SessionStore(idle_s=600, max_s=3600, capacity=5)
    signed = [store.sign_in(store.anonymous(), f"key-{i}", _me(f"k{i}")) for i in range(5)]
    for _ in range(1000):
        store.anonymous()
    assert all(store.get(s.sid) is s for s in signed)
    assert len(store) == 5 + 5 * ANONYMOUS_FACTOR  # the signed-in + the newest anonymous


def test_one_key_signing_in_again_and_again_cannot_push_out_anyone_else() -> None:
    store = SessionStore(idle_s=600, max_s=3600, capacity=10)
    others = [store.sign_in(store.anonymous(), f"key-{i}", _me(f"k{i}")) for i in range(4)]
    mine = [store.sign_in(store.anonymous(), "mine", _me("attacker")) for _ in range(100)]
    assert all(store.get(s.sid) is s for s in others)  # nobody else was signed out
    live = [s for s in mine if store.get(s.sid) is s]
    assert live == mine[-PER_KEY:] and all(s.key == "" for s in mine[:-PER_KEY])  # its own oldest went, keys dropped
    store.sign_in(store.anonymous(), "key-4", _me("k4"))  # the tenth place
    with pytest.raises(ConsoleFull):  # full of live sessions: refuse, never sign a stranger out
        store.sign_in(store.anonymous(), "late", _me("late"))


def test_expired_sessions_are_swept_and_their_keys_dropped_without_being_asked_for() -> None:
    clock = Clock()
    store = SessionStore(idle_s=60, max_s=300, capacity=10, clock=clock)
    old = store.sign_in(store.anonymous(), "old-key", _me("old"))
    clock.now += 61
    store.anonymous()  # any new session sweeps
    assert old.key == "" and len(store) == 1


def test_signing_in_from_a_signed_in_session_ends_that_session() -> None:
    store = SessionStore(idle_s=60, max_s=300, capacity=10)
    first = store.sign_in(store.anonymous(), "key-1", _me("k1"))
    second = store.sign_in(first, "key-2", _me("k2"))
    assert store.get(first.sid) is None and first.key == "" and store.get(second.sid) is second


@pytest.mark.parametrize("sid", ["", "x", "A" * 43, "A" * 44, "../../x", "\x00" * 43])
def test_unknown_or_malformed_ids_are_no_session(sid: str) -> None:
    store = SessionStore(idle_s=60, max_s=300, capacity=10)
    store.anonymous()
    assert store.get(sid) is None


def test_csrf_comparison() -> None:
    s = SessionStore(idle_s=60, max_s=300, capacity=10).anonymous()
    assert s.csrf_ok(s.csrf) and not s.csrf_ok("") and not s.csrf_ok(s.csrf[:-1]) and not s.csrf_ok(s.csrf + "x")


def test_settings_fail_fast() -> None:
    with pytest.raises(SettingsError, match="LINEUP_SESSION_IDLE_S"):
        load_settings(ConsoleSettings, {"LINEUP_SESSION_IDLE_S": "9000", "LINEUP_SESSION_MAX_S": "600"})
    with pytest.raises(SettingsError, match="LINEUP_HTTP_PORT"):
        load_settings(ConsoleSettings, {"LINEUP_HTTP_PORT": "50058"})


class _NoApi:
    def call(self, *args: Any) -> Any:
        raise AssertionError("no API call expected")


def _app(secure: bool) -> Any:
    from console.__main__ import ROUTES
    from console.web import ConsoleApp

    settings = load_settings(ConsoleSettings, {"LINEUP_COOKIE_SECURE": "true" if secure else "false"})
    return ConsoleApp(settings, _NoApi(), SessionStore(60, 300, 10), ROUTES)  # type: ignore[arg-type]


def test_behind_https_the_cookie_is_secure_host_only_and_hsts_is_sent() -> None:
    got = Client(_app(secure=True)).get("/signin")
    cookie = got.headers["Set-Cookie"]
    assert cookie.startswith("__Host-lineup-console=") and "Secure" in cookie and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie and "Path=/" in cookie and "Domain" not in cookie
    assert got.headers["Strict-Transport-Security"].startswith("max-age=")
    plain = Client(_app(secure=False)).get("/signin")
    assert "Secure" not in plain.headers["Set-Cookie"] and "Strict-Transport-Security" not in plain.headers


def test_signed_out_visitors_are_sent_to_sign_in_or_refused() -> None:
    client = Client(_app(secure=False))
    page = client.get("/searches/abc")
    assert page.status_code == 303 and page.headers["Location"] == "/signin?next=%2Fsearches%2Fabc"
    image = client.get("/searches/abc/probe.png")
    assert image.status_code == 401  # an image is never a redirect to a form
    post = client.post("/searches/abc/decisions", data={"decision": "possible_lead"})
    assert post.status_code == 403 and "nothing was done" in post.get_data(as_text=True)


def test_one_agency_cannot_take_every_place_and_a_refusal_keeps_the_sign_in_form_alive() -> None:
    store = SessionStore(idle_s=600, max_s=3600, capacity=10, per_agency=4)
    hostile = [store.sign_in(store.anonymous(), f"k{i}", dataclasses.replace(ME, agency_id="noisy", key_id=f"n{i}"))
               for i in range(4)]
    form = store.anonymous()
    with pytest.raises(ConsoleFull) as refused:
        store.sign_in(form, "k5", dataclasses.replace(ME, agency_id="noisy", key_id="n5"))
    assert refused.value.agency and store.get(form.sid) is form  # the person can simply try again later
    assert all(store.get(s.sid) is s for s in hostile)
    other = store.sign_in(store.anonymous(), "quiet-key", dataclasses.replace(ME, agency_id="quiet", key_id="q1"))
    assert store.get(other.sid) is other  # another agency still gets in
