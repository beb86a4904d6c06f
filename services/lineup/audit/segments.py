"""The audit trail in the object store: append-only segments of hash-chained records, one chain per agency.

A segment is one immutable object `<chain>/<first_seq:012d>-<last_seq:012d>.seg` holding the records
`first_seq..last_seq` of the chain as frames of a 4-byte big-endian length and the record's protobuf bytes.
Appending writes a new segment after the chain's current head and never rewrites an existing object, which
is what lets a production bucket run under object lock (WORM). Zero-padded sequence numbers make key order
chain order, so a LIST walks the chain and the last key holds the head.

Verification and queries read the segments back; the format, what verification proves and what it does
not (tail truncation) are in docs/audit.md.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from lineup.audit.chain import (
    GENESIS,
    SEQUENCE_GAP,
    UNREADABLE_SEGMENT,
    ChainHead,
    check_chain,
    check_link,
    link,
)
from lineup.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from lineup.objectstore import ObjectStore
from lineup.topology import AUDIT_BUCKET
from lineup.v1 import audit_pb2, common_pb2

BUCKET = AUDIT_BUCKET
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_FRAME = struct.Struct(">I")
_KEY_RE = re.compile(r"^(?P<chain>[^/]+)/(?P<first>\d{12})-(?P<last>\d{12})\.seg$")


class SegmentError(ValueError):
    """A segment whose name or bytes cannot be read as audit records."""


def segment_key(chain: str, first: int, last: int) -> str:
    return f"{chain}/{first:012d}-{last:012d}.seg"


def segment_range(key: str) -> tuple[int, int]:
    """(first, last) sequence named by a segment key; SegmentError for anything else under the prefix."""
    m = _KEY_RE.fullmatch(key)
    if m is None or int(m["first"]) < 1 or int(m["last"]) < int(m["first"]):
        raise SegmentError(f"{key!r} is not named like an audit segment (<chain>/<first>-<last>.seg)")
    return int(m["first"]), int(m["last"])


def encode_segment(records: Sequence[audit_pb2.AuditRecord]) -> bytes:
    out = bytearray()
    for rec in records:
        data = rec.SerializeToString(deterministic=True)
        out += _FRAME.pack(len(data)) + data
    return bytes(out)


def decode_segment(data: bytes) -> list[audit_pb2.AuditRecord]:
    records: list[audit_pb2.AuditRecord] = []
    pos = 0
    while pos < len(data):
        if pos + _FRAME.size > len(data):
            raise SegmentError(f"truncated frame header at byte {pos}")
        (size,) = _FRAME.unpack_from(data, pos)
        pos += _FRAME.size
        if pos + size > len(data):
            raise SegmentError(f"frame at byte {pos - _FRAME.size} claims {size} bytes; {len(data) - pos} remain")
        rec = audit_pb2.AuditRecord()
        try:
            rec.ParseFromString(data[pos:pos + size])
        except DecodeError as exc:
            raise SegmentError(f"frame at byte {pos - _FRAME.size} is not an AuditRecord: {exc}") from None
        records.append(rec)
        pos += size
    return records


@dataclass(frozen=True)
class Tail:
    """The end of a chain as the writer needs it: the head to link to, the key it was read from (to notice
    when another writer moved it) and the ids of the last records, oldest first, to recognise replays."""

    head: ChainHead
    last_key: str
    record_ids: tuple[str, ...]


def encode_page_token(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{sequence}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    kind, _, number = text.partition(":")
    if kind != "seq" or not number.isdigit():
        raise InvalidArgument("page token is not valid: pass the next_page_token of the previous response")
    return int(number)


def _ts_key(ts: Timestamp) -> tuple[int, int]:
    return ts.seconds, ts.nanos


def _is_set(ts: Timestamp | None) -> bool:
    return ts is not None and (ts.seconds != 0 or ts.nanos != 0)


@dataclass(frozen=True)
class AuditFilter:
    """What `AuditLog.query` matches on; empty fields (None times) match everything. `operation` matches the
    full method name (`lineup.v1.FaceSearch/SearchFaces`) or just the RPC name (`SearchFaces`); times are
    [from_time, to_time)."""

    case_id: str = ""
    actor_key_id: str = ""
    operation: str = ""
    search_id: str = ""
    from_time: Timestamp | None = None
    to_time: Timestamp | None = None

    def matches(self, rec: audit_pb2.AuditRecord) -> bool:
        if self.case_id and rec.case_id != self.case_id:
            return False
        if self.actor_key_id and rec.actor_key_id != self.actor_key_id:
            return False
        if self.search_id and rec.search_id != self.search_id:
            return False
        if self.operation:
            op = rec.operation.lstrip("/")
            if self.operation.lstrip("/") != op and self.operation != op.rpartition("/")[2]:
                return False
        if self.from_time is not None and _ts_key(rec.time) < _ts_key(self.from_time):
            return False
        return self.to_time is None or _ts_key(rec.time) < _ts_key(self.to_time)


class AuditLog:
    """Read and append the chains of one bucket. Appending assumes one writer per chain at a time (the
    audit writer owning the chain's Kafka partition); see docs/audit.md for what happens otherwise."""

    def __init__(self, store: ObjectStore, bucket: str = BUCKET) -> None:
        self.store = store
        self.bucket = bucket

    # -- reading ----------------------------------------------------------------------------------------
    def chains(self) -> list[str]:
        return sorted(p.rstrip("/") for p in self.store.list_prefixes(self.bucket))

    def segment_keys(self, chain: str, *, after: str = "") -> list[str]:
        """Every object under the chain's prefix, in key (= chain) order; with `after`, only later keys."""
        check_chain(chain)
        return sorted(ref.key for ref in self.store.list(self.bucket, f"{chain}/", start_after=after))

    def read_segment(self, key: str) -> list[audit_pb2.AuditRecord]:
        """The records of one segment; SegmentError when the name or the bytes are not a segment's."""
        segment_range(key)
        return decode_segment(self.store.get(common_pb2.ObjectRef(bucket=self.bucket, key=key)))

    def _read_or_fail(self, key: str) -> list[audit_pb2.AuditRecord]:
        try:
            return self.read_segment(key)
        except SegmentError as exc:
            raise FailedPrecondition(f"audit segment {self.bucket}/{key} is unreadable ({exc}); "
                                     f"run `lineup audit verify` and restore it from a copy") from None

    def head(self, chain: str) -> ChainHead:
        return self.tail(chain, min_records=0).head

    def tail(self, chain: str, *, min_records: int, keys: Sequence[str] | None = None) -> Tail:
        """The head plus the ids of at least `min_records` of the last records (fewer if the chain is
        shorter), read from as many of the last segments as that takes. `keys`: a listing just made."""
        keys = self.segment_keys(chain) if keys is None else keys
        if not keys:
            return Tail(GENESIS, "", ())
        head: ChainHead | None = None
        ids: list[str] = []
        for key in reversed(keys):
            records = self._read_or_fail(key)
            if head is None:
                if not records:
                    raise FailedPrecondition(f"the last audit segment {self.bucket}/{key} is empty; "
                                             f"run `lineup audit verify`")
                head = ChainHead(records[-1].sequence, records[-1].hash)
            ids[:0] = [r.record_id for r in records]
            if len(ids) >= min_records:
                break
        assert head is not None
        return Tail(head, keys[-1], tuple(ids))

    def records(self, chain: str, *, from_sequence: int = 1) -> Iterator[audit_pb2.AuditRecord]:
        """The chain's records in order from `from_sequence`; segments wholly before it are not read."""
        for key in self.segment_keys(chain):
            try:
                _, last = segment_range(key)
            except SegmentError:
                last = from_sequence  # a stray object: read it, which reports it as unreadable
            if last < from_sequence:
                continue
            for rec in self._read_or_fail(key):
                if rec.sequence >= from_sequence:
                    yield rec

    # -- appending --------------------------------------------------------------------------------------
    def append(self, chain: str, records: Sequence[audit_pb2.AuditRecord], *,
               head: ChainHead | None = None) -> list[audit_pb2.AuditRecord]:
        """Chain `records` after the head (read now unless the caller just read it) and write them as one
        new segment; returns the stored records with their chain fields.

        Raises Unavailable, without writing, if the segment's key already exists: another writer moved the
        head since it was read, and the caller retries with a fresh head instead of overwriting records."""
        check_chain(chain)
        if not records:
            return []
        linked = link(self.head(chain) if head is None else head, records)
        key = segment_key(chain, linked[0].sequence, linked[-1].sequence)
        ref = common_pb2.ObjectRef(bucket=self.bucket, key=key)
        if self.store.exists(ref):
            raise Unavailable(f"audit segment {self.bucket}/{key} already exists: the head of chain {chain} "
                              f"moved while appending; retry with a fresh head")
        self.store.put(self.bucket, key, encode_segment(linked))
        return linked

    # -- verification -----------------------------------------------------------------------------------
    def verify(self, chain: str) -> audit_pb2.VerifyAuditChainResponse:
        """Walk the chain from its first record and report the first broken link, if any.

        `sequence` of the broken link is the position where the chain breaks (the sequence that should be
        there) and `record_id` the record found in that place (empty when nothing is). Also reported: the
        last record that verified (`head_sequence`, `head_hash`), to compare with an external anchor."""
        resp = audit_pb2.VerifyAuditChainResponse(intact=True)
        prev = GENESIS

        def broken(key: str, sequence: int, record_id: str, reason: str) -> audit_pb2.VerifyAuditChainResponse:
            resp.intact = False
            resp.first_broken.CopyFrom(audit_pb2.BrokenLink(segment=key, sequence=sequence, record_id=record_id,
                                                            reason=reason))
            resp.head_sequence, resp.head_hash = prev.sequence, prev.hash
            return resp

        for key in self.segment_keys(chain):
            resp.segments_checked += 1
            try:
                records = self.read_segment(key)
                _, last = segment_range(key)
            except (SegmentError, NotFound):
                return broken(key, prev.sequence + 1, "", UNREADABLE_SEGMENT)
            for rec in records:
                reason = check_link(prev, rec)
                if reason is not None:
                    return broken(key, prev.sequence + 1, rec.record_id, reason)
                prev = ChainHead(rec.sequence, rec.hash)
                resp.records_checked += 1
            if prev.sequence != last:  # records cut off the end of this segment, or more than it names
                return broken(key, min(prev.sequence, last) + 1, "", SEQUENCE_GAP)
        resp.head_sequence, resp.head_hash = prev.sequence, prev.hash
        return resp

    # -- queries ----------------------------------------------------------------------------------------
    def query(self, chain: str, *, case_id: str = "", actor_key_id: str = "", operation: str = "",
              from_time: Timestamp | None = None, to_time: Timestamp | None = None, search_id: str = "",
              page: common_pb2.PageRequest | None = None) -> tuple[list[audit_pb2.AuditRecord], str]:
        """Matching records in chain order, one page at a time; returns (records, next_page_token), the
        token empty on the last page. A query scans the chain from the page token on (see docs/audit.md)."""
        page = page or common_pb2.PageRequest()
        size = page.page_size or DEFAULT_PAGE_SIZE
        if not 0 < size <= MAX_PAGE_SIZE:
            raise InvalidArgument(f"page size {size} is out of range 1..{MAX_PAGE_SIZE}")
        since = from_time if _is_set(from_time) else None  # an unset Timestamp (0) means no bound
        until = to_time if _is_set(to_time) else None
        if since is not None and until is not None and _ts_key(since) >= _ts_key(until):
            raise InvalidArgument("from_time must be before to_time")
        after = decode_page_token(page.page_token) if page.page_token else 0
        match = AuditFilter(case_id=case_id, actor_key_id=actor_key_id, operation=operation, search_id=search_id,
                            from_time=since, to_time=until)
        found: list[audit_pb2.AuditRecord] = []
        for rec in self.records(chain, from_sequence=after + 1):
            if match.matches(rec):
                found.append(rec)
                if len(found) > size:
                    return found[:size], encode_page_token(found[size - 1].sequence)
        return found, ""
