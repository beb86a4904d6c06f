"""The console's pages: what each shows and which API calls it makes with the signed-in person's key.

Each page shows only what the key's roles allow (the navigation hides the rest; ingest refuses it anyway).
The two-person rule is visible: a search review shows who decided what and when, hides the decision form
from the person who ran the search, and tells a reviewer who already decided that the second decision must
come from someone else.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from google.protobuf.timestamp_pb2 import Timestamp
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from console.api import ApiError
from console.sessions import ConsoleFull, Session
from console.web import ConsoleApp, PageError, Visit, local_path
from lineup.identity.holders import person_of
from lineup.identity.roles import AUDITOR, METHOD_ROLES, REVIEWER, SEARCHER
from lineup.untrusted import REQUEST_ID_RE
from lineup.v1 import audit_pb2, common_pb2, face_search_pb2, review_pb2
from lineup.validation import FREE_TEXT_MAX_CHARS

FACE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
CASE_ID = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
DECISIONS = {"possible_lead": review_pb2.REVIEW_DECISION_POSSIBLE_LEAD,
             "not_a_match": review_pb2.REVIEW_DECISION_NOT_A_MATCH,
             "inconclusive": review_pb2.REVIEW_DECISION_INCONCLUSIVE}
DECISION_WORDS = {review_pb2.REVIEW_DECISION_POSSIBLE_LEAD: "possible lead",
                  review_pb2.REVIEW_DECISION_NOT_A_MATCH: "not a lead",
                  review_pb2.REVIEW_DECISION_INCONCLUSIVE: "inconclusive"}
S = review_pb2
STATE_WORDS = {S.CANDIDATE_REVIEW_STATE_UNREVIEWED: "not reviewed yet",
               S.CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW: "possible lead: needs a second examiner",
               S.CANDIDATE_REVIEW_STATE_CONFIRMED_LEAD: "confirmed lead (two examiners)",
               S.CANDIDATE_REVIEW_STATE_NOT_A_MATCH: "not a lead",
               S.CANDIDATE_REVIEW_STATE_INCONCLUSIVE: "inconclusive",
               S.CANDIDATE_REVIEW_STATE_DISPUTED: "disputed: examiners disagree",
               S.CANDIDATE_REVIEW_STATE_ERASED: "erased"}
LEAD_NOTICE = ("Investigative lead only. A candidate is not an identification: it needs independent "
               "confirmation by other means, and two examiners' review here, before anyone acts on it.")
NOTES_MAX = FREE_TEXT_MAX_CHARS["notes"]
MAX_LISTED = 1000
#: how long one chain verification is shown before the Audit page verifies again (it reads the whole chain)
CHAIN_FRESH_S = 60.0
OPERATIONS = sorted(m.removeprefix("/") for m in METHOD_ROLES)


def when(ts: Timestamp) -> str:
    return ts.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts.seconds else "-"


def fmr(value: float) -> str:
    """An estimated false-match rate as a person reads it: "1 in 25,000"."""
    if value <= 0:
        return "below 1 in 10,000,000"
    return f"1 in {round(1 / value):,}" if value < 0.5 else f"{value:.2f}"


def need(v: Visit, *roles: str) -> None:
    if not v.me.can(*roles):
        raise PageError(f"This page needs one of the roles {', '.join(roles)}; your key has "
                        f"{', '.join(sorted(v.me.roles)) or 'none'}.", 403)


# -- sign-in ------------------------------------------------------------------------------------------

def signin(app: ConsoleApp, request: Request, session: Session | None) -> Response:
    target = local_path(request.args.get("next", "/cases"))
    if request.method == "GET":
        if session is not None and session.signed_in:
            return redirect(target, 303)
        fresh = app.sessions.anonymous()
        return app.set_cookie(app.page(request, fresh, "signin.html", next=target), fresh)
    assert session is not None  # the CSRF check needs one
    key = str(request.form.get("api_key", "")).strip()
    if not key or len(key) > 256 or any(ord(c) < 33 or ord(c) > 126 for c in key):
        return app.page(request, session, "signin.html", status=400, next=target,
                        error="Paste a Lineup API key: printable characters without spaces, at most 256.")
    try:
        me = app.api.identify(key)
    except ApiError as exc:
        return app.page(request, session, "signin.html", status=exc.http_status, next=target,
                        error=exc.message, request_id=exc.request_id)
    if not me.roles & {SEARCHER, REVIEWER, AUDITOR}:
        return app.page(request, session, "signin.html", status=403, next=target,
                        error="The console is for searchers, reviewers and auditors; this key holds none of those "
                              "roles.")
    try:
        signed = app.sessions.sign_in(session, key, me)
    except ConsoleFull as full:
        limit = "LINEUP_MAX_SESSIONS_PER_AGENCY" if full.agency else "LINEUP_MAX_SESSIONS"
        whose = "your agency" if full.agency else "the console"
        return app.page(request, session, "signin.html", status=503, next=target,
                        error=f"As many people of {whose} are signed in as it is configured for. Try again in a few "
                              f"minutes (idle sessions end after a while), or ask your operator to raise {limit}.")
    return app.set_cookie(redirect(target, 303), signed)


def signout(app: ConsoleApp, request: Request, session: Session | None) -> Response:
    if session is not None:
        app.sessions.end(session.sid)
    return app.set_cookie(redirect("/signin", 303), None)


def home(v: Visit) -> Response:
    return redirect("/audit" if v.me.roles == {AUDITOR} else "/cases", 303)


# -- cases ----------------------------------------------------------------------------------------------

@dataclass
class Case:
    case_id: str
    searches: list[Any] = field(default_factory=list)

    def count(self, name: str) -> int:
        return sum(getattr(s, name) for s in self.searches)


def cases(v: Visit) -> Response:
    need(v, SEARCHER, REVIEWER, AUDITOR)
    wanted = v.request.args.get("case", "").strip()[:128]
    # one page: each ListSearches reads every search record of the agency, so the page asks once
    resp = v.call("Review", "ListSearches", review_pb2.ListSearchesRequest(
        case_id=wanted, page=common_pb2.PageRequest(page_size=MAX_LISTED)))
    found, token = list(resp.searches), resp.page.next_page_token
    groups: dict[str, Case] = {}
    for s in found:  # newest first, so each case is placed by its newest search
        groups.setdefault(s.context.case_id, Case(s.context.case_id)).searches.append(s)
    return v.render("cases.html", cases=list(groups.values()), wanted=wanted, truncated=bool(token), when=when)


# -- search review --------------------------------------------------------------------------------------

@dataclass
class CandidateView:
    c: Any
    state: str
    entries: list[tuple[str, str, str, str]]
    mine: str
    anchor: str


def check_search_id(search_id: str) -> str:
    if not REQUEST_ID_RE.fullmatch(search_id):  # a search id is the request id of the search
        raise PageError("That is not a search id (1-64 letters, digits, '_' or '-').", 404)
    return search_id


def search_review(v: Visit, search_id: str) -> Response:
    check_search_id(search_id)
    review = v.call("Review", "GetSearchReview", review_pb2.GetSearchReviewRequest(search_id=search_id))
    me = person_of(v.me.holder)
    faces = sorted({f.face_index for f in review.probe_faces} | {c.probe_face_index for c in review.candidates})
    by_face: dict[int, list[CandidateView]] = {i: [] for i in faces}
    for c in sorted(review.candidates, key=lambda c: (c.probe_face_index, c.rank)):
        entries = [(e.reviewer_holder or e.reviewer_key_id, DECISION_WORDS.get(e.decision, "?"), when(e.time), e.notes)
                   for e in c.entries]
        mine = [e for e in c.entries if person_of(e.reviewer_holder) == me]
        by_face[c.probe_face_index].append(CandidateView(
            c=c, state=STATE_WORDS.get(c.state, "unknown"), entries=entries,
            mine=f"{DECISION_WORDS.get(mine[-1].decision, '?')} at {when(mine[-1].time)}" if mine else "",
            anchor=f"c{c.probe_face_index}-{c.rank}"))
    prov = review.provenance
    return v.render(
        "search.html", review=review, by_face=by_face, when=when, fmr=fmr,
        notice=prov.notice or LEAD_NOTICE, threshold=prov.threshold_applied if prov.HasField("threshold_applied")
        else None, by_image=bool(review.probe_faces),
        can_decide=v.me.can(REVIEWER) and not review.caller_ran_search, granted="/" in review.collection_id,
        erased=S.CANDIDATE_REVIEW_STATE_ERASED, notes_max=NOTES_MAX)


def decide(v: Visit, search_id: str) -> Response:
    check_search_id(search_id)
    need(v, REVIEWER)
    form = v.request.form
    decision = DECISIONS.get(str(form.get("decision", "")))
    face_id = str(form.get("face_id", ""))
    notes = str(form.get("notes", ""))
    try:
        probe_face = int(str(form.get("probe_face_index", "")))
    except ValueError:
        probe_face = -1
    back = f"/searches/{search_id}"
    if decision is None:
        v.notice("Choose a decision (possible lead, not a lead or inconclusive); nothing was recorded.")
        return redirect(back, 303)
    if not FACE_ID.fullmatch(face_id) or not 0 <= probe_face < 1000 or len(notes) > NOTES_MAX:
        raise PageError(f"The decision form was altered (face, probe face or notes over {NOTES_MAX} characters); "
                        "nothing was recorded. Reload the search and try again.")
    try:
        got = v.call("Review", "RecordDecision", review_pb2.RecordDecisionRequest(
            search_id=search_id, probe_face_index=probe_face, face_id=face_id, decision=decision, notes=notes))
    except ApiError as exc:
        if exc.signed_out:
            raise
        v.notice(f"Not recorded: {exc.message}" + (f" (request {exc.request_id})" if exc.request_id else ""))
        return redirect(back, 303)
    v.notice(f"Recorded: {DECISION_WORDS[decision]} for candidate {got.candidate.rank} of probe face "
             f"{probe_face + 1}. It is now: {STATE_WORDS.get(got.candidate.state, 'unknown')}.")
    return redirect(f"{back}#c{probe_face}-{got.candidate.rank}", 303)


# -- new search ---------------------------------------------------------------------------------------

def _collections(v: Visit) -> list[tuple[str, str]]:
    resp = v.call("FaceSearch", "ListCollections", face_search_pb2.ListCollectionsRequest(
        page=common_pb2.PageRequest(page_size=1000)))
    out = []
    for c in resp.collections:
        if c.granted:
            label = f"{c.collection_id} (granted by {c.owner_agency_id})"
            out.append((f"{c.owner_agency_id}/{c.collection_id}", label))
        else:
            out.append((c.collection_id, c.collection_id))
    return out


THRESHOLDS = {"": "default: false-match rate 1 in 10,000 (or your agency's floor)",
              "1e-5": "stricter: 1 in 100,000", "1e-6": "strictest: 1 in 1,000,000"}


def new_search(v: Visit) -> Response:
    need(v, SEARCHER)
    form: dict[str, str] = {}
    if v.request.method == "GET":
        return v.render("new_search.html", collections=_collections(v), form=form, thresholds=THRESHOLDS)
    form = {k: str(v.request.form.get(k, ""))[:2000] for k in
            ("collection_id", "case_id", "purpose", "justification", "max_faces", "threshold", "largest")}
    try:
        request = _search_request(v, form)
        resp = v.call("FaceSearch", "SearchFacesByImage", request)
    except (PageError, ApiError) as exc:
        if isinstance(exc, ApiError) and exc.signed_out:
            raise
        return v.render("new_search.html", status=exc.http_status, collections=_collections(v), form=form,
                        thresholds=THRESHOLDS, error=exc.message, request_id=exc.request_id)
    search_id = resp.provenance.search_id
    faces = len(resp.results)
    v.notice(f"Searched {faces} face{'s' if faces != 1 else ''} of the photo"
             + (f"; {len(resp.unsearched_faces)} more were too small, blurred or turned away to search"
                if resp.unsearched_faces else "") + ".")
    return redirect(f"/searches/{search_id}", 303)


def _search_request(v: Visit, form: dict[str, str]) -> face_search_pb2.SearchFacesByImageRequest:
    upload = v.request.files.get("photo")
    data = upload.read() if upload is not None else b""
    if not data:
        raise PageError("Choose a probe photo (JPEG, PNG or WebP).")
    if not form["collection_id"]:
        raise PageError("Choose a collection to search.")
    if not CASE_ID.fullmatch(form["case_id"].strip()):
        raise PageError("Give the case number (1-128 characters) this search belongs to.")
    if form["purpose"] not in v.me.purposes:
        raise PageError(f"Choose a purpose your agency allows: {', '.join(v.me.purposes) or 'none configured'}.")
    if v.me.require_justification and not form["justification"].strip():
        raise PageError("Your agency requires a justification for every search: say why this search is needed.")
    try:
        max_faces = int(form["max_faces"] or "10")
    except ValueError:
        max_faces = 0
    if not 1 <= max_faces <= 50:
        raise PageError("Candidates per face must be a whole number from 1 to 50.")
    if form["threshold"] not in THRESHOLDS:
        raise PageError("Choose one of the offered thresholds.")
    threshold = common_pb2.Threshold(max_fmr=float(form["threshold"])) if form["threshold"] else None
    return face_search_pb2.SearchFacesByImageRequest(
        collection_id=form["collection_id"], image=common_pb2.Image(bytes=data), max_faces=max_faces,
        threshold=threshold, largest_face_only=form["largest"] == "on",
        context=common_pb2.SearchContext(case_id=form["case_id"].strip(), purpose=form["purpose"],
                                         justification=form["justification"].strip()))


# -- audit ----------------------------------------------------------------------------------------------

def _utc(value: str, field_name: str) -> Timestamp | None:
    if not value:
        return None
    for layout in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"):  # what a datetime-local field sends
        try:
            parsed = datetime.strptime(value, layout).replace(tzinfo=UTC)
            break
        except ValueError:
            continue
    else:
        raise PageError(f"{field_name} must be a date and time (YYYY-MM-DDTHH:MM, UTC).")
    ts = Timestamp()
    ts.FromDatetime(parsed)
    return ts


def audit(v: Visit) -> Response:
    need(v, AUDITOR)
    args = {k: v.request.args.get(k, "").strip()[:256] for k in ("case", "user", "operation", "from", "to", "page")}
    if args["operation"] and args["operation"] not in OPERATIONS:
        raise PageError("Choose an operation from the list.")
    query = audit_pb2.QueryAuditRecordsRequest(case_id=args["case"], actor_key_id=args["user"],
                                               operation=args["operation"],
                                               page=common_pb2.PageRequest(page_size=100, page_token=args["page"]))
    for name, label in (("from", "From"), ("to", "To")):
        ts = _utc(args[name], label)
        if ts is not None:
            getattr(query, f"{name}_time").CopyFrom(ts)
    records = v.call("Audit", "QueryAuditRecords", query)
    chain, checked_at = _chain(v)
    decisions = {audit_pb2.AUDIT_DECISION_ALLOWED: "allowed", audit_pb2.AUDIT_DECISION_DENIED: "denied",
                 audit_pb2.AUDIT_DECISION_FAILED: "failed"}
    again = "/audit?" + urlencode({**{k: val for k, val in args.items() if val and k != "page"}, "verify": "1"})
    return v.render("audit.html", records=records.records, next_page=records.page.next_page_token, args=args,
                    chain=chain, checked_at=checked_at, verify_again=again, operations=OPERATIONS, when=when,
                    decisions=decisions)


_chains: dict[str, tuple[float, Any, str]] = {}
_chains_lock = threading.Lock()


def _chain(v: Visit) -> tuple[Any, str]:
    """The agency's chain verification, at most CHAIN_FRESH_S old: verifying reads every segment, so paging
    and filtering do not repeat it (`?verify=1` forces a fresh one). Kept per agency, never shared across."""
    agency, now = v.me.agency_id, time.monotonic()
    with _chains_lock:
        cached = _chains.get(agency)
    if cached is not None and now - cached[0] < CHAIN_FRESH_S and v.request.args.get("verify") != "1":
        return cached[1], cached[2]
    chain = v.call("Audit", "VerifyAuditChain", audit_pb2.VerifyAuditChainRequest())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    with _chains_lock:
        latest = _chains.get(agency)
        if latest is None or latest[0] <= now:  # a slow, older verification never replaces a newer one
            _chains[agency] = (now, chain, stamp)
    return chain, stamp
