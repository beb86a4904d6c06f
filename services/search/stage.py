"""The `search` stage of the Kafka pipeline: `FacesEmbedded` in, the request's final `PipelineResult` out.

It consumes `lineup.faces.embedded` (group `search`) and, per docs/pipeline.md:

- INDEX: upserts one row per face; the id is `face_id_for(request_id, face_index)`, so a replayed message
  overwrites the same rows (and keeps their user association and first `indexed_at`) instead of adding faces.
  Messages of one collection handled at the same time are written by one upsert (`search.upserts`).
- SEARCH: one vector search for all faces of the probe, scored with the calibration of the model the
  collection is pinned to; every result carries its provenance and the investigative-lead notice.
- SEARCH_USERS: the probe's largest face against the faces that belong to users, ranked by each user's
  best face.

The stage lives in the search service because it is the only code that knows the vector store; it calls
`FaceStore` directly rather than its own gRPC API. A result is persisted before it is published
(`ResultPublisher`), and the offset is committed only after that, so a crash replays the message and the
replay is harmless. A message that cannot be processed (unknown collection, model mismatch, bad vectors)
raises a LineupError: the consumer dead-letters it and `ResultPublisher.fail` ends the request with that
status. Milvus being unreachable is `Unavailable`, which the consumer retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kafka.consumer.fetcher import ConsumerRecord
from opentelemetry import trace

from lineup.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from lineup.kafka.concurrent import ConcurrentEnvelopeConsumer
from lineup.kafka.deadletter import DeadLetterPublisher
from lineup.kafka.envelope import Decoded
from lineup.kafka.producer import EnvelopeProducer
from lineup.kafka.sealing import install_store_sealer
from lineup.objectstore import ObjectStore
from lineup.pipeline import ResultPublisher, ResultStore, check_envelope_ids, face_id_for
from lineup.scoring import load_score_model, provenance
from lineup.telemetry import current_trace_id
from lineup.topology import DEADLETTER_TOPIC, EMBEDDED_TOPIC
from lineup.v1 import events_pb2, face_search_pb2
from search.messages import face_matches, face_message, user_matches
from search.naming import MAX_QUERIES
from search.ranking import RankedUser, rank_faces, rank_users
from search.rows import BoundingBox, CollectionInfo, FaceRow, Hit
from search.settings import SearchSettings
from search.store import FaceStore
from search.upserts import UpsertBatcher

log = logging.getLogger(__name__)
tracer = trace.get_tracer("lineup.search")

SERVICE = "search"
#: candidates per face (SEARCH) and users (SEARCH_USERS) when the task leaves max_matches at 0
DEFAULT_MAX_MATCHES = 10

Op = events_pb2.PipelineOperation


class SearchStage:
    """Turns one FacesEmbedded message into the request's PipelineResult and publishes it."""

    def __init__(self, store: FaceStore, publisher: ResultPublisher) -> None:
        self.store = store
        self.publisher = publisher
        #: INDEX messages handled at the same time share one upsert per collection (search.upserts)
        self.upserts = UpsertBatcher(store.upsert_faces)
        self._operations: dict[int, Callable[[events_pb2.Envelope, events_pb2.FacesEmbedded],
                                             events_pb2.PipelineResult]] = {
            Op.PIPELINE_OPERATION_INDEX: self.index,
            Op.PIPELINE_OPERATION_SEARCH: self.search,
            Op.PIPELINE_OPERATION_SEARCH_USERS: self.search_users,
        }

    def handle(self, decoded: Decoded, record: ConsumerRecord) -> None:
        """The consumer's handler: raise LineupError to dead-letter and fail the request."""
        env = decoded.envelope
        if decoded.payload_kind != "faces_embedded":
            raise InvalidArgument(f"the search stage consumes FacesEmbedded, not {decoded.payload_kind}")
        check_envelope_ids(env)
        msg = env.faces_embedded
        operation = self._operations.get(msg.task.operation)
        if operation is None:
            raise InvalidArgument(f"the search stage cannot do {Op.Name(msg.task.operation)}")
        if len(msg.faces) > MAX_QUERIES:
            raise InvalidArgument(f"{len(msg.faces)} faces in one image; the pipeline processes at most "
                                  f"{MAX_QUERIES}")
        name = Op.Name(msg.task.operation).removeprefix("PIPELINE_OPERATION_")
        with tracer.start_as_current_span(f"search {name}", attributes={
                "lineup.request_id": env.request_id, "lineup.collection_id": msg.task.collection_id,
                "lineup.faces": len(msg.faces)}):
            result = operation(env, msg)
        self.publisher.publish(decoded, result)
        log.info("request done", extra={"request_id": env.request_id, "operation": name,
                                        "collection_id": msg.task.collection_id, "faces": len(msg.faces)})

    # ------------------------------------------------------------------------------------------ operations

    def index(self, env: events_pb2.Envelope, msg: events_pb2.FacesEmbedded) -> events_pb2.PipelineResult:
        task, cid, agency = msg.task, msg.task.collection_id, env.agency_id
        if task.owner_agency_id and task.owner_agency_id != agency:
            raise PermissionDenied("a grant allows searching another agency's collection, never enrolling into it")
        if task.probe:
            raise InvalidArgument("probe images are never enrolled")
        info = self.store.collection_info(agency, cid)
        _check_model(info, msg, cid)
        ids = [face_id_for(env.request_id, f.face_index) for f in msg.faces]
        # a replay must not undo what happened since the first delivery (an association to a user)
        before = {row.face_id: row for row in self.store.get_faces(agency, cid, face_ids=ids,
                                                                   page_size=MAX_QUERIES).faces} if ids else {}
        now_ms = int(time.time() * 1000)
        rows: list[FaceRow] = []
        for face, face_id in zip(msg.faces, ids, strict=True):
            prev, box = before.get(face_id), face.detail.bounding_box
            rows.append(FaceRow(
                face_id=face_id, image_id=task.image_sha256, external_image_id=task.external_image_id,
                user_id=prev.user_id if prev else "", crop_bucket=face.crop.bucket, crop_key=face.crop.key,
                confidence=face.detail.confidence,
                bounding_box=BoundingBox(box.left, box.top, box.width, box.height),
                indexed_at_ms=prev.indexed_at_ms if prev else now_ms, face_model_version=info.face_model_version,
                embedding=tuple(face.embedding)))
        if rows:
            self.upserts.upsert(agency, cid, rows)
        response = face_search_pb2.IndexFacesResponse(
            face_records=[face_search_pb2.FaceRecord(face=face_message(row, cid), face_detail=face.detail)
                          for row, face in zip(rows, msg.faces, strict=True)],
            unindexed_faces=msg.filtered, face_model_version=info.face_model_version,
            image_id=task.image_sha256, request_id=env.request_id)
        return events_pb2.PipelineResult(task=task, index_faces=response)

    def _pin(self, owner: str, cid: str, msg: events_pb2.FacesEmbedded) -> CollectionInfo:
        info = self.store.collection_info(owner, cid)
        _check_model(info, msg, cid)
        return info

    def search(self, env: events_pb2.Envelope, msg: events_pb2.FacesEmbedded) -> events_pb2.PipelineResult:
        task, cid = msg.task, msg.task.collection_id
        owner = task.owner_agency_id or env.agency_id  # a grantee searches the owner's collection
        lists: list[list[Hit]] = []
        if msg.faces:  # one store call, the pin checked before searching
            info, lists = rank_faces(self.store, owner, cid, [list(f.embedding) for f in msg.faces],
                                     top_k=task.max_matches or DEFAULT_MAX_MATCHES, min_raw_score=task.min_raw_score,
                                     check=lambda pin: _check_model(pin, msg, cid))
        else:  # nothing to search: the pin is still checked, and the answer still carries it
            info = self._pin(owner, cid, msg)
        scores = load_score_model(info.face_model_version)
        response = face_search_pb2.SearchFacesByImageResponse(
            results=[face_search_pb2.ProbeFaceResult(face_index=face.face_index, searched_face=face.detail,
                                                     face_matches=face_matches(hits, scores, cid))
                     for face, hits in zip(msg.faces, lists, strict=True)],
            unsearched_faces=msg.filtered, probe_image_sha256=task.image_sha256,
            provenance=provenance(env.request_id, current_trace_id(), scores, task.min_raw_score))
        return events_pb2.PipelineResult(task=task, search_faces_by_image=response)

    def search_users(self, env: events_pb2.Envelope, msg: events_pb2.FacesEmbedded) -> events_pb2.PipelineResult:
        task, cid = msg.task, msg.task.collection_id
        owner = task.owner_agency_id or env.agency_id
        ranked: list[RankedUser] = []
        if msg.faces:
            probe = min(msg.faces, key=lambda f: f.face_index)  # faces come largest first
            info, ranked = rank_users(self.store, owner, cid, [list(probe.embedding)],
                                      max_users=task.max_matches or DEFAULT_MAX_MATCHES,
                                      min_raw_score=task.min_raw_score, check=lambda pin: _check_model(pin, msg, cid))
        else:  # nothing to search: the pin is still checked, and the answer still carries it
            info = self._pin(owner, cid, msg)
        scores = load_score_model(info.face_model_version)
        response = face_search_pb2.SearchUsersByImageResponse(
            unsearched_faces=msg.filtered, user_matches=user_matches(ranked, scores),
            provenance=provenance(env.request_id, current_trace_id(), scores, task.min_raw_score))
        if msg.faces:
            response.searched_face.CopyFrom(min(msg.faces, key=lambda f: f.face_index).detail)
        return events_pb2.PipelineResult(task=task, search_users_by_image=response)


def _check_model(info: CollectionInfo, msg: events_pb2.FacesEmbedded, collection_id: str) -> None:
    """Cosine scores between embeddings of two models mean nothing: the vectors must come from the pin."""
    if msg.face_model_version != info.face_model_version:
        raise FailedPrecondition(
            f"collection {collection_id!r} is pinned to face model {info.face_model_version!r} but the faces were "
            f"embedded with {msg.face_model_version or 'an unnamed model'!r}: serve the pinned model, or create a "
            f"new collection for the new model and re-enrol")


def build_consumer(settings: SearchSettings, store: FaceStore) -> tuple[ConcurrentEnvelopeConsumer, EnvelopeProducer]:
    """The consumer loop (a ServiceServer worker) and the producer it publishes with (close it last).

    The producer and the consumer connect to Kafka here, so a service that cannot reach Kafka at start
    exits and is restarted, instead of serving an API whose pipeline half does nothing."""
    settings.require("minio_access_key", "minio_secret_key")
    producer = EnvelopeProducer.from_settings(settings)
    try:
        objects = ObjectStore.from_settings(settings)
        install_store_sealer(objects)  # pipeline payloads are sealed per request (crypto-shredding)
        publisher = ResultPublisher(producer, ResultStore(objects), service=SERVICE,
                                    topic_prefix=settings.topic_prefix)
        stage = SearchStage(store, publisher)
        # several messages at once: a search waits on Milvus and MinIO, and one enrolment burst or a large
        # crowd search must not queue every other agency's search behind it
        consumer = ConcurrentEnvelopeConsumer(
            bootstrap=settings.kafka_bootstrap, group_id=settings.topic_prefix + SERVICE,
            topics=[settings.topic(EMBEDDED_TOPIC)], handler=stage.handle,
            dead_letters=DeadLetterPublisher(producer, topic=settings.topic(DEADLETTER_TOPIC), service=SERVICE),
            on_failure=publisher.fail, client_id=settings.service_name, concurrency=settings.stage_concurrency)
    except BaseException:
        producer.close()
        raise
    return consumer, producer
