"""embedding.stage without a broker: chips carried inside FacesDetected are used as they are, others fetched.

The stage's collaborators are fakes (object store, Triton, producer): what is checked is the stage's own
logic, i.e. which chips it reads where, that inline and fetched chips give the same vectors, and that a bad
inline chip fails its own message only.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from PIL import Image

from embedding.embedder import FaceEmbedder
from embedding.models import ServedModels, load_face_model
from embedding.settings import EmbeddingSettings
from embedding.stage import EmbeddingStage
from lineup.errors import InvalidArgument
from lineup.kafka.consumer import BatchItem
from lineup.kafka.envelope import Decoded, new_envelope
from lineup.modelkit.backends import TracedBackend
from lineup.v1 import common_pb2, events_pb2
from tests.fakes import MemoryStore

MODEL = "face_embedder_sface"
AGENCY = "agency-a"


class PixelBackend:
    """An embedder whose vector is a function of the chip's pixels (so equal chips give equal vectors)."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension

    def infer(self, model_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        chips = inputs["image"].astype(np.float32)
        base = chips.reshape(len(chips), -1)[:, :self.dimension] + 1.0
        return {"embedding": base}


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, events_pb2.Envelope]] = []

    def send(self, topic: str, env: events_pb2.Envelope, *, key: str = "") -> None:
        self.sent.append((topic, env))


class Results:
    def publish(self, decoded: Decoded, result: events_pb2.PipelineResult) -> None:
        raise AssertionError("INDEX messages are forwarded, not ended here")


def _png(seed: int, size: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def stage() -> Any:
    model = load_face_model(MODEL)
    backend = TracedBackend(PixelBackend(model.dimension))
    embedder = FaceEmbedder(backend, model_name=MODEL, flip=True, chip_size=model.chip_size)
    store, producer = MemoryStore(), Producer()
    with ThreadPoolExecutor(4) as pool:
        s = EmbeddingStage(EmbeddingSettings(face_model=MODEL), ServedModels([model], [embedder]), backend, store,
                           producer, Results(), pool)  # type: ignore[arg-type]
        yield s, store, producer, model


def _item(request_id: str, faces: list[events_pb2.DetectedFaceCrop]) -> BatchItem:
    task = events_pb2.PipelineTask(operation=events_pb2.PIPELINE_OPERATION_INDEX, collection_id="c")
    env = new_envelope(events_pb2.FacesDetected(task=task, faces=faces), request_id=request_id, agency_id=AGENCY,
                       producer="detection")
    return BatchItem(Decoded(env, Context()), None, trace.INVALID_SPAN)  # type: ignore[arg-type]


def _crop(i: int, request_id: str, png: bytes = b"") -> events_pb2.DetectedFaceCrop:
    ref = common_pb2.ObjectRef(bucket="lineup-crops", key=f"{AGENCY}/crops/{request_id}/{i}.png")
    return events_pb2.DetectedFaceCrop(face_index=i, crop=ref, chip_png=png)


def test_inline_chips_are_not_fetched_and_embed_like_fetched_ones(stage: Any) -> None:
    s, store, producer, model = stage
    chips = [_png(i, model.chip_size) for i in range(3)]
    for i, png in enumerate(chips):
        store.objects[("lineup-crops", f"{AGENCY}/crops/r2/{i}.png")] = png
    inline = _item("r1", [_crop(i, "r1", png) for i, png in enumerate(chips)])
    fetched = _item("r2", [_crop(i, "r2") for i in range(3)])
    assert s.handle_batch([inline, fetched]) == [None, None]
    assert store.gets == 3  # r2's three chips; r1's were never read (r1 is not in the store at all)
    out = {env.request_id: env.faces_embedded for _, env in producer.sent}
    for a, b in zip(out["r1"].faces, out["r2"].faces, strict=True):
        assert a.embedding == pytest.approx(b.embedding)
        assert a.crop.key.endswith(f"/{a.face_index}.png")


def test_a_bad_inline_chip_fails_its_own_message_only(stage: Any) -> None:
    s, store, producer, model = stage
    wrong_size = _item("bad1", [_crop(0, "bad1", _png(1, model.chip_size + 38))])
    garbage = _item("bad2", [_crop(0, "bad2", b"\x89PNG not really")])
    good = _item("ok", [_crop(0, "ok", _png(2, model.chip_size))])
    outcomes = s.handle_batch([wrong_size, garbage, good])
    assert isinstance(outcomes[0], InvalidArgument) and "the model takes the aligned" in outcomes[0].message
    assert isinstance(outcomes[1], InvalidArgument)
    assert outcomes[2] is None
    assert [env.request_id for _, env in producer.sent] == ["ok"]
    assert store.gets == 0
