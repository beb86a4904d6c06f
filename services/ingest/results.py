"""Waiting for the pipeline's answer to a synchronous call.

Every ingest replica reads every partition of the results topic (plain partition assignment, no
consumer group, starting at the end), so whichever replica holds the caller's connection sees the
result, however many replicas run. Results are also persisted by the stage that produced them, so a
result missed here (or after a timeout) is still found through the ResultStore.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future

from kafka import KafkaConsumer, TopicPartition

from lineup.kafka.envelope import EnvelopeError, decode
from lineup.pipeline import ResultStore
from lineup.v1 import events_pb2

log = logging.getLogger(__name__)


class ResultWaiter:
    def __init__(self, bootstrap: str, topic: str, store: ResultStore, *, client_id: str = "ingest") -> None:
        self.store = store
        #: waiting callers by (agency, request id): a result is only ever handed to its own agency's call
        self._pending: dict[tuple[str, str], Future[events_pb2.PipelineResult]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id=client_id, group_id=None,
                                       enable_auto_commit=False)
        partitions = self._consumer.partitions_for_topic(topic) or set()
        if not partitions:
            raise RuntimeError(f"results topic {topic!r} does not exist; provision the topics first")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self._consumer.assign(tps)
        self._consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end positions now, before any request is published
            self._consumer.position(tp)

    def expect(self, agency_id: str, request_id: str) -> Future[events_pb2.PipelineResult]:
        """Register interest before publishing, so a fast result cannot slip past. Request ids are the
        server's own (unique), so a second waiter for the same id is a bug, not a race to win."""
        fut: Future[events_pb2.PipelineResult] = Future()
        with self._lock:
            if (agency_id, request_id) in self._pending:
                raise RuntimeError(f"request {request_id} is already awaited")
            self._pending[(agency_id, request_id)] = fut
        return fut

    def forget(self, agency_id: str, request_id: str) -> None:
        with self._lock:
            self._pending.pop((agency_id, request_id), None)

    def wait(self, agency_id: str, request_id: str, fut: Future[events_pb2.PipelineResult], timeout_s: float
             ) -> events_pb2.PipelineResult | None:
        """The result, or None after the timeout (checked once more in the store)."""
        try:
            return fut.result(timeout=timeout_s)
        except TimeoutError:
            return self.store.get(agency_id, request_id)
        finally:
            self.forget(agency_id, request_id)

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                for records in self._consumer.poll(timeout_ms=200).values():
                    for record in records:
                        try:
                            self._deliver(record.value, record.headers)
                        except Exception:  # nothing on this topic may stop result delivery for everyone
                            log.exception("ignoring a result record that could not be delivered")
        finally:
            self._consumer.close()

    def stop(self) -> None:
        self._stop.set()

    def _deliver(self, value: bytes | None, headers: list[tuple[str, bytes | None]] | None) -> None:
        try:
            env = decode(value, headers).envelope
        except EnvelopeError:
            log.warning("ignoring an undecodable record on the results topic")
            return
        if env.WhichOneof("payload") != "pipeline_result":
            return
        with self._lock:
            fut = self._pending.get((env.agency_id, env.request_id))
        if fut is not None and not fut.done():
            fut.set_result(env.pipeline_result)
