"""Examiner review: every search's candidate list is kept so trained examiners can judge it, and a candidate
becomes a confirmed lead only when two different people both call it a possible lead.

The rule is about people, not keys: a reviewer is the key's holder within the agency (compared in the normal
form of `lineup.identity.holders`), so two keys of one examiner are one reviewer whose latest decision counts
once, and the person who ran a search (recorded with the search) may not review it at all — otherwise one
person holding searcher and reviewer roles, or two reviewer keys, could turn their own search into a
"confirmed" lead.

Each decision is its own object (never an update of a shared one), so two examiners deciding at the same
moment on two replicas cannot overwrite each other; the state is computed from the latest decision of each
reviewer whenever it is read.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable

from google.protobuf import json_format
from google.protobuf.message import Message

from lineup.audit.emit import current_draft
from lineup.auth import Principal
from lineup.candidates import ranked_candidates
from lineup.errors import InvalidArgument, NotFound, PermissionDenied
from lineup.identity.holders import person_of
from lineup.identity.store import now_ts
from lineup.objectstore import ObjectStore
from lineup.topology import ADMIN_BUCKET
from lineup.untrusted import REQUEST_ID_RE  # search ids are request ids
from lineup.v1 import common_pb2, face_search_pb2, review_pb2

R = review_pb2
_POSSIBLE, _NOT, _INCONCLUSIVE = (R.REVIEW_DECISION_POSSIBLE_LEAD, R.REVIEW_DECISION_NOT_A_MATCH,
                                  R.REVIEW_DECISION_INCONCLUSIVE)
#: face ids are bounded like every other id before they are echoed in a message
_FACE_ID_MAX = 128
_NOTES_MAX = 2000


def search_not_found(search_id: str) -> NotFound:
    """One refusal for a search that does not exist and one of another agency: nothing to tell them apart."""
    return NotFound(f"search {search_id!r} not found in your agency")


def reviewer_of(entry: review_pb2.ReviewEntry) -> str:
    """The person behind a decision: the normalised holder; the key id for entries without one."""
    return person_of(entry.reviewer_holder) if entry.reviewer_holder.strip() else f"key:{entry.reviewer_key_id}"


def review_state(entries: Iterable[review_pb2.ReviewEntry]) -> int:
    """The candidate's state from the latest decision of each reviewer — each *person*, however many keys
    they used (entries in time order)."""
    latest: dict[str, int] = {}
    for e in entries:
        latest[reviewer_of(e)] = e.decision
    votes = list(latest.values())
    if not votes:
        return R.CANDIDATE_REVIEW_STATE_UNREVIEWED
    possible, against = votes.count(_POSSIBLE), votes.count(_NOT)
    if possible and against:
        return R.CANDIDATE_REVIEW_STATE_DISPUTED
    if possible >= 2:
        return R.CANDIDATE_REVIEW_STATE_CONFIRMED_LEAD
    if possible == 1:
        return R.CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW
    if against:
        return R.CANDIDATE_REVIEW_STATE_NOT_A_MATCH
    return R.CANDIDATE_REVIEW_STATE_INCONCLUSIVE


class SearchRecords:
    def __init__(self, store: ObjectStore, bucket: str = ADMIN_BUCKET) -> None:
        self.store = store
        self.bucket = bucket

    def _search_key(self, agency_id: str, search_id: str) -> str:
        return f"searches/{agency_id}/{search_id}.json"

    def record(self, p: Principal, collection_id: str, ctx: common_pb2.SearchContext, response: Message) -> None:
        """Keep a finished search's candidates for review, under the searching agency."""
        search_id = response.provenance.search_id  # type: ignore[attr-defined]
        if not search_id:
            return
        review = R.GetSearchReviewResponse(search_id=search_id, collection_id=collection_id, context=ctx, candidates=[
            R.CandidateReview(probe_face_index=c.probe_face_index, face_id=c.face_id, rank=c.rank, score=c.score,
                              state=R.CANDIDATE_REVIEW_STATE_UNREVIEWED) for c in ranked_candidates(response)],
            probe_faces=searched_faces(response))
        review.provenance.CopyFrom(response.provenance)  # type: ignore[attr-defined]
        doc = {"review": json_format.MessageToDict(review), "time": json_format.MessageToDict(now_ts()),
               "searcher": p.key_id, "searcher_holder": p.holder}
        self.store.put(self.bucket, self._search_key(p.agency_id, search_id), json.dumps(doc).encode(),
                       "application/json")

    def _doc(self, agency_id: str, search_id: str) -> dict[str, object]:
        check_search_id(search_id)
        ref = common_pb2.ObjectRef(bucket=self.bucket, key=self._search_key(agency_id, search_id))
        try:
            doc = json.loads(self.store.get(ref))
        except NotFound:
            raise search_not_found(search_id) from None
        if not isinstance(doc, dict):
            raise search_not_found(search_id)
        return doc

    def _load(self, agency_id: str, search_id: str) -> review_pb2.GetSearchReviewResponse:
        doc = self._doc(agency_id, search_id)
        review = json_format.ParseDict(doc["review"], R.GetSearchReviewResponse())
        when = doc.get("time", "")
        if isinstance(when, str) and when:
            review.time.FromJsonString(when)  # written by record() from now_ts(): always RFC 3339
        holder = doc.get("searcher_holder")
        review.searcher_holder = holder if isinstance(holder, str) else ""
        return review

    def _entries(self, agency_id: str, search_id: str) -> list[tuple[int, str, review_pb2.ReviewEntry]]:
        out = []
        for ref in self.store.list(self.bucket, f"reviews/{agency_id}/{search_id}/"):
            doc = json.loads(self.store.get(ref))
            out.append((int(doc["probe_face_index"]), doc["face_id"],
                        json_format.ParseDict(doc["entry"], R.ReviewEntry())))
        return sorted(out, key=lambda t: (t[2].time.ToNanoseconds(), t[2].reviewer_key_id))

    def _with_decisions(self, agency_id: str, review: review_pb2.GetSearchReviewResponse
                        ) -> review_pb2.GetSearchReviewResponse:
        entries = self._entries(agency_id, review.search_id)
        for c in review.candidates:
            if c.state == R.CANDIDATE_REVIEW_STATE_ERASED:
                continue  # its decisions were re-filed under the erased marker by erase_candidates
            mine = [e for i, f, e in entries if i == c.probe_face_index and f == c.face_id]
            del c.entries[:]
            c.entries.extend(mine)
            c.state = review_state(mine)  # type: ignore[assignment]
        return review

    def ran_by(self, p: Principal, search_id: str) -> bool:
        """Whether `p` is the person who ran the search (as the two-person rule tells people apart)."""
        return _same_person(p, self._doc(p.agency_id, search_id))

    def review(self, agency_id: str, search_id: str) -> review_pb2.GetSearchReviewResponse:
        return self._with_decisions(agency_id, self._load(agency_id, search_id))

    def decide(self, p: Principal, request: review_pb2.RecordDecisionRequest) -> review_pb2.CandidateReview:
        """Record one reviewer's decision. Order: every field is validated first (INVALID_ARGUMENT names the
        field and reveals nothing), then the search must exist in the caller's agency (one NOT_FOUND for
        missing and foreign), then the caller must not be the person who ran it (PERMISSION_DENIED)."""
        check_decision_request(request)
        doc = self._doc(p.agency_id, request.search_id)
        review = json_format.ParseDict(doc["review"], R.GetSearchReviewResponse())
        draft = current_draft()  # the decision belongs to the search's case in the audit trail, refused or not
        draft.case_id, draft.search_id, draft.collection_id = (review.context.case_id, request.search_id,
                                                               review.collection_id)
        if _same_person(p, doc):
            raise PermissionDenied(
                f"you ran search {request.search_id!r} (as holder {p.holder!r}), so you cannot review it: the "
                "two-person rule needs two examiners other than the searcher; ask a colleague with the reviewer "
                "role")
        if not any(c.probe_face_index == request.probe_face_index and c.face_id == request.face_id
                   for c in review.candidates):
            raise NotFound(f"face {request.face_id!r} (probe face {request.probe_face_index}) is not a candidate of "
                           f"search {request.search_id!r}")
        entry = R.ReviewEntry(reviewer_key_id=p.key_id, reviewer_holder=p.holder, decision=request.decision,
                              notes=request.notes, time=now_ts())
        key = (f"reviews/{p.agency_id}/{request.search_id}/{time.time_ns():020d}-{p.key_id}-"
               f"{secrets.token_hex(4)}.json")
        doc = {"probe_face_index": request.probe_face_index, "face_id": request.face_id,
               "entry": json_format.MessageToDict(entry)}
        self.store.put(self.bucket, key, json.dumps(doc).encode(), "application/json")
        return next(c for c in self._with_decisions(p.agency_id, review).candidates
                    if c.probe_face_index == request.probe_face_index and c.face_id == request.face_id)

    def list_searches(self, agency_id: str, case_id: str) -> list[review_pb2.SearchSummary]:
        out = []
        for ref in self.store.list(self.bucket, f"searches/{agency_id}/"):
            search_id = ref.key.rsplit("/", 1)[-1].removesuffix(".json")
            if not REQUEST_ID_RE.fullmatch(search_id):
                continue  # not a search record (e.g. written before ids were validated): never fail the listing
            review = self._load(agency_id, search_id)
            if case_id and review.context.case_id != case_id:
                continue
            review = self._with_decisions(agency_id, review)
            states = [c.state for c in review.candidates]
            summary = R.SearchSummary(
                search_id=search_id, collection_id=review.collection_id, context=review.context,
                candidate_count=len(review.candidates), time=review.time,
                confirmed_leads=states.count(R.CANDIDATE_REVIEW_STATE_CONFIRMED_LEAD),
                unreviewed=states.count(R.CANDIDATE_REVIEW_STATE_UNREVIEWED),
                pending_second_review=states.count(R.CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW),
                disputed=states.count(R.CANDIDATE_REVIEW_STATE_DISPUTED))
            out.append(summary)
        return sorted(out, key=lambda s: -s.time.ToNanoseconds())

    # -- erasure (ingest.erasure) -------------------------------------------------------------------
    def erase_candidates(self, agency_id: str, face_ids: set[str]) -> list[tuple[str, list[common_pb2.ObjectRef]]]:
        """Replace every candidate entry naming an erased face by an "erased" marker, in this agency's search
        records and decisions: the audit fact stays (a search had a candidate at this rank; who decided what,
        when), the face id, its score and the examiners' notes about it go.

        Returns (search_id, rewritten objects) for each search that named an erased face, so the caller can
        redact that search's stored result and shred its data key."""
        out: list[tuple[str, list[common_pb2.ObjectRef]]] = []
        for ref in list(self.store.list(self.bucket, f"searches/{agency_id}/")):
            doc = json.loads(self.store.get(ref))
            review = json_format.ParseDict(doc["review"], R.GetSearchReviewResponse())
            hit = [c for c in review.candidates if c.face_id and c.face_id in face_ids]
            if not hit:
                continue
            for c in hit:
                c.face_id = ""
                c.ClearField("score")
                c.state = R.CANDIDATE_REVIEW_STATE_ERASED
            doc["review"] = json_format.MessageToDict(review)
            self.store.put(self.bucket, ref.key, json.dumps(doc).encode(), "application/json")
            touched = [ref]
            search_id = review.search_id
            for eref in list(self.store.list(self.bucket, f"reviews/{agency_id}/{search_id}/")):
                entry_doc = json.loads(self.store.get(eref))
                if entry_doc.get("face_id") not in face_ids:
                    continue
                entry_doc["face_id"] = ""
                entry_doc["entry"].pop("notes", None)
                entry_doc["erased"] = True
                self.store.put(self.bucket, eref.key, json.dumps(entry_doc).encode(), "application/json")
                touched.append(eref)
            out.append((search_id, touched))
        return out


def searched_faces(response: Message) -> list[review_pb2.EvidenceFace]:
    """Every probe face a search by image searched (candidates or not), with its box; none for searches by an
    enrolled face or user."""
    if isinstance(response, face_search_pb2.SearchFacesByImageResponse):
        return [R.EvidenceFace(face_index=r.face_index, bounding_box=r.searched_face.bounding_box)
                for r in response.results]
    if isinstance(response, face_search_pb2.SearchUsersByImageResponse) and response.HasField("searched_face"):
        return [R.EvidenceFace(face_index=0, bounding_box=response.searched_face.bounding_box)]
    return []


def check_search_id(search_id: str) -> None:
    """Search ids are request ids made by the server; refuse anything else before it names an object."""
    if not REQUEST_ID_RE.fullmatch(search_id):
        raise InvalidArgument("search_id must be 1-64 of A-Z, a-z, 0-9, '_', '-' (the search_id of a search's "
                              "provenance)")


def check_decision_request(request: review_pb2.RecordDecisionRequest) -> None:
    """Every caller-supplied field of RecordDecision, checked before anything is looked up."""
    check_search_id(request.search_id)
    if request.decision not in (_POSSIBLE, _NOT, _INCONCLUSIVE):
        raise InvalidArgument(f"decision {request.decision} is not valid: use possible_lead, not_a_match or "
                              "inconclusive")
    if not request.face_id or len(request.face_id) > _FACE_ID_MAX:
        raise InvalidArgument(f"face_id must be 1-{_FACE_ID_MAX} characters (a candidate's face id)")
    if request.probe_face_index < 0:
        raise InvalidArgument("probe_face_index must be >= 0")
    if len(request.notes) > _NOTES_MAX:
        raise InvalidArgument(f"notes are {len(request.notes)} characters long; at most {_NOTES_MAX} are allowed")


def _same_person(p: Principal, doc: dict[str, object]) -> bool:
    """Whether the caller ran the search: same holder (as a person) or, for records older than the holder
    field, the same key."""
    holder = doc.get("searcher_holder")
    if isinstance(holder, str) and holder.strip():
        return person_of(holder) == person_of(p.holder)
    return doc.get("searcher") == p.key_id
