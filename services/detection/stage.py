"""The detection pipeline stage: `ImageAccepted` on lineup.images -> `FacesDetected` (or DETECT's result).

Per message: fetch the original from the object store, decode it upright, find faces, then either
- DETECT: end the request with `PipelineResult{detect_faces}` (every face up to max_faces, no crops), or
- otherwise: apply the quality filter and max_faces, store each kept face's aligned chip as PNG under
  `lineup-crops/<agency>/crops/<request_id>/<face_index>.png`, and publish `FacesDetected` (also with no
  faces, so the next stages can end the request with an empty result instead of a timeout).

The chips also travel inside `FacesDetected` (`chip_png`, up to `INLINE_CHIPS_MAX_BYTES` per message, the
rest by reference), so the embedding stage does not fetch what detection just wrote. The crops are still
stored, in parallel, *before* the message is published: a crop is evidence (enrolled faces, review) and
must exist, and be erasable, by the time anybody can learn its face id.

The consumer commits only after this returns, i.e. after the crops and the output message are durable; a
replay rewrites the same crop keys and the next stages derive ids from (request id, face index).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
from kafka.consumer.fetcher import ConsumerRecord

from detection.faces import (
    FaceFinder,
    check_scope,
    chip_png,
    decode_image,
    effective_max_faces,
    face_detail,
    model_crop,
    select_faces,
)
from detection.settings import DetectionSettings
from lineup.chips import chip_spec
from lineup.errors import InvalidArgument
from lineup.kafka.concurrent import ConcurrentEnvelopeConsumer
from lineup.kafka.consumer import ConsumerFactory
from lineup.kafka.deadletter import DeadLetterPublisher
from lineup.kafka.envelope import Decoded
from lineup.kafka.producer import EnvelopeProducer
from lineup.objectstore import ObjectStore
from lineup.pipeline import ResultPublisher, check_envelope_ids, crop_key, forward
from lineup.topology import BUCKETS, DEADLETTER_TOPIC, DETECTED_TOPIC, IMAGES_TOPIC
from lineup.v1 import events_pb2, face_search_pb2

log = logging.getLogger(__name__)


#: chip bytes carried inline per FacesDetected message: well under the brokers' default message.max.bytes
#: (1 MB) after sealing; a 112 px SFace chip is ~25 kB, so ~20 faces ride along and a crowd's rest is fetched
INLINE_CHIPS_MAX_BYTES = 512 * 1024


class DetectionStage:
    """The handler of the `detection` consumer group."""

    def __init__(self, settings: DetectionSettings, finder: FaceFinder, store: ObjectStore,
                 producer: EnvelopeProducer, results: ResultPublisher, uploads: ThreadPoolExecutor) -> None:
        self.settings = settings
        self.finder = finder
        self.store = store
        self.producer = producer
        self.results = results
        #: stores a message's crops in parallel (one PUT per face would otherwise be sequential)
        self.uploads = uploads

    def handle(self, decoded: Decoded, record: ConsumerRecord) -> None:
        env = decoded.envelope
        if decoded.payload_kind != "image_accepted":
            raise InvalidArgument(f"{IMAGES_TOPIC} carries ImageAccepted, not {decoded.payload_kind}")
        task = env.image_accepted.task
        check_envelope_ids(env)
        check_scope(task.image, (env.agency_id, task.owner_agency_id), BUCKETS)
        # the crop of the model the task is pinned to (a collection's pin; ingest stamps the default model
        # on probes); an unknown model fails here, before the image is decoded
        spec = chip_spec(task.face_model_version)
        image = decode_image(self.store.get(task.image), self.settings.max_image_pixels)
        faces = self.finder.find(image)
        width, height = image.width, image.height
        limit = effective_max_faces(task.max_faces, largest_face_only=task.largest_face_only,
                                    ceiling=self.settings.max_faces)

        if task.operation == events_pb2.PIPELINE_OPERATION_DETECT:
            details = [face_detail(f, width, height) for f in faces[:limit]]
            response = face_search_pb2.DetectFacesResponse(face_details=details, image_width=width,
                                                           image_height=height, request_id=env.request_id)
            self.results.publish(decoded, events_pb2.PipelineResult(task=task, detect_faces=response))
            log.info("faces detected", extra={"request_id": env.request_id, "faces": len(details),
                                              "operation": "DETECT"})
            return

        pixels = np.asarray(image)
        selection = select_faces(faces, width=width, height=height, max_faces=limit,
                                 quality_filter=task.quality_filter)
        out = events_pb2.FacesDetected(task=task, filtered=selection.filtered,
                                       detector_model_version=self.finder.model_version)
        pngs = [chip_png(model_crop(pixels, face, spec)) for face in selection.kept]
        puts = [self.uploads.submit(self.store.put, self.settings.crops_bucket,
                                    crop_key(env.agency_id, env.request_id, face.index), png, content_type="image/png")
                for face, png in zip(selection.kept, pngs, strict=True)]
        wait(puts)  # every write settled before anything is raised or published: none can land after an erasure
        inline = INLINE_CHIPS_MAX_BYTES
        for face, png, put in zip(selection.kept, pngs, puts, strict=True):
            crop = events_pb2.DetectedFaceCrop(face_index=face.index, detail=face_detail(face, width, height),
                                               crop=put.result())
            if len(png) <= inline:
                crop.chip_png, inline = png, inline - len(png)
            out.faces.append(crop)
        forward(self.producer, self.settings.topic(DETECTED_TOPIC), decoded, out, service=self.settings.service_name)
        log.info("faces detected", extra={"request_id": env.request_id, "faces": len(out.faces),
                                          "filtered": len(out.filtered),
                                          "operation": events_pb2.PipelineOperation.Name(task.operation)})


def build_consumer(settings: DetectionSettings, stage: DetectionStage, producer: EnvelopeProducer,
                   results: ResultPublisher, consumer_factory: ConsumerFactory | None = None
                   ) -> ConcurrentEnvelopeConsumer:
    """Consumer group `<prefix>detection` on `<prefix>lineup.images`, `detection_concurrency` images in work
    at once (a large image delays only itself); failures end the request via `results`."""
    name = settings.service_name
    return ConcurrentEnvelopeConsumer(
        bootstrap=settings.kafka_bootstrap, group_id=settings.topic_prefix + name,
        topics=[settings.topic(IMAGES_TOPIC)], handler=stage.handle,
        dead_letters=DeadLetterPublisher(producer, topic=settings.topic(DEADLETTER_TOPIC), service=name),
        on_failure=results.fail, client_id=name, concurrency=settings.detection_concurrency,
        max_poll_records=settings.max_poll_records, consumer_factory=consumer_factory,
    )
