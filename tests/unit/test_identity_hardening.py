"""Identity hardening without servers: holders are people, the bootstrap credential makes first admin keys
only, refusals do not depend on what exists, and internal APIs need the deployment's internal credential."""

from __future__ import annotations

import re
from typing import cast

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ingest.admin_api import AdminServicer
from ingest.reviews import SearchRecords, review_state
from lineup.audit.emit import AuditDraft, reset_draft, set_draft
from lineup.auth import INTERNAL_TOKEN_KEY, InternalAuthenticator, Principal, internal_metadata
from lineup.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from lineup.identity.holders import MAX_HOLDER_LEN, display_holder, person_of
from lineup.identity.roles import DEPLOYMENT_ADMIN
from lineup.identity.store import IdentityStore
from lineup.objectstore import ObjectStore
from lineup.settings import SettingsError, load_settings
from lineup.v1 import admin_pb2, common_pb2, face_search_pb2, review_pb2
from search.settings import SearchSettings
from tests.fakes import MemoryStore

TOKEN = "t" * 40
R = review_pb2


# -------------------------------------------------------------------------------------------- holders

@pytest.mark.parametrize("a, b", [
    ("Alice Ng", "alice ng"), ("  Alice   Ng ", "Alice Ng"), ("\uff21lice Ng", "Alice Ng"),  # full-width A
    ("Stra\u00dfe", "STRASSE"), ("Alice\tNg", "Alice Ng"),
])
def test_one_person_however_the_holder_is_spelled(a: str, b: str) -> None:
    assert person_of(a) == person_of(b)


def test_holder_names_are_normalised_and_validated() -> None:
    assert display_holder("  Det.   Ruiz ") == "Det. Ruiz"
    for bad, needle in (("", "required"), ("   ", "required"), ("x" * (MAX_HOLDER_LEN + 1), "at most"),
                        ("eve\x1b[2J", "U+001B"), ("eve\u202egnp", "U+202E"), ("a\u200bb", "U+200B")):
        with pytest.raises(InvalidArgument, match=re.escape(needle)):
            display_holder(bad)


# --------------------------------------------------------------------------------------------- review

def _entry(key: str, holder: str, decision: int) -> review_pb2.ReviewEntry:
    return R.ReviewEntry(reviewer_key_id=key, reviewer_holder=holder, decision=decision)  # type: ignore[arg-type]


def test_two_keys_of_one_holder_are_one_reviewer() -> None:
    votes = [_entry("k1", "Examiner One", 1), _entry("k2", " examiner  one", 1)]
    assert review_state(votes) == R.CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW
    assert review_state([*votes, _entry("k3", "Examiner Two", 1)]) == R.CANDIDATE_REVIEW_STATE_CONFIRMED_LEAD
    # the latest decision of the person counts, whichever key made it
    assert review_state([_entry("k1", "Ann", 1), _entry("k2", "ann", 2)]) == R.CANDIDATE_REVIEW_STATE_NOT_A_MATCH


def _searched(records: SearchRecords, searcher: Principal) -> None:
    resp = face_search_pb2.SearchFacesByImageResponse()
    resp.provenance.search_id = "s-1"
    resp.results.add(face_index=0).face_matches.add(rank=1, face=common_pb2.Face(face_id="f1"))
    records.record(searcher, "gallery", common_pb2.SearchContext(case_id="C-1", purpose="investigation"), resp)


def test_the_searcher_cannot_review_their_own_search_with_any_key() -> None:
    records = SearchRecords(cast(ObjectStore, MemoryStore()))
    _searched(records, Principal("k0", "city", holder="Det. Ruiz", roles=frozenset({"searcher", "reviewer"})))
    decide = R.RecordDecisionRequest(search_id="s-1", face_id="f1", decision=R.REVIEW_DECISION_POSSIBLE_LEAD)
    for key in ("k0", "k9"):  # the same key, or another key of the same person
        with pytest.raises(PermissionDenied, match="you ran search"):
            records.decide(Principal(key, "city", holder="det.  RUIZ", roles=frozenset({"reviewer"})), decide)
    ok = records.decide(Principal("k1", "city", holder="Examiner", roles=frozenset({"reviewer"})), decide)
    assert ok.state == R.CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW


def test_decision_fields_are_checked_before_the_search_is_looked_up() -> None:
    records = SearchRecords(cast(ObjectStore, MemoryStore()))
    p = Principal("k1", "city", holder="Examiner", roles=frozenset({"reviewer"}))
    for req, needle in ((R.RecordDecisionRequest(search_id="../x", face_id="f", decision=1), "search_id"),
                        (R.RecordDecisionRequest(search_id="s-1", face_id="f", decision=99), "decision 99"),
                        (R.RecordDecisionRequest(search_id="s-1", face_id="", decision=1), "face_id"),
                        (R.RecordDecisionRequest(search_id="s-1", face_id="f", decision=1, notes="n" * 2001), "notes")):
        with pytest.raises(InvalidArgument, match=needle):
            records.decide(p, req)  # no search s-1 exists: validation comes first
    with pytest.raises(NotFound, match="not found in your agency"):
        records.decide(p, R.RecordDecisionRequest(search_id="s-1", face_id="f", decision=1))


# ---------------------------------------------------------------------------------------------- admin

class _Ctx:
    """Enough of a servicer context for calls that never touch it."""


@pytest.fixture
def admin() -> AdminServicer:
    identities = IdentityStore(cast(ObjectStore, MemoryStore()))
    identities.create_agency("city", "City", None)
    identities.create_agency("state", "State", None)
    return AdminServicer(identities, lambda agency, cid: (agency, cid) == ("city", "gallery"))


def _as(p: Principal, fn: object, request: object) -> object:
    from lineup.auth import reset_principal, set_principal
    token, draft = set_principal(p), set_draft(AuditDraft())
    try:
        return fn(request, _Ctx())  # type: ignore[operator]
    finally:
        reset_draft(draft)
        reset_principal(token)


BOOT = Principal("bootstrap", "", holder="deployment bootstrap", roles=frozenset({DEPLOYMENT_ADMIN}))
CITY_ADMIN = Principal("k-admin", "city", holder="City Admin", roles=frozenset({"admin"}))


def test_bootstrap_creates_only_the_first_admin_key(admin: AdminServicer) -> None:
    searcher = admin_pb2.CreateApiKeyRequest(agency_id="city", holder="x", roles=[admin_pb2.ROLE_SEARCHER])
    with pytest.raises(PermissionDenied, match="first admin key"):
        _as(BOOT, admin.CreateApiKey, searcher)
    mixed = admin_pb2.CreateApiKeyRequest(agency_id="city", holder="x",
                                          roles=[admin_pb2.ROLE_ADMIN, admin_pb2.ROLE_AUDITOR])
    with pytest.raises(PermissionDenied):
        _as(BOOT, admin.CreateApiKey, mixed)
    first = admin_pb2.CreateApiKeyRequest(agency_id="city", holder=" City  Admin ", roles=[admin_pb2.ROLE_ADMIN])
    made = cast(admin_pb2.CreateApiKeyResponse, _as(BOOT, admin.CreateApiKey, first))
    assert made.key.holder == "City Admin" and list(made.key.roles) == [admin_pb2.ROLE_ADMIN]
    with pytest.raises(PermissionDenied, match="already has an active admin key"):
        _as(BOOT, admin.CreateApiKey, first)
    # break glass: revoke, then a new first admin key
    _as(BOOT, admin.RevokeApiKey, admin_pb2.RevokeApiKeyRequest(key_id=made.key.key_id))
    assert _as(BOOT, admin.CreateApiKey, first)
    # the agency's own admin mints any role
    assert _as(CITY_ADMIN, admin.CreateApiKey,
               admin_pb2.CreateApiKeyRequest(holder="s", roles=[admin_pb2.ROLE_SEARCHER]))


def test_unknown_roles_are_refused_before_anything_is_stored(admin: AdminServicer) -> None:
    with pytest.raises(InvalidArgument, match=r"unknown value\(s\) \[99\]"):
        _as(CITY_ADMIN, admin.CreateApiKey, admin_pb2.CreateApiKeyRequest(
            holder="s", roles=[admin_pb2.ROLE_ADMIN, 99]))  # type: ignore[list-item]
    assert admin.identities.list_keys("city") == []


def _future() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    ts.seconds += 3600
    return ts


def test_grant_refusals_do_not_depend_on_whether_the_grantee_exists(admin: AdminServicer) -> None:
    def refusal(grantee: str, **fields: object) -> tuple[type[Exception], str]:
        req = admin_pb2.GrantCollectionAccessRequest(collection_id="gallery", grantee_agency_id=grantee,
                                                     **fields)  # type: ignore[arg-type]
        with pytest.raises((InvalidArgument, NotFound)) as err:
            _as(CITY_ADMIN, admin.GrantCollectionAccess, req)
        return type(err.value), str(err.value).replace(grantee, "<id>")

    for fields in ({"legal_basis": ""}, {"legal_basis": "MOU 1"}, {"legal_basis": "x" * 5000, "expires_at": _future()}):
        assert refusal("state", **fields) == refusal("zz-none", **fields), fields
    assert refusal("zz-none", legal_basis="MOU 12", expires_at=_future())[0] is NotFound
    assert _as(CITY_ADMIN, admin.GrantCollectionAccess, admin_pb2.GrantCollectionAccessRequest(
        collection_id="gallery", grantee_agency_id="state", legal_basis="MOU 12", expires_at=_future()))


def test_another_agency_and_a_missing_one_answer_alike(admin: AdminServicer) -> None:
    for request in (admin_pb2.GetAgencyRequest, admin_pb2.ListApiKeysRequest):
        msgs = []
        for agency in ("state", "zz-none"):
            with pytest.raises(NotFound) as err:
                _as(CITY_ADMIN, getattr(admin, request.__name__.removesuffix("Request")), request(agency_id=agency))
            msgs.append(str(err.value).replace(agency, "<id>"))
        assert msgs[0] == msgs[1]
    with pytest.raises(InvalidArgument, match="key_id"):
        _as(CITY_ADMIN, admin.RevokeApiKey, admin_pb2.RevokeApiKeyRequest(key_id="../../x"))
    with pytest.raises(InvalidArgument, match="grant_id"):
        _as(CITY_ADMIN, admin.RevokeGrant, admin_pb2.RevokeGrantRequest(grant_id="../x"))


# ------------------------------------------------------------------------------------ internal auth

def test_internal_apis_need_the_internal_token() -> None:
    auth = InternalAuthenticator(TOKEN)
    method = "/lineup.v1.SearchService/GetFaces"
    assert auth.authenticate(method, {}) is None
    with pytest.raises(Unauthenticated, match=INTERNAL_TOKEN_KEY):
        auth.authorize(method, None)
    with pytest.raises(Unauthenticated, match="not valid"):
        auth.authenticate(method, {INTERNAL_TOKEN_KEY: "t" * 39 + "u"})
    p = auth.authenticate(method, dict(internal_metadata(TOKEN, "ingest")))
    assert p is not None and p.key_id == "service:ingest" and not p.agency_id
    auth.authorize(method, p)
    forged = auth.authenticate(method, {INTERNAL_TOKEN_KEY: TOKEN, "x-lineup-caller": "a\nfake log line"})
    assert forged is not None and forged.key_id == "service:unnamed"  # the caller name is never logged raw
    with pytest.raises(ValueError):
        InternalAuthenticator("short")


def test_every_service_requires_a_long_enough_internal_token() -> None:
    with pytest.raises(SettingsError, match="LINEUP_INTERNAL_TOKEN is too short"):
        load_settings(SearchSettings, {"LINEUP_INTERNAL_TOKEN": "x" * 31})
    from search.__main__ import build
    with pytest.raises(SettingsError, match="LINEUP_INTERNAL_TOKEN"):
        build(load_settings(SearchSettings, {}, pipeline_stage=False))


def test_status_codes_of_internal_refusals() -> None:
    assert Unauthenticated("x").code == grpc.StatusCode.UNAUTHENTICATED
