"""What every pipeline stage shares: deterministic face ids, forwarding an envelope to the next topic,
and publishing a request's final result (or its failure) durably.

A result is written to the object store before it is published, so `GetRequest` can answer after the
synchronous caller gave up, and any ingest replica can serve it.
"""

from __future__ import annotations

import logging
import uuid

from google.protobuf.message import Message

from lineup.errors import InvalidArgument, LineupError, NotFound
from lineup.kafka.envelope import Decoded, new_envelope
from lineup.kafka.producer import EnvelopeProducer
from lineup.kafka.sealing import ErasedError, installed_sealer
from lineup.objectstore import ObjectStore, agency_key
from lineup.topology import JOBS_BUCKET, RESULTS_TOPIC
from lineup.untrusted import check_request_id, for_log
from lineup.v1 import common_pb2, events_pb2

log = logging.getLogger(__name__)

RESULTS_BUCKET = JOBS_BUCKET
_FACE_NS = uuid.UUID("6f1c0b1e-8a53-4d6e-9a39-6f6c696e6575")


def face_id_for(request_id: str, face_index: int) -> str:
    """The same request and face always get the same id: a redelivered message upserts, never duplicates."""
    return str(uuid.uuid5(_FACE_NS, f"{request_id}/{face_index}"))


def crop_key(agency_id: str, request_id: str, face_index: int) -> str:
    """`<agency>/crops/<request_id>/<face_index>.png` in the crops bucket (docs/pipeline.md): detection writes
    it (a replay overwrites, never adds), the examiner's image API reads it.

    The request id may come from a Kafka envelope, so it must not be able to add key levels ('/', '..')."""
    return agency_key(agency_id, "crops", check_request_id(request_id), f"{face_index}.png")


def check_envelope_ids(env: events_pb2.Envelope) -> None:
    """A pipeline envelope's request id and agency id are well-formed (InvalidArgument otherwise).

    Stages check this first: the ids name objects (crops, results), key Kafka records and appear in logs,
    and a record on a pipeline topic is only as trustworthy as whoever could write to that topic."""
    check_request_id(env.request_id, what="envelope request id")
    agency_key(env.agency_id)


def forward(producer: EnvelopeProducer, topic: str, decoded: Decoded, payload: Message, *, service: str) -> None:
    """Publish the next step's payload for the same request (request id, agency and actor carried over)."""
    src = decoded.envelope
    check_envelope_ids(src)
    env = new_envelope(payload, request_id=src.request_id, agency_id=src.agency_id, producer=service,
                       actor=src.actor if src.HasField("actor") else None)
    producer.send(topic, env, key=src.request_id)


class ResultStore:
    """Pipeline results by request id, under the agency's prefix.

    Both ids come from Kafka envelopes, which anybody able to write a topic can shape: they are checked
    (`agency_key`, `check_request_id`) before they name an object, so '..' or '/' can never move a result
    out of its agency's `requests/` folder (raises InvalidArgument instead)."""

    def __init__(self, store: ObjectStore, bucket: str = RESULTS_BUCKET) -> None:
        self.store = store
        self.bucket = bucket

    def _key(self, agency_id: str, request_id: str) -> str:
        return agency_key(agency_id, "requests", check_request_id(request_id))

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

    @property
    def results_topic(self) -> str:
        return self.topic_prefix + RESULTS_TOPIC

    def publish(self, decoded: Decoded, result: events_pb2.PipelineResult) -> None:
        """Store, then publish. The reply topic comes from the task (i.e. from the record): only this
        deployment's results topic is accepted, so a forged task cannot make a stage write results (with
        another request's data) into the audit topic or any other.

        Raises ErasedError when the request was erased while in flight: its result is then neither stored
        (which would bring erased data back) nor published (nobody could read it)."""
        env = decoded.envelope
        sealer = installed_sealer()
        if sealer is not None and sealer.keys.is_erased(env.agency_id, env.request_id):
            raise ErasedError()
        topic = result.task.reply_topic or self.results_topic
        if topic != self.results_topic:
            raise InvalidArgument(f"reply topic {for_log(topic)!r} is not this deployment's results topic")
        self.results.put(env.agency_id, env.request_id, result)
        forward(self.producer, topic, decoded, result, service=self.service)

    def fail(self, decoded: Decoded | None, error: LineupError) -> None:
        """Consumer failure hook: the waiting caller gets the error's status instead of a timeout.

        Runs after the record was dead-lettered, so it must not raise: a request whose ids cannot name a
        result (a forged or malformed envelope) or a result that cannot be published is only logged; the
        dead letter already accounts for the record."""
        if decoded is None:
            return
        if isinstance(error, ErasedError):
            return  # an erased request has nobody to tell and nothing may be stored for it
        env = decoded.envelope
        try:
            task = _task_of(env)
            self.publish(decoded, events_pb2.PipelineResult(task=task, error_code=error.code_value,
                                                            error_message=error.message))
        except ErasedError:
            return
        except Exception as exc:
            log.warning("failed request's result not published", extra={
                "request_id": for_log(env.request_id), "agency_id": for_log(env.agency_id),
                "error": for_log(exc.message if isinstance(exc, LineupError) else f"{type(exc).__name__}: {exc}",
                                 300)})


def _task_of(env: events_pb2.Envelope) -> events_pb2.PipelineTask:
    kind = env.WhichOneof("payload")
    payload = getattr(env, kind) if kind else None
    task = getattr(payload, "task", None)
    return task if isinstance(task, events_pb2.PipelineTask) else events_pb2.PipelineTask()
