"""Erasure attacks (issue 17 #7): after DeleteFaces, DeleteCollection or the probe retention sweep, nothing
readable of the erased face or probe may remain anywhere an attacker with storage or Kafka access could look.

Each test enrols and searches through the public front door, erases, then scans EVERY object of every bucket
(keys and contents) and EVERY record of the pipeline's topics (from the beginning) for the face id, the
external image id, the photo's SHA-256 and the embedding (float32 bytes, and JSON numbers of 4+ decimals), and
tries to open each sealed record of the erased requests with a fresh key ring (it must fail: the key is gone).
The audit trail is the one deliberate exception for opaque ids: it keeps the *fact* (which face id and which
photo object, named by its SHA-256, were erased; which probe hash was searched), never a biometric or a client's
label, so there only the embedding and the external image id are searched for.
"""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
import pytest
from kafka import KafkaConsumer, TopicPartition
from lineup_tools.devstack.kafka import LOCAL_BOOTSTRAP
from lineup_tools.devstack.minio import credentials
from PIL import Image

from lineup.errors import NotFound
from lineup.kafka.sealing import ErasedError, KeyRing, Sealer
from lineup.objectstore import ObjectStore, sha256_hex
from lineup.pipeline import face_id_for
from lineup.topology import BUCKETS
from lineup.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    common_pb2,
    events_pb2,
    face_search_pb2,
    face_search_pb2_grpc,
    review_pb2,
    review_pb2_grpc,
)
from tests.face_data import DATASETS
from tests.integration.pipeline_harness import Pipeline

pytestmark = pytest.mark.integration
TV = DATASETS / "tv-identities"
CTX = common_pb2.SearchContext(case_id="CASE-ERASE-1", purpose="investigation", justification="erasure test")
PIPELINE_TOPICS = ("lineup.images", "lineup.faces.detected", "lineup.faces.embedded", "lineup.results",
                   "lineup.deadletter")
AUDIT_BUCKET = "lineup-audit"
T = TypeVar("T")


@dataclass
class Api:
    faces: face_search_pb2_grpc.FaceSearchStub
    admin: admin_pb2_grpc.AdminStub
    review: review_pb2_grpc.ReviewStub


@pytest.fixture(scope="module")
def pipeline(tv_pipeline: Pipeline) -> Pipeline:
    return tv_pipeline


@pytest.fixture(scope="module")
def api(pipeline: Pipeline) -> Iterator[Api]:
    with grpc.insecure_channel(pipeline.endpoint, options=[("grpc.max_send_message_length", 32 << 20)]) as ch:
        yield Api(face_search_pb2_grpc.FaceSearchStub(ch), admin_pb2_grpc.AdminStub(ch),
                  review_pb2_grpc.ReviewStub(ch))


@pytest.fixture(scope="module")
def store(minio_endpoint: str) -> ObjectStore:
    return ObjectStore(minio_endpoint, *credentials())


def _unique_png(path: Path) -> bytes:
    """The photo with one pixel nudged: the same face, but a SHA-256 (and embedding) no other test shares."""
    img = Image.open(path).convert("RGB")
    px = img.load()
    assert px is not None
    r, g, b = px[0, 0]  # type: ignore[misc]
    px[0, 0] = ((r + 1 + uuid.uuid4().int % 50) % 256, g, b)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _photos(name: str) -> list[Path]:
    return sorted((TV / name).glob("*.png"))


def _eventually(fn: Callable[[], T], timeout_s: float = 90) -> T:
    """Poll `fn` until it returns a truthy value (the exact state the caller asserts next), with a deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


# ------------------------------------------------------------------------------------------- what is sought
@dataclass
class Needles:
    """What must not remain readable: ids (allowed in the audit trail as facts) and biometrics (nowhere)."""

    ids: dict[str, bytes] = field(default_factory=dict)  # face ids, photo hashes: opaque, the audit keeps them
    data: dict[str, bytes] = field(default_factory=dict)  # external image ids: a client's label, nowhere
    vectors: list[np.ndarray] = field(default_factory=list)
    erased_requests: set[tuple[str, str]] = field(default_factory=set)  # (agency, request id)

    def add_vector(self, values: Any) -> None:
        self.vectors.append(np.asarray(values, np.float32))

    def found_in(self, blob: bytes, *, audit: bool) -> list[str]:
        hits = [name for name, n in self.data.items() if n in blob]
        if not audit:
            hits += [name for name, n in self.ids.items() if n in blob]
        text = blob.decode("latin-1")
        for i, v in enumerate(self.vectors):
            if v.tobytes() in blob:
                hits.append(f"embedding {i} as float32 bytes")
            if _json_run(v).search(text):
                hits.append(f"embedding {i} as decimal numbers")
        return hits


def _json_run(v: np.ndarray) -> re.Pattern[str]:
    """Three consecutive components written with at least 4 decimals (JSON, text logs, repr), in order."""
    def num(x: float) -> str:
        s = f"{abs(float(x)):.6f}"[:6]  # e.g. 0.0123 (4 decimals), followed by any further digits
        return ("-" if x < 0 else "") + re.escape(s) + r"\d*(?:[eE][-+]?\d+)?"
    return re.compile(r"[\s,\[]*".join(num(x) for x in v[:3]))


def scan_buckets(store: ObjectStore, needles: Needles) -> list[str]:
    """Every object of every bucket, key and content."""
    leaks = []
    for bucket in BUCKETS:
        for ref in store.list(bucket, ""):
            audit = bucket == AUDIT_BUCKET
            for hit in needles.found_in(ref.key.encode(), audit=audit):
                leaks.append(f"{bucket}/{ref.key} (key): {hit}")
            try:
                content = store.get(ref)
            except NotFound:  # removed since the listing (other runs share the store): nothing left to read
                continue
            for hit in needles.found_in(content, audit=audit):
                leaks.append(f"{bucket}/{ref.key}: {hit}")
    return leaks


def pipeline_records(prefix: str) -> list[Any]:
    """Every record of the pipeline's topics, from the beginning to the current end."""
    consumer = KafkaConsumer(bootstrap_servers=LOCAL_BOOTSTRAP, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(prefix + t, p) for t in PIPELINE_TOPICS
               for p in sorted(consumer.partitions_for_topic(prefix + t) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
        assert all(consumer.position(tp) >= end[tp] for tp in tps), "could not read the topics to their end"
        return out
    finally:
        consumer.close()


def scan_topics(prefix: str, store: ObjectStore, needles: Needles) -> tuple[list[str], int]:
    """Plaintext leaks in any record, and sealed records of erased requests that still open."""
    sealer = Sealer(KeyRing(store, ttl_s=0))
    leaks, tried = [], 0
    for rec in pipeline_records(prefix):
        where = f"{rec.topic}@{rec.partition}:{rec.offset}"
        blob = (rec.value or b"") + b"".join(k.encode() + (v or b"") for k, v in rec.headers or [])
        leaks += [f"{where}: {hit}" for hit in needles.found_in(blob, audit=False)]
        env = events_pb2.Envelope.FromString(rec.value or b"")
        if env.WhichOneof("payload") == "sealed" and (env.agency_id, env.request_id) in needles.erased_requests:
            tried += 1
            try:
                sealer.unseal(env)
                leaks.append(f"{where}: a record of erased request {env.request_id} still opens")
            except ErasedError:
                pass
        elif env.WhichOneof("payload") not in {"sealed", "dead_letter"}:
            leaks.append(f"{where}: a {env.WhichOneof('payload')} payload travels unsealed")
    return leaks, tried


def opened(prefix: str, store: ObjectStore, request_id: str, kind: str) -> list[events_pb2.Envelope]:
    """The request's records of one payload kind, opened with the data key (while it exists)."""
    sealer = Sealer(KeyRing(store, ttl_s=0))
    out = []
    for rec in pipeline_records(prefix):
        env = events_pb2.Envelope.FromString(rec.value or b"")
        if env.request_id == request_id and env.WhichOneof("payload") == "sealed":
            inner = sealer.unseal(env)
            if inner.WhichOneof("payload") == kind:
                out.append(inner)
    return out


def _assert_nothing_readable(pipeline: Pipeline, store: ObjectStore, needles: Needles) -> None:
    leaks = scan_buckets(store, needles)
    topic_leaks, tried = scan_topics(pipeline.prefix, store, needles)
    assert not leaks + topic_leaks, "\n".join(leaks + topic_leaks)
    assert tried > 0, "no sealed record of the erased requests was found to try"


# ----------------------------------------------------------------------------------------------- helpers
def _enrol(api: Api, md: Any, collection: str, photo: bytes, external: str) -> face_search_pb2.IndexFacesResponse:
    resp = api.faces.IndexFaces(face_search_pb2.IndexFacesRequest(
        collection_id=collection, image=common_pb2.Image(bytes=photo), max_faces=1, external_image_id=external,
        quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=md, timeout=120)
    assert len(resp.face_records) == 1, resp
    return resp


def _needles_for_face(pipeline: Pipeline, store: ObjectStore, enrolled: face_search_pb2.IndexFacesResponse,
                      photo: bytes, external: str) -> Needles:
    face_id = enrolled.face_records[0].face.face_id
    rid = enrolled.request_id
    embedded = opened(pipeline.prefix, store, rid, "faces_embedded")
    assert embedded, f"no faces.embedded record of request {rid}"
    vector = next(f.embedding for f in embedded[0].faces_embedded.faces if face_id_for(rid, f.face_index) == face_id)
    needles = Needles(ids={"face id": face_id.encode(), "photo sha256": sha256_hex(photo).encode()},
                      data={"external image id": external.encode()},
                      erased_requests={(pipeline.agency, rid)})
    needles.add_vector(vector)
    return needles


def _search(api: Api, md: Any, collection: str, probe: bytes) -> face_search_pb2.SearchFacesByImageResponse:
    return api.faces.SearchFacesByImage(face_search_pb2.SearchFacesByImageRequest(
        collection_id=collection, image=common_pb2.Image(bytes=probe), largest_face_only=True, context=CTX,
        threshold=common_pb2.Threshold(max_fmr=1e-2), max_faces=10), metadata=md, timeout=120)


def _code(fn: Callable[[], Any]) -> grpc.StatusCode:
    try:
        fn()
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


# ------------------------------------------------------------------------------------------------- tests
def test_delete_faces_leaves_nothing_readable(api: Api, pipeline: Pipeline, store: ObjectStore) -> None:
    md = pipeline.metadata()
    api.faces.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="scan"), metadata=md, timeout=30)
    photo = _unique_png(_photos("amy")[0])
    external = f"booking-{uuid.uuid4().hex}"
    target = _enrol(api, md, "scan", photo, external)
    other = _enrol(api, md, "scan", _unique_png(_photos("amy")[1]), f"other-{uuid.uuid4().hex}")
    _enrol(api, md, "scan", _unique_png(_photos("sheldon")[0]), f"other-{uuid.uuid4().hex}")
    face_id = target.face_records[0].face.face_id
    search = _search(api, md, "scan", _unique_png(_photos("amy")[2]))
    assert face_id in {m.face.face_id for r in search.results for m in r.face_matches}, search
    needles = _needles_for_face(pipeline, store, target, photo, external)
    needles.erased_requests.add((pipeline.agency, search.provenance.search_id))  # its result named the face
    assert scan_buckets(store, needles), "the scanner finds nothing even before the erasure"

    deleted = api.faces.DeleteFaces(face_search_pb2.DeleteFacesRequest(collection_id="scan", face_ids=[face_id]),
                                    metadata=md, timeout=60)
    assert list(deleted.deleted_face_ids) == [face_id]

    _assert_nothing_readable(pipeline, store, needles)
    # the APIs: the enrolment is gone like one that never existed; the search and its review keep the fact only
    assert _code(lambda: api.faces.GetRequest(face_search_pb2.GetRequestRequest(request_id=target.request_id),
                                              metadata=md, timeout=30)) == grpc.StatusCode.NOT_FOUND
    got = api.faces.GetRequest(face_search_pb2.GetRequestRequest(request_id=search.provenance.search_id),
                               metadata=md, timeout=30)
    assert face_id not in str(got) and external not in str(got)
    review = api.review.GetSearchReview(review_pb2.GetSearchReviewRequest(search_id=search.provenance.search_id),
                                        metadata=md, timeout=30)
    assert face_id not in str(review)
    states = [c.state for c in review.candidates]
    assert review_pb2.CANDIDATE_REVIEW_STATE_ERASED in states
    assert other.face_records[0].face.face_id in {c.face_id for c in review.candidates}  # the rest stays
    searches = api.review.ListSearches(review_pb2.ListSearchesRequest(case_id=CTX.case_id), metadata=md, timeout=30)
    assert face_id not in str(searches)
    # the erased candidate cannot be decided on any more
    assert _code(lambda: api.review.RecordDecision(review_pb2.RecordDecisionRequest(
        search_id=search.provenance.search_id, probe_face_index=0, face_id=face_id,
        decision=review_pb2.REVIEW_DECISION_POSSIBLE_LEAD),
        metadata=pipeline.metadata("erasure-examiner", roles=[admin_pb2.ROLE_REVIEWER]), timeout=30)) == \
        grpc.StatusCode.NOT_FOUND  # an examiner other than the searcher (who may not review it at all)


def test_delete_collection_leaves_nothing_readable(api: Api, pipeline: Pipeline, store: ObjectStore) -> None:
    md = pipeline.metadata()
    api.faces.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="doomed"), metadata=md,
                               timeout=30)
    photo = _unique_png(_photos("penny")[0])
    external = f"booking-{uuid.uuid4().hex}"
    target = _enrol(api, md, "doomed", photo, external)
    search = _search(api, md, "doomed", _unique_png(_photos("penny")[1]))
    face_id = target.face_records[0].face.face_id
    assert face_id in {m.face.face_id for r in search.results for m in r.face_matches}, search
    needles = _needles_for_face(pipeline, store, target, photo, external)

    api.faces.DeleteCollection(face_search_pb2.DeleteCollectionRequest(collection_id="doomed"), metadata=md,
                               timeout=60)

    _assert_nothing_readable(pipeline, store, needles)
    assert _code(lambda: api.faces.GetRequest(face_search_pb2.GetRequestRequest(request_id=target.request_id),
                                              metadata=md, timeout=30)) == grpc.StatusCode.NOT_FOUND


def test_enrolment_without_a_face_keeps_no_photo(api: Api, pipeline: Pipeline, store: ObjectStore) -> None:
    """A photo in which no face is enrolled is not kept (nothing would let the agency delete it later)."""
    md = pipeline.metadata()
    api.faces.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="empty"), metadata=md,
                               timeout=30)
    blank = io.BytesIO()
    Image.new("RGB", (320, 240), (uuid.uuid4().int % 256, 120, 80)).save(blank, format="PNG")
    resp = api.faces.IndexFaces(face_search_pb2.IndexFacesRequest(
        collection_id="empty", image=common_pb2.Image(bytes=blank.getvalue())), metadata=md, timeout=120)
    assert not resp.face_records
    sha = sha256_hex(blank.getvalue())
    assert not store.exists(common_pb2.ObjectRef(bucket="lineup-images",
                                                 key=f"{pipeline.agency}/images/{sha[:2]}/{sha}"))


def test_probe_retention_purges_crops_results_and_keys(api: Api, pipeline: Pipeline, store: ObjectStore) -> None:
    """Search, compare and detect leave probe crops, results (a comparison's holds embeddings) and data keys;
    a sweeping replica with one-second retention days purges all of them with the probe photos."""
    md = pipeline.metadata()
    api.faces.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="probed"), metadata=md,
                               timeout=30)
    _enrol(api, md, "probed", _unique_png(_photos("leonard")[0]), f"kept-{uuid.uuid4().hex}")
    probe = _unique_png(_photos("leonard")[1])
    source, target = _unique_png(_photos("howard")[0]), _unique_png(_photos("howard")[1])
    search = _search(api, md, "probed", probe)
    compare = api.faces.CompareFaces(face_search_pb2.CompareFacesRequest(
        source_image=common_pb2.Image(bytes=source), target_image=common_pb2.Image(bytes=target), context=CTX),
        metadata=md, timeout=120)
    detect = api.faces.DetectFaces(face_search_pb2.DetectFacesRequest(image=common_pb2.Image(bytes=probe)),
                                   metadata=md, timeout=120)
    sid, cid = search.provenance.search_id, compare.provenance.request_id
    rids = [sid, f"{cid}-source", f"{cid}-target", detect.request_id]
    needles = Needles(ids={f"probe sha256 {i}": sha256_hex(b).encode() for i, b in enumerate((probe, source, target))},
                      erased_requests={(pipeline.agency, r) for r in rids})
    for rid in rids[:3]:  # the probe embeddings travelled on faces.embedded / in the comparison results
        for env in opened(pipeline.prefix, store, rid, "faces_embedded") + opened(pipeline.prefix, store, rid,
                                                                                  "pipeline_result"):
            faces = env.faces_embedded.faces if env.HasField("faces_embedded") else env.pipeline_result.embedded.faces
            for f in faces:
                needles.add_vector(f.embedding)
    assert len(needles.vectors) >= 3
    crops = [c for r in rids for c in store.list("lineup-crops", f"{pipeline.agency}/crops/{r}/")]
    assert crops, "the probes left no crops to purge"

    policy = api.admin.GetAgency(admin_pb2.GetAgencyRequest(), metadata=md, timeout=30).agency.policy
    policy.probe_retention_days = 2
    api.admin.SetAgencyPolicy(admin_pb2.SetAgencyPolicyRequest(policy=policy), metadata=md, timeout=30)
    sweeper = pipeline.start("ingest", replica=1, extra_env={"LINEUP_RETENTION_DAY_S": "1",
                                                             "LINEUP_RETENTION_INTERVAL_S": "1"})
    try:
        def purged() -> bool:
            left = [r.key for r in store.list("lineup-images", f"{pipeline.agency}/probes/")]
            for rid in rids:
                left += [r.key for r in store.list("lineup-crops", f"{pipeline.agency}/crops/{rid}/")]
                left += [r.key for r in store.list("lineup-jobs", f"{pipeline.agency}/requests/{rid}")]
                left += [r.key for r in store.list("lineup-jobs", f"{pipeline.agency}/keys/{rid}")
                         if store.get(r)]  # an erased key is an empty tombstone
            return not left

        assert _eventually(purged, timeout_s=120), "probe photos, crops, results or keys are still stored"
        _assert_nothing_readable(pipeline, store, needles)
        for rid in rids:
            assert _code(lambda rid=rid: api.faces.GetRequest(face_search_pb2.GetRequestRequest(request_id=rid),
                                                              metadata=md, timeout=30)) == grpc.StatusCode.NOT_FOUND
        # the enrolled gallery is untouched
        assert api.faces.DescribeCollection(face_search_pb2.DescribeCollectionRequest(collection_id="probed"),
                                            metadata=md, timeout=30).face_count == 1
    finally:
        pipeline.kill(sweeper)
        policy.probe_retention_days = 30
        api.admin.SetAgencyPolicy(admin_pb2.SetAgencyPolicyRequest(policy=policy), metadata=md, timeout=30)
