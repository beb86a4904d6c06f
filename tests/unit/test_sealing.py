"""Crypto-shredding (lineup.kafka.sealing) and the source-object check, without servers: an in-memory store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lineup.errors import InvalidArgument, NotFound
from lineup.kafka import envelope
from lineup.kafka.sealing import ErasedError, KeyRing, Sealer, SealError, install_sealer, key_ref
from lineup.objectstore import check_source_object
from lineup.v1 import common_pb2, events_pb2


class MemoryStore:
    """The part of ObjectStore the key ring uses."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def get(self, ref: common_pb2.ObjectRef) -> bytes:
        try:
            return self.objects[(ref.bucket, ref.key)]
        except KeyError:
            raise NotFound(f"{ref.key} not found") from None

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "") -> common_pb2.ObjectRef:
        self.objects[(bucket, key)] = data
        return common_pb2.ObjectRef(bucket=bucket, key=key)

    def exists(self, ref: common_pb2.ObjectRef) -> bool:
        return (ref.bucket, ref.key) in self.objects

    def delete(self, ref: common_pb2.ObjectRef) -> None:
        self.objects.pop((ref.bucket, ref.key), None)


SECRET = [0.123456, -0.654321, 0.5]


@pytest.fixture()
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture()
def sealer(store: MemoryStore) -> Iterator[Sealer]:
    s = Sealer(KeyRing(store, ttl_s=0))  # type: ignore[arg-type]
    install_sealer(s)
    yield s
    install_sealer(None)


def _accepted(rid: str = "r1") -> events_pb2.Envelope:
    task = events_pb2.PipelineTask(external_image_id="booking-secret", image_sha256="ab" * 32)
    return envelope.new_envelope(events_pb2.ImageAccepted(task=task), request_id=rid, agency_id="agency-a",
                                 producer="test", actor=events_pb2.Actor(key_id="k1", holder="Jane Examiner"))


def _embedded(rid: str = "r1") -> events_pb2.Envelope:
    face = events_pb2.EmbeddedFace(face_index=0, embedding=SECRET)
    return envelope.new_envelope(events_pb2.FacesEmbedded(faces=[face]), request_id=rid, agency_id="agency-a",
                                 producer="test")


def test_pipeline_payloads_travel_sealed_and_open_again(sealer: Sealer, store: MemoryStore) -> None:
    value, headers = envelope.encode(_accepted())
    assert b"booking-secret" not in value and b"Jane Examiner" not in value
    clear = events_pb2.Envelope.FromString(value)
    assert clear.WhichOneof("payload") == "sealed" and not clear.HasField("actor")
    assert (clear.request_id, clear.agency_id, clear.producer) == ("r1", "agency-a", "test")
    assert store.exists(key_ref("agency-a", "r1"))
    opened = envelope.decode(value, headers).envelope
    assert opened.image_accepted.task.external_image_id == "booking-secret" and opened.actor.holder == "Jane Examiner"

    value, headers = envelope.encode(_embedded())  # a later stage uses the key the first message created
    assert list(envelope.decode(value, headers).envelope.faces_embedded.faces[0].embedding) == pytest.approx(SECRET)


def test_a_record_whose_key_was_erased_cannot_be_read(sealer: Sealer, store: MemoryStore) -> None:
    value, headers = envelope.encode(_accepted())
    embedded, _ = envelope.encode(_embedded())
    assert sealer.keys.erase("agency-a", "r1") is not None
    for v in (value, embedded):
        with pytest.raises(envelope.EnvelopeError, match=r"^erased$"):
            envelope.decode(v, headers)
    # a stage that outlives the erasure cannot publish the request's next step (nor bring a new key to life)
    with pytest.raises(ErasedError):
        envelope.encode(_embedded())
    assert sealer.keys.get("agency-a", "r1") is None and sealer.keys.is_erased("agency-a", "r1")
    assert store.get(key_ref("agency-a", "r1")) == b""  # a tombstone: no secret left


def test_tampered_or_moved_payloads_are_refused(sealer: Sealer) -> None:
    envelope.encode(_accepted("r2"))  # r2 has a key too
    value, _ = envelope.encode(_accepted("r1"))
    moved = events_pb2.Envelope.FromString(value)
    moved.request_id = "r2"  # the ciphertext is bound to r1
    with pytest.raises(SealError, match="authentication"):
        sealer.unseal(moved)
    flipped = events_pb2.Envelope.FromString(value)
    flipped.sealed.ciphertext = bytes([flipped.sealed.ciphertext[0] ^ 1]) + flipped.sealed.ciphertext[1:]
    with pytest.raises(SealError):
        sealer.unseal(flipped)
    hostile = events_pb2.Envelope.FromString(value)
    hostile.request_id = "../../admin"
    with pytest.raises(SealError, match="routing"):
        sealer.unseal(hostile)


def test_audit_records_and_dead_letters_stay_clear(sealer: Sealer) -> None:
    from lineup.v1 import audit_pb2

    rec = envelope.new_envelope(audit_pb2.AuditRecord(record_id="x"), request_id="r1", agency_id="agency-a",
                                producer="test")
    assert events_pb2.Envelope.FromString(envelope.encode(rec)[0]).WhichOneof("payload") == "audit_record"


def test_without_a_sealer_nothing_changes() -> None:
    install_sealer(None)
    value, headers = envelope.encode(_accepted())
    assert events_pb2.Envelope.FromString(value).WhichOneof("payload") == "image_accepted"
    sealed = events_pb2.Envelope(request_id="r1", agency_id="agency-a", sealed=events_pb2.SealedPayload())
    with pytest.raises(envelope.EnvelopeError, match="no sealer"):
        envelope.decode(sealed.SerializeToString(), headers)


def test_key_ids_cannot_shape_other_keys() -> None:
    for rid in ("..", "a/b", "", "x" * 65, "a.b"):
        with pytest.raises(InvalidArgument):
            key_ref("agency-a", rid)


def test_the_key_cache_forgets_an_erased_key_at_once(store: MemoryStore) -> None:
    ring = KeyRing(store, ttl_s=3600)  # type: ignore[arg-type]
    ring.get_or_create("agency-a", "r9")
    ring.erase("agency-a", "r9")
    assert ring.get("agency-a", "r9") is None


@pytest.mark.parametrize(("key", "code"), [
    ("a1/images/x.png", None), ("a1/images/sub/x.png", None),
    ("a1/probes/ab/x", InvalidArgument), ("a1/manifests/m.txt", InvalidArgument),
    ("a2/images/x.png", NotFound), ("a1/images/../probes/x", InvalidArgument), ("a1//images/x", InvalidArgument),
    ("a1/images/./x", InvalidArgument), ("/a1/images/x", InvalidArgument), ("", InvalidArgument),
    ("a1/images/\x00", InvalidArgument), ("a1/images/" + "x" * 1100, InvalidArgument),
])
def test_source_objects_are_the_agencys_own_photos(key: str, code: type[Exception] | None) -> None:
    ref = common_pb2.ObjectRef(bucket="lineup-images", key=key)
    if code is None:
        check_source_object(ref, "a1", "image.object", kinds=("images",))
    else:
        with pytest.raises(code):
            check_source_object(ref, "a1", "image.object", kinds=("images",))


def test_other_buckets_are_invalid_and_prefixes_may_end_in_a_slash() -> None:
    with pytest.raises(InvalidArgument, match=r"image\.object\.bucket"):
        check_source_object(common_pb2.ObjectRef(bucket="lineup-crops", key="a1/crops/r/0.png"), "a1",
                            "image.object", kinds=("images",))
    check_source_object(common_pb2.ObjectRef(bucket="lineup-images", key="a1/images/"), "a1", "prefix",
                        kinds=("images",), prefix=True)
    with pytest.raises(InvalidArgument):
        check_source_object(common_pb2.ObjectRef(bucket="lineup-images", key="a1/"), "a1", "prefix",
                            kinds=("images",), prefix=True)
