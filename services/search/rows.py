"""Rows and messages of the vector store: what a face, a collection and a user are on Lineup's side, and
their conversion to and from Milvus entities and collection descriptions.

A collection records who made it and what it is pinned to in its properties (`PROP_*`); the same JSON is
also kept in the collection's description, because the embedded engine accepts properties but does not
keep them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

PROP_MODEL_VERSION = "lineup.face_model_version"
PROP_COLLECTION_ID = "lineup.collection_id"
PROP_AGENCY_ID = "lineup.agency_id"
PROP_CREATED_AT = "lineup.created_at_ms"
PROP_RETENTION_DAYS = "lineup.face_retention_days"
PROP_TAGS = "lineup.tags"  # JSON object
SCALAR_FIELDS = ("face_id", "agency_id", "image_id", "external_image_id", "user_id", "crop_bucket", "crop_key",
                  "confidence", "bbox_left", "bbox_top", "bbox_width", "bbox_height", "indexed_at",
                  "face_model_version")

# ---------------------------------------------------------------------------------------------- domain


@dataclass(frozen=True)
class BoundingBox:
    left: float = 0.0
    top: float = 0.0
    width: float = 0.0
    height: float = 0.0


@dataclass(frozen=True)
class FaceRow:
    """One stored face: the vector and what is kept beside it (no biometric inference, only geometry)."""

    face_id: str
    image_id: str = ""
    external_image_id: str = ""
    user_id: str = ""
    crop_bucket: str = ""
    crop_key: str = ""
    confidence: float = 0.0
    bounding_box: BoundingBox = field(default_factory=BoundingBox)
    indexed_at_ms: int = 0
    face_model_version: str = ""
    embedding: tuple[float, ...] = ()


@dataclass(frozen=True)
class Hit:
    face: FaceRow
    raw_score: float


@dataclass(frozen=True)
class SearchResult:
    info: CollectionInfo  # what the collection is pinned to (read by the same call)
    results: list[list[Hit]]  # one list per query, best first

    @property
    def face_model_version(self) -> str:
        return self.info.face_model_version


@dataclass(frozen=True)
class FacePage:
    faces: list[FaceRow]
    next_page_token: str  # empty on the last page


@dataclass(frozen=True)
class CollectionInfo:
    """What a collection keeps in its Milvus properties (set at creation, never changed)."""

    face_model_version: str
    dimension: int
    collection_id: str = ""
    created_at_ms: int = 0  # 0 for collections created before the property existed
    face_retention_days: int = 0  # 0: keep faces until deleted
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CollectionDescription:
    info: CollectionInfo
    face_count: int
    user_count: int


@dataclass(frozen=True)
class CollectionPage:
    collections: list[CollectionInfo]  # ordered by collection id
    next_page_token: str


@dataclass(frozen=True)
class UserRecord:
    user_id: str
    face_count: int
    created_at_ms: int


@dataclass(frozen=True)
class UserPage:
    users: list[UserRecord]  # ordered by user id
    next_page_token: str


@dataclass(frozen=True)
class DeletedUser:
    """What DeleteUser did to the user's faces: disassociated them, or (delete_faces) removed them."""

    disassociated_face_ids: list[str]
    deleted_faces: list[FaceRow]


@dataclass(frozen=True)
class FaceUserChange:
    face_id: str
    changed: bool
    reason: str = ""  # why not: "not found", "associated to user u2", ...



def collection_properties(desc: Mapping[str, Any]) -> Mapping[str, Any]:
    """Lineup's collection properties; from the description JSON where the engine did not keep them."""
    props = desc.get("properties", {}) or {}
    if PROP_MODEL_VERSION in props:
        return props  # type: ignore[no-any-return]
    try:
        described = json.loads(desc.get("description") or "{}")
    except ValueError:
        return {}
    return described if isinstance(described, dict) else {}


def info_from_description(desc: Mapping[str, Any]) -> CollectionInfo | None:
    """A collection's Lineup properties from Milvus' description; None if Lineup did not create it."""
    dims = [int(f["params"]["dim"]) for f in desc.get("fields", []) if f["name"] == "embedding"]
    props = collection_properties(desc)
    version = str(props.get(PROP_MODEL_VERSION, ""))
    if not dims or not version:
        return None
    try:
        tags = json.loads(props.get(PROP_TAGS) or "{}")
        created_at = int(props.get(PROP_CREATED_AT) or 0)
        retention = int(props.get(PROP_RETENTION_DAYS) or 0)
    except ValueError:
        log.warning("collection has unreadable Lineup properties", extra={"collection": desc.get("collection_name")})
        tags, created_at, retention = {}, 0, 0
    return CollectionInfo(face_model_version=version, dimension=dims[0],
                          collection_id=str(props.get(PROP_COLLECTION_ID, "")), created_at_ms=created_at,
                          face_retention_days=retention,
                          tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {})


def record_from_row(face: FaceRow, agency_id: str) -> dict[str, Any]:
    box = face.bounding_box
    return {"face_id": face.face_id, "embedding": list(face.embedding), "agency_id": agency_id,
            "image_id": face.image_id, "external_image_id": face.external_image_id, "user_id": face.user_id,
            "crop_bucket": face.crop_bucket, "crop_key": face.crop_key, "confidence": float(face.confidence),
            "bbox_left": float(box.left), "bbox_top": float(box.top), "bbox_width": float(box.width),
            "bbox_height": float(box.height), "indexed_at": int(face.indexed_at_ms),
            "face_model_version": face.face_model_version}


def row_from_entity(entity: dict[str, Any]) -> FaceRow:
    embedding = entity.get("embedding")
    return FaceRow(
        face_id=str(entity["face_id"]), image_id=entity["image_id"], external_image_id=entity["external_image_id"],
        user_id=entity["user_id"], crop_bucket=entity["crop_bucket"], crop_key=entity["crop_key"],
        confidence=float(entity["confidence"]),
        bounding_box=BoundingBox(float(entity["bbox_left"]), float(entity["bbox_top"]),
                                 float(entity["bbox_width"]), float(entity["bbox_height"])),
        indexed_at_ms=int(entity["indexed_at"]), face_model_version=entity["face_model_version"],
        embedding=tuple(float(v) for v in embedding) if embedding is not None else ())
