"""The embedding pipeline stage: `FacesDetected` on lineup.faces.detected -> `FacesEmbedded`.

Chips come inside the message (`DetectedFaceCrop.chip_png`) up to detection's per-message budget; the
others are fetched from the object store by reference. Either way they are decoded and checked the same
way (`decode_chip`), and the output carries only the reference.

Batching policy: the consumer hands over every record that arrived together (at most
`batch_max_messages`, waiting at most `batch_linger_ms` after the first). The crops of all of them are
fetched in parallel, then embedded together in groups of whole messages of at most `batch_max_faces`
faces; each group is one `FaceEmbedder.embed`, i.e. ceil(2 x faces / triton_max_batch) Triton calls
(every chip goes with its mirror). Each message then gets its own output, published inside its own trace:
COMPARE_SOURCE/COMPARE_TARGET end the request with `PipelineResult{embedded}`, everything else goes to
lineup.faces.embedded. Offsets are committed after the whole batch, by the consumer.

Errors are per message: a missing or corrupt crop, or a request pinned to another model version, fails
that message alone (dead letter + failed result). Triton or the object store being down fails the
affected messages with UNAVAILABLE, which the consumer retries before giving up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from opentelemetry import trace

from embedding.chips import check_crop_ref, decode_chip
from embedding.models import FaceModel, ServedModels
from embedding.settings import EmbeddingSettings
from lineup.errors import InvalidArgument, LineupError
from lineup.kafka.consumer import BatchEnvelopeConsumer, BatchItem
from lineup.kafka.deadletter import DeadLetterPublisher
from lineup.kafka.producer import EnvelopeProducer
from lineup.modelkit.backends import TracedBackend
from lineup.objectstore import ObjectStore
from lineup.pipeline import ResultPublisher, check_envelope_ids, forward
from lineup.topology import DEADLETTER_TOPIC, DETECTED_TOPIC, EMBEDDED_TOPIC
from lineup.v1 import common_pb2, events_pb2

log = logging.getLogger(__name__)


#: detection's ceiling on faces per image (detection.settings.API_MAX_FACES); more is not from detection
MAX_FACES_PER_MESSAGE = 100
_COMPARE = {events_pb2.PIPELINE_OPERATION_COMPARE_SOURCE, events_pb2.PIPELINE_OPERATION_COMPARE_TARGET}


@dataclass
class _Job:
    """One message of a batch on its way through fetch -> embed -> publish."""

    position: int  # index in the batch (and in the outcomes)
    item: BatchItem
    detected: events_pb2.FacesDetected
    model: FaceModel  # the pinned model (the default when the task names none)
    chips: list[Future[np.ndarray]] = field(default_factory=list)
    vectors: np.ndarray | None = None


def fetch_chip(store: ObjectStore, ref: common_pb2.ObjectRef, size: int) -> np.ndarray:
    return decode_chip(store.get(ref), size)


def _ready(chip: np.ndarray) -> Future[np.ndarray]:
    """A chip that came inside the message, in the shape of one being fetched."""
    done: Future[np.ndarray] = Future()
    done.set_result(chip)
    return done


class EmbeddingStage:
    """The batch handler of the `embedding` consumer group."""

    def __init__(self, settings: EmbeddingSettings, models: ServedModels, backend: TracedBackend,
                 store: ObjectStore, producer: EnvelopeProducer, results: ResultPublisher,
                 pool: ThreadPoolExecutor) -> None:
        self.settings = settings
        self.models = models
        self.backend = backend
        self.store = store
        self.producer = producer
        self.results = results
        self.pool = pool

    def handle_batch(self, items: Sequence[BatchItem]) -> list[Exception | None]:
        outcomes: list[Exception | None] = [None] * len(items)
        jobs: list[_Job] = []
        for pos, item in enumerate(items):
            try:
                jobs.append(self._start(pos, item))
            except LineupError as exc:
                outcomes[pos] = exc
        jobs = self._collect(jobs, outcomes)
        calls_before = self.backend.calls
        faces = sum(len(j.detected.faces) for j in jobs)
        try:
            for group in self._groups(jobs):
                self._embed(group)
        except LineupError as exc:  # Triton unavailable (retried by the consumer) or misconfigured
            for job in jobs:
                outcomes[job.position] = exc
            return outcomes
        for job in jobs:
            try:
                with job.item.activate():
                    self._publish(job)
            except Exception as exc:  # e.g. Kafka unavailable: this message alone is retried
                outcomes[job.position] = exc
        calls = self.backend.calls - calls_before
        span = trace.get_current_span()
        span.set_attribute("lineup.faces", faces)
        span.set_attribute("lineup.triton_calls", calls)
        log.info("embedded batch", extra={"messages": len(items), "embedded_messages": len(jobs), "faces": faces,
                                          "triton_calls": calls})
        return outcomes

    # -- steps ------------------------------------------------------------------------------------
    def _start(self, pos: int, item: BatchItem) -> _Job:
        """Validate one message and start fetching its crops (in its own trace)."""
        decoded = item.decoded
        if decoded.payload_kind != "faces_detected":
            raise InvalidArgument(f"{DETECTED_TOPIC} carries FacesDetected, not {decoded.payload_kind}")
        check_envelope_ids(decoded.envelope)
        detected = decoded.envelope.faces_detected
        if len(detected.faces) > MAX_FACES_PER_MESSAGE:
            raise InvalidArgument(f"{len(detected.faces)} faces in one message; detection sends at most "
                                  f"{MAX_FACES_PER_MESSAGE}")
        model = self.models.for_pin(detected.task.face_model_version)
        agency = decoded.envelope.agency_id
        for face in detected.faces:
            check_crop_ref(face.crop, agency)
        job = _Job(pos, item, detected, model)

        def fetch(ref: common_pb2.ObjectRef) -> np.ndarray:
            with item.activate():
                return fetch_chip(self.store, ref, model.chip_size)

        job.chips = [_ready(decode_chip(face.chip_png, model.chip_size)) if face.chip_png
                     else self.pool.submit(fetch, face.crop) for face in detected.faces]
        return job

    @staticmethod
    def _collect(jobs: list[_Job], outcomes: list[Exception | None]) -> list[_Job]:
        """Wait for the crops; a message with a missing or bad crop drops out with that error."""
        ready = []
        for job in jobs:
            try:
                for f in job.chips:
                    f.result()
                ready.append(job)
            except Exception as exc:
                outcomes[job.position] = exc
        return ready

    def _groups(self, jobs: list[_Job]) -> list[list[_Job]]:
        """Whole messages of one model, at most batch_max_faces faces per group (one larger message is a
        group alone); a batch that mixes models gives each model its own groups."""
        out: list[list[_Job]] = []
        for version in dict.fromkeys(job.model.version for job in jobs):
            groups: list[list[_Job]] = [[]]
            size = 0
            for job in (j for j in jobs if j.model.version == version):
                n = len(job.detected.faces)
                if groups[-1] and size + n > self.settings.batch_max_faces:
                    groups.append([])
                    size = 0
                groups[-1].append(job)
                size += n
            out.extend(g for g in groups if g)
        return out

    def _embed(self, group: list[_Job]) -> None:
        model = group[0].model
        chips = [f.result() for job in group for f in job.chips]
        vectors = (self.models.embedder(model).embed(np.stack(chips)) if chips
                   else np.zeros((0, model.dimension), np.float32))
        start = 0
        for job in group:
            end = start + len(job.detected.faces)
            job.vectors = vectors[start:end]
            start = end

    def _publish(self, job: _Job) -> None:
        detected = job.detected
        assert job.vectors is not None
        out = events_pb2.FacesEmbedded(task=detected.task, filtered=detected.filtered,
                                       face_model_version=job.model.version)
        for face, vector in zip(detected.faces, job.vectors, strict=True):
            out.faces.append(events_pb2.EmbeddedFace(face_index=face.face_index, detail=face.detail, crop=face.crop,
                                                     embedding=vector.tolist()))
        if detected.task.operation in _COMPARE:
            self.results.publish(job.item.decoded, events_pb2.PipelineResult(task=detected.task, embedded=out))
        else:
            forward(self.producer, self.settings.topic(EMBEDDED_TOPIC), job.item.decoded, out,
                    service=self.settings.service_name)


def build_consumer(settings: EmbeddingSettings, stage: EmbeddingStage, producer: EnvelopeProducer,
                   results: ResultPublisher) -> BatchEnvelopeConsumer:
    """Consumer group `<prefix>embedding` on `<prefix>lineup.faces.detected`, in batch mode."""
    name = settings.service_name
    return BatchEnvelopeConsumer(
        bootstrap=settings.kafka_bootstrap, group_id=settings.topic_prefix + name,
        topics=[settings.topic(DETECTED_TOPIC)], handler=stage.handle_batch,
        dead_letters=DeadLetterPublisher(producer, topic=settings.topic(DEADLETTER_TOPIC), service=name),
        on_failure=results.fail, client_id=name, max_batch_records=settings.batch_max_messages,
        linger_ms=settings.batch_linger_ms,
    )
