"""The detection service as a real process on the real stack: ImageAccepted in, FacesDetected (or DETECT's
PipelineResult) out, crops in MinIO, the quality filter and max_faces with reasons, dead letters for corrupt
images, and the Detect RPC over a real channel; then SIGTERM.

Every test file runs its services with its own topic prefix (fresh topics, own consumer groups), so runs
never see each other's messages. The helpers at the top are shared with test_embedding_stage.py.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from lineup_tools.devstack.accounts import internal_token
from lineup_tools.devstack.minio import credentials
from opentelemetry import trace
from PIL import Image, ImageFilter

from lineup.kafka.envelope import decode, new_envelope
from lineup.kafka.producer import EnvelopeProducer
from lineup.objectstore import ObjectStore
from lineup.pipeline import ResultStore
from lineup.provision import ensure_buckets, ensure_topics
from lineup.telemetry import setup_telemetry
from lineup.topology import topic_names
from lineup.v1 import common_pb2, detection_pb2, detection_pb2_grpc, events_pb2
from tests.face_data import CROWD, CROWD_FACES, lfw_images, models_root, require
from tests.integration.pipeline_harness import internal_channel
from tests.integration.waiting import PATIENT_S

pytestmark = pytest.mark.integration

AGENCY = "agency-stage-tests"
REPO = Path(__file__).resolve().parents[2]
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]


# --- helpers shared with test_embedding_stage.py ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_serving(port: int, proc: subprocess.Popen[str], timeout_s: float = PATIENT_S) -> None:
    """Until the health check says SERVING (or the process died, with its output in the failure)."""
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"service exited with {proc.returncode} before serving:\n{out[-4000:]}")
            try:
                if stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1).status == \
                        health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"service did not serve on port {port} within {timeout_s:.0f}s")
            time.sleep(0.2)


def start_service(module: str, prefix: str, port: int, **env: str) -> subprocess.Popen[str]:
    """`python -m <module>` with the test's topic prefix, a free port and the local MinIO credentials."""
    access, secret = credentials()
    full = {**os.environ, "LINEUP_TOPIC_PREFIX": prefix, "LINEUP_GRPC_PORT": str(port),
            "LINEUP_MINIO_ACCESS_KEY": access, "LINEUP_MINIO_SECRET_KEY": secret, "LINEUP_SHUTDOWN_GRACE_S": "5",
            "LINEUP_INTERNAL_TOKEN": internal_token(),
            **{f"LINEUP_{k.upper()}": v for k, v in env.items()}}
    return subprocess.Popen([sys.executable, "-m", module], env=full, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def stop_service(proc: subprocess.Popen[str]) -> tuple[int, list[dict[str, object]]]:
    """SIGTERM, wait, and return (exit code, the JSON log lines)."""
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    logs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return proc.returncode, logs


def kill_quietly(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=10)


def new_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


def delete_topics(bootstrap: str, prefix: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        admin.delete_topics(topic_names(prefix))
    finally:
        admin.close()


def object_store(endpoint: str) -> ObjectStore:
    access, secret = credentials()
    ensure_buckets(endpoint, access, secret)
    return ObjectStore(endpoint, access, secret)


@dataclass
class TopicReader:
    """Every envelope on one topic from the beginning, decoded; `wait` polls until a predicate holds."""

    bootstrap: str
    topic: str
    seen: list[tuple[events_pb2.Envelope, list[tuple[str, bytes]]]] = field(default_factory=list)
    _consumer: KafkaConsumer | None = None

    def _poll(self) -> None:
        if self._consumer is None:
            consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            tps = [TopicPartition(self.topic, p) for p in consumer.partitions_for_topic(self.topic) or ()]
            if not tps:  # metadata not there yet: try again on the next poll rather than read nothing forever
                consumer.close()
                time.sleep(0.3)
                return
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            self._consumer = consumer
        for records in self._consumer.poll(timeout_ms=300).values():
            for r in records:
                self.seen.append((decode(r.value, r.headers).envelope, list(r.headers or [])))

    def trace_id(self, request_id: str) -> str:
        """The trace id in the `traceparent` header of the (first) message of `request_id`."""
        headers = next(dict(h) for e, h in self.seen if e.request_id == request_id)
        return headers["traceparent"].decode().split("-")[1]

    def wait(self, request_id: str, count: int = 1, timeout_s: float = PATIENT_S) -> list[events_pb2.Envelope]:
        """The envelopes of `request_id`, once at least `count` arrived (the tests use the first `count`)."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [e for e, _ in self.seen if e.request_id == request_id]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                pytest.fail(f"{self.topic}: {len(found)} of {count} message(s) for request {request_id} "
                            f"within {timeout_s:.0f}s")
            self._poll()

    def read_to_end(self, timeout_s: float = PATIENT_S) -> list[tuple[events_pb2.Envelope, list[tuple[str, bytes]]]]:
        """`seen` once it holds every record now on the topic.

        For checks of what was *not* published, or of how many were: on a reader that stopped at the
        record it waited for, such a check passes whatever else the service published."""
        deadline = time.monotonic() + timeout_s
        while self._consumer is None:
            if time.monotonic() > deadline:
                pytest.fail(f"{self.topic}: no partitions within {timeout_s:.0f}s")
            self._poll()
        consumer = self._consumer
        tps = list(consumer.assignment())
        ends = consumer.end_offsets(tps)
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                pytest.fail(f"{self.topic}: could not read to its end within {timeout_s:.0f}s")
            self._poll()
        return self.seen

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(image: Image.Image, exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=95, **({"exif": exif} if exif is not None else {}))
    return buf.getvalue()


# --- the detection service ---------------------------------------------------------------------------


@dataclass
class Detection:
    bootstrap: str
    prefix: str
    port: int
    proc: subprocess.Popen[str]
    store: ObjectStore
    producer: EnvelopeProducer
    detected: TopicReader
    results: TopicReader
    dead: TopicReader

    def submit(self, data: bytes, *, operation: int = events_pb2.PIPELINE_OPERATION_INDEX, max_faces: int = 0,
               quality_filter: int = common_pb2.QUALITY_FILTER_AUTO, **task_fields: object) -> str:
        """Store an image the way ingest does and publish its ImageAccepted; returns the request id."""
        sha, ref = self.store.put_content_addressed("lineup-images", AGENCY, data, kind="images",
                                                    content_type="image/jpeg")
        request_id = uuid.uuid4().hex
        task = events_pb2.PipelineTask(operation=operation, collection_id="c1", owner_agency_id=AGENCY, image=ref,
                                       image_sha256=sha, max_faces=max_faces, quality_filter=quality_filter,
                                       **task_fields)
        actor = events_pb2.Actor(key_id="k1", holder="tests", agency_id=AGENCY)
        env = new_envelope(events_pb2.ImageAccepted(task=task), request_id=request_id, agency_id=AGENCY,
                           producer="tests", actor=actor)
        self.producer.send(self.prefix + "lineup.images", env)
        return request_id


@pytest.fixture(scope="module")
def detection(kafka_bootstrap: str, minio_endpoint: str, triton_url: str) -> Iterator[Detection]:
    models_root()  # Triton's repository needs the built models (skips without the model extras)
    prefix = new_prefix()
    ensure_topics(kafka_bootstrap, prefix)
    port = free_port()
    proc = start_service("detection", prefix, port, triton_url=triton_url)
    producer = EnvelopeProducer(kafka_bootstrap, client_id="tests")
    readers = [TopicReader(kafka_bootstrap, prefix + name)
               for name in ("lineup.faces.detected", "lineup.results", "lineup.deadletter")]
    try:
        wait_serving(port, proc)
        yield Detection(kafka_bootstrap, prefix, port, proc, object_store(minio_endpoint), producer, *readers)
    finally:
        kill_quietly(proc)
        for reader in readers:
            reader.close()
        producer.close()
        delete_topics(kafka_bootstrap, prefix)


def crowd(name: str) -> bytes:
    return (require(CROWD) / f"{name}.jpg").read_bytes()


def _check_detail(d: common_pb2.FaceDetail) -> None:
    box = d.bounding_box
    assert 0 <= box.left < 1 and 0 <= box.top < 1 and 0 < box.width <= 1 and 0 < box.height <= 1
    assert box.left + box.width <= 1.0001 and box.top + box.height <= 1.0001
    assert [lm.type for lm in d.landmarks] == [1, 2, 3, 4, 5]  # left eye, right eye, nose, mouth left, right
    for lm in d.landmarks:  # every landmark of these frontal faces lies inside its box
        assert box.left <= lm.x <= box.left + box.width and box.top <= lm.y <= box.top + box.height
    left_eye, right_eye = d.landmarks[0], d.landmarks[1]
    assert left_eye.x > right_eye.x  # the subject's left eye is on the image's right
    assert 60 <= d.confidence <= 100
    assert 0 <= d.quality.sharpness <= 100 and 0 <= d.quality.brightness <= 100
    assert d.quality.face_size_px >= 40 and d.quality.band in (1, 2, 3)
    assert abs(d.pose.yaw) < 60 and abs(d.pose.pitch) < 60 and abs(d.pose.roll) < 60


def traced(submit: Callable[[], str]) -> tuple[str, str]:
    """Run `submit` inside a fresh trace; returns (its result, the trace id as hex)."""
    setup_telemetry("integration-tests")
    with trace.get_tracer("tests").start_as_current_span("request") as span:
        return submit(), format(span.get_span_context().trace_id, "032x")


def test_crowd_photo_gives_six_faces_with_crops(detection: Detection) -> None:
    rid, trace_id = traced(lambda: detection.submit(crowd("bbt4")))
    env = detection.detected.wait(rid)[0]
    assert detection.detected.trace_id(rid) == trace_id  # the request's trace continues through the stage
    assert env.agency_id == AGENCY and env.actor.key_id == "k1" and env.producer == "detection"
    out = env.faces_detected
    assert out.task.collection_id == "c1" and out.task.image.key.startswith(f"{AGENCY}/images/")
    assert out.detector_model_version == "face_detector/1"
    assert CROWD_FACES["bbt4"] == 6
    assert [f.face_index for f in out.faces] == [0, 1, 2, 3, 4, 5]  # bbt4: six faces counted by eye
    assert not out.filtered  # all six are HIGH quality, so AUTO keeps them
    areas = [f.detail.bounding_box.width * f.detail.bounding_box.height for f in out.faces]
    assert areas == sorted(areas, reverse=True)  # largest first
    for face in out.faces:
        _check_detail(face.detail)
        # bbt4 is 710x473: the faces are about 100-115 px
        assert 95 <= face.detail.quality.face_size_px <= 120
        assert face.crop.bucket == "lineup-crops"
        assert face.crop.key == f"{AGENCY}/crops/{rid}/{face.face_index}.png"
        chip = Image.open(io.BytesIO(detection.store.get(face.crop)))
        assert chip.format == "PNG" and chip.size == (112, 112) and chip.mode == "RGB"  # the default (SFace) crop


def test_max_faces_keeps_the_largest_and_reports_the_rest(detection: Detection) -> None:
    rid = detection.submit(crowd("bbt4"), max_faces=2)
    out = detection.detected.wait(rid)[0].faces_detected
    assert [f.face_index for f in out.faces] == [0, 1]
    assert [u.face_index for u in out.filtered] == [2, 3, 4, 5]
    assert all(list(u.reasons) == [common_pb2.UNINDEXED_REASON_EXCEEDS_MAX_FACES] for u in out.filtered)
    for u in out.filtered:
        _check_detail(u.face_detail)
    assert not detection.store.exists(common_pb2.ObjectRef(bucket="lineup-crops", key=f"{AGENCY}/crops/{rid}/2.png"))


def test_quality_filter_reports_reasons(detection: Detection) -> None:
    sharp = Image.open(lfw_images(limit=1)[0])
    blurred = jpeg_bytes(sharp.filter(ImageFilter.GaussianBlur(3)))
    auto = detection.submit(blurred)  # AUTO = MEDIUM: the blurred face is LOW
    everything = detection.submit(blurred, quality_filter=common_pb2.QUALITY_FILTER_NONE)
    high = detection.submit(crowd("sample1"), quality_filter=common_pb2.QUALITY_FILTER_HIGH)
    empty = detection.submit(jpeg_bytes(Image.linear_gradient("L").resize((320, 240))))

    out = detection.detected.wait(auto)[0].faces_detected
    assert len(out.faces) == 0 and len(out.filtered) == 1
    assert list(out.filtered[0].reasons) == [common_pb2.UNINDEXED_REASON_LOW_SHARPNESS]
    assert out.filtered[0].face_detail.quality.band == common_pb2.QUALITY_BAND_LOW
    assert out.filtered[0].face_detail.quality.sharpness < 10

    out = detection.detected.wait(everything)[0].faces_detected
    assert len(out.faces) == 1 and not out.filtered

    # sample1: two faces turned ~30 degrees (MEDIUM) and one frontal (HIGH)
    out = detection.detected.wait(high)[0].faces_detected
    assert [f.face_index for f in out.faces] == [2]
    assert {u.face_index: list(u.reasons) for u in out.filtered} == {
        0: [common_pb2.UNINDEXED_REASON_EXTREME_POSE], 1: [common_pb2.UNINDEXED_REASON_EXTREME_POSE]}

    out = detection.detected.wait(empty)[0].faces_detected  # published even without faces
    assert len(out.faces) == 0 and len(out.filtered) == 0


def test_detect_operation_ends_the_request_with_upright_geometry(detection: Detection) -> None:
    upright = Image.open(io.BytesIO(crowd("bbt4")))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    rotated = jpeg_bytes(upright.rotate(90, expand=True), exif=exif)  # stored sideways, as a phone does
    rid = detection.submit(rotated, operation=events_pb2.PIPELINE_OPERATION_DETECT,
                           quality_filter=common_pb2.QUALITY_FILTER_HIGH)
    env = detection.results.wait(rid)[0]
    result = env.pipeline_result
    assert result.error_code == 0 and result.task.operation == events_pb2.PIPELINE_OPERATION_DETECT
    response = result.detect_faces
    assert response.request_id == rid
    assert (response.image_width, response.image_height) == upright.size  # EXIF orientation applied
    assert len(response.face_details) == 6
    for d in response.face_details:
        _check_detail(d)
    stored = ResultStore(detection.store).get(AGENCY, rid)  # durable before it was published
    assert stored is not None and len(stored.detect_faces.face_details) == 6
    assert not list(detection.store.list("lineup-crops", f"{AGENCY}/crops/{rid}/"))  # DETECT stores no crops


def test_corrupt_image_is_dead_lettered_and_fails_the_request(detection: Detection) -> None:
    rid = detection.submit(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 10)
    letter = detection.dead.wait(rid)[0].dead_letter
    assert letter.source_topic == detection.prefix + "lineup.images"
    assert letter.service == "detection" and letter.error_code == INVALID_ARGUMENT and letter.attempts == 1
    assert "image" in letter.reason
    result = detection.results.wait(rid)[0].pipeline_result
    assert result.error_code == INVALID_ARGUMENT and result.error_message == letter.reason
    # everything detection published before it failed the request is on the topic by now: read all of it
    assert all(e.request_id != rid for e, _ in detection.detected.read_to_end())


def test_detect_rpc_with_bytes_and_object_refs(detection: Detection) -> None:
    data = crowd("bbt4")
    with internal_channel(f"127.0.0.1:{detection.port}") as channel:
        stub = detection_pb2_grpc.DetectionServiceStub(channel)
        resp = stub.Detect(detection_pb2.DetectRequest(agency_id=AGENCY, image=common_pb2.Image(bytes=data)),
                           timeout=30)
        assert (resp.image_width, resp.image_height) == (710, 473)
        assert resp.detector_model_version == "face_detector/1"
        assert [f.face_index for f in resp.faces] == [0, 1, 2, 3, 4, 5]
        for face in resp.faces:
            _check_detail(face.detail)
            assert not face.HasField("crop")
            assert Image.open(io.BytesIO(face.crop_png)).size == (112, 112)  # the default model's (SFace) crop

        _, ref = detection.store.put_content_addressed("lineup-images", AGENCY, data, kind="images",
                                                       content_type="image/jpeg")
        rid = uuid.uuid4().hex
        resp = stub.Detect(detection_pb2.DetectRequest(agency_id=AGENCY, image=common_pb2.Image(object=ref),
                                                       max_faces=3, store_crops=True, request_id=rid), timeout=30)
        assert [f.face_index for f in resp.faces] == [0, 1, 2]
        for face in resp.faces:
            assert face.crop.key == f"{AGENCY}/crops/{rid}/{face.face_index}.png" and not face.crop_png
            assert detection.store.exists(face.crop)

        bad: list[tuple[detection_pb2.DetectRequest, Callable[[str], bool]]] = [
            (detection_pb2.DetectRequest(agency_id="other-agency", image=common_pb2.Image(object=ref)),
             lambda m: "outside the agency" in m),
            (detection_pb2.DetectRequest(agency_id=AGENCY, image=common_pb2.Image(bytes=data), max_faces=101),
             lambda m: "max_faces" in m),
            (detection_pb2.DetectRequest(agency_id=AGENCY, image=common_pb2.Image(bytes=b"nonsense")),
             lambda m: "not recognised" in m),
            (detection_pb2.DetectRequest(agency_id=AGENCY), lambda m: "image is missing" in m),
        ]
        for request, says in bad:
            with pytest.raises(grpc.RpcError) as err:
                stub.Detect(request, timeout=30)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
            assert says(err.value.details()), err.value.details()


def test_sigterm_stops_the_service_cleanly(detection: Detection) -> None:
    code, logs = stop_service(detection.proc)
    assert code == 0, logs[-5:]
    messages = [str(line["msg"]) for line in logs]
    assert "serving" in messages and messages[-1] == "stopped"
    # the service's own errors: only the dead letter of the corrupt image (the Kafka client may log a
    # reconnect it recovers from at ERROR, which is not the service's)
    errors = [line for line in logs if line.get("level") == "ERROR" and not str(line.get("logger")).startswith("kafka")]
    assert [line["msg"] for line in errors] == ["dead-lettered message"], errors
