"""Attacks on the front door, performed on the real stack through ingest with ordinary API keys (issue 17):
hostile request ids, a request id shared by two agencies, oversized fields that used to wedge the audit
producer, unknown enum values that changed state without an audit record, idempotency-key reuse, documented
maxima, internal details in error messages, and calls refused before any servicer ran."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2

from lineup.v1 import (
    admin_pb2,
    audit_pb2,
    common_pb2,
    face_search_pb2,
    review_pb2,
)
from tests.face_data import DATASETS
from tests.integration.pipeline_harness import Pipeline
from tests.integration.public_api import Api
from tests.integration.public_api import image_of as _img
from tests.integration.public_api import status_of as _code
from tests.integration.public_api import tv_photos as _photos
from tests.integration.waiting import wait_until

pytestmark = pytest.mark.integration

TV = DATASETS / "tv-identities"
CTX = common_pb2.SearchContext(case_id="CASE-ATK-1", purpose="investigation", justification="attack test")
R = admin_pb2
#: what an error message must never show a caller
INTERNALS = ("127.0.0.1", ":9000", ":9092", "lineup-jobs", "S3Error", "x-amz-request-id", "RequestId", "Traceback",
             "minio", "MinIO", "urllib3")


@pytest.fixture(scope="module")
def pipeline(tv_pipeline: Pipeline) -> Pipeline:
    return tv_pipeline


@pytest.fixture(scope="module")
def api(pipeline: Pipeline) -> Iterator[Api]:
    with grpc.insecure_channel(pipeline.endpoint, options=[("grpc.max_send_message_length", 64 << 20)]) as ch:
        yield Api(ch)


def _records(api: Api, md: list[tuple[str, str]], **query: Any) -> list[audit_pb2.AuditRecord]:
    return list(api.audit.QueryAuditRecords(audit_pb2.QueryAuditRecordsRequest(
        page=common_pb2.PageRequest(page_size=1000), **query), metadata=md, timeout=30).records)


def _enrol(api: Api, md: list[tuple[str, str]], collection: str) -> dict[str, str]:
    api.faces.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id=collection), metadata=md,
                               timeout=30)
    faces = {}
    for name in ("amy", "sheldon"):
        resp = api.faces.IndexFaces(face_search_pb2.IndexFacesRequest(
            collection_id=collection, image=_img(_photos(name)[0]), max_faces=1,
            quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=md, timeout=120)
        faces[name] = resp.face_records[0].face.face_id
    return faces


@pytest.fixture(scope="module")
def world(api: Api, pipeline: Pipeline) -> dict[str, Any]:
    """Two agencies, each with its own gallery of the same people."""
    other = f"atk-{uuid.uuid4().hex[:8]}"
    md_a, md_b = pipeline.metadata(), pipeline.metadata("b-officer", agency=other)
    return {"other": other, "md_a": md_a, "md_b": md_b, "faces_a": _enrol(api, md_a, "gallery"),
            "faces_b": _enrol(api, md_b, "gallery")}


def _search(api: Api, md: list[tuple[str, str]], photo: Path, *, ctx: common_pb2.SearchContext = CTX,
            timeout: float = 120) -> tuple[face_search_pb2.SearchFacesByImageResponse, str]:
    resp, call = api.faces.SearchFacesByImage.with_call(face_search_pb2.SearchFacesByImageRequest(
        collection_id="gallery", image=_img(photo), largest_face_only=True, context=ctx,
        threshold=common_pb2.Threshold(max_fmr=1e-3)), metadata=md, timeout=timeout)
    return resp, dict(call.trailing_metadata())["x-request-id"]


def _serving(api: Api) -> int:
    return int(api.health.Check(health_pb2.HealthCheckRequest(), timeout=10).status)


# ------------------------------------------------------------------------------ #2: hostile request ids
@pytest.mark.parametrize("hostile", ["..", ".", "a/b", "../../lineup-admin/keys", "x" * 200])
def test_a_hostile_request_id_is_refused_and_the_pipeline_keeps_serving(api: Api, world: dict[str, Any],
                                                                        hostile: str) -> None:
    md = world["md_a"]
    detect = face_search_pb2.DetectFacesRequest(image=_img(_photos("amy")[1]))
    code, msg = _code(lambda: api.faces.DetectFaces(detect, metadata=[*md, ("x-request-id", hostile)], timeout=60))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "x-request-id" in msg
    code, _ = _code(lambda: api.faces.SearchFaces(face_search_pb2.SearchFacesRequest(
        collection_id="gallery", face_id=world["faces_a"]["amy"], context=CTX),
        metadata=[*md, ("x-request-id", hostile)], timeout=60))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # detection still answers, and the agency's search list still works
    assert api.faces.DetectFaces(detect, metadata=md, timeout=120).face_details
    api.review.ListSearches(review_pb2.ListSearchesRequest(), metadata=md, timeout=30)


# ------------------------------------------------------------------------------ #3 and #6: one id, two callers
def test_two_agencies_with_the_same_request_id_each_get_their_own_results(api: Api, world: dict[str, Any]) -> None:
    shared = f"shared-{uuid.uuid4().hex[:12]}"
    out: dict[str, Any] = {}

    def run(who: str, md: list[tuple[str, str]]) -> None:
        try:
            out[who] = _search(api, [*md, ("x-request-id", shared)], _photos("amy")[2])
        except grpc.RpcError as exc:
            out[who] = exc

    a = threading.Thread(target=run, args=("a", world["md_a"]))
    b = threading.Thread(target=run, args=("b", world["md_b"]))
    a.start()
    time.sleep(0.15)  # the observed attack timing: B follows A by 0.15 s
    b.start()
    a.join(180)
    b.join(180)
    (resp_a, rid_a), (resp_b, rid_b) = out["a"], out["b"]
    assert rid_a != rid_b and shared not in (rid_a, rid_b)
    ids_a = {m.face.face_id for r in resp_a.results for m in r.face_matches}
    ids_b = {m.face.face_id for r in resp_b.results for m in r.face_matches}
    assert ids_a == {world["faces_a"]["amy"]}, ids_a
    assert ids_b == {world["faces_b"]["amy"]}, ids_b
    review_b = api.review.GetSearchReview(review_pb2.GetSearchReviewRequest(search_id=resp_b.provenance.search_id),
                                          metadata=world["md_b"], timeout=30)
    assert {c.face_id for c in review_b.candidates} == ids_b


def test_reusing_an_idempotency_key_replays_and_never_overwrites(api: Api, world: dict[str, Any]) -> None:
    md, key = world["md_a"], f"case-7-{uuid.uuid4().hex[:8]}"
    first, rid1 = _search(api, [*md, ("x-request-id", key)], _photos("amy")[2])
    again, rid2 = _search(api, [*md, ("x-request-id", key)], _photos("amy")[2])
    assert again == first and rid1 != rid2  # the original outcome, under a new request id for the retry
    other_ctx = common_pb2.SearchContext(case_id="CASE-OVERWRITE", purpose="investigation", justification="x")
    code, msg = _code(lambda: _search(api, [*md, ("x-request-id", key)], _photos("sheldon")[1], ctx=other_ctx))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "already used for a different request" in msg
    review = api.review.GetSearchReview(review_pb2.GetSearchReviewRequest(search_id=first.provenance.search_id),
                                        metadata=md, timeout=30)
    assert review.context.case_id == CTX.case_id
    assert {c.face_id for c in review.candidates} == {world["faces_a"]["amy"]}
    done = api.faces.GetRequest(face_search_pb2.GetRequestRequest(request_id=rid1), metadata=md, timeout=30)
    assert done.state == face_search_pb2.REQUEST_STATE_DONE
    # the other agency's caller with the same key gets its own search, not a replay of A's
    theirs, _ = _search(api, [*world["md_b"], ("x-request-id", key)], _photos("amy")[2])
    assert {m.face.face_id for r in theirs.results for m in r.face_matches} == {world["faces_b"]["amy"]}


# ------------------------------------------------------------------------------ #1: oversized fields
def test_an_oversized_justification_is_refused_audited_and_wedges_nothing(api: Api, pipeline: Pipeline,
                                                                          world: dict[str, Any]) -> None:
    md = world["md_a"]
    huge = common_pb2.SearchContext(case_id="CASE-HUGE", purpose="investigation", justification="j" * (2 << 20))
    code, msg = _code(lambda: _search(api, md, _photos("amy")[2], ctx=huge))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "context.justification" in msg, msg
    code, msg = _code(lambda: api.faces.SearchFaces(face_search_pb2.SearchFacesRequest(
        collection_id="gallery", face_id=world["faces_a"]["amy"], context=huge), metadata=md, timeout=60))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # every agency keeps working, and health still tells the truth
    assert _serving(api) == health_pb2.HealthCheckResponse.SERVING
    for who in ("md_a", "md_b"):
        resp, _ = _search(api, world[who], _photos("sheldon")[1])
        assert resp.results
    recs = wait_until(lambda: [r for r in _records(api, md, case_id="CASE-HUGE")], done=lambda rs: len(rs) == 2)
    assert len(recs) == 2 and all(r.decision == audit_pb2.AUDIT_DECISION_FAILED for r in recs)
    assert all(len(r.justification) <= 4096 and "sha256=" in r.justification for r in recs)


# ------------------------------------------------------------------------------ #4: unknown enum values
def test_unknown_enum_values_change_nothing_and_are_audited(api: Api, pipeline: Pipeline,
                                                            world: dict[str, Any]) -> None:
    md = world["md_a"]
    resp, _ = _search(api, md, _photos("amy")[2])
    search_id, face_id = resp.provenance.search_id, resp.results[0].face_matches[0].face.face_id
    reviewer = pipeline.metadata("examiner-enum", roles=[R.ROLE_REVIEWER])
    ok = api.review.RecordDecision(review_pb2.RecordDecisionRequest(
        search_id=search_id, face_id=face_id, probe_face_index=resp.results[0].face_index,
        decision=review_pb2.REVIEW_DECISION_POSSIBLE_LEAD), metadata=reviewer, timeout=30).candidate
    assert ok.state == review_pb2.CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW
    code, msg = _code(lambda: api.review.RecordDecision(review_pb2.RecordDecisionRequest(
        search_id=search_id, face_id=face_id, probe_face_index=resp.results[0].face_index,
        decision=99), metadata=reviewer, timeout=30))  # type: ignore[arg-type]
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "decision=99" in msg
    after = api.review.GetSearchReview(review_pb2.GetSearchReviewRequest(search_id=search_id), metadata=reviewer,
                                       timeout=30)
    assert [c.state for c in after.candidates if c.face_id == face_id] == \
        [review_pb2.CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW]
    admin = world["md_a"]
    before = len(api.admin.ListApiKeys(admin_pb2.ListApiKeysRequest(), metadata=admin, timeout=30).keys)
    code, msg = _code(lambda: api.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(
        holder="enum-attacker", roles=[R.ROLE_ADMIN, 99]), metadata=admin, timeout=30))  # type: ignore[list-item]
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "roles[1]=99" in msg
    assert len(api.admin.ListApiKeys(admin_pb2.ListApiKeysRequest(), metadata=admin, timeout=30).keys) == before
    ops = {"lineup.v1.Review/RecordDecision", "lineup.v1.Admin/CreateApiKey"}

    def failed() -> list[audit_pb2.AuditRecord]:
        return [r for r in _records(api, admin) if r.operation in ops and r.decision == audit_pb2.AUDIT_DECISION_FAILED
                and ("UNKNOWN(99)" in r.details.get("request.decision", "")
                     or "UNKNOWN(99)" in r.details.get("request.roles", ""))]
    recs = wait_until(failed, done=lambda rs: len(rs) == 2)
    assert {r.operation for r in recs} == ops


# ------------------------------------------------------------------------------ #4: refused before a servicer
def test_bad_protobuf_unknown_methods_and_bad_keys_are_audited_as_denied(api: Api, world: dict[str, Any]) -> None:
    md = world["md_a"]
    raw = api.channel.unary_unary("/lineup.v1.FaceSearch/SearchFacesByImage")
    code, _ = _code(lambda: raw(b"\x0a\xff\xff\xff\xff\x0f", metadata=md, timeout=30))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    unknown = api.channel.unary_unary("/lineup.v1.FaceSearch/ExportEverything")
    code, _ = _code(lambda: unknown(b"", metadata=md, timeout=30))
    assert code == grpc.StatusCode.UNIMPLEMENTED
    big = b"\x0a" + b"\x80\x80\x80\x0b" + b"x" * (22 << 20)  # 22 MiB: over the 20 MB limit, under the hard cap
    code, _ = _code(lambda: raw(big, metadata=md, timeout=60))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED

    def denied() -> list[audit_pb2.AuditRecord]:
        return [r for r in _records(api, md) if r.decision == audit_pb2.AUDIT_DECISION_DENIED and r.operation in
                {"lineup.v1.FaceSearch/SearchFacesByImage", "lineup.v1.FaceSearch/ExportEverything"}]
    recs = wait_until(denied, done=lambda rs: len(rs) == 3)
    assert sorted(r.status_code for r in recs) == sorted([3, 8, 12])


# ------------------------------------------------------------------------------ #11: maxima and messages
def test_documented_maxima_work_and_errors_show_no_internals(api: Api, world: dict[str, Any]) -> None:
    md = world["md_a"]
    resp = api.faces.SearchFaces(face_search_pb2.SearchFacesRequest(
        collection_id="gallery", face_id=world["faces_a"]["amy"], max_faces=4096, context=CTX,
        threshold=common_pb2.Threshold(max_fmr=1e-3)), metadata=md, timeout=60)
    assert resp.provenance.search_id
    hostile_refs = [common_pb2.ObjectRef(bucket="NOT_A_BUCKET!", key=f"{world['other']}/images/aa/bb"),
                    common_pb2.ObjectRef(bucket="lineup-images", key="../../etc/passwd"),
                    common_pb2.ObjectRef(bucket="lineup-admin", key="keys/0000000000000000.json"),
                    common_pb2.ObjectRef(bucket="lineup-images", key=f"{world['other']}/images/00/" + "0" * 64)]
    for ref in hostile_refs:
        code, msg = _code(lambda r=ref: api.faces.DetectFaces(face_search_pb2.DetectFacesRequest(  # type: ignore[misc]
            image=common_pb2.Image(object=r)), metadata=md, timeout=60))
        assert code in {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT}, (ref, code, msg)
        assert not [s for s in INTERNALS if s in msg], msg
