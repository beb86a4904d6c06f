"""The search stage end to end: `python -m search` as a subprocess on its own topic prefix, fed FacesEmbedded
envelopes (synthetic unit vectors) through the real broker; results read back from the results topic, the
result store (MinIO) and the dead-letter topic."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kafka import KafkaAdminClient, KafkaConsumer
from lineup_tools.devstack.accounts import internal_token
from lineup_tools.devstack.minio import credentials
from opentelemetry import trace

from lineup.kafka.envelope import decode, new_envelope
from lineup.kafka.producer import EnvelopeProducer
from lineup.objectstore import ObjectStore
from lineup.pipeline import ResultStore, face_id_for
from lineup.provision import ensure_topics
from lineup.scoring import NOTICE, load_score_model
from lineup.telemetry import setup_telemetry
from lineup.topology import topic_names
from lineup.v1 import common_pb2, events_pb2, search_pb2, search_pb2_grpc
from tests.integration.milvus_data import drop_agency_collections
from tests.integration.pipeline_harness import internal_channel
from tests.integration.waiting import PATIENT_S

pytestmark = pytest.mark.integration

MODEL = "face_embedder/1"  # the deployed model with a calibration card, so scores are real
DIM = 128
REPO = Path(__file__).resolve().parents[2]
Op = events_pb2.PipelineOperation
NOT_FOUND = int(grpc.StatusCode.NOT_FOUND.value[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _vector(**axes: float) -> list[float]:
    """A unit vector from components along named axes (`a3=0.6` is 0.6 along axis 3)."""
    v = [0.0] * DIM
    for name, value in axes.items():
        v[int(name[1:])] = value
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


class Topic:
    """Every envelope published on one topic since the test started, by request id."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                       auto_offset_reset="earliest", enable_auto_commit=False,
                                       consumer_timeout_ms=300)
        self.seen: dict[str, list[events_pb2.Envelope]] = {}

    def wait(self, request_id: str, count: int = 1, timeout_s: float = PATIENT_S) -> list[events_pb2.Envelope]:
        """The envelopes of `request_id` once at least `count` arrived (the test uses the `count`-th)."""
        deadline = time.monotonic() + timeout_s
        while len(self.seen.get(request_id, [])) < count:
            assert time.monotonic() < deadline, f"{count} message(s) for {request_id} did not arrive"
            for record in self._consumer:
                env = decode(record.value, record.headers).envelope
                self.seen.setdefault(env.request_id, []).append(env)
        return self.seen[request_id]

    def close(self) -> None:
        self._consumer.close()


@pytest.fixture()
def prefix(kafka_bootstrap: str) -> Iterator[str]:
    """A topic prefix of its own, so the stage under test never sees (or steals) anyone else's messages."""
    value = f"it-stage-{uuid.uuid4().hex[:8]}."
    ensure_topics(kafka_bootstrap, value)
    yield value
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=10_000)
    try:
        admin.delete_topics(topic_names(value))
    finally:
        admin.close()


@pytest.fixture()
def agency(milvus_uri: str) -> Iterator[str]:
    agency_id = f"it-stage-{uuid.uuid4().hex[:8]}"
    yield agency_id
    drop_agency_collections(milvus_uri, agency_id)


@pytest.fixture()
def results_store(minio_endpoint: str, agency: str) -> Iterator[ResultStore]:
    store = ResultStore(ObjectStore(minio_endpoint, *credentials()))
    yield store
    for ref in list(store.store.list(store.bucket, f"{agency}/")):
        store.store.delete(ref)


def _start(prefix: str, port: int, bootstrap: str, minio: str, milvus: str, log: Path) -> subprocess.Popen[bytes]:
    access, secret = credentials()
    env = {**os.environ, "LINEUP_TOPIC_PREFIX": prefix, "LINEUP_GRPC_PORT": str(port),
           "LINEUP_KAFKA_BOOTSTRAP": bootstrap, "LINEUP_MINIO_ENDPOINT": minio, "LINEUP_MINIO_ACCESS_KEY": access,
           "LINEUP_MINIO_SECRET_KEY": secret, "LINEUP_MILVUS_URI": milvus, "LINEUP_SHUTDOWN_GRACE_S": "2",
           "LINEUP_OTLP_ENDPOINT": "", "LINEUP_INTERNAL_TOKEN": internal_token()}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "search"], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + PATIENT_S
        while True:
            assert proc.poll() is None, f"search exited with {proc.returncode}:\n{log.read_text()}"
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == \
                        health_pb2.HealthCheckResponse.SERVING:
                    return proc
            except grpc.RpcError:
                pass
            assert time.monotonic() < deadline, f"search did not become healthy:\n{log.read_text()}"
            time.sleep(0.2)


def _embedded(agency: str, op: int, collection_id: str, vectors: list[list[float]], *, request_id: str,
              max_matches: int = 0, min_raw_score: float = 0.0) -> events_pb2.Envelope:
    """What the embedding stage publishes: the task, the embedded faces (largest first) and one filtered face."""
    task = events_pb2.PipelineTask(operation=op, collection_id=collection_id, image_sha256="ab" * 32,
                                   external_image_id="booking-42", max_matches=max_matches,
                                   min_raw_score=min_raw_score, face_model_version=MODEL)
    faces = [events_pb2.EmbeddedFace(
        face_index=i, embedding=v,
        detail=common_pb2.FaceDetail(confidence=99.0 - i, bounding_box=common_pb2.BoundingBox(
            left=0.1 * i, top=0.2, width=0.3 / (i + 1), height=0.4 / (i + 1))),
        crop=common_pb2.ObjectRef(bucket="lineup-crops", key=f"{agency}/crops/{request_id}/{i}.png"))
        for i, v in enumerate(vectors)]
    filtered = [common_pb2.UnindexedFace(face_index=len(vectors),
                                         reasons=[common_pb2.UNINDEXED_REASON_LOW_SHARPNESS])]
    payload = events_pb2.FacesEmbedded(task=task, faces=faces, filtered=filtered, face_model_version=MODEL)
    return new_envelope(payload, request_id=request_id, agency_id=agency, producer="test")


def test_search_stage_indexes_searches_and_fails_clearly(
        kafka_bootstrap: str, minio_endpoint: str, milvus_uri: str, prefix: str, agency: str,
        results_store: ResultStore, tmp_path: Path) -> None:
    setup_telemetry("integration-tests")  # real spans, so trace context travels in the record headers
    port = _free_port()
    proc = _start(prefix, port, kafka_bootstrap, minio_endpoint, milvus_uri, tmp_path / "search.log")
    producer = EnvelopeProducer(kafka_bootstrap, client_id="test-search-stage")
    results = Topic(kafka_bootstrap, prefix + "lineup.results")
    dead = Topic(kafka_bootstrap, prefix + "lineup.deadletter")
    embedded = prefix + "lineup.faces.embedded"
    try:
        with internal_channel(f"127.0.0.1:{port}") as channel:
            stub = search_pb2_grpc.SearchServiceStub(channel)
            stub.EnsureCollection(search_pb2.EnsureCollectionRequest(
                agency_id=agency, collection_id="suspects", face_model_version=MODEL, dimension=DIM), timeout=30)

            # INDEX: three faces, one filtered
            rid = f"r-index-{uuid.uuid4().hex[:6]}"
            index_env = _embedded(agency, Op.PIPELINE_OPERATION_INDEX, "suspects",
                                  [_vector(a0=1), _vector(a1=1), _vector(a2=1)], request_id=rid)
            producer.send(embedded, index_env, key=rid)
            [first] = results.wait(rid)
            result = first.pipeline_result
            assert result.error_code == 0, result.error_message
            indexed = result.index_faces
            face_ids = [face_id_for(rid, i) for i in range(3)]
            assert [r.face.face_id for r in indexed.face_records] == face_ids
            assert (indexed.image_id, indexed.request_id, indexed.face_model_version) == ("ab" * 32, rid, MODEL)
            assert [u.face_index for u in indexed.unindexed_faces] == [3]
            record = indexed.face_records[1]
            assert (record.face.collection_id, record.face.external_image_id) == ("suspects", "booking-42")
            assert record.face.bounding_box.left == pytest.approx(0.1) and record.face_detail.confidence == 98.0
            assert record.face.indexed_at.seconds > 0
            assert results_store.get(agency, rid) == result  # persisted before it was published

            # the same message again (a redelivery): the same rows, no new faces
            producer.send(embedded, index_env, key=rid)
            replayed = results.wait(rid, count=2)[1].pipeline_result.index_faces
            assert [r.face.face_id for r in replayed.face_records] == face_ids
            assert [r.face.indexed_at for r in replayed.face_records] == \
                [r.face.indexed_at for r in indexed.face_records]
            count = stub.CountFaces(search_pb2.CountFacesRequest(agency_id=agency, collection_id="suspects"),
                                    timeout=30)
            assert count.face_count == 3
            crop = stub.GetFaces(search_pb2.GetFacesRequest(agency_id=agency, collection_id="suspects",
                                                            face_ids=[face_ids[2]]), timeout=30).faces[0].crop
            assert crop.key == f"{agency}/crops/{rid}/2.png"

            # users: face 1 belongs to suspect-7, face 2 to suspect-9; a later replay keeps the association
            for user_id, face_id in (("suspect-7", face_ids[1]), ("suspect-9", face_ids[2])):
                stub.CreateUser(search_pb2.VectorUserRequest(agency_id=agency, collection_id="suspects",
                                                             user_id=user_id), timeout=30)
                stub.SetFacesUser(search_pb2.SetFacesUserRequest(agency_id=agency, collection_id="suspects",
                                                                 user_id=user_id, face_ids=[face_id]), timeout=30)
            producer.send(embedded, index_env, key=rid)
            again = results.wait(rid, count=3)[2].pipeline_result.index_faces
            assert [r.face.user_id for r in again.face_records] == ["", "suspect-7", "suspect-9"]

            # SEARCH: a probe face equal to face 1, and a face far from everything
            threshold = load_score_model(MODEL).default_raw
            sid = f"r-search-{uuid.uuid4().hex[:6]}"
            with trace.get_tracer("test").start_as_current_span("caller") as caller:
                producer.send(embedded, _embedded(agency, Op.PIPELINE_OPERATION_SEARCH, "suspects",
                                                  [_vector(a1=1), _vector(a100=1)], request_id=sid, max_matches=5,
                                                  min_raw_score=threshold), key=sid)
            [found_env] = results.wait(sid)
            found = found_env.pipeline_result.search_faces_by_image
            assert found_env.pipeline_result.error_code == 0, found_env.pipeline_result.error_message
            near, far = found.results
            assert (near.face_index, far.face_index) == (0, 1)
            [top] = near.face_matches  # the other faces score 0, far below the threshold
            assert (top.rank, top.face.face_id, top.face.user_id) == (1, face_ids[1], "suspect-7")
            assert top.score.raw_score == pytest.approx(1.0, abs=1e-5)
            assert top.score.similarity == pytest.approx(100.0, abs=1e-3)
            assert 0.0 < top.score.estimated_fmr < 1e-4
            assert near.searched_face.confidence == 99.0
            assert list(far.face_matches) == []
            assert [u.face_index for u in found.unsearched_faces] == [2] and found.probe_image_sha256 == "ab" * 32
            prov = found.provenance
            assert (prov.search_id, prov.request_id, prov.face_model_version) == (sid, sid, MODEL)
            assert prov.trace_id == format(caller.get_span_context().trace_id, "032x")
            assert prov.threshold_applied.raw_score == pytest.approx(threshold)
            assert prov.threshold_applied.estimated_fmr == pytest.approx(1e-4, rel=0.05)
            assert (prov.label, prov.notice) == (common_pb2.RESULT_LABEL_INVESTIGATIVE_LEAD, NOTICE)

            # SEARCH_USERS: only the largest face is searched; face 0 (raw 0.6) has no user and is ignored,
            # suspect-9 would match the second face perfectly but that face is not searched
            uid = f"r-users-{uuid.uuid4().hex[:6]}"
            producer.send(embedded, _embedded(agency, Op.PIPELINE_OPERATION_SEARCH_USERS, "suspects",
                                              [_vector(a0=0.6, a1=0.8), _vector(a2=1)], request_id=uid,
                                              min_raw_score=0.5), key=uid)
            users = results.wait(uid)[0].pipeline_result.search_users_by_image
            [match] = users.user_matches
            assert (match.rank, match.user.user_id, match.best_face_id) == (1, "suspect-7", face_ids[1])
            assert match.score.raw_score == pytest.approx(0.8, abs=1e-5) and match.user.face_count == 1
            assert users.searched_face.confidence == 99.0 and users.provenance.search_id == uid

            # INDEX into a collection that does not exist: a failed result with NOT_FOUND, and a dead letter
            mid = f"r-missing-{uuid.uuid4().hex[:6]}"
            producer.send(embedded, _embedded(agency, Op.PIPELINE_OPERATION_INDEX, "no-such-collection",
                                              [_vector(a3=1)], request_id=mid), key=mid)
            failed = results.wait(mid)[0].pipeline_result
            assert failed.error_code == NOT_FOUND
            assert failed.error_message == "collection 'no-such-collection' not found"
            assert failed.task.collection_id == "no-such-collection" and not failed.HasField("index_faces")
            assert results_store.get(agency, mid) == failed
            letter = dead.wait(mid)[0].dead_letter
            assert (letter.source_topic, letter.error_code, letter.service) == (embedded, NOT_FOUND, "search")

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, (tmp_path / "search.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        results.close()
        dead.close()
        producer.close()
