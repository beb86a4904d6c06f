"""What every pipeline stage shares: deterministic face ids, forwarding an envelope to the next topic,
and publishing a request's final result (or its failure) durably.

A result is written to the object store before it is published, so `GetRequest` can answer after the
synchronous caller gave up, and any ingest replica can serve it.
"""

from __future__ import annotations

import uuid

from google.protobuf.message import Message

from lineup.errors import LineupError, NotFound
from lineup.kafka.envelope import Decoded, new_envelope
from lineup.kafka.producer import EnvelopeProducer
from lineup.kafka.sealing import ErasedError, installed_sealer
from lineup.objectstore import ObjectStore, agency_key
from lineup.topology import TOPICS
from lineup.v1 import common_pb2, events_pb2

RESULTS_TOPIC = next(t.name for t in TOPICS if t.name.endswith(".results"))
RESULTS_BUCKET = "lineup-jobs"
_FACE_NS = uuid.UUID("6f1c0b1e-8a53-4d6e-9a39-6f6c696e6575")


def face_id_for(request_id: str, face_index: int) -> str:
    """The same request and face always get the same id: a redelivered message upserts, never duplicates."""
    return str(uuid.uuid5(_FACE_NS, f"{request_id}/{face_index}"))


def forward(producer: EnvelopeProducer, topic: str, decoded: Decoded, payload: Message, *, service: str) -> None:
    """Publish the next step's payload for the same request (request id, agency and actor carried over)."""
    src = decoded.envelope
    env = new_envelope(payload, request_id=src.request_id, agency_id=src.agency_id, producer=service,
                       actor=src.actor if src.HasField("actor") else None)
    producer.send(topic, env, key=src.request_id)


class ResultStore:
    """Pipeline results by request id, under the agency's prefix."""

    def __init__(self, store: ObjectStore, bucket: str = RESULTS_BUCKET) -> None:
        self.store = store
        self.bucket = bucket

    def _key(self, agency_id: str, request_id: str) -> str:
        return agency_key(agency_id, "requests", request_id)

    def put(self, agency_id: str, request_id: str, result: events_pb2.PipelineResult) -> None:
        self.store.put(self.bucket, self._key(agency_id, request_id), result.SerializeToString())

    def ref(self, agency_id: str, request_id: str) -> common_pb2.ObjectRef:
        return common_pb2.ObjectRef(bucket=self.bucket, key=self._key(agency_id, request_id))

    def task_ref(self, agency_id: str, request_id: str) -> common_pb2.ObjectRef:
        """The task ingest stored before publishing (`<rid>.task`, see ingest.gateway)."""
        return common_pb2.ObjectRef(bucket=self.bucket, key=self._key(agency_id, request_id) + ".task")

    def get(self, agency_id: str, request_id: str) -> events_pb2.PipelineResult | None:
        try:
            data = self.store.get(common_pb2.ObjectRef(bucket=self.bucket, key=self._key(agency_id, request_id)))
        except NotFound:
            return None
        result = events_pb2.PipelineResult()
        result.ParseFromString(data)
        return result


class ResultPublisher:
    """Ends a request: persist its PipelineResult, then publish it to the task's reply topic."""

    def __init__(self, producer: EnvelopeProducer, results: ResultStore, *, service: str, topic_prefix: str = ""
                 ) -> None:
        self.producer = producer
        self.results = results
        self.service = service
        self.topic_prefix = topic_prefix

    def publish(self, decoded: Decoded, result: events_pb2.PipelineResult) -> None:
        """Raises ErasedError when the request was erased while in flight: its result is then neither stored
        (which would bring erased data back) nor published (nobody could read it)."""
        env = decoded.envelope
        sealer = installed_sealer()
        if sealer is not None and sealer.keys.is_erased(env.agency_id, env.request_id):
            raise ErasedError()
        self.results.put(env.agency_id, env.request_id, result)
        topic = result.task.reply_topic or (self.topic_prefix + RESULTS_TOPIC)
        forward(self.producer, topic, decoded, result, service=self.service)

    def fail(self, decoded: Decoded | None, error: LineupError) -> None:
        """Consumer failure hook: the waiting caller gets the error's status instead of a timeout."""
        if decoded is None:
            return
        if isinstance(error, ErasedError):
            return  # an erased request has nobody to tell and nothing may be stored for it
        task = _task_of(decoded.envelope)
        try:
            self.publish(decoded, events_pb2.PipelineResult(task=task, error_code=error.code_value,
                                                            error_message=error.message))
        except ErasedError:
            return


def _task_of(env: events_pb2.Envelope) -> events_pb2.PipelineTask:
    kind = env.WhichOneof("payload")
    payload = getattr(env, kind) if kind else None
    task = getattr(payload, "task", None)
    return task if isinstance(task, events_pb2.PipelineTask) else events_pb2.PipelineTask()
