"""Protobuf <-> the vector store's rows: the one place where a stored face becomes a `Face`, a user a `User`,
and a ranking the public `FaceMatch`/`UserMatch` lists (for the internal API and the pipeline stage alike)."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from lineup.scoring import ScoreModel
from lineup.v1 import common_pb2, face_search_pb2, search_pb2
from search.ranking import RankedUser
from search.rows import BoundingBox, CollectionInfo, FaceRow, Hit, UserRecord


def face_row(fv: search_pb2.FaceVector) -> FaceRow:
    """The stored form of a FaceVector. Its collection id is ignored: the request names the collection."""
    f, box = fv.face, fv.face.bounding_box
    indexed_at_ms = f.indexed_at.seconds * 1000 + f.indexed_at.nanos // 1_000_000 if f.HasField("indexed_at") else 0
    return FaceRow(face_id=f.face_id, image_id=f.image_id, external_image_id=f.external_image_id, user_id=f.user_id,
                   crop_bucket=fv.crop.bucket, crop_key=fv.crop.key, confidence=f.confidence,
                   bounding_box=BoundingBox(box.left, box.top, box.width, box.height),
                   indexed_at_ms=indexed_at_ms, face_model_version=f.face_model_version,
                   embedding=tuple(fv.embedding))


def face_message(row: FaceRow, collection_id: str) -> common_pb2.Face:
    box = row.bounding_box
    indexed_at = Timestamp()
    indexed_at.FromMilliseconds(row.indexed_at_ms)
    return common_pb2.Face(
        face_id=row.face_id, collection_id=collection_id, image_id=row.image_id,
        external_image_id=row.external_image_id, confidence=row.confidence, user_id=row.user_id,
        face_model_version=row.face_model_version, indexed_at=indexed_at,
        bounding_box=common_pb2.BoundingBox(left=box.left, top=box.top, width=box.width, height=box.height))


def timestamp_ms(ms: int) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def vector_collection(info: CollectionInfo, *, face_count: int = 0, user_count: int = 0,
                      ) -> search_pb2.VectorCollection:
    return search_pb2.VectorCollection(
        collection_id=info.collection_id, face_model_version=info.face_model_version, dimension=info.dimension,
        face_count=face_count, user_count=user_count,
        created_at=timestamp_ms(info.created_at_ms) if info.created_at_ms else None,
        face_retention_days=info.face_retention_days, tags=dict(info.tags))


def user_message(user: UserRecord) -> face_search_pb2.User:
    return face_search_pb2.User(user_id=user.user_id, face_count=user.face_count,
                                created_at=timestamp_ms(user.created_at_ms))


def face_vector(row: FaceRow, collection_id: str) -> search_pb2.FaceVector:
    crop = common_pb2.ObjectRef(bucket=row.crop_bucket, key=row.crop_key) if row.crop_key else None
    return search_pb2.FaceVector(face=face_message(row, collection_id), embedding=row.embedding, crop=crop)


def face_matches(hits: Sequence[Hit], scores: ScoreModel, collection_id: str) -> list[face_search_pb2.FaceMatch]:
    """Ranked candidates as the API shows them: rank from 1, similarity on the model's calibrated scale."""
    return [face_search_pb2.FaceMatch(rank=rank, score=scores.match_score(hit.raw_score),
                                      face=face_message(hit.face, collection_id))
            for rank, hit in enumerate(hits, start=1)]


def user_matches(ranked: Sequence[RankedUser], scores: ScoreModel) -> list[face_search_pb2.UserMatch]:
    return [face_search_pb2.UserMatch(rank=rank, score=scores.match_score(r.best.raw_score), user=user_message(r.user),
                                      best_face_id=r.best.face.face_id)
            for rank, r in enumerate(ranked, start=1)]
