"""Issue 17, identities: each test performs an attack through the public front door (or, for the internal APIs,
straight at the internal port) on the real stack, with ordinary API keys, and asserts the safe outcome.

#5  the two-person rule counts people: a second key of the same holder, or the searcher's own reviewer key,
    cannot confirm a lead.
#10 the bootstrap credential creates agencies and their first admin key only.
#11 refusals do not reveal whether another agency, grant, key or search exists.
#12 the internal services refuse callers without the deployment's internal credential.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lineup.auth import INTERNAL_TOKEN_KEY, internal_metadata
from lineup.v1 import (
    admin_pb2,
    audit_pb2,
    common_pb2,
    detection_pb2,
    detection_pb2_grpc,
    embedding_pb2,
    embedding_pb2_grpc,
    face_search_pb2,
    review_pb2,
    search_pb2,
    search_pb2_grpc,
)
from tests.face_data import DATASETS
from tests.integration.pipeline_harness import Pipeline
from tests.integration.public_api import Api
from tests.integration.public_api import image_of as _img
from tests.integration.public_api import status_of as _code
from tests.integration.public_api import tv_photos as _photos

pytestmark = pytest.mark.integration

TV = DATASETS / "tv-identities"
R = admin_pb2
CTX = common_pb2.SearchContext(case_id="CASE-ID-ATTACK", purpose="investigation", justification="identity attacks")
POSSIBLE = review_pb2.REVIEW_DECISION_POSSIBLE_LEAD


@pytest.fixture(scope="module")
def pipeline(tv_pipeline: Pipeline) -> Pipeline:
    return tv_pipeline


@pytest.fixture(scope="module")
def api(pipeline: Pipeline) -> Iterator[Api]:
    with grpc.insecure_channel(pipeline.endpoint) as ch:
        yield Api(ch)


def _norm(msg: str, *ids: str) -> str:
    msg = re.sub(r"\(request id [0-9A-Za-z_-]+\)", "", msg)
    for i in ids:
        msg = msg.replace(i, "<id>")
    return msg


def _in(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(int((time.time() + seconds) * 1000))
    return ts


def _bearer(key: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {key}")]


@pytest.fixture(scope="module")
def gallery(api: Api, pipeline: Pipeline) -> dict[str, Any]:
    """A collection with two people enrolled, by the pipeline agency's default (all-roles) key."""
    md = pipeline.metadata()
    api.faces.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="people"), metadata=md,
                               timeout=30)
    for name in ("amy", "sheldon"):
        for photo in _photos(name)[:2]:
            api.faces.IndexFaces(face_search_pb2.IndexFacesRequest(
                collection_id="people", image=_img(photo), max_faces=1,
                quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=md, timeout=120)
    return {"collection": "people"}


def _search(api: Api, md: list[tuple[str, str]]) -> face_search_pb2.SearchFacesByImageResponse:
    resp: face_search_pb2.SearchFacesByImageResponse = api.faces.SearchFacesByImage(
        face_search_pb2.SearchFacesByImageRequest(
            collection_id="people", image=_img(_photos("amy")[2]), largest_face_only=True, context=CTX,
            threshold=common_pb2.Threshold(max_fmr=1e-3)), metadata=md, timeout=120)
    assert resp.results and resp.results[0].face_matches, "the probe must find a candidate"
    return resp


def _decision(resp: face_search_pb2.SearchFacesByImageResponse) -> review_pb2.RecordDecisionRequest:
    return review_pb2.RecordDecisionRequest(search_id=resp.provenance.search_id,
                                            face_id=resp.results[0].face_matches[0].face.face_id,
                                            probe_face_index=resp.results[0].face_index, decision=POSSIBLE)


def _new_key(api: Api, pipeline: Pipeline, holder: str, *roles: int) -> list[tuple[str, str]]:
    made = api.admin.CreateApiKey(R.CreateApiKeyRequest(holder=holder, roles=list(roles)),
                                  metadata=pipeline.metadata(), timeout=30)
    return _bearer(made.secret)


# ------------------------------------------------------------------------------------------- #5 people

def test_two_keys_of_one_examiner_cannot_confirm_a_lead(api: Api, pipeline: Pipeline,
                                                        gallery: dict[str, Any]) -> None:
    """Attack: one examiner holds two reviewer keys (the second with the holder name re-spelled) and votes
    'possible lead' with both. Safe outcome: one person, one vote — the lead stays pending until a second
    person agrees."""
    decide = _decision(_search(api, pipeline.metadata()))
    first_key = _new_key(api, pipeline, "Ann Examiner", R.ROLE_REVIEWER)
    second_key = _new_key(api, pipeline, "  ann   EXAMINER ", R.ROLE_REVIEWER)
    assert api.review.RecordDecision(decide, metadata=first_key, timeout=30).candidate.state == \
        review_pb2.CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW
    assert api.review.RecordDecision(decide, metadata=second_key, timeout=30).candidate.state == \
        review_pb2.CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW
    other = _new_key(api, pipeline, "Bea Examiner", R.ROLE_REVIEWER)
    assert api.review.RecordDecision(decide, metadata=other, timeout=30).candidate.state == \
        review_pb2.CANDIDATE_REVIEW_STATE_CONFIRMED_LEAD


def test_the_searcher_cannot_review_their_own_search(api: Api, pipeline: Pipeline, gallery: dict[str, Any]) -> None:
    """Attack: a key with searcher+reviewer roles searches, then confirms its own lead with itself and with a
    second reviewer key of the same holder. Safe outcome: PERMISSION_DENIED saying why, and nothing recorded."""
    solo = _new_key(api, pipeline, "Sam Solo", R.ROLE_SEARCHER, R.ROLE_REVIEWER)
    decide = _decision(_search(api, solo))
    alias = _new_key(api, pipeline, "sam solo", R.ROLE_REVIEWER)
    for md in (solo, alias):
        code, msg = _code(lambda m=md: api.review.RecordDecision(decide, metadata=m, timeout=30))  # type: ignore[misc]
        assert code == grpc.StatusCode.PERMISSION_DENIED and "you ran search" in msg, (code, msg)
    review = api.review.GetSearchReview(review_pb2.GetSearchReviewRequest(search_id=decide.search_id),
                                        metadata=solo, timeout=30)
    assert all(not c.entries and c.state == review_pb2.CANDIDATE_REVIEW_STATE_UNREVIEWED for c in review.candidates)


def test_holder_names_that_could_forge_logs_or_hide_a_person_are_refused(api: Api, pipeline: Pipeline) -> None:
    for holder in ("eve\n2026-01-01 INFO admin granted", "eve\u202e", "x" * 129, "   "):
        code, msg = _code(lambda h=holder: api.admin.CreateApiKey(  # type: ignore[misc]
            R.CreateApiKeyRequest(holder=h, roles=[R.ROLE_SEARCHER]), metadata=pipeline.metadata(), timeout=30))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "holder" in msg, (holder, code, msg)


# ----------------------------------------------------------------------------------------- #10 bootstrap

def test_the_bootstrap_credential_cannot_mint_keys_for_an_established_agency(api: Api, pipeline: Pipeline,
                                                                            gallery: dict[str, Any]) -> None:
    """Attack: holder of the bootstrap secret mints a searcher, an auditor and a second admin key for an agency
    that has its own admin, to read its faces and audit trail. Safe outcome: PERMISSION_DENIED for each; the
    bootstrap credential itself reads nothing; a new agency still gets its first admin key."""
    pipeline.key()  # the agency and its first admin key exist
    boot = _bearer(pipeline.bootstrap)
    for roles in ([R.ROLE_SEARCHER], [R.ROLE_AUDITOR], [R.ROLE_ENROLLER, R.ROLE_ADMIN], [R.ROLE_ADMIN]):
        code, msg = _code(lambda r=roles: api.admin.CreateApiKey(R.CreateApiKeyRequest(  # type: ignore[misc]
            agency_id=pipeline.agency, holder="mallory", roles=r), metadata=boot, timeout=30))
        assert code == grpc.StatusCode.PERMISSION_DENIED, (roles, code, msg)
    keys = api.admin.ListApiKeys(R.ListApiKeysRequest(page=common_pb2.PageRequest(page_size=1000)),
                                 metadata=pipeline.metadata(), timeout=30).keys
    assert "mallory" not in {k.holder for k in keys}
    for call in (lambda: api.faces.ListFaces(face_search_pb2.ListFacesRequest(collection_id="people"),
                                             metadata=boot, timeout=30),
                 lambda: api.audit.QueryAuditRecords(audit_pb2.QueryAuditRecordsRequest(), metadata=boot, timeout=30)):
        assert _code(call)[0] == grpc.StatusCode.PERMISSION_DENIED
    fresh = f"{pipeline.agency}-new"
    api.admin.CreateAgency(R.CreateAgencyRequest(agency_id=fresh), metadata=boot, timeout=30)
    first = R.CreateApiKeyRequest(agency_id=fresh, holder="First Admin", roles=[R.ROLE_ADMIN])
    made = api.admin.CreateApiKey(first, metadata=boot, timeout=30)
    assert list(made.key.roles) == [R.ROLE_ADMIN]
    assert _code(lambda: api.admin.CreateApiKey(first, metadata=boot, timeout=30))[0] == \
        grpc.StatusCode.PERMISSION_DENIED
    # that admin, not the bootstrap credential, makes the agency's other keys
    searcher = api.admin.CreateApiKey(R.CreateApiKeyRequest(holder="Analyst", roles=[R.ROLE_SEARCHER]),
                                      metadata=_bearer(made.secret), timeout=30)
    assert searcher.key.agency_id == fresh
    # break glass stays possible: the bootstrap credential revokes, then makes a new first admin key
    api.admin.RevokeApiKey(R.RevokeApiKeyRequest(key_id=made.key.key_id), metadata=boot, timeout=30)
    assert api.admin.CreateApiKey(first, metadata=boot, timeout=30).key.agency_id == fresh


# -------------------------------------------------------------------------------------- #11 enumeration

def test_grant_refusals_do_not_reveal_whether_an_agency_exists(api: Api, pipeline: Pipeline,
                                                               gallery: dict[str, Any]) -> None:
    """Attack: an admin probes agency ids with invalid grants (empty legal basis, no expiry). Safe outcome:
    the same status and message for an existing and a made-up agency."""
    other = f"{pipeline.agency}-peer"
    pipeline.key("peer", agency=other)  # registers the other agency
    md = pipeline.metadata()
    invalid = ({"legal_basis": ""}, {"legal_basis": "MOU 2026-1"}, {"legal_basis": "", "expires_at": _in(3600)})
    for fields in invalid:
        answers = []
        for grantee in (other, "zz-made-up"):
            code, msg = _code(lambda g=grantee, f=fields: api.admin.GrantCollectionAccess(  # type: ignore[misc]
                R.GrantCollectionAccessRequest(collection_id="people", grantee_agency_id=g, **f), metadata=md,
                timeout=30))
            answers.append((code, _norm(msg, grantee)))
        assert answers[0] == answers[1] and answers[0][0] == grpc.StatusCode.INVALID_ARGUMENT, (fields, answers)


def test_admin_and_review_refusals_of_another_agency_look_like_missing_objects(api: Api, pipeline: Pipeline,
                                                                               gallery: dict[str, Any]) -> None:
    """Attack: another agency's admin+reviewer names the owner's agency, key, grant and search. Safe outcome:
    each answer equals the answer for an id that exists nowhere (same status, same message)."""
    owner = pipeline.agency
    pipeline.key("peer", agency=f"{owner}-peer2")  # registers the grantee agency
    grant = api.admin.GrantCollectionAccess(R.GrantCollectionAccessRequest(
        collection_id="people", grantee_agency_id=f"{owner}-peer2", legal_basis="MOU 2026-2", expires_at=_in(3600)),
        metadata=pipeline.metadata(), timeout=30).grant
    search = _search(api, pipeline.metadata())
    key_id = api.admin.ListApiKeys(R.ListApiKeysRequest(), metadata=pipeline.metadata(), timeout=30).keys[0].key_id
    intruder = pipeline.metadata("intruder", agency=f"{owner}-x")
    face = search.results[0].face_matches[0].face.face_id
    ad, rv = admin_pb2, review_pb2
    pairs: list[tuple[Any, Any, Any, tuple[str, ...]]] = [
        (api.admin.GetAgency, ad.GetAgencyRequest(agency_id=owner), ad.GetAgencyRequest(agency_id="zz-none"),
         (owner, "zz-none")),
        (api.admin.ListApiKeys, ad.ListApiKeysRequest(agency_id=owner), ad.ListApiKeysRequest(agency_id="zz-none"),
         (owner, "zz-none")),
        (api.admin.SetAgencyPolicy, ad.SetAgencyPolicyRequest(agency_id=owner),
         ad.SetAgencyPolicyRequest(agency_id="zz-none"), (owner, "zz-none")),
        (api.admin.RevokeApiKey, ad.RevokeApiKeyRequest(key_id=key_id), ad.RevokeApiKeyRequest(key_id="0" * 16),
         (key_id, "0" * 16)),
        (api.admin.RevokeGrant, ad.RevokeGrantRequest(grant_id=grant.grant_id),
         ad.RevokeGrantRequest(grant_id="g-" + "0" * 16), (grant.grant_id, "g-" + "0" * 16)),
        (api.review.GetSearchReview, rv.GetSearchReviewRequest(search_id=search.provenance.search_id),
         rv.GetSearchReviewRequest(search_id="0" * 32), (search.provenance.search_id, "0" * 32)),
        (api.review.RecordDecision, _decision(search),
         rv.RecordDecisionRequest(search_id="0" * 32, face_id=face, decision=POSSIBLE),
         (search.provenance.search_id, "0" * 32)),
    ]
    for rpc, theirs, nowhere, ids in pairs:
        code, msg = _code(lambda r=rpc, q=theirs: r(q, metadata=intruder, timeout=30))  # type: ignore[misc]
        code2, msg2 = _code(lambda r=rpc, q=nowhere: r(q, metadata=intruder, timeout=30))  # type: ignore[misc]
        assert code == code2 == grpc.StatusCode.NOT_FOUND, (theirs, code, msg, code2, msg2)
        assert _norm(msg, *ids) == _norm(msg2, *ids), (msg, msg2)
    # the owner's grant is untouched
    grants = api.admin.ListGrants(R.ListGrantsRequest(), metadata=pipeline.metadata(), timeout=30).grants
    assert any(g.grant_id == grant.grant_id and not g.HasField("revoked_at") for g in grants)


# ------------------------------------------------------------------------------------- #12 internal auth

def test_internal_services_refuse_callers_without_the_internal_credential(pipeline: Pipeline,
                                                                          gallery: dict[str, Any]) -> None:
    """Attack: a pod (or anyone past the NetworkPolicy) calls search :GetFaces, detection :Detect and
    embedding :ListModels directly, with no token and with a wrong one. Safe outcome: UNAUTHENTICATED, and
    no faces; with the deployment's token the same call works; health checks need no token."""
    image = _img(_photos("amy")[0])
    calls: list[tuple[str, Callable[[grpc.Channel], Callable[..., Any]], Any]] = [
        ("search", lambda ch: search_pb2_grpc.SearchServiceStub(ch).GetFaces,
         search_pb2.GetFacesRequest(agency_id=pipeline.agency, collection_id="people")),
        ("detection", lambda ch: detection_pb2_grpc.DetectionServiceStub(ch).Detect,
         detection_pb2.DetectRequest(agency_id=pipeline.agency, image=image)),
        ("embedding", lambda ch: embedding_pb2_grpc.EmbeddingServiceStub(ch).ListModels,
         embedding_pb2.ListModelsRequest()),
    ]
    wrong = [(INTERNAL_TOKEN_KEY, "w" * 48), ("x-lineup-caller", "ingest")]
    right = internal_metadata(pipeline.internal_token, "e2e-attack")
    for service, method, request in calls:
        with grpc.insecure_channel(f"127.0.0.1:{pipeline.ports[service]}") as ch:
            rpc = method(ch)
            for md in ([], [("x-lineup-caller", "ingest")], wrong):
                code, msg = _code(lambda f=rpc, q=request, m=md: f(q, metadata=m, timeout=60))  # type: ignore[misc]
                assert code == grpc.StatusCode.UNAUTHENTICATED, (service, md, code, msg)
                assert pipeline.internal_token not in msg
            resp = rpc(request, metadata=right, timeout=120)
            assert resp is not None
            if service == "search":
                assert len(resp.faces) >= 1  # the faces are there; only the credential kept them from outsiders
    for service in ("search", "detection", "embedding", "audit"):
        with grpc.insecure_channel(f"127.0.0.1:{pipeline.ports[service]}") as ch:
            status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10).status
            assert status == health_pb2.HealthCheckResponse.SERVING, service
