"""Attacks on the pipeline's consumers and on detection's capacity, performed on the real stack (issue 17,
observations 2, 9 and the MPO/pixel-cap parts of 11): no record crashes a consumer, a large image does not
hold up other requests, every image the front door accepts is processed, phone MPO photos are enrolled."""

from __future__ import annotations

import io
import math
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from lineup_tools.devstack.kafka import LOCAL_BOOTSTRAP
from PIL import Image

from lineup.errors import InvalidArgument
from lineup.kafka.envelope import decode, encode, new_envelope
from lineup.v1 import audit_pb2, common_pb2, events_pb2, face_search_pb2, face_search_pb2_grpc
from tests.face_data import DATASETS, LFW_DEV, require
from tests.integration.pipeline_harness import Pipeline

pytestmark = pytest.mark.integration

TV = DATASETS / "tv-identities"
CONTEXT = common_pb2.SearchContext(case_id="CASE-2026-0017", purpose="testing", justification="attack test")
CONSUMED = ("lineup.images", "lineup.faces.detected", "lineup.faces.embedded", "lineup.audit")
Api = face_search_pb2_grpc.FaceSearchStub


@pytest.fixture(scope="module")
def pipeline(tv_pipeline: Pipeline) -> Pipeline:
    return tv_pipeline


@pytest.fixture(scope="module")
def api(pipeline: Pipeline) -> Iterator[Api]:
    with grpc.insecure_channel(pipeline.endpoint, options=[("grpc.max_send_message_length", 32 << 20)]) as channel:
        yield face_search_pb2_grpc.FaceSearchStub(channel)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _face(name: str = "amy", n: int = 1) -> Path:
    return require(TV / name / f"{name}{n}.png")


def _assert_every_service_serves(p: Pipeline) -> None:
    for run in p.running:
        assert run.proc.poll() is None, f"{run.name} exited with {run.proc.returncode}; see {run.log}"
        with grpc.insecure_channel(f"127.0.0.1:{run.port}") as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.SERVING, run.name


def _index_and_search(api: Api, p: Pipeline, collection: str) -> None:
    """A real enrolment and a real search through the front door both succeed."""
    md = p.metadata()
    indexed = api.IndexFaces(face_search_pb2.IndexFacesRequest(
        collection_id=collection, image=common_pb2.Image(bytes=_face("amy", 1).read_bytes()), max_faces=1,
        external_image_id="amy1", quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=md, timeout=120)
    assert len(indexed.face_records) == 1
    found = api.SearchFacesByImage(face_search_pb2.SearchFacesByImageRequest(
        collection_id=collection, image=common_pb2.Image(bytes=_face("amy", 2).read_bytes()), largest_face_only=True,
        threshold=common_pb2.Threshold(max_fmr=1e-2), context=CONTEXT), metadata=md, timeout=120)
    assert found.results and found.results[0].face_matches[0].face.external_image_id == "amy1"


# -- observation 2 and requirement 3: hostile records on every topic ---------------------------------------


def _env(payload: Message, *, rid: str | None = None, agency: str, schema: int | None = None) -> bytes:
    env = new_envelope(payload, request_id=rid if rid is not None else uuid.uuid4().hex, agency_id=agency,
                       producer="attacker")
    if schema is not None:
        env.schema_version = schema
    try:
        return encode(env)[0]  # sealed, like a writer that can reach the key store
    except InvalidArgument:  # ids no sealer accepts: a hostile writer sends the envelope as it is
        return env.SerializeToString()


def _png_bytes(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (90, 60, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _hostile_records(p: Pipeline, collection: str, model_version: str) -> dict[str, list[bytes]]:
    """Per topic (without prefix): records that a consumer must dead-letter and survive."""
    a, other = p.agency, "other-agency-0017"
    task = events_pb2.PipelineTask

    def image(ref: common_pb2.ObjectRef, **kw: object) -> events_pb2.ImageAccepted:
        return events_pb2.ImageAccepted(task=task(operation=events_pb2.PIPELINE_OPERATION_DETECT, image=ref, **kw))

    own = common_pb2.ObjectRef(bucket="lineup-images", key=f"{a}/images/00/{'0' * 64}")
    good_image = image(own)
    crop = events_pb2.DetectedFaceCrop(face_index=0, crop=common_pb2.ObjectRef(
        bucket="lineup-crops", key=f"{other}/crops/{uuid.uuid4().hex}/0.png"))
    index = task(operation=events_pb2.PIPELINE_OPERATION_INDEX, collection_id=collection)

    def embedded(vector: list[float]) -> events_pb2.FacesEmbedded:
        face = events_pb2.EmbeddedFace(face_index=0, embedding=vector, crop=common_pb2.ObjectRef(
            bucket="lineup-crops", key=f"{a}/crops/x/0.png"))
        return events_pb2.FacesEmbedded(task=index, face_model_version=model_version, faces=[face])

    def audit(**kw: object) -> audit_pb2.AuditRecord:
        fields: dict[str, object] = {"record_id": uuid.uuid4().hex, "agency_id": a, "operation": "forged"}
        fields.update(kw)
        return audit_pb2.AuditRecord(**fields)  # type: ignore[arg-type]

    right = {"lineup.images": good_image, "lineup.faces.detected": events_pb2.FacesDetected(task=task()),
             "lineup.faces.embedded": embedded([0.1] * 128), "lineup.audit": audit()}
    generic: dict[str, list[bytes]] = {}
    for topic in CONSUMED:
        wrong = events_pb2.PipelineResult() if topic != "lineup.faces.embedded" else events_pb2.ImageAccepted()
        no_payload = events_pb2.Envelope(event_id="e", request_id="r", agency_id=a, schema_version=1)
        records = [b"", os.urandom(512), os.urandom(900_000), _env(right[topic], agency=a, schema=99),
                   no_payload.SerializeToString(), _env(wrong, agency=a)]
        if topic != "lineup.audit":  # envelope ids matter to the pipeline stages (audit uses the record's)
            records += [_env(right[topic], rid=rid, agency=a) for rid in ("..", ".", "a/b", "x" * 10_000)]
            records += [_env(right[topic], agency=bad) for bad in ("../" + other, "UPPER case", "")]
        generic[topic] = records
    generic["lineup.images"] += [
        _env(image(common_pb2.ObjectRef(bucket="lineup-images", key=f"{other}/images/00/{'0' * 64}")), agency=a),
        _env(image(common_pb2.ObjectRef(bucket="not-a-lineup-bucket", key=f"{a}/images/x")), agency=a),
        _env(image(common_pb2.ObjectRef(bucket="lineup-admin", key=f"{a}/../{other}/keys")), agency=a),
        _env(image(own, reply_topic=p.prefix + "lineup.audit"), agency=a),  # results into the audit topic
        _env(good_image, agency=a),  # a well-formed request for an image that does not exist
    ]
    generic["lineup.faces.detected"] += [
        _env(events_pb2.FacesDetected(task=task(), faces=[crop]), agency=a),
        _env(events_pb2.FacesDetected(task=task(), faces=[events_pb2.DetectedFaceCrop(
            crop=common_pb2.ObjectRef(bucket="elsewhere", key=f"{a}/crops/x/0.png"))]), agency=a),
        _env(events_pb2.FacesDetected(task=task(face_model_version="another_model/9")), agency=a),
        # chips carried inline: not an image, and the wrong size (a whole photo would embed and match
        # nobody); each with a crop reference the agency owns, so only the inline bytes are wrong
        *(_env(events_pb2.FacesDetected(task=task(), faces=[events_pb2.DetectedFaceCrop(
            crop=common_pb2.ObjectRef(bucket="lineup-crops", key=f"{a}/crops/x/0.png"), chip_png=chip)]), agency=a)
          for chip in (os.urandom(2048), _png_bytes(640, 480))),
    ]
    generic["lineup.faces.embedded"] += [
        _env(embedded([0.1] * 5), agency=a),  # wrong length
        _env(embedded([math.nan] * 128), agency=a),
        _env(embedded([0.0] * 128), agency=a),
        _env(events_pb2.FacesEmbedded(task=task(operation=events_pb2.PIPELINE_OPERATION_INDEX, collection_id=collection,
                                                owner_agency_id=other), face_model_version=model_version), agency=a),
    ]
    generic["lineup.audit"] += [
        _env(audit(record_id=""), agency=a),
        _env(audit(record_id="../x"), agency=a),
        _env(audit(agency_id="../" + other), agency=a),
        _env(audit(justification="J" * 300_000), agency=a),  # oversized
    ]
    return generic


def test_hostile_records_on_every_topic_are_dead_lettered_and_every_service_keeps_serving(
        api: Api, pipeline: Pipeline) -> None:
    p = pipeline
    api.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="hostile"), metadata=p.metadata(),
                         timeout=30)
    model = api.DescribeCollection(face_search_pb2.DescribeCollectionRequest(collection_id="hostile"),
                                   metadata=p.metadata(), timeout=30).face_model_version
    raw = KafkaProducer(bootstrap_servers=LOCAL_BOOTSTRAP, max_request_size=1_000_000)
    expected: set[tuple[str, int, int]] = set()
    try:
        for topic, records in _hostile_records(p, "hostile", model).items():
            for value in records:
                meta = raw.send(p.prefix + topic, value=value).get(timeout=30)
                expected.add((meta.topic, meta.partition, meta.offset))
        # not expected on the dead-letter topic: a result nobody waits for (ingest ignores stray results)
        # and junk on the results topic, which ingest's result waiter reads
        stray = events_pb2.PipelineResult(task=events_pb2.PipelineTask(), error_code=0)
        for value in (_env(stray, agency=p.agency), os.urandom(64), b""):
            raw.send(p.prefix + "lineup.results", value=value).get(timeout=30)
    finally:
        raw.close()

    # every hostile record on a consumed topic is dead-lettered: exactly those, each at least once
    dlq = p.prefix + "lineup.deadletter"
    reader = KafkaConsumer(bootstrap_servers=LOCAL_BOOTSTRAP, enable_auto_commit=False)
    reader.assign([TopicPartition(dlq, 0)])
    reader.seek_to_beginning()
    ours = {p.prefix + t for t in CONSUMED}
    seen: set[tuple[str, int, int]] = set()
    deadline = time.monotonic() + 240
    try:
        while seen != expected and time.monotonic() < deadline:
            for records in reader.poll(timeout_ms=500).values():
                for r in records:
                    letter = decode(r.value, r.headers).envelope.dead_letter
                    if letter.source_topic in ours:
                        seen.add((letter.source_topic, letter.source_partition, letter.source_offset))
    finally:
        reader.close()
    assert seen == expected, {"missing": sorted(expected - seen)[:10], "unexpected": sorted(seen - expected)[:10]}

    _assert_every_service_serves(p)
    _index_and_search(api, p, "hostile")


def test_dot_dot_request_id_does_not_crash_detection(api: Api, pipeline: Pipeline) -> None:
    """Observation 2 through the front door: `x-request-id: ..` (and '.', 'a/b') on DetectFaces is refused as
    an idempotency key before any work, and detection keeps serving."""
    p = pipeline
    image = common_pb2.Image(bytes=_face("amy", 3).read_bytes())
    for rid in ("..", ".", "a/b"):
        with pytest.raises(grpc.RpcError) as err:
            api.DetectFaces(face_search_pb2.DetectFacesRequest(image=image),
                            metadata=[*p.metadata(), ("x-request-id", rid)], timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Traceback" not in (err.value.details() or "")
    _assert_every_service_serves(p)
    faces = api.DetectFaces(face_search_pb2.DetectFacesRequest(image=image), metadata=p.metadata(), timeout=60)
    assert len(faces.face_details) == 1


# -- observation 9 and requirement 8: a large image holds up nobody else ------------------------------------


def test_a_slow_image_does_not_hold_up_another_agencys_request(api: Api, pipeline: Pipeline) -> None:
    p = pipeline
    other = f"{p.agency}-b"
    slow_image = common_pb2.Image(bytes=_png(Image.new("L", (8000, 8000), 128)))  # the documented maximum
    normal_image = common_pb2.Image(bytes=sorted(require(LFW_DEV / "images" / "Aaron_Sorkin").glob("*.jpg"))[0]
                                    .read_bytes())
    other_md = p.metadata(agency=other)  # minted before the race starts
    # the slow image's record must be in detection's hands before the normal request is sent
    watch = KafkaConsumer(bootstrap_servers=LOCAL_BOOTSTRAP, enable_auto_commit=False)
    parts = [TopicPartition(p.prefix + "lineup.images", i)
             for i in sorted(watch.partitions_for_topic(p.prefix + "lineup.images") or [])]
    watch.assign(parts)
    watch.seek_to_end()
    for tp in parts:
        watch.position(tp)
    finished: list[str] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        def run(name: str, image: common_pb2.Image, md: list[tuple[str, str]]) -> face_search_pb2.DetectFacesResponse:
            resp = api.DetectFaces(face_search_pb2.DetectFacesRequest(image=image), metadata=md, timeout=300)
            finished.append(name)
            return resp

        slow = pool.submit(run, "slow", slow_image, p.metadata())
        deadline = time.monotonic() + 120
        while not any(watch.poll(timeout_ms=200).values()):
            assert time.monotonic() < deadline and not slow.done(), "the slow image never reached detection"
        watch.close()
        normal = pool.submit(run, "normal", normal_image, other_md)
        assert len(normal.result(timeout=300).face_details) == 1
        assert finished == ["normal"], "the normal request waited for the slow image"
        assert slow.result(timeout=300).image_width == 8000  # and the slow one is processed too
    assert finished == ["normal", "slow"]


# -- requirement 4: the pixel cap is the decoder's cap; MPO photos ------------------------------------------


def test_every_image_the_front_door_accepts_is_processed_and_larger_ones_are_refused_there(
        api: Api, pipeline: Pipeline) -> None:
    """Observation 9: 6000x6000 (under the 64 MP cap) failed in detection with INTERNAL and PIL's text."""
    md = pipeline.metadata()
    resp = api.DetectFaces(face_search_pb2.DetectFacesRequest(
        image=common_pb2.Image(bytes=_png(Image.new("L", (6000, 6000), 90)))), metadata=md, timeout=300)
    assert (resp.image_width, resp.image_height) == (6000, 6000) and not resp.face_details
    with pytest.raises(grpc.RpcError) as err:
        api.DetectFaces(face_search_pb2.DetectFacesRequest(
            image=common_pb2.Image(bytes=_png(Image.new("1", (9000, 9000), 0)))), metadata=md, timeout=60)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "the limit is 64 MP" in (err.value.details() or "") and "Decompression" not in (err.value.details() or "")


def test_a_phone_mpo_photo_is_enrolled_as_its_first_frame(api: Api, pipeline: Pipeline) -> None:
    p = pipeline
    face = Image.open(_face("sheldon", 1)).convert("RGB")
    buf = io.BytesIO()
    face.save(buf, "MPO", save_all=True, append_images=[Image.new("RGB", face.size, (0, 0, 0))], quality=95)
    assert Image.open(io.BytesIO(buf.getvalue())).format == "MPO"
    api.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="phones"), metadata=p.metadata(),
                         timeout=30)
    resp = api.IndexFaces(face_search_pb2.IndexFacesRequest(
        collection_id="phones", image=common_pb2.Image(bytes=buf.getvalue()), max_faces=1, external_image_id="mpo",
        quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=p.metadata(), timeout=120)
    assert len(resp.face_records) == 1 and resp.face_records[0].face.external_image_id == "mpo"
