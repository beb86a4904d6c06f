"""The embedding service as a real process on the real stack: FacesDetected in (several messages, embedded
together), one FacesEmbedded or compare result per message out, per-message failures dead-lettered, Triton
being unreachable failing requests with UNAVAILABLE, and Embed/ListModels over a real channel; then SIGTERM.

The chips are cut from real photos in-process through Triton (the detection service's own code) and stored
where detection stores them, so the service sees exactly what the pipeline would hand it.
"""

from __future__ import annotations

import io
import subprocess
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
import numpy as np
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from PIL import Image

from detection.detector import FaceAnalyser, FaceDetector
from embedding.embedder import FaceEmbedder
from lineup.errors import InvalidArgument, Unavailable
from lineup.kafka.consumer import BatchEnvelopeConsumer, BatchItem
from lineup.kafka.deadletter import DeadLetterPublisher
from lineup.kafka.envelope import new_envelope
from lineup.kafka.producer import EnvelopeProducer
from lineup.modelkit.backends import TracedBackend, TritonBackend
from lineup.objectstore import ObjectStore
from lineup.pipeline import ResultStore
from lineup.provision import ensure_topics
from lineup.telemetry import setup_telemetry
from lineup.v1 import common_pb2, embedding_pb2, embedding_pb2_grpc, events_pb2
from tests.face_data import LFW_DEV, models_root, require
from tests.integration.pipeline_harness import internal_channel
from tests.integration.test_detection_stage import (
    TopicReader,
    cosine,
    delete_topics,
    free_port,
    kill_quietly,
    new_prefix,
    object_store,
    png_bytes,
    start_service,
    stop_service,
    traced,
    wait_serving,
)
from tests.integration.waiting import committed_and_end, wait_until

pytestmark = pytest.mark.integration

AGENCY = "agency-embed-tests"
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION.value[0]
NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.value[0]
#: one photo with two faces, one with one (lfw-dev)
TWO_FACES = "Ekaterina_Dmitriev/Ekaterina_Dmitriev_0001.jpg"
ONE_FACE = "Aaron_Patterson/Aaron_Patterson_0001.jpg"


@dataclass
class Chips:
    two: list[bytes]  # PNG chips of TWO_FACES, largest first
    one: bytes  # PNG chip of ONE_FACE


@pytest.fixture(scope="module")
def chips(triton_url: str) -> Chips:
    """Aligned chips cut by the detection service's analyser through Triton."""
    models_root()
    images = require(LFW_DEV / "images")
    backend = TritonBackend(triton_url)
    try:
        analyser = FaceAnalyser(FaceDetector(backend))
        two = analyser.analyse(Image.open(images / TWO_FACES))
        one = analyser.analyse(Image.open(images / ONE_FACE))
    finally:
        backend.close()
    assert len(two) == 2 and len(one) == 1
    return Chips(two=[png_bytes(Image.fromarray(f.chip)) for f in two], one=png_bytes(Image.fromarray(one[0].chip)))


class Publisher:
    """Stores crops where detection does and publishes FacesDetected for them."""

    def __init__(self, store: ObjectStore, producer: EnvelopeProducer, prefix: str) -> None:
        self.store = store
        self.producer = producer
        self.prefix = prefix

    def faces_detected(self, pngs: list[bytes], *, operation: int = events_pb2.PIPELINE_OPERATION_INDEX,
                       face_model_version: str = "", store: bool = True) -> str:
        rid = uuid.uuid4().hex
        msg = events_pb2.FacesDetected(
            task=events_pb2.PipelineTask(operation=operation, collection_id="c1", owner_agency_id=AGENCY,
                                         face_model_version=face_model_version),
            detector_model_version="face_detector/1",
            filtered=[common_pb2.UnindexedFace(face_index=len(pngs),
                                               reasons=[common_pb2.UNINDEXED_REASON_EXCEEDS_MAX_FACES])])
        for i, png in enumerate(pngs):
            key = f"{AGENCY}/crops/{rid}/{i}.png"
            if store:
                self.store.put("lineup-crops", key, png, content_type="image/png")
            msg.faces.append(events_pb2.DetectedFaceCrop(
                face_index=i, detail=common_pb2.FaceDetail(confidence=90.0 - i),
                crop=common_pb2.ObjectRef(bucket="lineup-crops", key=key)))
        env = new_envelope(msg, request_id=rid, agency_id=AGENCY, producer="tests",
                           actor=events_pb2.Actor(key_id="k1", holder="tests", agency_id=AGENCY))
        self.producer.send(self.prefix + "lineup.faces.detected", env)
        return rid


def _vectors(env: events_pb2.Envelope) -> list[np.ndarray]:
    faces = (env.pipeline_result.embedded if env.HasField("pipeline_result") else env.faces_embedded).faces
    return [np.asarray(f.embedding, np.float32) for f in faces]


def test_batches_across_messages_and_publishes_one_output_each(
        kafka_bootstrap: str, minio_endpoint: str, triton_url: str, chips: Chips) -> None:
    prefix, down_prefix = new_prefix(), new_prefix()
    ensure_topics(kafka_bootstrap, prefix)
    ensure_topics(kafka_bootstrap, down_prefix)
    store = object_store(minio_endpoint)
    producer = EnvelopeProducer(kafka_bootstrap, client_id="tests")
    readers = {name: TopicReader(kafka_bootstrap, prefix + name)
               for name in ("lineup.faces.embedded", "lineup.results", "lineup.deadletter")}
    down_readers = {name: TopicReader(kafka_bootstrap, down_prefix + name)
                    for name in ("lineup.results", "lineup.deadletter")}
    procs: list[subprocess.Popen[str]] = []
    try:
        # everything is published before the service starts, so its first poll finds several messages
        pub = Publisher(store, producer, prefix)
        index_two, trace_id = traced(lambda: pub.faces_detected(chips.two))
        search_one = pub.faces_detected([chips.one], operation=events_pb2.PIPELINE_OPERATION_SEARCH)
        compare_one = pub.faces_detected([chips.one], operation=events_pb2.PIPELINE_OPERATION_COMPARE_SOURCE,
                                         face_model_version="face_embedder/1")
        no_faces = pub.faces_detected([])
        pinned_elsewhere = pub.faces_detected([chips.one], face_model_version="face_embedder/2")
        crop_missing = pub.faces_detected([chips.one], store=False)
        down_rid = Publisher(store, producer, down_prefix).faces_detected([chips.one])

        port, down_port = free_port(), free_port()
        procs.append(start_service("embedding", prefix, port, triton_url=triton_url, batch_linger_ms="1000",
                                    face_model="face_embedder"))  # the dlib chips published above
        # the same service with Triton unreachable: requests must fail with UNAVAILABLE after the retries
        procs.append(start_service("embedding", down_prefix, down_port, triton_url="127.0.0.1:9",
                                   triton_timeout_s="2", face_model="face_embedder"))
        wait_serving(port, procs[0])
        wait_serving(down_port, procs[1])

        embedded = readers["lineup.faces.embedded"]
        out = {rid: embedded.wait(rid)[0] for rid in (index_two, search_one, no_faces)}
        compare = readers["lineup.results"].wait(compare_one)[0]

        assert embedded.trace_id(index_two) == trace_id  # each message keeps its own trace through the batch
        for rid, env in out.items():
            msg = env.faces_embedded
            assert env.producer == "embedding" and env.agency_id == AGENCY and env.actor.key_id == "k1"
            assert msg.face_model_version == "face_embedder/1" and msg.task.collection_id == "c1"
            assert [u.face_index for u in msg.filtered] == [len(msg.faces)]  # carried through unchanged
            for i, face in enumerate(msg.faces):
                assert face.face_index == i and face.detail.confidence == pytest.approx(90.0 - i)
                assert face.crop.key == f"{AGENCY}/crops/{rid}/{i}.png"
        assert len(out[index_two].faces_embedded.faces) == 2 and len(out[no_faces].faces_embedded.faces) == 0
        for env in (*out.values(), compare):
            for v in _vectors(env):
                assert v.shape == (128,) and np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)

        a, b = _vectors(out[index_two])
        assert cosine(a, b) < 0.9  # two different people
        result = compare.pipeline_result
        assert result.error_code == 0 and result.task.operation == events_pb2.PIPELINE_OPERATION_COMPARE_SOURCE
        assert result.embedded.face_model_version == "face_embedder/1"
        assert ResultStore(store).get(AGENCY, compare_one) is not None
        # the same face in two messages of the batch: the same vector
        assert cosine(_vectors(out[search_one])[0], _vectors(compare)[0]) > 0.999

        # per-message failures: dead letter + failed result, the rest of the batch unaffected
        for rid, code in ((pinned_elsewhere, FAILED_PRECONDITION), (crop_missing, NOT_FOUND)):
            letter = readers["lineup.deadletter"].wait(rid)[0].dead_letter
            assert letter.error_code == code and letter.service == "embedding", letter.reason
            assert readers["lineup.results"].wait(rid)[0].pipeline_result.error_code == code
        assert "face_embedder/2" in readers["lineup.deadletter"].wait(pinned_elsewhere)[0].dead_letter.reason

        letter = down_readers["lineup.deadletter"].wait(down_rid)[0].dead_letter
        assert letter.error_code == UNAVAILABLE and letter.attempts == 3 and "Triton" in letter.reason
        assert down_readers["lineup.results"].wait(down_rid)[0].pipeline_result.error_code == UNAVAILABLE

        with internal_channel(f"127.0.0.1:{port}") as channel:
            stub = embedding_pb2_grpc.EmbeddingServiceStub(channel)
            ref = out[search_one].faces_embedded.faces[0].crop
            resp = stub.Embed(embedding_pb2.EmbedRequest(agency_id=AGENCY, crops=[
                embedding_pb2.Crop(png=chips.one), embedding_pb2.Crop(object=ref),
                embedding_pb2.Crop(png=chips.two[1])], face_model="face_embedder/1"), timeout=30)
            assert resp.face_model_version == "face_embedder/1"
            direct = [np.asarray(e.values, np.float32) for e in resp.embeddings]
            assert len(direct) == 3 and all(v.shape == (128,) for v in direct)
            assert cosine(direct[0], _vectors(out[search_one])[0]) > 0.999  # RPC and pipeline agree
            assert cosine(direct[1], direct[0]) > 0.999
            assert cosine(direct[2], b) > 0.999

            models = stub.ListModels(embedding_pb2.ListModelsRequest(), timeout=10)
            assert models.default_model == "face_embedder"
            (info,) = models.models
            assert (info.name, info.version, info.dimension, info.metric) == \
                ("face_embedder", "face_embedder/1", 128, "cosine")
            assert info.default_threshold == pytest.approx(0.9424, abs=1e-3) and info.default_fmr == 1e-4
            assert "Public domain" in info.licence

            for request, needle in (
                (embedding_pb2.EmbedRequest(agency_id=AGENCY, crops=[embedding_pb2.Crop(png=chips.one)],
                                            face_model="arcface"), "face_model 'arcface' is unknown"),
                (embedding_pb2.EmbedRequest(agency_id=AGENCY, crops=[embedding_pb2.Crop(
                    png=png_bytes(Image.new("RGB", (100, 100))))]), "100x100"),
                (embedding_pb2.EmbedRequest(agency_id="someone-else", crops=[embedding_pb2.Crop(object=ref)]),
                 "outside the agency"),
            ):
                with pytest.raises(grpc.RpcError) as err:
                    stub.Embed(request, timeout=30)
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and needle in err.value.details()

        with internal_channel(f"127.0.0.1:{down_port}") as channel:
            with pytest.raises(grpc.RpcError) as err:
                embedding_pb2_grpc.EmbeddingServiceStub(channel).Embed(embedding_pb2.EmbedRequest(
                    agency_id=AGENCY, crops=[embedding_pb2.Crop(png=chips.one)]), timeout=30)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE

        code, logs = stop_service(procs[0])
        assert code == 0, logs[-5:]
        assert stop_service(procs[1])[0] == 0
        # cross-message batching: some batch embedded several messages in fewer Triton calls
        batches = [line for line in logs if line["msg"] == "embedded batch"]
        assert any(int(str(b["embedded_messages"])) >= 2 and int(str(b["triton_calls"])) < int(str(
            b["embedded_messages"])) for b in batches), batches
        # exactly one output per message, even though the batch also held failing messages (the service has
        # stopped, so the topic holds everything it will ever publish: read all of it, not just what was awaited)
        assert sum(e.request_id in out for e, _ in embedded.read_to_end()) == len(out)
    finally:
        for proc in procs:
            kill_quietly(proc)
        for reader in (*readers.values(), *down_readers.values()):
            reader.close()
        producer.close()
        delete_topics(kafka_bootstrap, prefix)
        delete_topics(kafka_bootstrap, down_prefix)


def test_triton_calls_are_client_spans_with_model_and_batch_size(triton_url: str, chips: Chips) -> None:
    exporter = InMemorySpanExporter()
    setup_telemetry("integration-tests", span_processors=[SimpleSpanProcessor(exporter)])
    backend = TracedBackend(TritonBackend(triton_url), server_address=triton_url)
    try:
        stack = np.stack([np.asarray(Image.open(io.BytesIO(p))) for p in [*chips.two, chips.one] * 6])
        vectors = FaceEmbedder(backend, batch_size=32).embed(stack)  # 18 chips + 18 mirrors: 2 calls
    finally:
        backend.close()
    assert vectors.shape == (18, 128)
    spans = [s for s in exporter.get_finished_spans() if s.name == "triton infer face_embedder"]
    assert backend.calls == 2 and len(spans) == 2
    assert all(s.kind == trace.SpanKind.CLIENT for s in spans)
    assert sorted(int(str(s.attributes["lineup.batch_size"])) for s in spans if s.attributes) == [4, 32]
    assert all(s.attributes and s.attributes["lineup.model"] == "face_embedder" for s in spans)


def test_batch_consumer_isolates_failures_and_commits_after_the_batch(kafka_bootstrap: str) -> None:
    """BatchEnvelopeConsumer on the real broker: one batch of five records, of which one is not an envelope,
    one is bad (dead-lettered at once), one hits a transient error once (retried alone) and one makes the
    whole handler raise (isolated by handling the items one by one); all offsets committed afterwards."""
    work, dead = f"test.batch.{uuid.uuid4().hex[:8]}", f"test.batchdead.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=10_000)
    admin.create_topics([NewTopic(work, 1, 1), NewTopic(dead, 1, 1)])
    producer = EnvelopeProducer(kafka_bootstrap, client_id="tests")
    try:
        for label in ("ok", "flaky", "bad", "poison", "ok2"):
            env = new_envelope(events_pb2.FacesDetected(task=events_pb2.PipelineTask(collection_id=label)),
                               request_id=f"r-{label}", agency_id="a1", producer="tests")
            producer.send(work, env)
        raw = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        raw.send(work, value=b"\x00not an envelope").get(timeout=10)
        raw.close()

        calls: list[list[str]] = []
        done: list[str] = []
        failures: list[str] = []
        flaky = 0

        def handler(items: Sequence[BatchItem]) -> list[Exception | None]:
            nonlocal flaky
            labels = [i.decoded.envelope.faces_detected.task.collection_id for i in items]
            calls.append(labels)
            if "poison" in labels:
                raise ZeroDivisionError("a bug that one message triggers")
            outcomes: list[Exception | None] = []
            for label in labels:
                if label == "flaky" and flaky == 0:
                    flaky += 1
                    outcomes.append(Unavailable("object store briefly down"))
                elif label == "bad":
                    outcomes.append(InvalidArgument("crop is corrupt"))
                else:
                    done.append(label)
                    outcomes.append(None)
            return outcomes

        consumer = BatchEnvelopeConsumer(
            bootstrap=kafka_bootstrap, group_id=f"g-{uuid.uuid4().hex[:6]}", topics=[work], handler=handler,
            dead_letters=DeadLetterPublisher(producer, topic=dead, service="tests"), retry_backoff_s=0.05,
            max_attempts=2, linger_ms=1000,
            on_failure=lambda d, e: failures.append(f"{d.envelope.request_id if d else '-'}:{e.code.name}"))
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        group = str(consumer._consumer.config["group_id"])
        letters = TopicReader(kafka_bootstrap, dead)
        try:
            for rid in ("", "r-bad", "r-poison"):
                letters.wait(rid)
            # the batch is finished once its offsets are committed (after the retry and every dead letter)
            wait_until(lambda: committed_and_end(kafka_bootstrap, group, work)[0], lambda got: got == {0: 6})
            letters.read_to_end()
        finally:
            letters.close()
        consumer.stop()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the consumer loop did not stop"

        assert calls[0] == ["ok", "flaky", "bad", "poison", "ok2"]  # one batch, the undecodable record left out
        assert sorted(done) == ["flaky", "ok", "ok2"] and done.count("ok") == 1
        assert sorted(failures) == ["r-bad:INVALID_ARGUMENT", "r-poison:INTERNAL"]
        reasons = {e.request_id: e.dead_letter.reason for e, _ in letters.seen}
        assert reasons["r-bad"] == "crop is corrupt" and "ZeroDivisionError" in reasons["r-poison"]
        assert reasons[""].startswith("not a lineup.v1.Envelope")
        check = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
        assert check.committed(TopicPartition(work, 0)) == 6
        check.close()
    finally:
        producer.close()
        admin.delete_topics([work, dead])
        admin.close()
