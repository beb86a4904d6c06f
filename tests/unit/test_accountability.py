"""Identity, authorization, search policy, audit record building and review state, without servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from ingest.access import Access
from ingest.reviews import SearchRecords, review_state
from lineup.agencies import ApplyError, load_agencies_file
from lineup.audit.chain import DEPLOYMENT_CHAIN, chain_of
from lineup.audit.emit import AuditDraft, build_records
from lineup.auth import Principal
from lineup.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from lineup.identity import keys, roles
from lineup.identity.authenticator import ApiKeyAuthenticator
from lineup.identity.store import IdentityStore, now_ts
from lineup.objectstore import ObjectStore
from lineup.scoring import load_score_model
from lineup.v1 import admin_pb2, audit_pb2, common_pb2, face_search_pb2, review_pb2, session_pb2
from tests.fakes import MemoryStore

BOOT = "b" * 40
ALL = frozenset(roles.AGENCY_ROLES)


@pytest.fixture()
def identities() -> IdentityStore:
    return IdentityStore(cast(ObjectStore, MemoryStore()))


def _key(identities: IdentityStore, agency: str, *role_values: int, holder: str = "h") -> str:
    key_id, secret, digest = keys.new_key()
    identities.put_key(admin_pb2.ApiKey(key_id=key_id, agency_id=agency, holder=holder, roles=list(role_values),
                                        created_at=now_ts()), digest)
    return secret


def _auth(identities: IdentityStore, token: str) -> Principal | None:
    return ApiKeyAuthenticator(identities, BOOT).authenticate("/x", {"authorization": f"Bearer {token}"})


# ------------------------------------------------------------------------------------------ keys

def test_keys_are_random_and_only_their_hash_is_stored(identities: IdentityStore) -> None:
    a, b = keys.new_key(), keys.new_key()
    assert a[0] != b[0] and a[1] != b[1]
    assert keys.parse(a[1]) is not None and keys.parse("lk_nothex.secret") is None
    secret = _key(identities, "metro-pd", admin_pb2.ROLE_SEARCHER)
    stored = b"".join(cast(MemoryStore, identities.store).objects.values())
    assert secret.split(".", 1)[1].encode() not in stored
    assert keys.secret_hash(secret.split(".", 1)[1]).encode() in stored


def test_authentication_accepts_valid_keys_and_rejects_revoked_expired_and_forged(identities: IdentityStore) -> None:
    secret = _key(identities, "metro-pd", admin_pb2.ROLE_SEARCHER, admin_pb2.ROLE_REVIEWER, holder="det. ruiz")
    p = _auth(identities, secret)
    assert p is not None and p.agency_id == "metro-pd" and p.holder == "det. ruiz"
    assert p.roles == {"searcher", "reviewer"}
    key_id = keys.parse(secret)[0]  # type: ignore[index]
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    for bad in (forged, "lk_0123456789abcdef." + "x" * 43, "not-a-key"):
        with pytest.raises(Unauthenticated):
            _auth(identities, bad)
    identities.revoke_key(key_id)
    with pytest.raises(Unauthenticated, match="revoked"):
        _auth(identities, secret)
    expiring = _key(identities, "metro-pd", admin_pb2.ROLE_SEARCHER)
    found = identities.get_key(keys.parse(expiring)[0])  # type: ignore[index]
    assert found is not None
    found[0].expires_at.FromSeconds(1)
    identities.put_key(found[0], found[1])
    with pytest.raises(Unauthenticated, match="expired"):
        _auth(identities, expiring)
    assert ApiKeyAuthenticator(identities, BOOT).authenticate("/x", {}) is None
    with pytest.raises(Unauthenticated):
        ApiKeyAuthenticator(identities, BOOT).authenticate("/x", {"authorization": "Basic abc"})


def test_bootstrap_credential_is_a_deployment_admin_without_face_access(identities: IdentityStore) -> None:
    p = _auth(identities, BOOT)
    assert p is not None and p.roles == {roles.DEPLOYMENT_ADMIN} and p.agency_id == ""
    roles.authorize("/lineup.v1.Admin/CreateAgency", p)
    for method in ("/lineup.v1.FaceSearch/SearchFacesByImage", "/lineup.v1.FaceSearch/IndexFaces",
                   "/lineup.v1.Audit/QueryAuditRecords"):
        with pytest.raises(PermissionDenied):
            roles.authorize(method, p)
    with pytest.raises(Unauthenticated):  # no bootstrap configured: the empty string is no credential
        ApiKeyAuthenticator(identities, "").authenticate("/x", {"authorization": "Bearer x"})


# ------------------------------------------------------------------------------------------ roles

def _public_methods() -> list[str]:
    out = []
    for module, name in ((face_search_pb2, "FaceSearch"), (admin_pb2, "Admin"), (audit_pb2, "Audit"),
                         (review_pb2, "Review"), (session_pb2, "Sessions")):
        svc = module.DESCRIPTOR.services_by_name[name]
        out += [f"/{svc.full_name}/{m.name}" for m in svc.methods]
    return out


def test_every_public_rpc_has_a_role_rule_and_unknown_methods_are_refused() -> None:
    methods = _public_methods()
    assert len(methods) == 22 + 10 + 2 + 5 + 3  # FaceSearch, Admin, Audit, Review, Sessions
    assert set(methods) == set(roles.METHOD_ROLES)
    with pytest.raises(PermissionDenied):
        roles.authorize("/lineup.v1.Search/SearchVectors", Principal("k", "a", roles=ALL))
    with pytest.raises(Unauthenticated):
        roles.authorize(methods[0], None)


@pytest.mark.parametrize(("method", "allowed"), [
    ("/lineup.v1.FaceSearch/IndexFaces", {"enroller"}),
    ("/lineup.v1.FaceSearch/SearchFacesByImage", {"searcher"}),
    ("/lineup.v1.FaceSearch/CreateCollection", {"admin"}),
    ("/lineup.v1.Review/RecordDecision", {"reviewer"}),
    ("/lineup.v1.Audit/VerifyAuditChain", {"auditor"}),
    ("/lineup.v1.Admin/GrantCollectionAccess", {"admin"}),
])
def test_each_role_reaches_only_its_rpcs(method: str, allowed: set[str]) -> None:
    for role in roles.AGENCY_ROLES:
        p = Principal("k", "a", roles=frozenset({role}))
        if role in allowed:
            roles.authorize(method, p)
        else:
            with pytest.raises(PermissionDenied, match="needs one of the roles"):
                roles.authorize(method, p)


# ------------------------------------------------------------------------------- agencies, grants

def test_agency_creation_is_idempotent_and_validated(identities: IdentityStore) -> None:
    a, created = identities.create_agency("sheriff", "County Sheriff", None)
    assert created and a.policy.threshold_floor.max_fmr == pytest.approx(1e-3)
    assert not a.policy.allowed_purposes  # nobody searches before the agency says what searches are for
    again, created = identities.create_agency("sheriff", "Other name", None)
    assert not created and again.display_name == "County Sheriff"
    with pytest.raises(InvalidArgument):
        identities.create_agency("Bad_Id", "", None)
    with pytest.raises(InvalidArgument):
        identities.set_policy("sheriff", admin_pb2.AgencyPolicy(allowed_purposes=["Has Space"]))


def test_grants_need_a_legal_basis_a_future_expiry_and_can_be_revoked(identities: IdentityStore) -> None:
    for agency in ("owner", "grantee"):
        identities.create_agency(agency, agency, None)
    future = now_ts()
    future.FromSeconds(future.seconds + 3600)
    with pytest.raises(InvalidArgument, match="legal_basis"):
        identities.create_grant("owner", "mugshots", "grantee", "", future)
    with pytest.raises(InvalidArgument, match="future"):
        identities.create_grant("owner", "mugshots", "grantee", "MOU 2026-14", now_ts())
    with pytest.raises(NotFound):
        identities.create_grant("owner", "mugshots", "nobody", "MOU 2026-14", future)
    g = identities.create_grant("owner", "mugshots", "grantee", "MOU 2026-14", future)
    with pytest.raises(AlreadyExists):
        identities.create_grant("owner", "mugshots", "grantee", "MOU 2026-14", future)
    assert identities.active_grant("owner", "mugshots", "grantee") is not None
    assert identities.active_grant("owner", "other", "grantee") is None
    identities.revoke_grant("owner", g.grant_id)
    assert identities.active_grant("owner", "mugshots", "grantee") is None
    with pytest.raises(NotFound):
        identities.revoke_grant("grantee", g.grant_id)  # only the owner revokes


# ------------------------------------------------------------------------------------ search policy

def test_search_policy_requires_an_allowed_purpose_and_applies_the_strictest_floor(identities: IdentityStore) -> None:
    identities.create_agency("city", "City PD", admin_pb2.AgencyPolicy(
        allowed_purposes=["investigation"], threshold_floor=common_pb2.Threshold(max_fmr=1e-3)))
    identities.create_agency("state", "State", admin_pb2.AgencyPolicy(
        allowed_purposes=["investigation"], threshold_floor=common_pb2.Threshold(max_fmr=1e-5),
        require_justification=True))
    access = Access(identities)
    p = Principal("k", "city", roles=ALL)
    ok = common_pb2.SearchContext(case_id="C-1", purpose="investigation")
    with pytest.raises(FailedPrecondition, match="case id"):
        access.check_search(p, common_pb2.SearchContext(purpose="investigation"))
    with pytest.raises(FailedPrecondition, match="not one of"):
        access.check_search(p, common_pb2.SearchContext(case_id="C-1", purpose="curiosity"))
    with pytest.raises(FailedPrecondition, match="justification"):
        access.check_search(Principal("k", "state", roles=ALL), ok)
    model = load_score_model()
    loose = common_pb2.Threshold(max_fmr=0.5)
    own = model.resolve(loose, access.check_search(p, ok))
    assert own == pytest.approx(model.calibration.score_at_fmr(1e-3))
    future = now_ts()
    future.FromSeconds(future.seconds + 3600)
    identities.create_grant("state", "mugshots", "city", "State MOU 7", future)
    target = access.searchable(p, "state/mugshots")
    assert target.owner_agency_id == "state" and target.granted
    both = model.resolve(loose, access.check_search(p, ok, target))
    assert both == pytest.approx(model.calibration.score_at_fmr(1e-5)) and both > own
    with pytest.raises(NotFound):
        access.searchable(p, "state/other")


# ---------------------------------------------------------------------------------------- audit

def _search_response() -> face_search_pb2.SearchFacesByImageResponse:
    resp = face_search_pb2.SearchFacesByImageResponse(probe_image_sha256="ab" * 32)
    resp.provenance.search_id = "s-1"
    r = resp.results.add(face_index=0)
    for rank, (face, raw) in enumerate((("f1", 0.97), ("f2", 0.95)), start=1):
        r.face_matches.add(rank=rank, face=common_pb2.Face(face_id=face),
                           score=common_pb2.MatchScore(raw_score=raw, similarity=raw * 100))
    return resp


def test_audit_records_carry_who_why_what_and_the_candidates() -> None:
    req = face_search_pb2.SearchFacesByImageRequest(
        collection_id="state/mugshots", image=common_pb2.Image(bytes=b"\xff" * 100),
        context=common_pb2.SearchContext(case_id="C-9", purpose="investigation", justification="robbery"))
    draft = AuditDraft(owner_agency_id="state", grant_id="g-1")
    p = Principal("k1", "city", holder="det. ruiz", roles=frozenset({"searcher"}))
    recs = build_records(method="/lineup.v1.FaceSearch/SearchFacesByImage", principal=p, request=req,
                         response=_search_response(), code=0, message="", request_id="r1", trace_id="t1", draft=draft)
    assert [r.agency_id for r in recs] == ["city", "state"]  # both agencies' trails
    assert len({r.record_id for r in recs}) == 2
    r = recs[0]
    assert (r.case_id, r.purpose, r.justification) == ("C-9", "investigation", "robbery")
    assert r.decision == audit_pb2.AUDIT_DECISION_ALLOWED and r.actor_roles == [admin_pb2.ROLE_SEARCHER]
    assert [(c.face_id, c.rank) for c in r.candidates] == [("f1", 1), ("f2", 2)]
    assert r.search_id == "s-1" and r.probe_image_sha256 == "ab" * 32 and r.grant_id == "g-1"
    assert all(b"\xff" * 100 not in v.encode("latin-1", "ignore") for v in r.details.values())


def test_denied_and_failed_calls_are_recorded_too() -> None:
    req = face_search_pb2.DeleteFacesRequest(collection_id="c", face_ids=["a", "b"])
    denied = build_records(method="/lineup.v1.FaceSearch/DeleteFaces", principal=None, request=req, response=None,
                           code=16, message="no credentials", request_id="r", trace_id="", draft=AuditDraft())
    assert denied[0].decision == audit_pb2.AUDIT_DECISION_DENIED and chain_of(denied[0]) == DEPLOYMENT_CHAIN
    assert denied[0].details["request.face_ids"] == "a,b"
    failed = build_records(method="/lineup.v1.FaceSearch/DeleteFaces", principal=Principal("k", "a"),
                           request=req, response=None, code=3, message="bad", request_id="r", trace_id="",
                           draft=AuditDraft())
    assert failed[0].decision == audit_pb2.AUDIT_DECISION_FAILED and failed[0].status_code == 3


# --------------------------------------------------------------------------------------- review

def _entry(reviewer: str, decision: int) -> review_pb2.ReviewEntry:
    return review_pb2.ReviewEntry(reviewer_key_id=reviewer, decision=decision)  # type: ignore[arg-type]


@pytest.mark.parametrize(("votes", "state"), [
    ([], review_pb2.CANDIDATE_REVIEW_STATE_UNREVIEWED),
    ([("a", 1)], review_pb2.CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW),
    ([("a", 1), ("a", 1)], review_pb2.CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW),  # same reviewer twice
    ([("a", 1), ("b", 1)], review_pb2.CANDIDATE_REVIEW_STATE_CONFIRMED_LEAD),
    ([("a", 1), ("b", 2)], review_pb2.CANDIDATE_REVIEW_STATE_DISPUTED),
    ([("a", 1), ("b", 1), ("c", 2)], review_pb2.CANDIDATE_REVIEW_STATE_DISPUTED),
    ([("a", 2)], review_pb2.CANDIDATE_REVIEW_STATE_NOT_A_MATCH),
    ([("a", 3), ("b", 3)], review_pb2.CANDIDATE_REVIEW_STATE_INCONCLUSIVE),
    ([("a", 2), ("a", 1), ("b", 1)], review_pb2.CANDIDATE_REVIEW_STATE_CONFIRMED_LEAD),  # a changed their mind
])
def test_review_state_needs_two_different_reviewers(votes: list[tuple[str, int]], state: int) -> None:
    assert review_state(_entry(r, d) for r, d in votes) == state


def test_decisions_are_recorded_per_candidate_and_only_on_real_candidates() -> None:
    records = SearchRecords(cast(ObjectStore, MemoryStore()))
    searcher = Principal("k0", "city", roles=frozenset({"searcher"}))
    records.record(searcher, "gallery", common_pb2.SearchContext(case_id="C-1", purpose="investigation"),
                   _search_response())
    r1, r2 = (Principal(f"k{i}", "city", holder=f"examiner {i}", roles=frozenset({"reviewer"})) for i in (1, 2))
    decide = review_pb2.RecordDecisionRequest(search_id="s-1", face_id="f1",
                                              decision=review_pb2.REVIEW_DECISION_POSSIBLE_LEAD)
    assert records.decide(r1, decide).state == review_pb2.CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW
    assert records.decide(r2, decide).state == review_pb2.CANDIDATE_REVIEW_STATE_CONFIRMED_LEAD
    review = records.review("city", "s-1")
    assert [c.state for c in review.candidates] == [review_pb2.CANDIDATE_REVIEW_STATE_CONFIRMED_LEAD,
                                                    review_pb2.CANDIDATE_REVIEW_STATE_UNREVIEWED]
    with pytest.raises(NotFound):
        records.decide(r1, review_pb2.RecordDecisionRequest(search_id="s-1", face_id="f9", decision=1))
    with pytest.raises(NotFound):
        records.review("other-agency", "s-1")  # another agency's search does not exist for it
    with pytest.raises(InvalidArgument):
        records.decide(r1, review_pb2.RecordDecisionRequest(search_id="s-1", face_id="f1"))
    listed = records.list_searches("city", "C-1")
    assert [(s.search_id, s.candidate_count, s.confirmed_leads) for s in listed] == [("s-1", 2, 1)]
    assert records.list_searches("city", "C-2") == []


# ---------------------------------------------------------------------------------- helm apply file

def test_agencies_file_of_the_helm_hook_parses(tmp_path: Path) -> None:
    doc: dict[str, Any] = {"agencies": [{"id": "sheriff", "display_name": "County Sheriff", "policy": {
        "purposes": ["investigation"], "threshold_floor_max_fmr": 0.0001, "probe_retention_days": 30}}]}
    f = tmp_path / "agencies.json"
    f.write_text(json.dumps(doc))
    [req] = load_agencies_file(f)
    assert req.agency_id == "sheriff" and list(req.policy.allowed_purposes) == ["investigation"]
    assert req.policy.threshold_floor.max_fmr == pytest.approx(1e-4) and req.policy.probe_retention_days == 30
    f.write_text('{"agencies": [{"display_name": "no id"}]}')
    with pytest.raises(ApplyError, match="KeyError"):
        load_agencies_file(f)
