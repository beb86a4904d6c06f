"""The audit hash chain, its segments, verification, queries and the writer's replay handling, on an
in-memory object store (the same code runs on MinIO in tests/integration/test_audit_trail.py)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from audit.writer import AuditWriter, RecentIds, StoreOutage
from lineup.audit.chain import (
    DEPLOYMENT_CHAIN,
    GENESIS,
    GENESIS_HASH,
    ChainHead,
    chain_of,
    check_link,
    link,
    record_hash,
)
from lineup.audit.segments import (
    AuditLog,
    decode_page_token,
    decode_segment,
    encode_page_token,
    encode_segment,
    segment_key,
)
from lineup.errors import InvalidArgument, Unavailable
from lineup.kafka.consumer import BatchItem
from lineup.kafka.envelope import Decoded, new_envelope
from lineup.v1 import audit_pb2, common_pb2, events_pb2
from tests.fakes import MemoryStore


def rec(n: int, agency: str = "agency-a", **fields: Any) -> audit_pb2.AuditRecord:
    r = audit_pb2.AuditRecord(record_id=f"r{n}", agency_id=agency, actor_key_id=f"key-{n % 3}",
                              operation="lineup.v1.FaceSearch/SearchFacesByImage", case_id=f"case-{n % 2}",
                              decision=audit_pb2.AUDIT_DECISION_ALLOWED, **fields)
    r.time.FromSeconds(1_800_000_000 + n)
    r.details["request.collection_id"] = "c1"
    r.candidates.add(face_id=f"f{n}", raw_score=0.5 + n / 1000, similarity=70.0, rank=1)
    return r


@pytest.fixture()
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture()
def audit_log(store: MemoryStore) -> AuditLog:
    return AuditLog(store, bucket="audit-test")  # type: ignore[arg-type]


def _segment(store: MemoryStore, key: str) -> list[audit_pb2.AuditRecord]:
    return decode_segment(store.objects[("audit-test", key)])


def _rewrite(store: MemoryStore, key: str, records: list[audit_pb2.AuditRecord]) -> None:
    store.objects[("audit-test", key)] = encode_segment(records)


# ------------------------------------------------------------------------------------------------ the chain

def test_hash_is_sha256_of_the_deterministic_bytes_without_the_hash_field() -> None:
    (first, second) = link(GENESIS, [rec(1), rec(2)])
    unhashed = audit_pb2.AuditRecord()
    unhashed.CopyFrom(first)
    unhashed.ClearField("hash")
    assert first.hash == hashlib.sha256(unhashed.SerializeToString(deterministic=True)).hexdigest()
    assert (first.sequence, first.prev_hash) == (1, GENESIS_HASH)
    assert (second.sequence, second.prev_hash) == (2, first.hash)
    assert record_hash(second) == second.hash


def test_chain_fields_are_inside_the_hash_and_producer_values_are_replaced() -> None:
    forged = rec(1, sequence=99, prev_hash="f" * 64, hash="e" * 64)
    (linked,) = link(ChainHead(5, "a" * 64), [forged])
    assert (linked.sequence, linked.prev_hash) == (6, "a" * 64)
    assert linked.hash != "e" * 64
    for field, value in (("sequence", 7), ("prev_hash", "b" * 64)):
        moved = audit_pb2.AuditRecord()
        moved.CopyFrom(linked)
        setattr(moved, field, value)
        assert record_hash(moved) != linked.hash, field


def test_check_link_reasons() -> None:
    a, b, c = link(GENESIS, [rec(1), rec(2), rec(3)])
    head_a = ChainHead(a.sequence, a.hash)
    assert check_link(GENESIS, a) is None
    assert check_link(head_a, b) is None
    assert check_link(head_a, c) == "sequence gap"
    edited = audit_pb2.AuditRecord()
    edited.CopyFrom(b)
    edited.case_id = "another case"
    assert check_link(head_a, edited) == "hash mismatch"
    relinked = link(ChainHead(1, "c" * 64), [b])[0]  # right place, wrong predecessor, own hash consistent
    assert check_link(head_a, relinked) == "previous hash mismatch"


def test_chain_of_agency_or_deployment() -> None:
    assert chain_of(rec(1, agency="police-1")) == "police-1"
    assert chain_of(rec(1, agency="")) == DEPLOYMENT_CHAIN
    for bad in ("../x", "UPPER", "a/b"):
        with pytest.raises(InvalidArgument):
            chain_of(rec(1, agency=bad))


# ------------------------------------------------------------------------------------------------ segments

def test_append_writes_one_immutable_segment_per_call(store: MemoryStore, audit_log: AuditLog) -> None:
    first = audit_log.append("agency-a", [rec(1), rec(2), rec(3)])
    second = audit_log.append("agency-a", [rec(4)])
    assert [r.sequence for r in first + second] == [1, 2, 3, 4]
    assert second[0].prev_hash == first[-1].hash
    assert audit_log.segment_keys("agency-a") == [segment_key("agency-a", 1, 3), segment_key("agency-a", 4, 4)]
    assert segment_key("agency-a", 1, 3) == "agency-a/000000000001-000000000003.seg"
    assert [r.record_id for r in _segment(store, "agency-a/000000000001-000000000003.seg")] == ["r1", "r2", "r3"]
    data = store.objects[("audit-test", "agency-a/000000000004-000000000004.seg")]
    assert int.from_bytes(data[:4], "big") == len(data) - 4  # one frame: length, then the record
    assert audit_log.head("agency-a") == ChainHead(4, second[0].hash)
    assert audit_log.head("agency-b") == GENESIS
    assert audit_log.append("agency-a", []) == []
    assert audit_log.chains() == ["agency-a"]


def test_append_refuses_to_overwrite_a_segment(store: MemoryStore, audit_log: AuditLog) -> None:
    audit_log.append("agency-a", [rec(1), rec(2)])
    before = dict(store.objects)
    with pytest.raises(Unavailable, match="already exists"):
        audit_log.append("agency-a", [rec(5), rec(6)], head=GENESIS)  # a stale head
    assert store.objects == before


def test_verify_intact_reports_counts_and_head(audit_log: AuditLog) -> None:
    for n in range(1, 11, 2):
        audit_log.append("agency-a", [rec(n), rec(n + 1)])
    resp = audit_log.verify("agency-a")
    head = audit_log.head("agency-a")
    assert resp.intact and not resp.HasField("first_broken")
    assert (resp.records_checked, resp.segments_checked) == (10, 5)
    assert (resp.head_sequence, resp.head_hash) == (head.sequence, head.hash) == (10, head.hash)
    empty = audit_log.verify("agency-z")
    assert empty.intact and empty.records_checked == 0 and empty.head_hash == GENESIS_HASH


def _three_segments(audit_log: AuditLog) -> list[audit_pb2.AuditRecord]:
    return (audit_log.append("agency-a", [rec(1), rec(2), rec(3)])
            + audit_log.append("agency-a", [rec(4), rec(5), rec(6)])
            + audit_log.append("agency-a", [rec(7), rec(8), rec(9)]))


MIDDLE = "agency-a/000000000004-000000000006.seg"


def test_verify_names_an_altered_record(store: MemoryStore, audit_log: AuditLog) -> None:
    _three_segments(audit_log)
    records = _segment(store, MIDDLE)
    records[1].case_id = "covered-up"
    _rewrite(store, MIDDLE, records)
    resp = audit_log.verify("agency-a")
    assert not resp.intact
    assert (resp.first_broken.segment, resp.first_broken.sequence, resp.first_broken.record_id,
            resp.first_broken.reason) == (MIDDLE, 5, "r5", "hash mismatch")
    assert (resp.records_checked, resp.head_sequence) == (4, 4)


def test_verify_names_a_rehashed_record_by_the_link_after_it(store: MemoryStore, audit_log: AuditLog) -> None:
    _three_segments(audit_log)
    records = _segment(store, MIDDLE)
    records[1].case_id = "covered-up"
    records[1].hash = record_hash(records[1])  # a forger who recomputes the edited record's own hash
    _rewrite(store, MIDDLE, records)
    broken = audit_log.verify("agency-a").first_broken
    assert (broken.sequence, broken.record_id, broken.reason) == (6, "r6", "previous hash mismatch")


def test_verify_names_a_deleted_record(store: MemoryStore, audit_log: AuditLog) -> None:
    _three_segments(audit_log)
    records = _segment(store, MIDDLE)
    del records[0]
    _rewrite(store, MIDDLE, records)
    broken = audit_log.verify("agency-a").first_broken
    assert (broken.segment, broken.sequence, broken.record_id, broken.reason) == (MIDDLE, 4, "r5", "sequence gap")


def test_verify_names_reordered_records(store: MemoryStore, audit_log: AuditLog) -> None:
    _three_segments(audit_log)
    records = _segment(store, MIDDLE)
    records[1], records[2] = records[2], records[1]
    _rewrite(store, MIDDLE, records)
    broken = audit_log.verify("agency-a").first_broken
    assert (broken.segment, broken.sequence, broken.record_id, broken.reason) == (MIDDLE, 5, "r6", "sequence gap")


def test_verify_finds_records_cut_off_a_segment_and_deleted_segments(store: MemoryStore,
                                                                      audit_log: AuditLog) -> None:
    _three_segments(audit_log)
    last = "agency-a/000000000007-000000000009.seg"
    _rewrite(store, last, _segment(store, last)[:2])  # the chain's last record, cut off
    broken = audit_log.verify("agency-a").first_broken
    assert (broken.segment, broken.sequence, broken.record_id, broken.reason) == (last, 9, "", "sequence gap")
    del store.objects[("audit-test", "agency-a/000000000001-000000000003.seg")]  # the oldest segment
    broken = audit_log.verify("agency-a").first_broken
    assert (broken.segment, broken.sequence, broken.record_id, broken.reason) == (MIDDLE, 1, "r4", "sequence gap")


def test_verify_reports_an_unreadable_segment(store: MemoryStore, audit_log: AuditLog) -> None:
    _three_segments(audit_log)
    store.objects[("audit-test", MIDDLE)] = store.objects[("audit-test", MIDDLE)][:-3]
    broken = audit_log.verify("agency-a").first_broken
    assert (broken.segment, broken.sequence, broken.reason) == (MIDDLE, 4, "unreadable segment")
    store.objects[("audit-test", "agency-a/notes.txt")] = b"hello"
    store.objects[("audit-test", MIDDLE)] = encode_segment(_segment(store, "agency-a/000000000001-000000000003.seg"))
    # the middle segment now repeats records 1-3: a break at 4, found before the stray object is reached
    assert audit_log.verify("agency-a").first_broken.sequence == 4


def test_chains_are_independent(audit_log: AuditLog) -> None:
    audit_log.append("agency-a", [rec(1)])
    b = audit_log.append("agency-b", [rec(2, agency="agency-b")])
    d = audit_log.append(DEPLOYMENT_CHAIN, [rec(3, agency="")])
    assert b[0].sequence == d[0].sequence == 1
    assert audit_log.chains() == [DEPLOYMENT_CHAIN, "agency-a", "agency-b"]
    assert [r.record_id for r in audit_log.records("agency-b")] == ["r2"]


# ------------------------------------------------------------------------------------------------- queries

def test_query_filters_and_pages(audit_log: AuditLog) -> None:
    audit_log.append("agency-a", [rec(n) for n in range(1, 8)])
    audit_log.append("agency-a", [rec(n, search_id=f"s{n}") for n in range(8, 15)])
    got, token = audit_log.query("agency-a", case_id="case-1")
    assert [r.record_id for r in got] == ["r1", "r3", "r5", "r7", "r9", "r11", "r13"] and token == ""
    got, _ = audit_log.query("agency-a", actor_key_id="key-0", case_id="case-0")
    assert [r.record_id for r in got] == ["r6", "r12"]
    assert [r.record_id for r in audit_log.query("agency-a", search_id="s9")[0]] == ["r9"]
    assert len(audit_log.query("agency-a", operation="SearchFacesByImage")[0]) == 14
    assert len(audit_log.query("agency-a", operation="lineup.v1.FaceSearch/SearchFacesByImage")[0]) == 14
    assert audit_log.query("agency-a", operation="SearchFaces")[0] == []
    since, until = Timestamp(seconds=1_800_000_000 + 4), Timestamp(seconds=1_800_000_000 + 6)
    assert [r.record_id for r in audit_log.query("agency-a", from_time=since, to_time=until)[0]] == ["r4", "r5"]

    pages, token = [], ""
    while True:
        got, token = audit_log.query("agency-a", case_id="case-0", page=common_pb2.PageRequest(page_size=3,
                                                                                              page_token=token))
        pages.append([r.record_id for r in got])
        if not token:
            break
    assert pages == [["r2", "r4", "r6"], ["r8", "r10", "r12"], ["r14"]]
    # exactly a multiple of the page size: the last full page carries no token
    got, token = audit_log.query("agency-a", case_id="case-0", page=common_pb2.PageRequest(page_size=7))
    assert len(got) == 7 and token == ""


def test_query_rejects_bad_pages_and_ranges(audit_log: AuditLog) -> None:
    audit_log.append("agency-a", [rec(1)])
    with pytest.raises(InvalidArgument, match="page token"):
        audit_log.query("agency-a", page=common_pb2.PageRequest(page_token="not-a-token"))
    with pytest.raises(InvalidArgument, match="page size"):
        audit_log.query("agency-a", page=common_pb2.PageRequest(page_size=1001))
    with pytest.raises(InvalidArgument, match="before"):
        audit_log.query("agency-a", from_time=Timestamp(seconds=10), to_time=Timestamp(seconds=5))
    assert decode_page_token(encode_page_token(42)) == 42


# -------------------------------------------------------------------------------------------------- writer

def _item(record: audit_pb2.AuditRecord) -> BatchItem:
    env = new_envelope(record, request_id="req", agency_id=record.agency_id, producer="test")
    return BatchItem(decoded=Decoded(envelope=env, context=None), record=None, span=None)  # type: ignore[arg-type]


def test_writer_groups_by_chain_one_segment_each(audit_log: AuditLog) -> None:
    writer = AuditWriter(audit_log, dedupe_window=100)
    batch = [rec(1), rec(2, agency="agency-b"), rec(3), rec(4, agency="")]
    assert writer.handle([_item(r) for r in batch]) == [None] * 4
    assert audit_log.segment_keys("agency-a") == ["agency-a/000000000001-000000000002.seg"]
    assert [r.record_id for r in audit_log.records("agency-b")] == ["r2"]
    assert [r.record_id for r in audit_log.records(DEPLOYMENT_CHAIN)] == ["r4"]


def test_writer_skips_replays_and_rereads_a_moved_head(store: MemoryStore, audit_log: AuditLog) -> None:
    writer = AuditWriter(audit_log, dedupe_window=100)
    writer.handle([_item(rec(n)) for n in range(1, 6)])
    # a crash after the segment was written and before the commit replays the batch, plus new records
    outcomes = writer.handle([_item(rec(n)) for n in range(3, 9)])
    assert outcomes == [None] * 6
    assert [r.record_id for r in audit_log.records("agency-a")] == [f"r{n}" for n in range(1, 9)]
    # another writer (a previous partition owner) moved the head: this writer must link to it
    AuditLog(store, bucket="audit-test").append("agency-a", [rec(9)])  # type: ignore[arg-type]
    fresh = AuditWriter(audit_log, dedupe_window=100)  # a restarted writer knows nothing but the store
    fresh.handle([_item(rec(n)) for n in (8, 9, 10, 10)])
    writer.handle([_item(rec(11))])
    assert [r.sequence for r in audit_log.records("agency-a")] == list(range(1, 12))
    assert [r.record_id for r in audit_log.records("agency-a")] == [f"r{n}" for n in range(1, 12)]
    assert audit_log.verify("agency-a").intact


def test_writer_dead_letters_bad_messages_only(audit_log: AuditLog) -> None:
    writer = AuditWriter(audit_log, dedupe_window=100)
    other = BatchItem(decoded=Decoded(envelope=new_envelope(
        events_pb2.ImageAccepted(), request_id="x", agency_id="agency-a", producer="t"), context=None),  # type: ignore[arg-type]
        record=None, span=None)  # type: ignore[arg-type]
    outcomes = writer.handle([_item(rec(1)), other, _item(rec(2, agency="Bad/Agency")),
                              _item(audit_pb2.AuditRecord(agency_id="agency-a"))])
    assert outcomes[0] is None
    assert all(isinstance(o, InvalidArgument) for o in outcomes[1:])
    assert [r.record_id for r in audit_log.records("agency-a")] == ["r1"]


def test_writer_retries_an_outage_then_stops_without_losing(store: MemoryStore, audit_log: AuditLog) -> None:
    writer = AuditWriter(audit_log, dedupe_window=100, store_retry_s=0.0, retry_backoff_s=0.0)
    store.down = True
    with pytest.raises(StoreOutage):
        writer.handle([_item(rec(1))])
    store.down = False
    writer.handle([_item(rec(1))])
    assert [r.record_id for r in audit_log.records("agency-a")] == ["r1"]


def test_recent_ids_window() -> None:
    ids = RecentIds(3, ["a", "b"])
    ids.extend(["c", "d"])
    assert len(ids) == 3 and "a" not in ids and all(x in ids for x in "bcd")


def test_writer_settings_fail_fast() -> None:
    from audit.settings import AuditSettings
    from lineup.settings import SettingsError, load_settings

    ok = load_settings(AuditSettings, env={})
    assert (ok.grpc_port, ok.audit_bucket, ok.service_name) == (50055, "lineup-audit", "audit")
    for env, needle in (({"LINEUP_AUDIT_DEDUPE_WINDOW": "10"}, "LINEUP_AUDIT_DEDUPE_WINDOW"),
                        ({"LINEUP_AUDIT_BATCH_MAX_RECORDS": "0"}, "LINEUP_AUDIT_BATCH_MAX_RECORDS"),
                        ({"LINEUP_AUDIT_BUCKET": ""}, "LINEUP_AUDIT_BUCKET")):
        with pytest.raises(SettingsError, match=needle):
            load_settings(AuditSettings, env=env)


class _OutageConsumer:
    """A consumer loop that meets an object-store outage in its batch."""

    def run(self) -> None:
        raise StoreOutage("object store down (test)")

    def stop(self) -> None:
        pass


def test_worker_outage_is_a_crash_unless_stopping(audit_log: AuditLog) -> None:
    from audit.consumer import AuditWorker

    worker = AuditWorker(_OutageConsumer(), AuditWriter(audit_log))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="object store down"):  # ServiceServer then stops the process
        worker.run()
    worker.stop()
    assert worker.writer.stopping.is_set()
    worker.run()  # while stopping, ending without a commit is a clean exit: Kafka keeps the records


def test_writer_steady_state_costs_one_list_after_the_last_key(store: MemoryStore, audit_log: AuditLog) -> None:
    writer = AuditWriter(audit_log, dedupe_window=100)
    for n in range(1, 4):
        writer.handle([_item(rec(n))])
    store.lists.clear()
    gets = store.gets
    writer.handle([_item(rec(4))])
    # the head is known: one listing of what follows the last key (nothing), no segment read
    assert store.lists == [("agency-a/", "agency-a/000000000003-000000000003.seg")]
    assert store.gets == gets
    assert audit_log.segment_keys("agency-a", after="agency-a/000000000002-000000000002.seg") == [
        "agency-a/000000000003-000000000003.seg", "agency-a/000000000004-000000000004.seg"]
