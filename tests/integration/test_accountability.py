"""Accountability on the real stack: API keys and roles, isolation on every public RPC, audited sharing,
search policy, examiner review, erasure receipts, retention and the audit trail behind all of them.

The four pipeline services and the audit writer run as real processes (see `pipeline_harness`)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from lineup_tools.devstack.minio import credentials

from lineup.objectstore import ObjectStore
from lineup.v1 import (
    admin_pb2,
    audit_pb2,
    common_pb2,
    face_search_pb2,
    review_pb2,
    session_pb2,
)
from tests.face_data import DATASETS
from tests.integration.pipeline_harness import Pipeline
from tests.integration.public_api import Api
from tests.integration.public_api import image_of as _img
from tests.integration.public_api import status_of as _code
from tests.integration.public_api import tv_photos as _photos
from tests.integration.waiting import PATIENT_S, wait_until

pytestmark = pytest.mark.integration

TV = DATASETS / "tv-identities"
CTX = common_pb2.SearchContext(case_id="CASE-ACC-1", purpose="investigation", justification="accountability test")
R = admin_pb2
NOT_VISIBLE = {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED}


@pytest.fixture(scope="module")
def pipeline(tv_pipeline: Pipeline) -> Pipeline:
    return tv_pipeline


@pytest.fixture(scope="module")
def api(pipeline: Pipeline) -> Iterator[Api]:
    with grpc.insecure_channel(pipeline.endpoint, options=[("grpc.max_send_message_length", 32 << 20)]) as ch:
        yield Api(ch)


def _in(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(int((time.time() + seconds) * 1000))
    return ts


@pytest.fixture(scope="module")
def world(api: Api, pipeline: Pipeline) -> dict[str, Any]:
    """The owner agency with a gallery (faces, a user, a search, a grant-able collection) to probe from outside."""
    md = pipeline.metadata()
    api.faces.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="gallery"), metadata=md,
                               timeout=30)
    faces: dict[str, list[str]] = {}
    for name in ("amy", "sheldon"):
        for photo in _photos(name)[:2]:
            resp = api.faces.IndexFaces(face_search_pb2.IndexFacesRequest(
                collection_id="gallery", image=_img(photo), max_faces=1,
                quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=md, timeout=120)
            faces.setdefault(name, []).extend(r.face.face_id for r in resp.face_records)
    api.faces.CreateUser(face_search_pb2.CreateUserRequest(collection_id="gallery", user_id="u-amy"), metadata=md,
                         timeout=30)
    search = api.faces.SearchFacesByImage(face_search_pb2.SearchFacesByImageRequest(
        collection_id="gallery", image=_img(_photos("amy")[2]), largest_face_only=True, context=CTX,
        threshold=common_pb2.Threshold(max_fmr=1e-3)), metadata=md, timeout=120)
    keys = api.admin.ListApiKeys(admin_pb2.ListApiKeysRequest(), metadata=md, timeout=30).keys
    session = api.sessions.CreateSession(session_pb2.CreateSessionRequest(context=CTX), metadata=md, timeout=30)
    return {"faces": faces, "search_id": search.provenance.search_id, "search": search,
            "key_id": keys[0].key_id, "image_sha": search.probe_image_sha256,
            "session_id": session.session.session_id}


def test_calls_without_a_valid_key_or_role_are_refused(api: Api, pipeline: Pipeline, world: dict[str, Any]) -> None:
    desc = face_search_pb2.DescribeCollectionRequest(collection_id="gallery")
    assert _code(lambda: api.faces.DescribeCollection(desc, timeout=30))[0] == grpc.StatusCode.UNAUTHENTICATED
    bad = [("authorization", "Bearer lk_0123456789abcdef." + "x" * 43)]
    assert _code(lambda: api.faces.DescribeCollection(desc, metadata=bad, timeout=30))[0] == \
        grpc.StatusCode.UNAUTHENTICATED
    searcher = pipeline.metadata("only-searcher", roles=[R.ROLE_SEARCHER])
    code, msg = _code(lambda: api.faces.IndexFaces(face_search_pb2.IndexFacesRequest(
        collection_id="gallery", image=_img(_photos("amy")[0])), metadata=searcher, timeout=30))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "enroller" in msg
    boot = [("authorization", f"Bearer {pipeline.bootstrap}")]
    assert _code(lambda: api.faces.DescribeCollection(desc, metadata=boot, timeout=30))[0] == \
        grpc.StatusCode.PERMISSION_DENIED  # the deployment credential manages agencies, never faces


def test_a_revoked_key_stops_working_on_the_next_request(api: Api, pipeline: Pipeline, world: dict[str, Any]) -> None:
    admin = pipeline.metadata()
    made = api.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(holder="temp", roles=[R.ROLE_SEARCHER]),
                                  metadata=admin, timeout=30)
    md = [("authorization", f"Bearer {made.secret}")]
    listed = api.faces.ListCollections(face_search_pb2.ListCollectionsRequest(), metadata=md, timeout=30)
    assert "gallery" in [c.collection_id for c in listed.collections]
    api.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(key_id=made.key.key_id), metadata=admin, timeout=30)
    code, msg = _code(lambda: api.faces.ListCollections(face_search_pb2.ListCollectionsRequest(), metadata=md,
                                                        timeout=30))
    assert code == grpc.StatusCode.UNAUTHENTICATED and "revoked" in msg
    assert made.key.key_id not in made.secret.split(".", 1)[1]  # the secret part is not derived from the id


def _norm(msg: str, *ids: str) -> str:
    msg = re.sub(r"\(request id [0-9a-f]+\)", "", msg)
    for i in ids:
        msg = msg.replace(i, "<id>")
    return msg


def test_every_public_rpc_as_another_agency_reveals_nothing(api: Api, pipeline: Pipeline,
                                                            world: dict[str, Any]) -> None:
    """Each public RPC is called by another agency holding every role, naming the owner's objects: it sees
    NOT_FOUND or PERMISSION_DENIED, the same answer as for an id that exists nowhere, or only its own data."""
    owner = pipeline.agency
    other = pipeline.metadata("intruder", agency=f"{owner}-x")
    face = world["faces"]["amy"][0]
    img = _img(_photos("amy")[3])
    fs, ad, au, rv = face_search_pb2, admin_pb2, audit_pb2, review_pb2
    # (service, method, request naming the owner's object, the same request naming nothing that exists)
    denied: list[tuple[str, str, Any, Any]] = [
        ("FaceSearch", "DescribeCollection", fs.DescribeCollectionRequest(collection_id="gallery"),
         fs.DescribeCollectionRequest(collection_id="nowhere")),
        ("FaceSearch", "DeleteCollection", fs.DeleteCollectionRequest(collection_id="gallery"),
         fs.DeleteCollectionRequest(collection_id="nowhere")),
        ("FaceSearch", "IndexFaces", fs.IndexFacesRequest(collection_id="gallery", image=img),
         fs.IndexFacesRequest(collection_id="nowhere", image=img)),
        ("FaceSearch", "ListFaces", fs.ListFacesRequest(collection_id="gallery"),
         fs.ListFacesRequest(collection_id="nowhere")),
        ("FaceSearch", "DeleteFaces", fs.DeleteFacesRequest(collection_id="gallery", face_ids=[face]),
         fs.DeleteFacesRequest(collection_id="nowhere", face_ids=[face])),
        ("FaceSearch", "SearchFaces", fs.SearchFacesRequest(collection_id="gallery", face_id=face, context=CTX),
         fs.SearchFacesRequest(collection_id="nowhere", face_id=face, context=CTX)),
        ("FaceSearch", "SearchFacesByImage", fs.SearchFacesByImageRequest(collection_id="gallery", image=img,
                                                                          context=CTX),
         fs.SearchFacesByImageRequest(collection_id="nowhere", image=img, context=CTX)),
        ("FaceSearch", "SearchFacesByImage", fs.SearchFacesByImageRequest(collection_id=f"{owner}/gallery",
                                                                          image=img, context=CTX),
         fs.SearchFacesByImageRequest(collection_id=f"{owner}/nowhere", image=img, context=CTX)),
        ("FaceSearch", "CreateUser", fs.CreateUserRequest(collection_id="gallery", user_id="u-x"),
         fs.CreateUserRequest(collection_id="nowhere", user_id="u-x")),
        ("FaceSearch", "DeleteUser", fs.DeleteUserRequest(collection_id="gallery", user_id="u-amy"),
         fs.DeleteUserRequest(collection_id="nowhere", user_id="u-amy")),
        ("FaceSearch", "ListUsers", fs.ListUsersRequest(collection_id="gallery"),
         fs.ListUsersRequest(collection_id="nowhere")),
        ("FaceSearch", "AssociateFaces", fs.AssociateFacesRequest(collection_id="gallery", user_id="u-amy",
                                                                  face_ids=[face]),
         fs.AssociateFacesRequest(collection_id="nowhere", user_id="u-amy", face_ids=[face])),
        ("FaceSearch", "DisassociateFaces", fs.DisassociateFacesRequest(collection_id="gallery", user_id="u-amy",
                                                                        face_ids=[face]),
         fs.DisassociateFacesRequest(collection_id="nowhere", user_id="u-amy", face_ids=[face])),
        ("FaceSearch", "SearchUsers", fs.SearchUsersRequest(collection_id="gallery", user_id="u-amy", context=CTX),
         fs.SearchUsersRequest(collection_id="nowhere", user_id="u-amy", context=CTX)),
        ("FaceSearch", "SearchUsersByImage", fs.SearchUsersByImageRequest(collection_id="gallery", image=img,
                                                                          context=CTX),
         fs.SearchUsersByImageRequest(collection_id="nowhere", image=img, context=CTX)),
        ("FaceSearch", "StartIndexJob", fs.StartIndexJobRequest(collection_id="gallery", prefix=common_pb2.ObjectRef(
            bucket="lineup-images", key=f"{owner}/images/")),
         fs.StartIndexJobRequest(collection_id="nowhere", prefix=common_pb2.ObjectRef(
             bucket="lineup-images", key=f"{owner}-none/images/"))),
        ("FaceSearch", "GetJob", fs.GetJobRequest(job_id="j-owner-job"), fs.GetJobRequest(job_id="j-none")),
        ("FaceSearch", "GetRequest", fs.GetRequestRequest(request_id=world["search_id"]),
         fs.GetRequestRequest(request_id="0" * 32)),
        ("FaceSearch", "IndexFaces", fs.IndexFacesRequest(collection_id="gallery", image=common_pb2.Image(
            object=common_pb2.ObjectRef(bucket="lineup-images",
                                        key=f"{owner}/probes/{world['image_sha'][:2]}/{world['image_sha']}"))),
         fs.IndexFacesRequest(collection_id="gallery", image=common_pb2.Image(
             object=common_pb2.ObjectRef(bucket="lineup-images", key=f"{owner}/probes/00/{'0' * 64}")))),
        ("Admin", "CreateAgency", ad.CreateAgencyRequest(agency_id=owner), ad.CreateAgencyRequest(agency_id="zz-none")),
        ("Admin", "ListAgencies", ad.ListAgenciesRequest(), ad.ListAgenciesRequest()),
        ("Admin", "GetAgency", ad.GetAgencyRequest(agency_id=owner), ad.GetAgencyRequest(agency_id="zz-none")),
        ("Admin", "SetAgencyPolicy", ad.SetAgencyPolicyRequest(agency_id=owner),
         ad.SetAgencyPolicyRequest(agency_id="zz-none")),
        ("Admin", "CreateApiKey", ad.CreateApiKeyRequest(agency_id=owner, holder="x", roles=[R.ROLE_SEARCHER]),
         ad.CreateApiKeyRequest(agency_id="zz-none", holder="x", roles=[R.ROLE_SEARCHER])),
        ("Admin", "ListApiKeys", ad.ListApiKeysRequest(agency_id=owner), ad.ListApiKeysRequest(agency_id="zz-none")),
        ("Admin", "RevokeApiKey", ad.RevokeApiKeyRequest(key_id=world["key_id"]),
         ad.RevokeApiKeyRequest(key_id="0123456789abcdef")),
        ("Admin", "GrantCollectionAccess", ad.GrantCollectionAccessRequest(
            collection_id="gallery", grantee_agency_id=owner, legal_basis="none at all", expires_at=_in(3600)),
         ad.GrantCollectionAccessRequest(collection_id="nowhere", grantee_agency_id=owner, legal_basis="none at all",
                                         expires_at=_in(3600))),
        ("Review", "GetSearchReview", rv.GetSearchReviewRequest(search_id=world["search_id"]),
         rv.GetSearchReviewRequest(search_id="0" * 32)),
        ("Review", "GetProbeImage", rv.GetProbeImageRequest(search_id=world["search_id"], whole_photo=True),
         rv.GetProbeImageRequest(search_id="0" * 32, whole_photo=True)),
        ("Review", "GetCandidateImage", rv.GetCandidateImageRequest(search_id=world["search_id"], face_id=face),
         rv.GetCandidateImageRequest(search_id="0" * 32, face_id=face)),
        ("Review", "RecordDecision", rv.RecordDecisionRequest(search_id=world["search_id"], face_id=face,
                                                              decision=rv.REVIEW_DECISION_POSSIBLE_LEAD),
         rv.RecordDecisionRequest(search_id="0" * 32, face_id=face, decision=rv.REVIEW_DECISION_POSSIBLE_LEAD)),
        ("Sessions", "RevokeSession", session_pb2.RevokeSessionRequest(session_id=world["session_id"]),
         session_pb2.RevokeSessionRequest(session_id="LSES0000000000000000")),
    ]
    checked = set()
    for service, method, mine, none in denied:
        stub = getattr(api.stub(service), method)
        code, msg = _code(lambda s=stub, r=mine: s(r, metadata=other, timeout=120))  # type: ignore[misc]
        code2, msg2 = _code(lambda s=stub, r=none: s(r, metadata=other, timeout=120))  # type: ignore[misc]
        assert code in NOT_VISIBLE, (method, code, msg)
        assert code2 == code, (method, code, code2)
        assert _norm(msg, "gallery", owner, world["key_id"], world["search_id"], "j-owner-job", world["image_sha"],
                     world["session_id"]) \
            == _norm(msg2, "nowhere", "zz-none", f"{owner}-none", "0123456789abcdef", "0" * 32, "j-none", "0" * 64,
                     "LSES0000000000000000",
                     "00/", world["image_sha"][:2] + "/", owner, "gallery"), (method, msg, msg2)
        checked.add(f"{service}/{method}")
    # RPCs that act only inside the caller's own agency: they succeed, and show none of the owner's data
    own_scope: list[tuple[str, str, Any, Callable[[Any], bool]]] = [
        ("FaceSearch", "ListCollections", fs.ListCollectionsRequest(),
         lambda r: all(c.owner_agency_id != owner for c in r.collections)),
        ("FaceSearch", "ListJobs", fs.ListJobsRequest(collection_id="gallery"), lambda r: not r.jobs),
        ("FaceSearch", "CreateCollection", fs.CreateCollectionRequest(collection_id="gallery"),
         lambda r: r.collection_id == "gallery"),  # its own, separate "gallery"
        ("FaceSearch", "DetectFaces", fs.DetectFacesRequest(image=img), lambda r: len(r.face_details) >= 1),
        ("FaceSearch", "CompareFaces", fs.CompareFacesRequest(source_image=img, target_image=img, context=CTX,
                                                           quality_filter=common_pb2.QUALITY_FILTER_NONE),
         lambda r: len(r.face_matches) >= 1),
        ("Admin", "ListGrants", ad.ListGrantsRequest(), lambda r: not r.grants),
        ("Admin", "RevokeGrant", ad.RevokeGrantRequest(grant_id="g-" + "0" * 16), lambda r: False),
        ("Audit", "QueryAuditRecords", au.QueryAuditRecordsRequest(),
         lambda r: all(rec.agency_id == f"{owner}-x" for rec in r.records)),
        ("Audit", "VerifyAuditChain", au.VerifyAuditChainRequest(), lambda r: r.intact),
        ("Review", "ListSearches", rv.ListSearchesRequest(), lambda r: not r.searches),
        ("Sessions", "CreateSession", session_pb2.CreateSessionRequest(context=CTX),
         lambda r: r.session.agency_id == f"{owner}-x"),
        ("Sessions", "GetCallerIdentity", session_pb2.GetCallerIdentityRequest(),
         lambda r: r.agency_id == f"{owner}-x" and r.holder == "intruder"),
    ]
    for service, method, req, ok in own_scope:
        stub = getattr(api.stub(service), method)
        try:
            resp = stub(req, metadata=other, timeout=120)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND, (method, exc)  # type: ignore[attr-defined]
        else:
            assert ok(resp), (method, resp)
        checked.add(f"{service}/{method}")
    from lineup.identity.roles import METHOD_ROLES
    assert {m.removeprefix("/lineup.v1.") for m in METHOD_ROLES} == checked  # truly every public RPC


def _records(api: Api, md: list[tuple[str, str]], **query: Any) -> list[audit_pb2.AuditRecord]:
    resp = api.audit.QueryAuditRecords(audit_pb2.QueryAuditRecordsRequest(
        page=common_pb2.PageRequest(page_size=1000), **query), metadata=md, timeout=30)
    return list(resp.records)


def _eventually(fn: Callable[[], Any], done: Callable[[Any], bool] = bool, timeout_s: float = PATIENT_S) -> Any:
    """`waiting.wait_until`: poll until the exact state the caller then asserts, or the deadline."""
    return wait_until(fn, done, timeout_s=timeout_s)


def test_sharing_is_granted_audited_in_both_trails_and_revocable(api: Api, pipeline: Pipeline,
                                                                 world: dict[str, Any]) -> None:
    owner, grantee = pipeline.agency, f"{pipeline.agency}-g"
    o_md, g_md = pipeline.metadata(), pipeline.metadata("analyst", agency=grantee)
    probe = face_search_pb2.SearchFacesByImageRequest(
        collection_id=f"{owner}/gallery", image=_img(_photos("sheldon")[3]), largest_face_only=True,
        context=common_pb2.SearchContext(case_id="CASE-SHARED-7", purpose="investigation"),
        threshold=common_pb2.Threshold(max_fmr=1e-3))
    assert _code(lambda: api.faces.SearchFacesByImage(probe, metadata=g_md, timeout=120))[0] == \
        grpc.StatusCode.NOT_FOUND
    no_basis = admin_pb2.GrantCollectionAccessRequest(collection_id="gallery", grantee_agency_id=grantee,
                                                      expires_at=_in(3600))
    assert _code(lambda: api.admin.GrantCollectionAccess(no_basis, metadata=o_md, timeout=30))[0] == \
        grpc.StatusCode.INVALID_ARGUMENT
    grant = api.admin.GrantCollectionAccess(admin_pb2.GrantCollectionAccessRequest(
        collection_id="gallery", grantee_agency_id=grantee, legal_basis="MOU 2026-41 (test)",
        expires_at=_in(3600)), metadata=o_md, timeout=30).grant
    listed = api.faces.ListCollections(face_search_pb2.ListCollectionsRequest(), metadata=g_md, timeout=30)
    assert any(c.granted and c.collection_id == f"{owner}/gallery" for c in listed.collections)
    resp = api.faces.SearchFacesByImage(probe, metadata=g_md, timeout=120)
    top = resp.results[0].face_matches[0].face.face_id
    assert top in world["faces"]["sheldon"]
    assert resp.provenance.label == common_pb2.RESULT_LABEL_INVESTIGATIVE_LEAD
    # the grant is search-only
    assert _code(lambda: api.faces.ListFaces(face_search_pb2.ListFacesRequest(collection_id=f"{owner}/gallery"),
                                             metadata=g_md, timeout=30))[0] == grpc.StatusCode.PERMISSION_DENIED
    # one search, one record in each agency's trail
    for md in (o_md, g_md):
        recs = _eventually(lambda m=md: [r for r in _records(api, m, case_id="CASE-SHARED-7")  # type: ignore[misc]
                                         if r.search_id == resp.provenance.search_id],
                           done=lambda rs: len(rs) == 1)
        assert len(recs) == 1, recs
        assert recs[0].grant_id == grant.grant_id and recs[0].actor_agency_id == grantee
        assert top in [c.face_id for c in recs[0].candidates]
    api.admin.RevokeGrant(admin_pb2.RevokeGrantRequest(grant_id=grant.grant_id), metadata=o_md, timeout=30)
    assert _code(lambda: api.faces.SearchFacesByImage(probe, metadata=g_md, timeout=120))[0] == \
        grpc.StatusCode.NOT_FOUND


def test_search_policy_purpose_and_threshold_floor(api: Api, pipeline: Pipeline, world: dict[str, Any]) -> None:
    md = pipeline.metadata()
    req = face_search_pb2.SearchFacesByImageRequest(
        collection_id="gallery", image=_img(_photos("amy")[3]), largest_face_only=True,
        context=common_pb2.SearchContext(case_id="C-2", purpose="curiosity"))
    code, msg = _code(lambda: api.faces.SearchFacesByImage(req, metadata=md, timeout=120))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "curiosity" in msg
    req.context.purpose = "investigation"
    req.threshold.max_fmr = 0.5  # far looser than the local floor (1e-3)
    resp = api.faces.SearchFacesByImage(req, metadata=md, timeout=120)
    assert resp.provenance.threshold_applied.estimated_fmr <= 1e-3 * 1.01
    assert all(m.score.estimated_fmr <= 1e-3 * 1.01 for r in resp.results for m in r.face_matches)


def test_two_different_reviewers_confirm_a_lead_and_decisions_are_audited(api: Api, pipeline: Pipeline,
                                                                          world: dict[str, Any]) -> None:
    search = world["search"]
    candidate = search.results[0].face_matches[0].face.face_id
    r1, r2 = (pipeline.metadata(f"examiner-{i}", roles=[R.ROLE_REVIEWER]) for i in (1, 2))
    decide = review_pb2.RecordDecisionRequest(search_id=world["search_id"], face_id=candidate,
                                              probe_face_index=search.results[0].face_index,
                                              decision=review_pb2.REVIEW_DECISION_POSSIBLE_LEAD, notes="same ear")
    first = api.review.RecordDecision(decide, metadata=r1, timeout=30).candidate
    assert first.state == review_pb2.CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW
    again = api.review.RecordDecision(decide, metadata=r1, timeout=30).candidate
    assert again.state == review_pb2.CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW  # the same reviewer twice
    second = api.review.RecordDecision(decide, metadata=r2, timeout=30).candidate
    assert second.state == review_pb2.CANDIDATE_REVIEW_STATE_CONFIRMED_LEAD
    review = api.review.GetSearchReview(review_pb2.GetSearchReviewRequest(search_id=world["search_id"]),
                                        metadata=r1, timeout=30)
    assert review.context.case_id == CTX.case_id
    searcher_only = pipeline.metadata("s-only", roles=[R.ROLE_SEARCHER])
    assert _code(lambda: api.review.RecordDecision(decide, metadata=searcher_only, timeout=30))[0] == \
        grpc.StatusCode.PERMISSION_DENIED
    auditor = pipeline.metadata()
    recs = _eventually(lambda: [r for r in _records(api, auditor, operation="lineup.v1.Review/RecordDecision")
                                if r.details.get("request.search_id") == world["search_id"]],
                       done=lambda rs: len(rs) == 4)
    assert len(recs) == 4  # three allowed decisions and one denied
    assert sorted(r.decision for r in recs).count(audit_pb2.AUDIT_DECISION_DENIED) == 1


def test_deletion_writes_an_erasure_receipt_listing_what_was_removed(api: Api, pipeline: Pipeline,
                                                                    world: dict[str, Any]) -> None:
    md = pipeline.metadata()
    api.faces.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="erase"), metadata=md,
                               timeout=30)
    idx = api.faces.IndexFaces(face_search_pb2.IndexFacesRequest(
        collection_id="erase", image=_img(_photos("penny")[0]), max_faces=1,
        quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=md, timeout=120)
    face_id = idx.face_records[0].face.face_id
    resp = api.faces.DeleteFaces(face_search_pb2.DeleteFacesRequest(collection_id="erase", face_ids=[face_id]),
                                 metadata=md, timeout=60)
    assert resp.erasure_receipt_id
    rec = _eventually(lambda: [r for r in _records(api, md, operation="lineup.v1.FaceSearch/DeleteFaces")
                               if r.record_id == resp.erasure_receipt_id])
    assert rec, "no audit record carries the erasure receipt"
    receipt = rec[0].erasure
    assert list(receipt.face_ids) == [face_id] and receipt.reason == "request"
    store = ObjectStore("127.0.0.1:9000", *credentials())
    kinds = {o.bucket for o in receipt.objects}
    assert kinds == {"lineup-crops", "lineup-images", "lineup-jobs"}  # + the request's data key, result and task
    keys = {o.key for o in receipt.objects}
    assert {f"{pipeline.agency}/keys/{idx.request_id}", f"{pipeline.agency}/requests/{idx.request_id}"} <= keys
    assert not any(store.exists(o) and store.get(o) for o in receipt.objects)  # an erased key is a tombstone


def test_every_call_leaves_a_record_and_the_chain_verifies(api: Api, pipeline: Pipeline,
                                                           world: dict[str, Any]) -> None:
    md = pipeline.metadata()
    call = api.faces.DescribeCollection.with_call(face_search_pb2.DescribeCollectionRequest(collection_id="gallery"),
                                                  metadata=md, timeout=30)
    rid = dict(call[1].trailing_metadata())["x-request-id"]
    denied = _code(lambda: api.faces.DescribeCollection(face_search_pb2.DescribeCollectionRequest(
        collection_id="gallery"), metadata=pipeline.metadata("rev", roles=[R.ROLE_REVIEWER]), timeout=30))
    assert denied[0] == grpc.StatusCode.PERMISSION_DENIED
    recs = _eventually(lambda: [r for r in _records(api, md, operation="lineup.v1.FaceSearch/DescribeCollection")
                                if r.collection_id == "gallery"],
                       done=lambda rs: any(r.request_id == rid for r in rs))
    assert any(r.request_id == rid and r.decision == audit_pb2.AUDIT_DECISION_ALLOWED for r in recs)
    assert _eventually(lambda: any(r.decision == audit_pb2.AUDIT_DECISION_DENIED and r.actor_holder == "rev" for r in
                                   _records(api, md, operation="lineup.v1.FaceSearch/DescribeCollection")))
    searches = [r for r in _records(api, md, search_id=world["search_id"])
                if r.operation.startswith("lineup.v1.FaceSearch/")]  # reviews and looks name their search too
    assert searches and searches[0].probe_image_sha256 == world["image_sha"] and searches[0].case_id == CTX.case_id
    verified = api.audit.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(), metadata=md, timeout=60)
    assert verified.intact and verified.records_checked >= len(recs)


def test_retention_erases_expired_faces_and_probes_with_receipts(api: Api, pipeline: Pipeline,
                                                                 world: dict[str, Any]) -> None:
    """A second ingest replica whose retention "day" is one second sweeps every second."""
    md = pipeline.metadata()
    agency = pipeline.agency
    api.faces.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="short", face_retention_days=3),
                               metadata=md, timeout=30)
    api.faces.IndexFaces(face_search_pb2.IndexFacesRequest(
        collection_id="short", image=_img(_photos("raj")[0]), max_faces=1,
        quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=md, timeout=120)
    policy = api.admin.GetAgency(admin_pb2.GetAgencyRequest(), metadata=md, timeout=30).agency.policy
    policy.probe_retention_days = 5
    api.admin.SetAgencyPolicy(admin_pb2.SetAgencyPolicyRequest(policy=policy), metadata=md, timeout=30)
    sweeper = pipeline.start("ingest", replica=1, extra_env={"LINEUP_RETENTION_DAY_S": "1",
                                                             "LINEUP_RETENTION_INTERVAL_S": "1"})
    try:
        listed = _eventually(lambda: not api.faces.ListFaces(face_search_pb2.ListFacesRequest(
            collection_id="short"), metadata=md, timeout=30).faces)
        assert listed, "faces past their collection's retention were not erased"
        store = ObjectStore("127.0.0.1:9000", *credentials())
        assert _eventually(lambda: not list(store.list("lineup-images", f"{agency}/probes/")))
        def receipts() -> list[audit_pb2.AuditRecord]:
            recs = [r for r in _records(api, md, operation="lineup.v1.Retention/Sweep")
                    if r.erasure.reason == "retention"]
            return recs

        recs = _eventually(receipts, done=lambda rs: {r.details.get("retention.kind") for r in rs} == {
            "faces", "probes"} and any(r.collection_id == "short" and r.erasure.face_ids for r in rs))
        kinds = {r.details.get("retention.kind") for r in recs}
        assert kinds == {"faces", "probes"}, recs
        assert any(r.collection_id == "short" and r.erasure.face_ids for r in recs)
        # the gallery (no retention period) is untouched
        assert api.faces.DescribeCollection(face_search_pb2.DescribeCollectionRequest(collection_id="gallery"),
                                            metadata=md, timeout=30).face_count == 4
    finally:
        pipeline.kill(sweeper)
        policy.probe_retention_days = 30
        api.admin.SetAgencyPolicy(admin_pb2.SetAgencyPolicyRequest(policy=policy), metadata=md, timeout=30)
