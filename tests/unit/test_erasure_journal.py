"""An erasure that fails after the vectors were deleted is finished later from its journal, so no crop, photo or
key is left that no call could find again."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.erasure import JOURNAL_BUCKET, JOURNAL_KIND, Eraser
from ingest.reviews import SearchRecords
from lineup.errors import Unavailable
from lineup.kafka.sealing import KeyRing
from lineup.v1 import audit_pb2, common_pb2, search_pb2
from tests.fakes import MemoryStore

AGENCY = "agency-a"
RID = "0123456789abcdef0123456789abcdef"


class _Search:
    """The search service's vectors for one collection, in a dict."""

    def __init__(self, faces: list[search_pb2.FaceVector]) -> None:
        self.faces = {f.face.face_id: f for f in faces}
        self.deletes = 0

    def call(self, method: str, request: Any) -> Any:
        if method == "DeleteFaceVectors":
            self.deletes += 1
            gone = [self.faces.pop(i) for i in request.face_ids if i in self.faces]
            return search_pb2.DeleteFaceVectorsResponse(deleted=gone)
        if method == "ListCollections":
            return search_pb2.ListVectorCollectionsResponse(collections=[search_pb2.VectorCollection(
                collection_id="c")])
        if method == "GetFaces":
            hits = [f for f in self.faces.values() if not request.image_id or f.face.image_id == request.image_id]
            return search_pb2.GetFacesResponse(faces=hits)
        raise AssertionError(method)


class _FlakyStore(MemoryStore):
    """Fails every delete while `down_deletes` is set: the object store blinks mid-erasure."""

    down_deletes = False

    def delete(self, ref: common_pb2.ObjectRef) -> None:
        if self.down_deletes and ref.bucket != JOURNAL_BUCKET:
            raise Unavailable("object store down (test)")
        super().delete(ref)


def _face(face_id: str) -> search_pb2.FaceVector:
    return search_pb2.FaceVector(
        face=common_pb2.Face(face_id=face_id, collection_id="c", image_id="ab" + "0" * 62),
        crop=common_pb2.ObjectRef(bucket="lineup-crops", key=f"{AGENCY}/crops/{RID}/0.png"))


def test_a_failed_erasure_is_finished_from_its_journal() -> None:
    store = _FlakyStore()
    crop = ("lineup-crops", f"{AGENCY}/crops/{RID}/0.png")
    photo = ("lineup-images", f"{AGENCY}/images/ab/ab" + "0" * 62)
    store.objects[crop] = b"png"
    store.objects[photo] = b"jpeg"
    face = _face("f1")
    search = _Search([face])
    eraser = Eraser(store, search, KeyRing(store), SearchRecords(store))  # type: ignore[arg-type]

    store.down_deletes = True
    receipt = audit_pb2.ErasureReceipt(reason="request")
    with pytest.raises(Unavailable):
        eraser.delete_and_erase(AGENCY, [face], lambda: search.call(
            "DeleteFaceVectors", search_pb2.DeleteFaceVectorsRequest(face_ids=["f1"])).deleted, receipt)
    assert not search.faces and crop in store.objects  # the vector went, its copies did not
    assert list(receipt.face_ids) == ["f1"]  # the partial receipt says what was asked
    journals = [k for b, k in store.objects if b == JOURNAL_BUCKET and f"/{JOURNAL_KIND}/" in k]
    assert len(journals) == 1

    store.down_deletes = False
    assert eraser.resume(AGENCY, now=store.clock + 10) == []  # too young: maybe still running
    (done,) = eraser.resume(AGENCY, now=store.clock + 3600)
    assert crop not in store.objects and photo not in store.objects
    assert {o.key for o in done.objects} >= {crop[1], photo[1]} and done.reason == "request (resumed)"
    assert not [k for b, k in store.objects if b == JOURNAL_BUCKET and f"/{JOURNAL_KIND}/" in k]


def test_a_successful_erasure_leaves_no_journal() -> None:
    store = _FlakyStore()
    face = _face("f2")
    search = _Search([face])
    eraser = Eraser(store, search, KeyRing(store), SearchRecords(store))  # type: ignore[arg-type]
    receipt = audit_pb2.ErasureReceipt(reason="request")
    deleted = eraser.delete_and_erase(AGENCY, [face], lambda: search.call(
        "DeleteFaceVectors", search_pb2.DeleteFaceVectorsRequest(face_ids=["f2"])).deleted, receipt)
    assert [f.face.face_id for f in deleted] == ["f2"] and list(receipt.face_ids) == ["f2"]
    assert not [k for b, k in store.objects if b == JOURNAL_BUCKET and f"/{JOURNAL_KIND}/" in k]
