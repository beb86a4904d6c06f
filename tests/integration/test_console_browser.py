"""The examiner console in a real browser (Debian's headless Chromium, driven by Selenium) against the real
local stack: sign in, run a search, see the crops load, two reviewers confirm a lead (one by keyboard only),
the auditor sees the looks and the decisions, and another agency sees none of it.

The tests run in file order and share one search (`case` fixture). With LINEUP_CONSOLE_SCREENSHOTS=<dir>
(`make console-screenshots`) each page is saved there, with every face blurred: the photos come from
../shared, which must never be copied into the repository.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from PIL import Image

from lineup.v1 import admin_pb2, common_pb2, face_search_pb2, review_pb2
from tests.integration.pipeline_harness import Pipeline
from tests.integration.public_api import Api, image_of, tv_photos
from tests.integration.waiting import PATIENT_S, wait_until

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is missing: pip install -e '.[dev]'")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

R = admin_pb2
CASE = "CASE-CONSOLE-7"
SHOTS = os.environ.get("LINEUP_CONSOLE_SCREENSHOTS", "")
_TAKEN: set[str] = set()


@pytest.fixture(scope="module")
def pipeline(tv_pipeline: Pipeline) -> Pipeline:
    tv_pipeline.start_console()
    return tv_pipeline


@pytest.fixture(scope="module")
def api(pipeline: Pipeline) -> Iterator[Api]:
    with grpc.insecure_channel(pipeline.endpoint) as ch:
        yield Api(ch)


@pytest.fixture(scope="module")
def people(pipeline: Pipeline, api: Api) -> dict[str, str]:
    """Keys of the people in the story, and a collection with amy and sheldon enrolled."""
    enroller = pipeline.metadata("Eve Enroller", roles=[R.ROLE_ADMIN, R.ROLE_ENROLLER])
    api.faces.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="console-gallery"),
                               metadata=enroller, timeout=30)
    for name in ("amy", "sheldon"):
        api.faces.IndexFaces(face_search_pb2.IndexFacesRequest(
            collection_id="console-gallery", image=image_of(tv_photos(name)[0]), max_faces=1,
            quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=enroller, timeout=120)
    return {
        "searcher": pipeline.key("Sam Searcher", roles=[R.ROLE_SEARCHER]),
        "rita": pipeline.key("Rita Reviewer", roles=[R.ROLE_REVIEWER]),
        "ravi": pipeline.key("Ravi Reviewer", roles=[R.ROLE_REVIEWER]),
        "auditor": pipeline.key("Ada Auditor", roles=[R.ROLE_AUDITOR]),
        "enroller": pipeline.key("Eve Enroller", roles=[R.ROLE_ENROLLER]),
        "other": pipeline.key("Oscar Outsider", agency=f"{pipeline.agency}-other",
                              roles=[R.ROLE_SEARCHER, R.ROLE_REVIEWER, R.ROLE_AUDITOR]),
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from lineup_tools.devstack import browser as chromium

    found = chromium.find()
    if found is None:
        pytest.fail("chromium and chromium-driver are not installed: `make browser` (make test runs it) installs "
                    "them from Debian's packages")
    binary, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1366,900", "--lang=en-US", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    service = webdriver.ChromeService(executable_path=driver_path)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(PATIENT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def story() -> dict[str, Any]:
    """What one test leaves for the next (they run in file order)."""
    return {}


# -- helpers ----------------------------------------------------------------------------------------

def _sign_in(driver: Any, base: str, key: str, then: str = "/cases") -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}{then}")
    assert "/signin" in driver.current_url  # signed out: every page leads to sign-in
    if SHOTS and "sign-in" not in _TAKEN:  # the first sign-in page only
        _TAKEN.add("sign-in")
        _shot(driver, "sign-in")
    driver.find_element(By.ID, "api_key").send_keys(key)
    _then_new_page(driver, driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click, "Sign out")


def _sign_out(driver: Any) -> None:
    _then_new_page(driver, driver.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click,
                   "Sign in with your Lineup API key")


def _images_loaded(driver: Any, selector: str) -> list[int]:
    """naturalWidth of each matching image once all have finished loading (0: failed)."""
    def widths() -> list[int] | None:
        return driver.execute_script(  # type: ignore[no-any-return]
            "const imgs=[...document.querySelectorAll(arguments[0])];"
            "return imgs.every(i=>i.complete) ? imgs.map(i=>i.naturalWidth) : null;", selector)
    got = wait_until(widths, lambda w: w is not None, timeout_s=PATIENT_S)
    assert got is not None, f"images {selector} still loading"
    return got


def _text(driver: Any) -> str:
    """The page's visible text; read by script, so a page being replaced mid-read gives "" (no stale element)."""
    return str(driver.execute_script("return document.body ? document.body.innerText : ''") or "")


def _shot(driver: Any, name: str) -> None:
    _shot_at(driver, name, 1366)


def _shot_at(driver: Any, name: str, width: int) -> None:
    """Save the whole page, faces blurred (docs/console/*.png via `make console-screenshots`)."""
    if not SHOTS:
        return
    driver.execute_script("document.querySelectorAll('img').forEach(i => { i.style.filter = 'blur(9px)'; });")
    driver.set_window_size(width, 900)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, max(900, min(int(height) + 40, 4000)))
    driver.execute_script("window.scrollTo(0, 0)")
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    out = Path(SHOTS) / f"{name}.png"
    driver.save_screenshot(str(out))
    with Image.open(out) as shot:  # 256 colours: a page is mostly flat colour, a fraction of the bytes
        shot.convert("RGB").quantize(colors=256).save(out, optimize=True)
    driver.set_window_size(1366, 900)


def _then_new_page(driver: Any, act: Any, expected: str) -> str:
    """Do `act` (a submit) and wait for the *next* page to show `expected`: the old page is marked first, so
    its own text (e.g. the previous notice) can never satisfy the wait."""
    driver.execute_script("document.documentElement.dataset.before = '1'")
    act()
    page = wait_until(lambda: "" if driver.execute_script("return document.documentElement.dataset.before") else
                      _text(driver), lambda t: expected in t, timeout_s=PATIENT_S)
    assert expected in page, (expected, driver.current_url, page[:1000])
    return page


def _reload_until(driver: Any, url: str, done: Any) -> str:
    def look() -> str:
        driver.get(url)
        return _text(driver)
    return wait_until(look, done, timeout_s=PATIENT_S, interval_s=1.0)


# -- the story --------------------------------------------------------------------------------------

def test_a_searcher_signs_in_runs_a_search_and_sees_the_candidate_crops(
        pipeline: Pipeline, people: dict[str, str], browser: Any, story: dict[str, Any]) -> None:
    base = pipeline.console_url
    _sign_in(browser, base, people["searcher"])
    assert "Sam Searcher" in browser.find_element(By.CSS_SELECTOR, "[data-testid=who]").text
    nav = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "nav a")]
    assert nav == ["Cases", "New search"]  # no Audit for a searcher
    _then_new_page(browser, browser.find_element(By.LINK_TEXT, "New search").click, "Probe photo")
    browser.find_element(By.ID, "photo").send_keys(str(tv_photos("amy")[2].resolve()))
    Select(browser.find_element(By.ID, "collection_id")).select_by_value("console-gallery")
    browser.find_element(By.ID, "case_id").send_keys(CASE)
    Select(browser.find_element(By.ID, "purpose")).select_by_index(0)
    browser.find_element(By.ID, "justification").send_keys("Robbery at 5th and Main; CCTV still")
    _shot(browser, "new-search")
    page = _then_new_page(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Search']").click,
                          "Search review")
    assert re.search(r"/searches/[0-9a-f]{32}$", browser.current_url), (browser.current_url, page[:500])
    search_id = browser.current_url.rsplit("/", 1)[-1]
    story["search_id"] = search_id
    page = _text(browser)
    assert "Investigative lead only" in page and CASE in page
    assert "similarity at least" in browser.find_element(By.CSS_SELECTOR, "[data-testid=threshold]").text
    assert "You ran this search, so you cannot review" in page
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=decision-form]")  # the searcher may not decide
    crops = _images_loaded(browser, "img[data-testid=candidate-crop]")
    assert crops and all(w == 112 for w in crops), crops  # the aligned crops, decoded by the browser
    assert _images_loaded(browser, "img[data-testid=probe-crop]") == [112]
    assert _images_loaded(browser, "img[data-testid=probe-photo]")[0] > 112
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=score]")[0].text.startswith("Similarity")
    browser.get(f"{base}/cases")
    assert CASE in [e.text for e in browser.find_elements(By.CSS_SELECTOR, "[data-testid=case-id]")]
    _sign_out(browser)


def test_two_reviewers_confirm_a_lead_one_of_them_by_keyboard_alone(
        pipeline: Pipeline, people: dict[str, str], browser: Any, story: dict[str, Any]) -> None:
    base, search_id = pipeline.console_url, story["search_id"]
    _sign_in(browser, base, people["rita"], then=f"/searches/{search_id}")
    assert browser.current_url.endswith(f"/searches/{search_id}")  # sign-in returns to the page asked for
    _shot(browser, "search-review")
    # keyboard only: Tab from the page's first link to the first decision's first choice, Space, Tab to the notes,
    # type, Tab to the button, Enter
    first_radio = browser.find_element(By.CSS_SELECTOR, "[data-testid=decision-form] input[value=possible_lead]")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    for _ in range(200):
        if browser.switch_to.active_element == first_radio:
            break
        browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element == first_radio, "the decision form is not reachable by Tab"
    first_radio.send_keys(Keys.SPACE)
    browser.switch_to.active_element.send_keys(Keys.TAB)
    browser.switch_to.active_element.send_keys("Same ear shape and hairline; scar above left eyebrow")
    browser.switch_to.active_element.send_keys(Keys.TAB)
    _then_new_page(browser, lambda: browser.switch_to.active_element.send_keys(Keys.ENTER), "Recorded: possible lead")
    first = browser.find_elements(By.CSS_SELECTOR, "[data-testid=candidate]")[0]
    assert "needs a second examiner" in first.find_element(By.CSS_SELECTOR, "[data-testid=state]").text
    assert "You decided: possible lead" in first.find_element(By.CSS_SELECTOR, "[data-testid=mine]").text
    # the same person again is not a second reviewer: still one decision short of a confirmed lead
    first.find_element(By.CSS_SELECTOR, "input[value=possible_lead]").click()
    button = first.find_element(By.XPATH, ".//button[normalize-space()='Change my decision']")
    _then_new_page(browser, button.click, "Recorded: possible lead")
    first = browser.find_elements(By.CSS_SELECTOR, "[data-testid=candidate]")[0]
    assert "needs a second examiner" in first.find_element(By.CSS_SELECTOR, "[data-testid=state]").text
    _sign_out(browser)

    _sign_in(browser, base, people["ravi"], then=f"/searches/{search_id}")
    first = browser.find_elements(By.CSS_SELECTOR, "[data-testid=candidate]")[0]
    assert not first.find_elements(By.CSS_SELECTOR, "[data-testid=mine]")
    first.find_element(By.CSS_SELECTOR, "input[value=possible_lead]").click()
    first.find_element(By.CSS_SELECTOR, "textarea").send_keys("Agree: ear and scar")
    _then_new_page(browser, first.find_element(By.XPATH, ".//button[normalize-space()='Record decision']").click,
                   "Recorded: possible lead")
    first = browser.find_elements(By.CSS_SELECTOR, "[data-testid=candidate]")[0]
    assert "confirmed lead (two examiners)" in first.find_element(By.CSS_SELECTOR, "[data-testid=state]").text
    who = [row.text for row in first.find_elements(By.CSS_SELECTOR, "[data-testid=entry]")]
    assert any("Rita Reviewer" in w and "possible lead" in w for w in who)
    assert any("Ravi Reviewer" in w and "possible lead" in w for w in who)
    _shot(browser, "search-review-confirmed")
    for width in (1280, 1024):  # laptop screens: everything fits the width, nothing scrolls sideways
        browser.set_window_size(width, 800)
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, (width, overflow)
    _shot_at(browser, "search-review-1024", 1024)
    browser.set_window_size(1366, 900)
    browser.get(f"{base}/cases?case={CASE}")
    assert "1 confirmed lead" in _text(browser)
    _shot(browser, "cases")
    _sign_out(browser)


def test_the_auditor_sees_the_looks_and_the_decisions_and_the_chain_verifies(
        pipeline: Pipeline, people: dict[str, str], browser: Any, story: dict[str, Any]) -> None:
    base = pipeline.console_url
    _sign_in(browser, base, people["auditor"], then="/")
    assert browser.current_url.endswith("/audit")  # an auditor's home page
    url = f"{base}/audit?case={CASE}"

    def complete(page: str) -> bool:  # the exact records: both reviewers' decisions and their looks at the crops
        rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "[data-testid=record]")]
        decided = [r for r in rows if "RecordDecision" in r and "allowed" in r]
        return (any("Rita Reviewer" in r for r in decided) and any("Ravi Reviewer" in r for r in decided)
                and any("Ravi Reviewer" in r and "looked at candidate face crop" in r for r in rows)
                and any("Sam Searcher" in r and "SearchFacesByImage" in r for r in rows))
    page = _reload_until(browser, url, complete)
    assert complete(page), page[:3000]
    assert "confirmed lead" in page
    chain = browser.find_element(By.CSS_SELECTOR, "[data-testid=chain]").text
    assert chain.startswith("Chain intact") and "head reached: sequence" in chain
    _shot(browser, "audit")
    browser.get(f"{base}/audit?case={CASE}&operation=lineup.v1.Review/RecordDecision")
    ops = {e.text for e in browser.find_elements(By.CSS_SELECTOR, "[data-testid=operation]")}
    assert ops == {"RecordDecision"}
    _sign_out(browser)


def test_another_agency_sees_none_of_it(pipeline: Pipeline, people: dict[str, str], browser: Any,
                                        story: dict[str, Any]) -> None:
    base, search_id = pipeline.console_url, story["search_id"]
    _sign_in(browser, base, people["other"])
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=no-cases]")
    assert CASE not in _text(browser)
    browser.get(f"{base}/cases?case={CASE}")
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=no-cases]")
    browser.get(f"{base}/searches/{search_id}")
    error = browser.find_element(By.CSS_SELECTOR, "[data-testid=error]").text
    assert f"search '{search_id}' not found in your agency" in error
    assert "Traceback" not in _text(browser)
    browser.get(f"{base}/audit?case={CASE}")  # only its own agency's trail: its own look-ups of the case number
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "[data-testid=record]")]
    assert rows and all(r.startswith(tuple("0123456789")) and "Oscar Outsider" in r for r in rows), rows
    assert not any(name in _text(browser) for name in ("Sam Searcher", "Rita Reviewer", "Ravi Reviewer"))
    for path in (f"/searches/{search_id}/probe.png", f"/searches/{search_id}/probe/0.png"):
        browser.get(base + path)  # a placeholder picture, never the face
        size = browser.execute_script("const i=document.images[0]; return i ? [i.naturalWidth, i.naturalHeight] : null")
        assert size == [224, 224], (path, size)
    browser.get(f"{base}/cases")
    _sign_out(browser)


def test_an_enroller_key_cannot_sign_in_and_the_cookie_is_out_of_scripts_reach(
        pipeline: Pipeline, people: dict[str, str], browser: Any, story: dict[str, Any]) -> None:
    base = pipeline.console_url
    browser.delete_all_cookies()
    browser.get(f"{base}/signin")
    browser.find_element(By.ID, "api_key").send_keys(people["enroller"])
    page = _then_new_page(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click,
                          "searchers, reviewers and auditors")
    assert "this key holds none of those roles" in page
    _sign_in(browser, base, people["rita"])
    cookies = browser.get_cookies()
    assert [c["name"] for c in cookies] == ["lineup-console"]
    assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""  # no script can read the session
    # everything the pages loaded came from the console itself (no third-party assets)
    for path in ("/cases", f"/searches/{story['search_id']}"):
        browser.get(base + path)
        _images_loaded(browser, "img:not([loading=lazy])")
        loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(url.startswith(base + "/") for url in loaded), loaded
    _sign_out(browser)


def test_the_review_agrees_with_the_api(api: Api, pipeline: Pipeline, story: dict[str, Any]) -> None:
    """What the pages showed is what ingest holds: the first candidate is a confirmed lead by two people."""
    review = api.review.GetSearchReview(review_pb2.GetSearchReviewRequest(search_id=story["search_id"]),
                                        metadata=pipeline.metadata("Rita Reviewer", roles=[R.ROLE_REVIEWER]),
                                        timeout=30)
    first = min(review.candidates, key=lambda c: (c.probe_face_index, c.rank))
    assert first.state == review_pb2.CANDIDATE_REVIEW_STATE_CONFIRMED_LEAD
    assert {e.reviewer_holder for e in first.entries} == {"Rita Reviewer", "Ravi Reviewer"}
    assert review.context.case_id == CASE and review.searcher_holder == "Sam Searcher"


# -- the same console, attacked over plain HTTP ---------------------------------------------------------

def _http_sign_in(base: str, key: str, next_path: str = "/cases") -> tuple[Any, Any]:
    """A requests session signed in with `key`: (session, the sign-in response, not followed)."""
    import requests

    s = requests.Session()
    form = s.get(f"{base}/signin", timeout=60)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf, form.text[:500]
    done = s.post(f"{base}/signin", params={"next": next_path}, data={"csrf": csrf.group(1), "api_key": key},
                  allow_redirects=False, timeout=60)
    return s, done


def _csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def test_forged_forms_change_nothing(pipeline: Pipeline, people: dict[str, str], api: Api,
                                     story: dict[str, Any]) -> None:
    """No CSRF token, another session's token, another site's Origin: 403, and no decision is recorded."""
    base, sid = pipeline.console_url, story["search_id"]
    review = api.review.GetSearchReview(review_pb2.GetSearchReviewRequest(search_id=sid),
                                        metadata=pipeline.metadata("Rita Reviewer", roles=[R.ROLE_REVIEWER]),
                                        timeout=30)
    first = min(review.candidates, key=lambda c: (c.probe_face_index, c.rank))
    before = len(first.entries)
    victim, _ = _http_sign_in(base, people["ravi"])
    attacker, _ = _http_sign_in(base, people["rita"])
    mine = _csrf_of(victim.get(f"{base}/searches/{sid}", timeout=60).text)
    theirs = _csrf_of(attacker.get(f"{base}/searches/{sid}", timeout=60).text)
    form = {"probe_face_index": str(first.probe_face_index), "face_id": first.face_id, "decision": "not_a_match"}
    for extra, headers in (({}, {}), ({"csrf": theirs}, {}), ({"csrf": mine}, {"Origin": "http://evil.example"}),
                           ({"csrf": mine}, {"Origin": "null"}), ({"csrf": mine[:-1]}, {})):
        got = victim.post(f"{base}/searches/{sid}/decisions", data={**form, **extra}, headers=headers,
                          allow_redirects=False, timeout=60)
        assert got.status_code == 403 and "nothing was done" in got.text, (extra, headers, got.status_code)
    gone = victim.post(f"{base}/signout", data={}, allow_redirects=False, timeout=60)  # sign-out needs the token too
    assert gone.status_code == 403
    after = api.review.GetSearchReview(review_pb2.GetSearchReviewRequest(search_id=sid),
                                       metadata=pipeline.metadata("Rita Reviewer", roles=[R.ROLE_REVIEWER]),
                                       timeout=30)
    assert len(next(c for c in after.candidates if c.face_id == first.face_id).entries) == before


def test_the_session_id_changes_at_sign_in_and_dies_at_sign_out(pipeline: Pipeline, people: dict[str, str]) -> None:
    import requests

    base = pipeline.console_url
    s = requests.Session()
    page = s.get(f"{base}/signin", timeout=60)
    planted = s.cookies.get("lineup-console")
    assert planted and "HttpOnly" in page.headers["Set-Cookie"] and "SameSite=Strict" in page.headers["Set-Cookie"]
    done = s.post(f"{base}/signin", data={"csrf": _csrf_of(page.text), "api_key": people["rita"]},
                  allow_redirects=False, timeout=60)
    assert done.status_code == 303 and "HttpOnly" in done.headers["Set-Cookie"]
    assert "Secure" not in done.headers["Set-Cookie"]  # plain HTTP here; LINEUP_COOKIE_SECURE adds it (unit test)
    signed = s.cookies.get("lineup-console")
    assert signed and signed != planted  # a fixated id is worthless after sign-in
    stale = requests.get(f"{base}/cases", cookies={"lineup-console": planted}, allow_redirects=False, timeout=60)
    assert stale.status_code == 303 and stale.headers["Location"].startswith("/signin")
    cases = s.get(f"{base}/cases", timeout=60)
    assert cases.status_code == 200 and "Rita Reviewer" in cases.text
    assert people["rita"] not in cases.text  # the key never comes back to the browser
    s.post(f"{base}/signout", data={"csrf": _csrf_of(cases.text)}, allow_redirects=False, timeout=60)
    replay = requests.get(f"{base}/cases", cookies={"lineup-console": signed}, allow_redirects=False, timeout=60)
    assert replay.status_code == 303 and replay.headers["Location"].startswith("/signin")
    for forged in ("A" * 43, "x", "../../etc/passwd", "A" * 5000):
        got = requests.get(f"{base}/cases", cookies={"lineup-console": forged}, allow_redirects=False, timeout=60)
        assert got.status_code == 303 and got.headers["Location"].startswith("/signin"), forged[:20]


def test_every_response_is_locked_down(pipeline: Pipeline, people: dict[str, str], story: dict[str, Any]) -> None:
    """Strict CSP, no framing, no sniffing, no caching of pages or faces, and no third-party reference."""
    from console.web import CSP

    base, sid = pipeline.console_url, story["search_id"]
    s, _ = _http_sign_in(base, people["rita"])
    for path in ("/signin", "/cases", f"/searches/{sid}", f"/searches/{sid}/probe.png", f"/searches/{sid}/probe/0.png",
                 "/searches/new", "/audit", "/no-such-page", "/static/console.css"):
        got = s.get(base + path, allow_redirects=False, timeout=60)
        h = got.headers
        assert h["Content-Security-Policy"] == CSP and "default-src 'none'" in CSP, path
        assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff", path
        if path != "/static/console.css":
            assert "no-store" in h["Cache-Control"], (path, h["Cache-Control"])
        if h["Content-Type"].startswith("text/html"):
            assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:)?//""", got.text), path
            assert "Traceback" not in got.text


def test_hostile_paths_and_parameters_are_refused_in_plain_words(pipeline: Pipeline, people: dict[str, str],
                                                                 story: dict[str, Any]) -> None:
    import requests

    base, sid = pipeline.console_url, story["search_id"]
    s, done = _http_sign_in(base, people["rita"], next_path="//evil.example/steal")
    assert done.headers["Location"] == "/cases"  # never an open redirect
    for target in ("https://evil.example/", "/\\evil.example", "javascript:alert(1)", "/x\r\nSet-Cookie: a=b"):
        _, again = _http_sign_in(base, people["rita"], next_path=target)
        assert again.headers["Location"] == "/cases", target
    script = "<script>alert(1)</script>"
    cases = s.get(f"{base}/cases", params={"case": script}, timeout=60)
    assert script not in cases.text and "&lt;script&gt;" in cases.text
    for path, status, words in (
            ("/searches/..%2F..%2Fadmin", 404, "no such page"),
            (f"/searches/{'a' * 65}", 404, "not a search id"),
            ("/searches/%3Cb%3E", 404, "not a search id"),
            (f"/searches/{sid}/candidates/..%2F..%2Fimages", 404, "no such page"),
            (f"/searches/{sid}/candidates/%3Cscript%3E", 404, "not a face id"),
            (f"/searches/{sid}/probe/99999.png", 404, "no such probe face"),
            ("/audit", 403, "needs one of the roles auditor"),
            ("/searches/new", 403, "needs one of the roles searcher"),
            ("/static/..%2Fweb.py", 404, "no such page")):
        got = s.get(base + path, timeout=60)
        assert got.status_code == status and words in got.text, (path, got.status_code, got.text[:300])
        assert "Traceback" not in got.text
    auditor, _ = _http_sign_in(base, people["auditor"])
    bad = auditor.get(f"{base}/audit", params={"operation": script, "from": "yesterday"}, timeout=60)
    assert bad.status_code == 400 and script not in bad.text
    # sign-in: an unknown key is refused without echoing it; a key with spaces or control characters too
    anon = requests.Session()
    page = anon.get(f"{base}/signin", timeout=60)
    for key, status in (("lk_" + "0" * 40, 401), ("key with spaces", 400), ("k\x00ey", 400), ("k" * 300, 400)):
        got = anon.post(f"{base}/signin", data={"csrf": _csrf_of(page.text), "api_key": key}, allow_redirects=False,
                        timeout=60)
        assert got.status_code == status and key not in got.text, (key[:20], got.status_code)
    # a form over the console's limit is refused from its declared length, before a byte of it is read
    import http.client

    searcher, _ = _http_sign_in(base, people["searcher"])
    conn = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=60)
    conn.putrequest("POST", "/searches/new")
    conn.putheader("Cookie", f"lineup-console={searcher.cookies.get('lineup-console')}")
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(16 * 1024 * 1024))
    conn.endheaders()
    big = conn.getresponse()
    page = big.read().decode()
    conn.close()
    assert big.status == 413 and "a photo of at most 15 MB" in page


def test_a_revoked_key_ends_the_session(pipeline: Pipeline, api: Api) -> None:
    base = pipeline.console_url
    admin = pipeline.metadata("Eve Enroller", roles=[R.ROLE_ADMIN, R.ROLE_ENROLLER])
    created = api.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(holder="Short Lived", roles=[R.ROLE_REVIEWER]),
                                     metadata=admin, timeout=30)
    s, _ = _http_sign_in(base, created.secret)
    assert s.get(f"{base}/cases", timeout=60).status_code == 200
    api.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(key_id=created.key.key_id), metadata=admin, timeout=30)
    got = wait_until(lambda: s.get(f"{base}/cases", allow_redirects=False, timeout=60),
                     lambda r: r.status_code == 401, timeout_s=PATIENT_S)
    assert got.status_code == 401 and "did not accept your API key" in got.text
    after = s.get(f"{base}/cases", allow_redirects=False, timeout=60)
    assert after.status_code == 303 and after.headers["Location"].startswith("/signin")  # the session is gone


def test_the_local_stack_launches_the_console_without_any_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make demo` starts it after ingest, HTTP next to its health port, and hands it no secret at all, even
    one the developer's shell exports."""
    from lineup_tools.devstack.services import SERVICE_PORTS, ServiceProcess

    monkeypatch.delenv("LINEUP_INGEST_URL", raising=False)
    for leaked in ("LINEUP_INTERNAL_TOKEN", "LINEUP_BOOTSTRAP_ADMIN_KEY", "LINEUP_SESSION_SIGNING_KEY",
                   "LINEUP_API_KEY", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(leaked, "s3cr3t-" + "x" * 40)
    console = ServiceProcess("console")
    env = console.environment()
    order = list(SERVICE_PORTS)
    assert order.index("console") > order.index("ingest")
    assert console.ports == (50058, 50059) and env["LINEUP_HTTP_PORT"] == "50059"
    assert env["LINEUP_INGEST_URL"] == "127.0.0.1:50051"
    assert not any("s3cr3t-" in value for value in env.values())
    for secret in ("LINEUP_INTERNAL_TOKEN", "LINEUP_MINIO_ACCESS_KEY", "LINEUP_MINIO_SECRET_KEY",
                   "LINEUP_BOOTSTRAP_ADMIN_KEY", "LINEUP_SESSION_SIGNING_KEY"):
        assert secret not in env, secret
