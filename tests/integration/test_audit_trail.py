"""The audit trail on the real local stack: tampering with stored segments in MinIO is found by `verify`,
the audit writer runs as a real process that is SIGKILLed mid-stream and restarted without losing or
duplicating a record, and the Audit API shows an auditor their own agency only.

Every test writes chains named after fresh agency ids (the bucket's key prefixes), and the writer test
runs on its own topic prefix and consumer group, so runs never see each other's data."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence

import pytest
from kafka import KafkaAdminClient
from lineup_tools.devstack.kafka import LOCAL_BOOTSTRAP
from lineup_tools.devstack.minio import credentials

from audit.writer import AuditWriter
from ingest.audit_api import AuditServicer
from lineup.audit.segments import BUCKET, AuditLog, decode_segment, encode_segment, segment_key
from lineup.auth import Principal, reset_principal, set_principal
from lineup.errors import PermissionDenied, Unauthenticated
from lineup.identity import roles
from lineup.kafka.consumer import BatchEnvelopeConsumer, BatchHandler, BatchItem
from lineup.kafka.deadletter import DeadLetterPublisher
from lineup.kafka.envelope import new_envelope
from lineup.kafka.producer import EnvelopeProducer
from lineup.objectstore import ObjectStore
from lineup.provision import ensure_topics
from lineup.v1 import audit_pb2, common_pb2
from tests.integration.pipeline_harness import Pipeline
from tests.integration.waiting import group_caught_up, wait_until

pytestmark = pytest.mark.integration

WRITER_RECORDS = 2_000


@pytest.fixture()
def store(minio_endpoint: str) -> ObjectStore:
    access, secret = credentials()
    return ObjectStore(minio_endpoint, access, secret)


@pytest.fixture()
def chains(store: ObjectStore) -> Iterator[list[str]]:
    """Fresh agency ids for the test to use as chains; their segments are deleted afterwards."""
    used: list[str] = []
    yield used
    for chain in used:
        for ref in list(store.list(BUCKET, f"{chain}/")):
            store.delete(ref)


def _agency(chains: list[str], label: str) -> str:
    agency = f"audit-{label}-{uuid.uuid4().hex[:8]}"
    chains.append(agency)
    return agency


def _record(agency: str, n: int, **fields: object) -> audit_pb2.AuditRecord:
    r = audit_pb2.AuditRecord(
        record_id=f"{agency}-{n}", agency_id=agency, actor_key_id=f"key-{n % 2}", actor_holder="officer",
        actor_agency_id=agency, operation="lineup.v1.FaceSearch/SearchFacesByImage", collection_id="mugshots",
        case_id=f"C-{n % 3}", purpose="robbery", probe_image_sha256=f"{n:064x}", request_id=f"req-{n}",
        trace_id=f"{n:032x}", decision=audit_pb2.AUDIT_DECISION_ALLOWED, **fields)  # type: ignore[arg-type]
    r.time.GetCurrentTime()
    r.candidates.add(face_id=f"face-{n}", raw_score=0.61, similarity=80.5, rank=1)
    return r


def _tamper(store: ObjectStore, key: str, edit: object) -> None:
    """Download a real segment, edit its records, upload the edited copy over it."""
    ref = common_pb2.ObjectRef(bucket=BUCKET, key=key)
    records = decode_segment(store.get(ref))
    edit(records)  # type: ignore[operator]
    store.put(BUCKET, key, encode_segment(records))


# ----------------------------------------------------------------------------------------------- tampering

@pytest.fixture()
def three_segments(store: ObjectStore, chains: list[str]) -> tuple[AuditLog, str]:
    log = AuditLog(store)
    agency = _agency(chains, "tamper")
    for first in (1, 5, 9):
        log.append(agency, [_record(agency, n) for n in range(first, first + 4)])
    assert log.segment_keys(agency) == [segment_key(agency, 1, 4), segment_key(agency, 5, 8),
                                        segment_key(agency, 9, 12)]
    assert log.segment_keys(agency, after=segment_key(agency, 1, 4)) == [segment_key(agency, 5, 8),
                                                                          segment_key(agency, 9, 12)]
    assert log.segment_keys(agency, after=segment_key(agency, 9, 12)) == []
    intact = log.verify(agency)
    assert intact.intact and (intact.records_checked, intact.segments_checked, intact.head_sequence) == (12, 3, 12)
    return log, agency


def test_verify_names_an_altered_record(store: ObjectStore, three_segments: tuple[AuditLog, str]) -> None:
    log, agency = three_segments
    middle = segment_key(agency, 5, 8)

    def alter(records: list[audit_pb2.AuditRecord]) -> None:
        records[2].candidates[0].face_id = "someone-else"  # record 7

    _tamper(store, middle, alter)
    resp = log.verify(agency)
    assert not resp.intact
    assert (resp.first_broken.segment, resp.first_broken.sequence, resp.first_broken.record_id,
            resp.first_broken.reason) == (middle, 7, f"{agency}-7", "hash mismatch")
    assert (resp.records_checked, resp.head_sequence) == (6, 6)


def test_verify_names_a_deleted_record(store: ObjectStore, three_segments: tuple[AuditLog, str]) -> None:
    log, agency = three_segments
    middle = segment_key(agency, 5, 8)

    def delete(records: list[audit_pb2.AuditRecord]) -> None:
        del records[1]  # record 6

    _tamper(store, middle, delete)
    broken = log.verify(agency).first_broken
    assert (broken.segment, broken.sequence, broken.record_id, broken.reason) == (
        middle, 6, f"{agency}-7", "sequence gap")


def test_verify_names_reordered_records(store: ObjectStore, three_segments: tuple[AuditLog, str]) -> None:
    log, agency = three_segments
    last = segment_key(agency, 9, 12)

    def swap(records: list[audit_pb2.AuditRecord]) -> None:
        records[0], records[1] = records[1], records[0]  # records 9 and 10

    _tamper(store, last, swap)
    broken = log.verify(agency).first_broken
    assert (broken.segment, broken.sequence, broken.record_id, broken.reason) == (
        last, 9, f"{agency}-10", "sequence gap")


# ---------------------------------------------------------------------------------------- the writer process

def _stored(log: AuditLog, agencies: list[str]) -> list[audit_pb2.AuditRecord]:
    return [r for agency in agencies for r in log.records(agency)]


def _stored_ids(log: AuditLog, agencies: list[str]) -> list[str]:
    return sorted(r.record_id for r in _stored(log, agencies))


def _group_caught_up(group: str, topic: str) -> bool:
    return group_caught_up(LOCAL_BOOTSTRAP, group, topic)


def test_writer_killed_mid_stream_loses_and_duplicates_nothing(store: ObjectStore, chains: list[str],
                                                                kafka_bootstrap: str) -> None:
    log = AuditLog(store)
    agencies = [_agency(chains, f"w{i}") for i in range(3)]
    records = [_record(agencies[n % 3], n) for n in range(WRITER_RECORDS)]
    p = Pipeline()  # own topic prefix, consumer group `<prefix>audit`
    topic, group = f"{p.prefix}lineup.audit", f"{p.prefix}audit"
    writer_env = {"LINEUP_AUDIT_BATCH_MAX_RECORDS": "50", "LINEUP_AUDIT_BATCH_LINGER_MS": "50",
                  "PYTHONUNBUFFERED": "1"}
    producer = EnvelopeProducer(kafka_bootstrap, client_id="audit-test")

    def publish(batch: list[audit_pb2.AuditRecord]) -> None:
        for rec in batch:
            producer.send(topic, new_envelope(rec, request_id=rec.request_id, agency_id=rec.agency_id,
                                              producer="audit-test"), key=rec.agency_id)

    # The second half is published while the writer is killed: its first records go out before the kill
    # (`in_flight`), the rest only after it (`killed`), so the kill always lands mid-stream (a fixed sleep
    # could land after everything was stored, or before anything of the second half was sent).
    in_flight, killed = threading.Event(), threading.Event()
    half, early = WRITER_RECORDS // 2, 100

    def publish_second_half() -> None:
        publish(records[half:half + early])
        in_flight.set()
        killed.wait(timeout=600)
        publish(records[half + early:])

    expected = sorted(r.record_id for r in records)
    try:
        first = p.start("audit", extra_env=writer_env)
        publish(records[:half])
        assert len(wait_until(lambda: _stored(log, agencies), lambda got: len(got) >= 200)) >= 200, \
            "the writer stored fewer than 200 records"
        second_half = threading.Thread(target=publish_second_half, daemon=True)
        second_half.start()
        assert in_flight.wait(timeout=120), "the second half was not being published"
        p.kill(first)  # SIGKILL: no graceful stop, whatever was in hand is uncommitted
        killed.set()
        stored_at_kill = len(_stored(log, agencies))
        assert 200 <= stored_at_kill < WRITER_RECORDS
        second_half.join(timeout=300)
        assert not second_half.is_alive()
        p.start("audit", extra_env=writer_env)
        wait_until(lambda: _stored_ids(log, agencies), lambda got: got == expected, timeout_s=300, interval_s=1)
        assert wait_until(lambda: _group_caught_up(group, topic), timeout_s=300), "offsets not committed"

        # exactly once, each in its own agency's chain, in publication order within a chain
        stored = _stored(log, agencies)
        assert len(stored) == WRITER_RECORDS
        assert sorted(r.record_id for r in stored) == expected
        for agency in agencies:
            ids = [r.record_id for r in log.records(agency)]
            assert ids == [r.record_id for r in records if r.agency_id == agency]
            resp = log.verify(agency)
            assert resp.intact, resp
            assert resp.records_checked == len(ids) == resp.head_sequence
        segments = sum(len(log.segment_keys(a)) for a in agencies)

        # a full replay (the group forgets its offsets) must not store anything again
        for run in p.find("audit"):
            p.kill(run, sig=15)
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            deleted = admin.delete_groups([group])
        finally:
            admin.close()
        assert list(deleted) == [group], deleted
        assert not _group_caught_up(group, topic)  # the offsets are gone: everything will be redelivered
        replay = p.start("audit", extra_env=writer_env)
        assert wait_until(lambda: _group_caught_up(group, topic), timeout_s=300), "the replay was not consumed"
        assert len(_stored(log, agencies)) == WRITER_RECORDS
        assert sum(len(log.segment_keys(a)) for a in agencies) == segments
        assert all(log.verify(a).intact for a in agencies)
        skipped = replay.log.read_text().count("skipped replayed audit records")
        assert skipped > 0  # the replay did reach the writer, which recognised it
        print(f"stored at SIGKILL: {stored_at_kill}/{WRITER_RECORDS}; segments: {segments}; "
              f"replay batches skipped: {skipped}")
    finally:
        killed.set()  # never leave the publisher thread waiting when the test failed early
        producer.close()
        p.stop_all()


class _Crash(BaseException):
    """Ends a consumer loop the way SIGKILL would: no commit, no cleanup beyond closing the socket."""


def test_crash_after_the_segment_write_before_the_commit_stores_nothing_twice(
        store: ObjectStore, chains: list[str], kafka_bootstrap: str) -> None:
    """The exact window a SIGKILL can only hit by chance: the segment is in MinIO, the offsets are not
    committed. The writer runs in this process here so the crash lands there every time."""
    prefix = f"audcrash{uuid.uuid4().hex[:8]}."
    ensure_topics(kafka_bootstrap, prefix)
    topic, group = f"{prefix}lineup.audit", f"{prefix}audit"
    agency = _agency(chains, "crash")
    records = [_record(agency, n) for n in range(40)]
    log = AuditLog(store)
    producer = EnvelopeProducer(kafka_bootstrap, client_id="audit-test")

    def consumer(handler: BatchHandler) -> BatchEnvelopeConsumer:
        return BatchEnvelopeConsumer(
            bootstrap=kafka_bootstrap, group_id=group, topics=[topic], handler=handler, client_id="audit-test",
            dead_letters=DeadLetterPublisher(producer, topic=f"{prefix}lineup.deadletter", service="audit-test"),
            max_batch_records=10, linger_ms=200)

    def publish(batch: list[audit_pb2.AuditRecord]) -> None:
        for rec in batch:
            producer.send(topic, new_envelope(rec, request_id=rec.request_id, agency_id=agency,
                                              producer="audit-test"), key=agency)

    try:
        publish(records[:30])
        first_writer = AuditWriter(log)

        def write_then_crash(items: Sequence[BatchItem]) -> list[Exception | None]:
            first_writer.handle(items)
            raise _Crash()

        with pytest.raises(_Crash):
            consumer(write_then_crash).run()
        before = [r.record_id for r in log.records(agency)]
        assert before == [r.record_id for r in records[:len(before)]] and 0 < len(before) <= 10

        publish(records[30:])
        restarted = AuditWriter(log)  # a new process: nothing in memory, only MinIO and Kafka
        seen: list[str] = []

        def handle(items: Sequence[BatchItem]) -> list[Exception | None]:
            seen.extend(i.decoded.envelope.audit_record.record_id for i in items)
            return restarted.handle(items)

        second = consumer(handle)
        loop = threading.Thread(target=second.run)
        loop.start()
        try:
            wait_until(lambda: [r.record_id for r in log.records(agency)],
                       lambda got: got == [r.record_id for r in records])
        finally:
            second.stop()
            loop.join(timeout=30)
        assert set(before) <= set(seen)  # the written-but-uncommitted batch was delivered again ...
        stored = [r.record_id for r in log.records(agency)]
        assert stored == [r.record_id for r in records]  # ... and stored once, in order
        assert log.verify(agency).intact
    finally:
        producer.close()


# ------------------------------------------------------------------------------------------------ the API

def test_audit_api_shows_auditors_their_own_agency_only(store: ObjectStore, chains: list[str]) -> None:
    log = AuditLog(store)
    mine, theirs = _agency(chains, "mine"), _agency(chains, "theirs")
    log.append(mine, [_record(mine, n, search_id=f"s-{n}") for n in range(6)])
    log.append(theirs, [_record(theirs, n) for n in range(4)])
    api = AuditServicer(log)

    token = set_principal(Principal(key_id="k-aud", agency_id=mine, roles=frozenset({"auditor"})))
    try:
        every = api.QueryAuditRecords(audit_pb2.QueryAuditRecordsRequest(), None)  # type: ignore[arg-type]
        assert [r.record_id for r in every.records] == [f"{mine}-{n}" for n in range(6)]
        # the request has no agency field: there is no way to ask for `theirs`
        page = api.QueryAuditRecords(audit_pb2.QueryAuditRecordsRequest(
            case_id="C-0", page=common_pb2.PageRequest(page_size=1)), None)  # type: ignore[arg-type]
        assert [r.record_id for r in page.records] == [f"{mine}-0"] and page.page.next_page_token
        rest = api.QueryAuditRecords(audit_pb2.QueryAuditRecordsRequest(
            case_id="C-0", page=common_pb2.PageRequest(page_token=page.page.next_page_token)), None)  # type: ignore[arg-type]
        assert [r.record_id for r in rest.records] == [f"{mine}-3"] and not rest.page.next_page_token
        by_search = api.QueryAuditRecords(audit_pb2.QueryAuditRecordsRequest(search_id="s-4"), None)  # type: ignore[arg-type]
        assert [r.record_id for r in by_search.records] == [f"{mine}-4"]
        verified = api.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(), None)  # type: ignore[arg-type]
        assert verified.intact and verified.records_checked == 6
    finally:
        reset_principal(token)

    token = set_principal(Principal(key_id="k-aud2", agency_id=theirs, roles=frozenset({"auditor"})))
    try:
        assert len(api.QueryAuditRecords(audit_pb2.QueryAuditRecordsRequest(), None).records) == 4  # type: ignore[arg-type]
    finally:
        reset_principal(token)

    # roles are the interceptor's table: a searcher/admin never reaches the servicer
    not_auditor = Principal(key_id="k-s", agency_id=mine, roles=frozenset({"searcher", "admin"}))
    for method in ("QueryAuditRecords", "VerifyAuditChain"):
        with pytest.raises(PermissionDenied):
            roles.authorize(f"/lineup.v1.Audit/{method}", not_auditor)
    token = set_principal(None)
    try:
        with pytest.raises(Unauthenticated):
            api.QueryAuditRecords(audit_pb2.QueryAuditRecordsRequest(), None)  # type: ignore[arg-type]
        with pytest.raises(Unauthenticated):
            api.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(), None)  # type: ignore[arg-type]
    finally:
        reset_principal(token)
