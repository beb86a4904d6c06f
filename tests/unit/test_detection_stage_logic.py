"""detection.stage without Kafka, MinIO or Triton: what one ImageAccepted message turns into.

The face finder is a fake that reports faces at given boxes (so no model runs), the object store an
in-memory dict, the producer a recorder. Checked: crops are stored under the request before the message
leaves, the chips ride inline within the budget, quality filtering is reported, DETECT stores nothing,
and records that point outside the agency are refused before anything is read.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from opentelemetry.context import Context
from PIL import Image

import detection.stage as stage_module
from detection.detector import AnalysedFace, Detection
from detection.quality import Band, Pose, Quality
from detection.settings import DetectionSettings
from detection.stage import DetectionStage
from lineup.errors import InvalidArgument
from lineup.kafka.envelope import Decoded, new_envelope
from lineup.topology import CROPS_BUCKET, DETECTED_TOPIC, IMAGES_BUCKET
from lineup.v1 import common_pb2, events_pb2
from tests.fakes import MemoryStore

AGENCY = "agency-a"
SFACE = "face_embedder_sface/1"


def _face(index: int, x0: float, size: float, band: Band = Band.HIGH) -> AnalysedFace:
    box = (x0, 10.0, x0 + size, 10.0 + size)
    # dlib chip pixel -> image pixel: the 150 px chip maps onto the box
    transform = np.array([[size / 150, 0, x0], [0, size / 150, 10.0]])
    return AnalysedFace(index=index, detection=Detection(box, 0.95, np.zeros((6, 2), np.float32)),
                        landmarks=np.zeros((5, 2), np.float32), pose=Pose(0.0, 0.0, 0.0),
                        quality=Quality(60.0, 50.0, int(size), band, () if band == Band.HIGH else ("blurred",)),
                        chip=np.zeros((150, 150, 3), np.uint8), transform=transform)


class Finder:
    model_version = "face_detector/1"

    def __init__(self, faces: list[AnalysedFace]) -> None:
        self.faces = faces

    def find(self, image: Image.Image) -> list[AnalysedFace]:
        return self.faces


class Producer:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.sent: list[tuple[str, events_pb2.Envelope, int]] = []

    def send(self, topic: str, env: events_pb2.Envelope, *, key: str = "") -> None:
        crops = sum(1 for (bucket, _) in self.store.objects if bucket == CROPS_BUCKET)
        self.sent.append((topic, env, crops))  # how many crops were durable when the message left


class Results:
    def __init__(self) -> None:
        self.published: list[events_pb2.PipelineResult] = []

    def publish(self, decoded: Decoded, result: events_pb2.PipelineResult) -> None:
        self.published.append(result)


def _photo() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (400, 900, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def world() -> Any:
    store = MemoryStore()
    key = f"{AGENCY}/images/00/{'0' * 64}"
    store.objects[(IMAGES_BUCKET, key)] = _photo()
    producer, results = Producer(store), Results()

    def make(faces: list[AnalysedFace]) -> DetectionStage:
        return DetectionStage(DetectionSettings(), Finder(faces), store, producer, results,  # type: ignore[arg-type]
                              uploads)

    with ThreadPoolExecutor(4) as uploads:
        yield make, store, producer, results, common_pb2.ObjectRef(bucket=IMAGES_BUCKET, key=key)


def _accepted(ref: common_pb2.ObjectRef, operation: int, **task: Any) -> Decoded:
    msg = events_pb2.ImageAccepted(task=events_pb2.PipelineTask(operation=operation, image=ref,
                                                                face_model_version=SFACE, **task))
    return Decoded(new_envelope(msg, request_id="rid-1", agency_id=AGENCY, producer="ingest"), Context())


def test_crops_are_stored_before_the_message_leaves_and_ride_inline(world: Any) -> None:
    make, store, producer, _, ref = world
    faces = [_face(0, 10, 200), _face(1, 300, 150), _face(2, 600, 120, Band.LOW)]
    make(faces).handle(_accepted(ref, events_pb2.PIPELINE_OPERATION_INDEX), None)
    (topic, env, crops_then), = producer.sent
    assert topic == DETECTED_TOPIC and crops_then == 2
    out = env.faces_detected
    assert [f.face_index for f in out.faces] == [0, 1]
    assert [f.face_index for f in out.filtered] == [2]  # LOW fails the default (AUTO) filter, with a reason
    assert out.filtered[0].reasons  # with the measurement that failed
    for f in out.faces:
        assert f.crop.bucket == CROPS_BUCKET and f.crop.key == f"{AGENCY}/crops/rid-1/{f.face_index}.png"
        assert f.chip_png == store.objects[(CROPS_BUCKET, f.crop.key)]  # inline bytes = the stored crop
        assert Image.open(io.BytesIO(f.chip_png)).size == (112, 112)  # the pinned model's crop


def test_chips_beyond_the_inline_budget_go_by_reference_only(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    make, _, producer, _, ref = world
    faces = [_face(i, 10 + 80 * i, 70) for i in range(6)]
    budget = 2 * 112 * 112 * 3  # the photo is noise, so each chip's PNG is about its raw size (37 kB)
    monkeypatch.setattr(stage_module, "INLINE_CHIPS_MAX_BYTES", budget)
    everything = common_pb2.QUALITY_FILTER_NONE
    make(faces).handle(_accepted(ref, events_pb2.PIPELINE_OPERATION_INDEX, quality_filter=everything), None)
    out = producer.sent[0][1].faces_detected
    inline = [f for f in out.faces if f.chip_png]
    assert len(out.faces) == 6 and 0 < len(inline) < 6
    assert sum(len(f.chip_png) for f in inline) <= budget
    assert all(f.crop.key for f in out.faces)  # every face can still be fetched


def test_detect_ends_the_request_and_stores_no_crop(world: Any) -> None:
    make, store, producer, results, ref = world
    make([_face(0, 10, 200)]).handle(_accepted(ref, events_pb2.PIPELINE_OPERATION_DETECT), None)
    assert not producer.sent
    (result,) = results.published
    assert len(result.detect_faces.face_details) == 1 and result.detect_faces.image_width == 900
    assert not [k for (bucket, k) in store.objects if bucket == CROPS_BUCKET]


@pytest.mark.parametrize("key", [f"agency-b/images/00/{'0' * 64}", f"{AGENCY}/../agency-b/x", "../x"])
def test_an_image_outside_the_agency_is_refused_before_it_is_read(world: Any, key: str) -> None:
    make, store, producer, _, _ = world
    with pytest.raises(InvalidArgument):
        make([_face(0, 10, 200)]).handle(_accepted(common_pb2.ObjectRef(bucket=IMAGES_BUCKET, key=key),
                                                   events_pb2.PIPELINE_OPERATION_INDEX), None)
    assert store.gets == 0 and producer.sent == []
