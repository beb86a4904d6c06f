"""Review.GetProbeImage / GetCandidateImage on the real pipeline: the images an examiner compares, shown only to
whom they may be shown, every look audited, nothing shown once erased (issue *console*, item 1)."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from PIL import Image

from lineup.v1 import admin_pb2, audit_pb2, common_pb2, face_search_pb2, review_pb2
from tests.integration.pipeline_harness import Pipeline
from tests.integration.public_api import Api, image_of, status_of, tv_photos
from tests.integration.waiting import wait_until

pytestmark = pytest.mark.integration

CTX = common_pb2.SearchContext(case_id="CASE-EVIDENCE-1", purpose="investigation", justification="evidence test")
R = admin_pb2


@pytest.fixture(scope="module")
def pipeline(tv_pipeline: Pipeline) -> Pipeline:
    return tv_pipeline


@pytest.fixture(scope="module")
def api(pipeline: Pipeline) -> Iterator[Api]:
    with grpc.insecure_channel(pipeline.endpoint) as ch:
        yield Api(ch)


@pytest.fixture(scope="module")
def case(api: Api, pipeline: Pipeline) -> dict[str, Any]:
    """One enrolled face per person, and a search of a held-out photo of amy by officer 'Sam Searcher'."""
    enroller = pipeline.metadata("evidence-enroller", roles=[R.ROLE_ADMIN, R.ROLE_ENROLLER])
    api.faces.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="evidence"), metadata=enroller,
                               timeout=30)
    faces = {}
    for name in ("amy", "sheldon"):
        faces[name] = api.faces.IndexFaces(face_search_pb2.IndexFacesRequest(
            collection_id="evidence", image=image_of(tv_photos(name)[0]), max_faces=1,
            quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=enroller, timeout=120).face_records[0].face.face_id
    searcher = pipeline.metadata("Sam Searcher", roles=[R.ROLE_SEARCHER])
    resp = api.faces.SearchFacesByImage(face_search_pb2.SearchFacesByImageRequest(
        collection_id="evidence", image=image_of(tv_photos("amy")[2]), largest_face_only=True, context=CTX,
        threshold=common_pb2.Threshold(max_fmr=1e-3)), metadata=searcher, timeout=120)
    assert resp.results[0].face_matches[0].face.face_id == faces["amy"]
    return {"faces": faces, "search_id": resp.provenance.search_id, "searcher": searcher, "enroller": enroller,
            "reviewer": pipeline.metadata("Rita Reviewer", roles=[R.ROLE_REVIEWER])}


def _decoded(img: review_pb2.EvidenceImage) -> Image.Image:
    picture = Image.open(io.BytesIO(img.image))
    picture.load()
    return picture


def test_the_searcher_and_a_reviewer_see_the_probe_and_the_candidate(api: Api, case: dict[str, Any]) -> None:
    sid, amy = case["search_id"], case["faces"]["amy"]
    for md in (case["searcher"], case["reviewer"]):
        whole = api.review.GetProbeImage(review_pb2.GetProbeImageRequest(search_id=sid, whole_photo=True),
                                         metadata=md, timeout=30)
        assert whole.content_type == "image/png" and _decoded(whole).size[0] > 112
        assert [f.face_index for f in whole.faces] == [0] and 0 < whole.faces[0].bounding_box.width <= 1
        crop = api.review.GetProbeImage(review_pb2.GetProbeImageRequest(search_id=sid, probe_face_index=0),
                                        metadata=md, timeout=30)
        assert crop.content_type == "image/png" and _decoded(crop).size == (112, 112)
        cand = api.review.GetCandidateImage(review_pb2.GetCandidateImageRequest(search_id=sid, face_id=amy),
                                            metadata=md, timeout=30)
        assert cand.face_id == amy and _decoded(cand).size == (112, 112)
        photo = api.review.GetCandidateImage(review_pb2.GetCandidateImageRequest(
            search_id=sid, face_id=amy, original_photo=True), metadata=md, timeout=30)
        assert photo.image == tv_photos("amy")[0].read_bytes()  # the photo exactly as enrolled


def test_nobody_else_sees_them(api: Api, pipeline: Pipeline, case: dict[str, Any]) -> None:
    sid, amy = case["search_id"], case["faces"]["amy"]
    probe = review_pb2.GetProbeImageRequest(search_id=sid, whole_photo=True)
    candidate = review_pb2.GetCandidateImageRequest(search_id=sid, face_id=amy)
    other_searcher = pipeline.metadata("Olga Other", roles=[R.ROLE_SEARCHER])
    auditor = pipeline.metadata("Aldo Auditor", roles=[R.ROLE_AUDITOR])  # auditors: off unless configured
    for md in (other_searcher, auditor):
        assert status_of(lambda md=md: api.review.GetProbeImage(probe, metadata=md, timeout=30))[0] == \
            grpc.StatusCode.PERMISSION_DENIED
        assert status_of(lambda md=md: api.review.GetCandidateImage(candidate, metadata=md, timeout=30))[0] == \
            grpc.StatusCode.PERMISSION_DENIED
    assert status_of(lambda: api.review.GetProbeImage(probe, metadata=case["enroller"], timeout=30))[0] == \
        grpc.StatusCode.PERMISSION_DENIED  # the role table: enrollers do not review
    # another agency's reviewer: the search does not exist for it
    stranger = pipeline.metadata("Rex Elsewhere", agency=f"ev-{uuid.uuid4().hex[:8]}", roles=[R.ROLE_REVIEWER])
    assert status_of(lambda: api.review.GetProbeImage(probe, metadata=stranger, timeout=30))[0] == \
        grpc.StatusCode.NOT_FOUND
    assert status_of(lambda: api.review.GetCandidateImage(candidate, metadata=stranger, timeout=30))[0] == \
        grpc.StatusCode.NOT_FOUND
    # only the candidates the search returned, only the faces it searched
    sheldon = review_pb2.GetCandidateImageRequest(search_id=sid, face_id=case["faces"]["sheldon"])
    reviewer = case["reviewer"]
    returned = {c.face_id for c in api.review.GetSearchReview(review_pb2.GetSearchReviewRequest(search_id=sid),
                                                              metadata=reviewer, timeout=30).candidates}
    if case["faces"]["sheldon"] not in returned:
        assert status_of(lambda: api.review.GetCandidateImage(sheldon, metadata=reviewer, timeout=30))[0] == \
            grpc.StatusCode.NOT_FOUND
    for bad in (review_pb2.GetProbeImageRequest(search_id=sid, probe_face_index=7),
                review_pb2.GetProbeImageRequest(search_id="../../lineup-admin/keys", whole_photo=True)):
        code, msg = status_of(lambda bad=bad: api.review.GetProbeImage(bad, metadata=reviewer, timeout=30))
        assert code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT) and "lineup-" not in msg


def test_every_look_is_audited_with_the_face_and_the_case(api: Api, pipeline: Pipeline, case: dict[str, Any]
                                                          ) -> None:
    sid, amy = case["search_id"], case["faces"]["amy"]
    md = case["reviewer"]
    api.review.GetCandidateImage(review_pb2.GetCandidateImageRequest(search_id=sid, face_id=amy), metadata=md,
                                 timeout=30)
    auditor = pipeline.metadata("evidence-auditor", roles=[R.ROLE_AUDITOR])

    def looks() -> list[audit_pb2.AuditRecord]:
        records = api.audit.QueryAuditRecords(audit_pb2.QueryAuditRecordsRequest(
            page=common_pb2.PageRequest(page_size=1000)), metadata=auditor, timeout=30).records
        return [r for r in records if r.operation.endswith("GetCandidateImage") and
                r.details.get("biometric_access") == "candidate face crop" and r.details.get("face") == amy]

    got = wait_until(looks, done=lambda rs: len(rs) >= 1)
    assert got and got[0].details["case_id"] == CTX.case_id and got[0].collection_id == "evidence"
    assert got[0].decision == audit_pb2.AUDIT_DECISION_ALLOWED


def test_an_erased_face_is_gone_here_too(api: Api, case: dict[str, Any]) -> None:
    sheldon = case["faces"]["sheldon"]
    # a search that returns sheldon, then sheldon's face is erased
    resp = api.faces.SearchFacesByImage(face_search_pb2.SearchFacesByImageRequest(
        collection_id="evidence", image=image_of(tv_photos("sheldon")[2]), largest_face_only=True, context=CTX,
        threshold=common_pb2.Threshold(max_fmr=1e-3)), metadata=case["searcher"], timeout=120)
    assert resp.results[0].face_matches[0].face.face_id == sheldon
    search_id = resp.provenance.search_id
    ask = review_pb2.GetCandidateImageRequest(search_id=search_id, face_id=sheldon)
    assert api.review.GetCandidateImage(ask, metadata=case["reviewer"], timeout=30).image
    api.faces.DeleteFaces(face_search_pb2.DeleteFacesRequest(collection_id="evidence", face_ids=[sheldon]),
                          metadata=case["enroller"], timeout=60)
    for original in (False, True):
        ask.original_photo = original
        assert status_of(lambda: api.review.GetCandidateImage(ask, metadata=case["reviewer"], timeout=30))[0] == \
            grpc.StatusCode.NOT_FOUND


def test_a_grantee_sees_candidates_as_crops_only_and_only_while_the_grant_holds(
        api: Api, pipeline: Pipeline, case: dict[str, Any]) -> None:
    owner, grantee = pipeline.agency, f"{pipeline.agency}-ev"
    admin = pipeline.metadata("evidence-admin", roles=[R.ROLE_ADMIN])
    analyst = pipeline.metadata("Gus Grantee", agency=grantee, roles=[R.ROLE_SEARCHER])
    expires = Timestamp()
    expires.FromMilliseconds(int((time.time() + 3600) * 1000))
    grant = api.admin.GrantCollectionAccess(R.GrantCollectionAccessRequest(
        collection_id="evidence", grantee_agency_id=grantee, legal_basis="MOU 2026-77 (evidence test)",
        expires_at=expires), metadata=admin, timeout=30).grant
    resp = api.faces.SearchFacesByImage(face_search_pb2.SearchFacesByImageRequest(
        collection_id=f"{owner}/evidence", image=image_of(tv_photos("amy")[2]), largest_face_only=True,
        context=common_pb2.SearchContext(case_id="CASE-SHARED-EV", purpose="investigation"),
        threshold=common_pb2.Threshold(max_fmr=1e-3)), metadata=analyst, timeout=120)
    amy = case["faces"]["amy"]
    assert resp.results[0].face_matches[0].face.face_id == amy
    ask = review_pb2.GetCandidateImageRequest(search_id=resp.provenance.search_id, face_id=amy)
    assert _decoded(api.review.GetCandidateImage(ask, metadata=analyst, timeout=30)).size == (112, 112)
    ask.original_photo = True  # the owner's photos stay with the owner
    assert status_of(lambda: api.review.GetCandidateImage(ask, metadata=analyst, timeout=30))[0] == \
        grpc.StatusCode.PERMISSION_DENIED
    assert status_of(lambda: api.review.GetCandidateImage(ask, metadata=case["reviewer"], timeout=30))[0] == \
        grpc.StatusCode.NOT_FOUND  # the owner's reviewer: the grantee's search is not the owner's
    api.admin.RevokeGrant(R.RevokeGrantRequest(grant_id=grant.grant_id), metadata=admin, timeout=30)
    ask.original_photo = False
    assert status_of(lambda: api.review.GetCandidateImage(ask, metadata=analyst, timeout=30))[0] == \
        grpc.StatusCode.NOT_FOUND  # revoked: the collection is not the grantee's to look into any more


def test_the_review_carries_what_the_searcher_was_told_and_who_ran_it(api: Api, pipeline: Pipeline,
                                                                      case: dict[str, Any]) -> None:
    """What the console's search review shows: the threshold and notice the searcher saw, every searched probe
    face, who ran the search and when, and whether the caller is that person (the two-person rule)."""
    sid = case["search_id"]
    mine = api.review.GetSearchReview(review_pb2.GetSearchReviewRequest(search_id=sid), metadata=case["searcher"],
                                      timeout=30)
    theirs = api.review.GetSearchReview(review_pb2.GetSearchReviewRequest(search_id=sid), metadata=case["reviewer"],
                                        timeout=30)
    assert mine.caller_ran_search and not theirs.caller_ran_search
    assert theirs.searcher_holder == "Sam Searcher" and theirs.time.seconds > 0
    colleague = api.review.GetSearchReview(review_pb2.GetSearchReviewRequest(search_id=sid), timeout=30,
                                           metadata=pipeline.metadata("Other Searcher", roles=[R.ROLE_SEARCHER]))
    assert not colleague.caller_ran_search and colleague.searcher_holder == ""  # not for other searchers
    assert theirs.provenance.search_id == sid and theirs.provenance.threshold_applied.estimated_fmr <= 1.001e-3
    assert theirs.provenance.label == common_pb2.RESULT_LABEL_INVESTIGATIVE_LEAD and theirs.provenance.notice
    assert [f.face_index for f in theirs.probe_faces] == [0] and 0 < theirs.probe_faces[0].bounding_box.width <= 1
    listed = api.review.ListSearches(review_pb2.ListSearchesRequest(case_id=CTX.case_id), metadata=case["reviewer"],
                                     timeout=30).searches
    summary = next(s for s in listed if s.search_id == sid)
    assert summary.candidate_count >= 1 and summary.time == theirs.time
    assert summary.unreviewed + summary.pending_second_review + summary.disputed + summary.confirmed_leads <= \
        summary.candidate_count
