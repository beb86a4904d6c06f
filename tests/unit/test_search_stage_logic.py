"""search.stage without Kafka or Milvus: what one FacesEmbedded message turns into.

The vector store is a fake with the `FaceStore` methods the stage calls, and the result publisher a
recorder; the real store and the real pipeline are exercised by tests/integration/test_search_stage.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest
from opentelemetry.context import Context

from lineup.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from lineup.kafka.envelope import Decoded, new_envelope
from lineup.pipeline import face_id_for
from lineup.scoring import NOTICE
from lineup.v1 import common_pb2, events_pb2
from search.ranking import query_vectors_of, rank_by_face, rank_users
from search.rows import BoundingBox, CollectionInfo, FacePage, FaceRow, Hit, SearchResult, UserRecord
from search.stage import SearchStage

MODEL = "face_embedder_sface/1"
AGENCY, OTHER = "agency-a", "agency-b"
Op = events_pb2.PipelineOperation


class FakeStore:
    """Collections by (agency, id); every call is recorded."""

    def __init__(self) -> None:
        self.info = {(AGENCY, "gallery"): CollectionInfo(MODEL, dimension=4, collection_id="gallery")}
        self.rows: dict[tuple[str, str], dict[str, FaceRow]] = {(AGENCY, "gallery"): {}}
        self.calls: list[tuple[str, str, str]] = []
        self.users: set[str] = set()
        self.top_ks: list[int] = []

    def collection_info(self, agency_id: str, collection_id: str) -> CollectionInfo:
        self.calls.append(("describe", agency_id, collection_id))
        try:
            return self.info[(agency_id, collection_id)]
        except KeyError:
            raise NotFound(f"collection {collection_id!r} not found") from None

    def get_faces(self, agency_id: str, collection_id: str, *, face_ids: Sequence[str] = (), user_id: str = "",
                  **_: Any) -> FacePage:
        rows = self.rows.get((agency_id, collection_id), {})
        if user_id:
            return FacePage(sorted((r for r in rows.values() if r.user_id == user_id), key=lambda r: r.face_id), "")
        return FacePage([rows[i] for i in face_ids if i in rows], "")

    def get_users(self, agency_id: str, collection_id: str, user_ids: Sequence[str]) -> dict[str, UserRecord]:
        return {u: UserRecord(u, 0, 0) for u in user_ids if u in self.users}

    def upsert_faces(self, agency_id: str, collection_id: str, faces: Sequence[FaceRow]) -> int:
        self.calls.append(("upsert", agency_id, collection_id))
        self.rows[(agency_id, collection_id)].update({f.face_id: f for f in faces})
        return len(faces)

    def search(self, agency_id: str, collection_id: str, queries: Sequence[Sequence[float]], *, top_k: int,
               min_raw_score: float, check: Callable[[CollectionInfo], None] | None = None,
               associated_only: bool = False, **_: Any) -> SearchResult:
        self.calls.append(("search", agency_id, collection_id))
        self.top_ks.append(top_k)
        info = self.collection_info(agency_id, collection_id)
        if check is not None:
            check(info)
        rows = [r for r in self.rows[(agency_id, collection_id)].values() if r.user_id or not associated_only]
        results = []
        for q in queries:
            hits = [Hit(r, sum(a * b for a, b in zip(q, r.embedding, strict=True))) for r in rows]
            results.append(sorted((h for h in hits if h.raw_score >= min_raw_score),
                                  key=lambda h: (-h.raw_score, h.face.face_id))[:top_k])
        return SearchResult(info, results)


class Publisher:
    def __init__(self) -> None:
        self.results: list[tuple[str, events_pb2.PipelineResult]] = []

    def publish(self, decoded: Decoded, result: events_pb2.PipelineResult) -> None:
        self.results.append((decoded.envelope.request_id, result))


def _message(request_id: str, operation: int, vectors: list[list[float]], *, collection: str = "gallery",
             agency: str = AGENCY, model: str = MODEL, **task: Any) -> Decoded:
    faces = [events_pb2.EmbeddedFace(
        face_index=i, embedding=v, detail=common_pb2.FaceDetail(confidence=99.0),
        crop=common_pb2.ObjectRef(bucket="lineup-crops", key=f"{agency}/crops/{request_id}/{i}.png"))
        for i, v in enumerate(vectors)]
    msg = events_pb2.FacesEmbedded(task=events_pb2.PipelineTask(operation=operation, collection_id=collection,
                                                                image_sha256="ab" * 32, **task),
                                   face_model_version=model, faces=faces)
    return Decoded(new_envelope(msg, request_id=request_id, agency_id=agency, producer="embedding"), Context())


@pytest.fixture
def world() -> tuple[SearchStage, FakeStore, Publisher]:
    store, publisher = FakeStore(), Publisher()
    return SearchStage(store, publisher), store, publisher  # type: ignore[arg-type]


def test_index_writes_deterministic_ids_and_a_replay_keeps_the_user_association(world: Any) -> None:
    stage, store, publisher = world
    msg = _message("rid-1", Op.PIPELINE_OPERATION_INDEX, [[1, 0, 0, 0], [0, 1, 0, 0]])
    stage.handle(msg, None)
    ids = [face_id_for("rid-1", 0), face_id_for("rid-1", 1)]
    assert sorted(store.rows[(AGENCY, "gallery")]) == sorted(ids)
    (_, result), = publisher.results
    assert [r.face.face_id for r in result.index_faces.face_records] == ids
    assert result.index_faces.face_model_version == MODEL
    # associate one face to a user, then replay the message: the association survives
    row = store.rows[(AGENCY, "gallery")][ids[0]]
    store.rows[(AGENCY, "gallery")][ids[0]] = replace(row, user_id="user-7")
    stage.handle(msg, None)
    assert store.rows[(AGENCY, "gallery")][ids[0]].user_id == "user-7"
    assert store.rows[(AGENCY, "gallery")][ids[0]].indexed_at_ms == row.indexed_at_ms
    assert len(store.rows[(AGENCY, "gallery")]) == 2


def _put(store: FakeStore, face_id: str, vector: Sequence[float], user_id: str = "") -> None:
    store.rows[(AGENCY, "gallery")][face_id] = FaceRow(
        face_id=face_id, image_id="", external_image_id="", user_id=user_id, crop_bucket="", crop_key="",
        confidence=99.0, bounding_box=BoundingBox(0, 0, 1, 1), indexed_at_ms=0, face_model_version=MODEL,
        embedding=tuple(float(x) for x in vector))


def test_search_ranks_and_labels_every_result_as_an_investigative_lead(world: Any) -> None:
    stage, store, publisher = world
    for i, v in enumerate(([1, 0, 0, 0], [0.8, 0.6, 0, 0], [0, 0, 1, 0])):
        _put(store, f"f{i}", v)
    stage.handle(_message("rid-s", Op.PIPELINE_OPERATION_SEARCH, [[1, 0, 0, 0]], max_matches=5,
                          min_raw_score=0.5), None)
    (_, result), = publisher.results
    response = result.search_faces_by_image
    matches = response.results[0].face_matches
    assert [m.face.face_id for m in matches] == ["f0", "f1"]  # f2 is under the threshold
    assert [m.rank for m in matches] == [1, 2] and matches[0].score.raw_score > matches[1].score.raw_score
    assert response.provenance.label == common_pb2.RESULT_LABEL_INVESTIGATIVE_LEAD
    assert response.provenance.notice == NOTICE and response.provenance.search_id == "rid-s"
    assert [c[0] for c in store.calls] == ["search", "describe"]  # one store call (it describes inside)


def test_vectors_of_another_model_are_refused_before_anything_is_written_or_searched(world: Any) -> None:
    stage, store, publisher = world
    for op in (Op.PIPELINE_OPERATION_INDEX, Op.PIPELINE_OPERATION_SEARCH):
        with pytest.raises(FailedPrecondition, match="pinned to face model"):
            stage.handle(_message("rid-m", op, [[1, 0, 0, 0]], model="face_embedder/1"), None)
    assert not store.rows[(AGENCY, "gallery")] and not publisher.results


def test_a_grant_never_allows_enrolling_into_another_agencys_collection(world: Any) -> None:
    stage, store, publisher = world
    with pytest.raises(PermissionDenied):
        stage.handle(_message("rid-g", Op.PIPELINE_OPERATION_INDEX, [[1, 0, 0, 0]], agency=OTHER,
                              owner_agency_id=AGENCY), None)
    with pytest.raises(InvalidArgument, match="never enrolled"):
        stage.handle(_message("rid-p", Op.PIPELINE_OPERATION_INDEX, [[1, 0, 0, 0]], probe=True), None)
    assert not store.rows[(AGENCY, "gallery")] and not publisher.results


def test_an_operation_the_stage_does_not_do_and_an_unknown_collection_are_refused(world: Any) -> None:
    stage, _, publisher = world
    with pytest.raises(InvalidArgument, match="cannot do"):
        stage.handle(_message("rid-d", Op.PIPELINE_OPERATION_DETECT, []), None)
    with pytest.raises(NotFound):
        stage.handle(_message("rid-n", Op.PIPELINE_OPERATION_INDEX, [[1, 0, 0, 0]], collection="nope"), None)
    assert not publisher.results


# ------------------------------------------------------------------------------------------- search.ranking


def test_a_face_is_never_its_own_candidate() -> None:
    store = FakeStore()
    _put(store, "me", [1, 0, 0, 0])
    _put(store, "twin", [0.9, 0.1, 0, 0])
    _put(store, "far", [0, 1, 0, 0])
    info, hits = rank_by_face(store, AGENCY, "gallery", "me", top_k=1, min_raw_score=0.5)  # type: ignore[arg-type]
    assert [h.face.face_id for h in hits] == ["twin"] and info.face_model_version == MODEL
    with pytest.raises(NotFound, match="not found in collection"):
        rank_by_face(store, AGENCY, "gallery", "nobody", top_k=1, min_raw_score=0.5)  # type: ignore[arg-type]


def test_users_rank_by_their_best_face_over_all_query_faces_and_only_existing_users_count() -> None:
    store = FakeStore()
    store.users = {"ann", "bob", "me"}  # "gone" has faces but no record any more (being deleted)
    _put(store, "q1", [1, 0, 0, 0], "me")
    _put(store, "q2", [0, 1, 0, 0], "me")
    _put(store, "ann1", [0.95, 0.05, 0, 0], "ann")  # close to q1
    _put(store, "bob1", [0.1, 0.99, 0, 0], "bob")  # closer still, to q2
    _put(store, "gone1", [1, 0.01, 0, 0], "gone")
    _put(store, "loner", [1, 0, 0, 0])  # unassociated: never a user candidate, never uses up the k
    vectors = query_vectors_of(store, AGENCY, "gallery", user_id="me")  # type: ignore[arg-type]
    assert len(vectors) == 2
    _, ranked = rank_users(store, AGENCY, "gallery", vectors, max_users=5, min_raw_score=0.5,  # type: ignore[arg-type]
                           exclude_user_id="me")
    assert [(r.user.user_id, r.best.face.face_id) for r in ranked] == [("bob", "bob1"), ("ann", "ann1")]
    _, one = rank_users(store, AGENCY, "gallery", vectors, max_users=1, min_raw_score=0.5)  # type: ignore[arg-type]
    assert [r.user.user_id for r in one] == ["me"]  # not excluded unless asked
    with pytest.raises(InvalidArgument, match="max_users"):
        rank_users(store, AGENCY, "gallery", vectors, max_users=501, min_raw_score=0.5)  # type: ignore[arg-type]


def test_a_user_search_needs_a_probe_and_bounds_what_it_asks_the_store_for() -> None:
    store = FakeStore()
    with pytest.raises(InvalidArgument, match="not empty"):
        query_vectors_of(store, AGENCY, "gallery")  # type: ignore[arg-type]
    store.users = {"ann"}
    _put(store, "ann1", [1, 0, 0, 0], "ann")
    rank_users(store, AGENCY, "gallery", [[1, 0, 0, 0]], max_users=10, min_raw_score=0.5)  # type: ignore[arg-type]
    rank_users(store, AGENCY, "gallery", [[1, 0, 0, 0]] * 100, max_users=10,  # type: ignore[arg-type]
               min_raw_score=0.5)
    one, hundred = store.top_ks
    assert one == 4097  # one probe: exact, as the image search always was
    assert hundred * 100 <= 4097 * 5 and hundred >= 20 * 10  # shared out, never fewer than 20 per user asked
