"""A failed publish must not poison the producer for every later call (kafka-python's idempotent producer stays
in a fatal state after e.g. a record over the size limit): the client is discarded and rebuilt."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.errors import KafkaError

from lineup.errors import Unavailable
from lineup.kafka import producer as producer_mod
from lineup.kafka.envelope import new_envelope
from lineup.v1 import audit_pb2


class _Future:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def get(self, timeout: float) -> None:
        if self.error is not None:
            raise self.error


class _FatalAfterFirstError:
    """Like the real client after a fatal error: once one send failed, every later send fails too."""

    built: list[_FatalAfterFirstError] = []

    def __init__(self, **_: Any) -> None:
        self.poisoned = False
        self.sent: list[str] = []
        self.closed = False
        _FatalAfterFirstError.built.append(self)

    def send(self, topic: str, **_: Any) -> _Future:
        if topic == "too-big" or self.poisoned:
            self.poisoned = True
            return _Future(KafkaError("MessageSizeTooLargeError"))
        self.sent.append(topic)
        return _Future(None)

    def bootstrap_connected(self) -> bool:
        return True

    def close(self, timeout: float = 0) -> None:
        self.closed = True


def test_a_fatal_send_error_rebuilds_the_client_and_later_sends_work(monkeypatch: pytest.MonkeyPatch) -> None:
    _FatalAfterFirstError.built.clear()
    monkeypatch.setattr(producer_mod, "KafkaProducer", _FatalAfterFirstError)
    p = producer_mod.EnvelopeProducer("127.0.0.1:1", client_id="t")
    env = new_envelope(audit_pb2.AuditRecord(record_id="r"), request_id="r1", agency_id="a", producer="t")
    p.send("ok", env)
    with pytest.raises(Unavailable) as err:
        p.send("too-big", env)
    assert "127.0.0.1" not in err.value.message and "MessageSizeTooLarge" in err.value.detail
    p.send("ok", env)  # a fresh client: the poisoned one is gone
    assert len(_FatalAfterFirstError.built) == 2 and _FatalAfterFirstError.built[1].sent == ["ok"]
    assert p.ready()
    monkeypatch.setattr(producer_mod, "KafkaProducer", _Unreachable)
    with pytest.raises(Unavailable):
        p.send("too-big", env)
    assert not p.ready()  # the cluster takes no new client: health says NOT_SERVING


class _Unreachable:
    def __init__(self, **_: Any) -> None:
        raise KafkaError("NoBrokersAvailable")
