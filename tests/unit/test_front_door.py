"""The front door's interceptor against hostile input, on a real gRPC server with in-memory dependencies:
server-owned request ids, idempotency keys, request bounds, refused calls audited, bounded audit records."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from typing import Any

import grpc
import pytest

from ingest.idempotency import IdempotencyStore
from lineup.audit.emit import bounded, build_records
from lineup.auth import Principal, require_principal
from lineup.errors import InvalidArgument, Unavailable
from lineup.grpcserver import ServiceServer
from lineup.settings import CommonSettings, load_settings
from lineup.v1 import admin_pb2, audit_pb2, common_pb2, review_pb2, review_pb2_grpc
from lineup.validation import validate_request
from tests.fakes import MemoryStore

ALICE = Principal(key_id="k-alice", agency_id="agency-a", holder="Alice Example", roles=frozenset({"reviewer"}))
BOB = Principal(key_id="k-bob", agency_id="agency-b", holder="Bob", roles=frozenset({"reviewer"}))


class _Auth:
    def authenticate(self, method: str, metadata: Mapping[str, str]) -> Principal | None:
        token = metadata.get("authorization", "")
        if token == "Bearer bad":
            from lineup.errors import Unauthenticated

            raise Unauthenticated("the API key is not valid")
        return {"Bearer alice": ALICE, "Bearer bob": BOB}.get(token)

    def authorize(self, method: str, principal: Principal | None) -> None:
        from lineup.identity.roles import authorize

        authorize(method, principal)


class _Auditor:
    def __init__(self) -> None:
        self.records: list[audit_pb2.AuditRecord] = []
        self.down = False

    def emit(self, records: list[audit_pb2.AuditRecord]) -> None:
        if self.down:
            raise Unavailable("the message broker did not accept the message; retry later")
        for r in records:
            assert r.ByteSize() < 256 * 1024, "an audit record must stay far below the broker's limit"
        self.records.extend(records)


class _Review(review_pb2_grpc.ReviewServicer):
    def __init__(self) -> None:
        self.calls = 0

    def RecordDecision(self, request: review_pb2.RecordDecisionRequest, context: grpc.ServicerContext
                       ) -> review_pb2.RecordDecisionResponse:
        self.calls += 1
        p = require_principal()
        if request.face_id == "missing":
            raise InvalidArgument("no such candidate")
        return review_pb2.RecordDecisionResponse(candidate=review_pb2.CandidateReview(
            face_id=f"{request.face_id}-{self.calls}-{p.agency_id}", probe_face_index=request.probe_face_index))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def front() -> Iterator[dict[str, Any]]:
    settings = load_settings(CommonSettings, {}, grpc_port=_free_port(), shutdown_grace_s=0.2, grpc_max_message_mb=1)
    auditor, servicer, store = _Auditor(), _Review(), MemoryStore()

    def register(server: grpc.Server) -> list[str]:
        review_pb2_grpc.add_ReviewServicer_to_server(servicer, server)
        return ["lineup.v1.Review"]

    server = ServiceServer(settings=settings, register=register, authenticator=_Auth(),
                           auditor=auditor,  # type: ignore[arg-type]
                           idempotency=IdempotencyStore(store))  # type: ignore[arg-type]
    port = server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 8 << 20)])
    try:
        yield {"stub": review_pb2_grpc.ReviewStub(channel), "channel": channel, "auditor": auditor,
               "servicer": servicer, "store": store}
    finally:
        channel.close()
        server.stop()


def _decide(face_id: str = "f1", **kw: Any) -> review_pb2.RecordDecisionRequest:
    return review_pb2.RecordDecisionRequest(search_id="s1", face_id=face_id,
                                            decision=review_pb2.REVIEW_DECISION_POSSIBLE_LEAD, **kw)


def _md(who: str, key: str = "") -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {who}")] + ([("x-request-id", key)] if key else [])


def _fail(fn: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value


# --------------------------------------------------------------------------------------- request ids
@pytest.mark.parametrize("hostile", ["..", ".", "a/b", "x" * 65, "id with space", "%2e%2e", "a:b"])
def test_a_hostile_request_id_is_refused_before_any_work_and_audited(front: dict[str, Any], hostile: str) -> None:
    err = _fail(lambda: front["stub"].RecordDecision(_decide(), metadata=_md("alice", hostile), timeout=5))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "x-request-id is an idempotency key" in err.details()
    assert front["servicer"].calls == 0
    (rec,) = front["auditor"].records
    assert rec.status_code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and rec.agency_id == "agency-a"
    assert hostile not in rec.request_id


def test_the_server_assigns_request_ids_and_a_key_replays_the_original_outcome(front: dict[str, Any]) -> None:
    stub = front["stub"]
    first, call1 = stub.RecordDecision.with_call(_decide(), metadata=_md("alice", "retry-1"), timeout=5)
    again, call2 = stub.RecordDecision.with_call(_decide(), metadata=_md("alice", "retry-1"), timeout=5)
    rid1, rid2 = (dict(c.trailing_metadata())["x-request-id"] for c in (call1, call2))
    assert rid1 != "retry-1" and rid1 != rid2 and len(rid1) == 32
    assert again == first and front["servicer"].calls == 1  # replayed, not run twice
    replay = front["auditor"].records[-1]
    assert replay.details["idempotent_replay_of"] == rid1 and replay.request_id == rid2

    # the same key with another request is refused and changes nothing
    err = _fail(lambda: stub.RecordDecision(_decide("f2"), metadata=_md("alice", "retry-1"), timeout=5))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "already used for a different request" in err.details()
    # another agency's caller with the same key runs its own call and never sees Alice's outcome
    bob = stub.RecordDecision(_decide(), metadata=_md("bob", "retry-1"), timeout=5)
    assert bob.candidate.face_id.endswith("agency-b") and front["servicer"].calls == 2


def test_a_failed_call_is_replayed_but_a_transient_one_runs_again(front: dict[str, Any]) -> None:
    stub, auditor = front["stub"], front["auditor"]
    for _ in range(2):
        err = _fail(lambda: stub.RecordDecision(_decide("missing"), metadata=_md("alice", "k-missing"), timeout=5))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert front["servicer"].calls == 1
    auditor.down = True  # the answer is kept before the audit outage; the retry returns it, audited then
    err = _fail(lambda: stub.RecordDecision(_decide("f9"), metadata=_md("alice", "k-audit"), timeout=5))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "audit trail" in err.details()
    auditor.down = False
    ok = stub.RecordDecision(_decide("f9"), metadata=_md("alice", "k-audit"), timeout=5)
    assert ok.candidate.face_id.startswith("f9-") and front["servicer"].calls == 2
    assert auditor.records[-1].decision == audit_pb2.AUDIT_DECISION_ALLOWED


# --------------------------------------------------------------------------------------- bounds
def test_an_oversized_justification_or_unknown_enum_is_invalid_argument_naming_the_field(
        front: dict[str, Any]) -> None:
    stub = front["stub"]
    err = _fail(lambda: stub.RecordDecision(_decide(notes="n" * 300_000), metadata=_md("alice"), timeout=5))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "notes is 300000 characters" in err.details()
    err = _fail(lambda: stub.RecordDecision(review_pb2.RecordDecisionRequest(search_id="s", face_id="f", decision=99),
                                            metadata=_md("alice"), timeout=5))  # type: ignore[arg-type]
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "decision=99 is not a known ReviewDecision" in \
        err.details()
    assert front["servicer"].calls == 0
    assert [r.status_code for r in front["auditor"].records] == [3, 3]
    assert front["auditor"].records[1].details["request.decision"] == "UNKNOWN(99)"


def test_validation_covers_nested_fields_lists_maps_and_control_characters() -> None:
    with pytest.raises(InvalidArgument, match="roles\\[1\\]=99"):
        validate_request(admin_pb2.CreateApiKeyRequest(holder="h", roles=[admin_pb2.ROLE_ADMIN, 99]))  # type: ignore[list-item]
    with pytest.raises(InvalidArgument, match=r"context\.justification is 2097152 characters"):
        from lineup.v1 import face_search_pb2

        validate_request(face_search_pb2.SearchFacesRequest(
            collection_id="c", face_id="f", context=common_pb2.SearchContext(justification="j" * (2 << 20))))
    with pytest.raises(InvalidArgument, match="holder contains control characters"):
        validate_request(admin_pb2.CreateApiKeyRequest(holder="eve\x1b[2J", roles=[admin_pb2.ROLE_ADMIN]))
    with pytest.raises(InvalidArgument, match="face_ids has 4097 items"):
        validate_request(_many_face_ids(4097))
    validate_request(_many_face_ids(4096))  # the documented maximum passes
    validate_request(review_pb2.RecordDecisionRequest(notes="line one\nline two\ttabbed"))


def _many_face_ids(n: int) -> Any:
    from lineup.v1 import face_search_pb2

    return face_search_pb2.DeleteFacesRequest(collection_id="c", face_ids=[f"f{i}" for i in range(n)])


# --------------------------------------------------------------------------------------- refused early
def test_bad_protobuf_unknown_method_too_large_and_bad_key_are_audited_as_denied(front: dict[str, Any]) -> None:
    channel, auditor = front["channel"], front["auditor"]
    raw = channel.unary_unary("/lineup.v1.Review/RecordDecision")
    err = _fail(lambda: raw(b"\xff\xff\xff\xff", metadata=_md("alice"), timeout=5))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "not a valid protobuf" in err.details()
    unknown = channel.unary_unary("/lineup.v1.Review/DropEverything" + "A" * 500)
    err = _fail(lambda: unknown(b"", metadata=_md("alice"), timeout=5))
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    big = _decide().SerializeToString() + b"\x0a" + b"\x80\x80\x40" + b"x" * (1 << 20)  # 1 MiB > the 1 MB limit
    err = _fail(lambda: raw(big, metadata=_md("alice"), timeout=5))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    err = _fail(lambda: front["stub"].RecordDecision(_decide(), metadata=_md("bad"), timeout=5))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert front["servicer"].calls == 0
    denied = [r for r in auditor.records if r.decision == audit_pb2.AUDIT_DECISION_DENIED]
    assert len(denied) == 4, auditor.records
    assert denied[1].operation.startswith("lineup.v1.Review/DropEverything") and len(denied[1].operation) <= 204


def test_audit_records_are_bounded_with_the_hash_of_what_was_cut() -> None:
    import hashlib

    long = "x" * 100_000
    text = bounded(long, 200)
    assert len(text) == 200 and text.startswith("x" * 50) and hashlib.sha256(long.encode()).hexdigest() in text
    from lineup.audit.emit import AuditDraft

    draft = AuditDraft(details={f"k{i}": long for i in range(500)})
    (rec,) = build_records(method="/lineup.v1.Review/RecordDecision", principal=ALICE,
                           request=review_pb2.RecordDecisionRequest(notes=long, decision=77),  # type: ignore[arg-type]
                           response=None, code=0, message=long, request_id="r", trace_id="t", draft=draft)
    assert rec.ByteSize() < 64 * 1024
    assert rec.details["audit.details_dropped"] and len(rec.status_message) == 1000


def test_health_follows_readiness_so_a_replica_that_cannot_audit_stops_taking_calls() -> None:
    import time

    from grpc_health.v1 import health_pb2, health_pb2_grpc

    state = {"ready": True}
    settings = load_settings(CommonSettings, {}, grpc_port=_free_port(), shutdown_grace_s=0.2)
    server = ServiceServer(settings=settings, register=lambda s: [], readiness=[lambda: state["ready"]],
                           readiness_interval_s=0.05)
    port = server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = health_pb2_grpc.HealthStub(ch)

            def status_becomes(want: int) -> int:
                deadline = time.monotonic() + 10
                while True:
                    got = stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                    if got == want or time.monotonic() > deadline:
                        return int(got)
                    time.sleep(0.05)

            assert status_becomes(health_pb2.HealthCheckResponse.SERVING) == health_pb2.HealthCheckResponse.SERVING
            state["ready"] = False
            assert status_becomes(health_pb2.HealthCheckResponse.NOT_SERVING) == \
                health_pb2.HealthCheckResponse.NOT_SERVING
            state["ready"] = True
            assert status_becomes(health_pb2.HealthCheckResponse.SERVING) == health_pb2.HealthCheckResponse.SERVING
    finally:
        server.stop()


def test_no_mix_of_long_fields_makes_a_record_the_writer_would_refuse() -> None:
    from lineup.audit.emit import RECORD_BUDGET_BYTES, AuditDraft
    from lineup.v1 import face_search_pb2

    matches = [face_search_pb2.FaceMatch(rank=i + 1, face=common_pb2.Face(face_id=f"{i:036d}", user_id="u" * 256))
               for i in range(4096)]
    response = face_search_pb2.SearchFacesResponse(face_matches=matches)
    erasure = audit_pb2.ErasureReceipt(
        face_ids=[f"{i:036d}" for i in range(5000)],
        objects=[common_pb2.ObjectRef(bucket="lineup-crops", key="a" * 200 + str(i)) for i in range(5000)],
        redacted=[common_pb2.ObjectRef(bucket="lineup-admin", key="b" * 200 + str(i)) for i in range(5000)])
    draft = AuditDraft(erasure=erasure)
    (rec,) = build_records(method="/lineup.v1.FaceSearch/SearchFaces", principal=ALICE,
                           request=review_pb2.RecordDecisionRequest(notes="n"), response=response, code=0, message="",
                           request_id="r", trace_id="t", draft=draft)
    assert rec.ByteSize() <= RECORD_BUDGET_BYTES
    assert rec.details["audit.candidates_total"] == "4096" and rec.details["audit.erasure_redacted_total"] == "5000"
    assert rec.candidates and rec.erasure.objects  # summarised, not dropped


def test_client_labels_are_audited_as_hashes_even_when_the_call_is_refused() -> None:
    from lineup.audit.emit import AuditDraft
    from lineup.v1 import face_search_pb2

    (rec,) = build_records(method="/lineup.v1.FaceSearch/IndexFaces", principal=None,
                           request=face_search_pb2.IndexFacesRequest(external_image_id="Jane Doe\x1b[2J"),
                           response=None, code=16, message="no key\x1b]0;", request_id="r", trace_id="t",
                           draft=AuditDraft(), refused=True)
    assert rec.details["request.external_image_id"].startswith("sha256:") and "Jane" not in str(rec)
    assert "\x1b" not in rec.status_message and rec.decision == audit_pb2.AUDIT_DECISION_DENIED
