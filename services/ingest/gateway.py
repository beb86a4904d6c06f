"""The front door's way into the pipeline: store the image, publish the task, wait for the result.

The original bytes are stored before anything is published, content-addressed under the caller's
agency (`images/` for enrolled photos, `probes/` for search probes, which retention purges), so a
message on Kafka only ever points at durable data.

The pending-task record (`requests/<rid>.task`) is written before the task is published, too: it is what
`GetRequest` answers PENDING from, and how erasure and the retention sweep find a request's crops, result
and data key. Written after publishing, a failed write would leave a pipeline's output that nothing can
find and purge (tried for issue *speed*, found in review, reverted).
"""

from __future__ import annotations

from ingest.images import ValidatedImage
from ingest.results import ResultWaiter
from ingest.settings import IngestSettings
from lineup.errors import DeadlineExceeded, NotFound, error_from_code
from lineup.kafka.envelope import new_envelope
from lineup.kafka.producer import EnvelopeProducer
from lineup.objectstore import ObjectStore, agency_key
from lineup.pipeline import RESULTS_BUCKET, ResultStore
from lineup.topology import IMAGES_BUCKET, IMAGES_TOPIC, RESULTS_TOPIC
from lineup.v1 import common_pb2, events_pb2, face_search_pb2


class PipelineGateway:
    def __init__(self, settings: IngestSettings, store: ObjectStore, producer: EnvelopeProducer,
                 waiter: ResultWaiter, results: ResultStore) -> None:
        self.settings = settings
        self.store = store
        self.producer = producer
        self.waiter = waiter
        self.results = results

    def store_image(self, agency_id: str, image: ValidatedImage, *, probe: bool
                    ) -> tuple[str, common_pb2.ObjectRef]:
        return self.store.put_content_addressed(IMAGES_BUCKET, agency_id, image.data,
                                                kind="probes" if probe else "images",
                                                content_type=image.content_type)

    def _pending_key(self, agency_id: str, request_id: str) -> str:
        return agency_key(agency_id, "requests", f"{request_id}.task")

    def run(self, *, agency_id: str, actor: events_pb2.Actor, request_id: str, task: events_pb2.PipelineTask,
            timeout_s: float) -> events_pb2.PipelineResult:
        """Publish one task and wait for its result; errors come back as the stage's status code."""
        task.reply_topic = self.settings.topic(RESULTS_TOPIC)
        self.store.put(RESULTS_BUCKET, self._pending_key(agency_id, request_id), task.SerializeToString())
        fut = self.waiter.expect(agency_id, request_id)
        try:
            env = new_envelope(events_pb2.ImageAccepted(task=task), request_id=request_id, agency_id=agency_id,
                               producer="ingest", actor=actor)
            self.producer.send(self.settings.topic(IMAGES_TOPIC), env, key=request_id)
        except Exception:
            self.waiter.forget(agency_id, request_id)
            raise
        result = self.waiter.wait(agency_id, request_id, fut, timeout_s)
        if result is None:
            raise DeadlineExceeded(f"no result after {timeout_s:.0f} s; the work continues: look it up later "
                                   f"with GetRequest(request_id='{request_id}')")
        if result.error_code:
            raise error_from_code(result.error_code, result.error_message)
        return result

    def lookup(self, agency_id: str, request_id: str) -> face_search_pb2.GetRequestResponse:
        resp = face_search_pb2.GetRequestResponse(request_id=request_id)
        result = self.results.get(agency_id, request_id)
        if result is None:
            pending = common_pb2.ObjectRef(bucket=RESULTS_BUCKET, key=self._pending_key(agency_id, request_id))
            if not self.store.exists(pending):
                raise NotFound(f"request {request_id!r} not found")
            resp.state = face_search_pb2.REQUEST_STATE_PENDING
            return resp
        if result.error_code:
            resp.state = face_search_pb2.REQUEST_STATE_FAILED
            resp.error_code = result.error_code
            resp.error_message = result.error_message
            return resp
        resp.state = face_search_pb2.REQUEST_STATE_DONE
        kind = result.WhichOneof("result")
        if kind and kind != "embedded":
            getattr(resp, kind).CopyFrom(getattr(result, kind))
        return resp
