"""Every ranking Lineup makes, in one place: candidates for probe vectors, for an enrolled face, and users.

The pipeline's image searches (search.stage) and the searches that need no image (SearchFacesByFaceId,
SearchUsersByFaces on the internal API, which the front door calls for SearchFaces and SearchUsers) use
these functions, so a face id search and an image search of the same face rank the same way, and so do
the two user searches. Every response carries the same provenance (`lineup.scoring.provenance`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lineup.errors import InvalidArgument, NotFound
from lineup.validation import MAX_USERS
from search.naming import MAX_QUERIES, MAX_TOP_K
from search.rows import CollectionInfo, Hit, UserRecord
from search.store import FaceStore

#: faces of users looked at to rank users: the ranking is exact unless the best MAX_TOP_K associated faces
#: belong to fewer users than asked for (users have at most a few dozen faces each)
USER_SEARCH_TOP_K = MAX_TOP_K


@dataclass(frozen=True)
class RankedUser:
    user: UserRecord
    best: Hit  # the user's face closest to any of the query vectors


def rank_faces(store: FaceStore, agency_id: str, collection_id: str, queries: Sequence[Sequence[float]], *,
               top_k: int, min_raw_score: float, check: Callable[[CollectionInfo], None] | None = None,
               exclude_face_id: str = "") -> tuple[CollectionInfo, list[list[Hit]]]:
    """Per query vector, the best `top_k` faces at or above the threshold, best first (ties by face id).

    One store call (the collection's pin comes back with the hits; `check` vets it before the search)."""
    found = store.search(agency_id, collection_id, queries, top_k=top_k + (1 if exclude_face_id else 0),
                         min_raw_score=min_raw_score, check=check)
    return found.info, [[h for h in hits if h.face.face_id != exclude_face_id][:top_k] for hits in found.results]


def rank_by_face(store: FaceStore, agency_id: str, collection_id: str, face_id: str, *, top_k: int,
                 min_raw_score: float) -> tuple[CollectionInfo, list[Hit]]:
    """The candidates for an enrolled face: its stored vector searched against its own collection."""
    page = store.get_faces(agency_id, collection_id, face_ids=[face_id], with_embeddings=True)
    if not page.faces:
        raise NotFound(f"face {face_id!r} not found in collection {collection_id!r}")
    info, lists = rank_faces(store, agency_id, collection_id, [list(page.faces[0].embedding)], top_k=top_k,
                             min_raw_score=min_raw_score, exclude_face_id=face_id)
    return info, lists[0]


def rank_users(store: FaceStore, agency_id: str, collection_id: str, queries: Sequence[Sequence[float]], *,
               max_users: int, min_raw_score: float, exclude_user_id: str = "",
               check: Callable[[CollectionInfo], None] | None = None) -> tuple[CollectionInfo, list[RankedUser]]:
    """Users ranked by their best face against any of the query vectors, best first.

    Only faces that belong to a user are searched (unassociated faces must not use up the k), a user
    whose record is gone is left out (it is being deleted: its faces are disassociated first), and
    `exclude_user_id` (the user searched with) is never its own candidate."""
    if not 0 < max_users <= MAX_USERS:
        raise InvalidArgument(f"max_users {max_users} is out of range 1..{MAX_USERS}")
    # per query: all it may return for one probe (exact unless the best USER_SEARCH_TOP_K associated faces
    # hold fewer users than asked for), shared out among several (a user search by user has up to 100), so
    # one search never asks the store for more than ~USER_SEARCH_TOP_K hits in all, nor fewer than
    # 20 per user asked for per query
    per_query = min(USER_SEARCH_TOP_K, max(20 * max_users, USER_SEARCH_TOP_K // max(1, len(queries))))
    found = store.search(agency_id, collection_id, queries, top_k=per_query, min_raw_score=min_raw_score,
                         associated_only=True, check=check)
    best: dict[str, Hit] = {}
    for hits in found.results:
        for hit in hits:
            uid = hit.face.user_id
            if uid == exclude_user_id:
                continue
            held = best.get(uid)
            if held is None or (-hit.raw_score, hit.face.face_id) < (-held.raw_score, held.face.face_id):
                best[uid] = hit
    users = store.get_users(agency_id, collection_id, list(best)) if best else {}
    ranked = sorted((hit for uid, hit in best.items() if uid in users),
                    key=lambda hit: (-hit.raw_score, hit.face.face_id))[:max_users]
    return found.info, [RankedUser(users[hit.face.user_id], hit) for hit in ranked]


def query_vectors_of(store: FaceStore, agency_id: str, collection_id: str, *, user_id: str = "",
                     face_id: str = "") -> list[list[float]]:
    """The stored vectors a user search by user or by face starts from (at most MAX_QUERIES)."""
    if not user_id and not face_id:  # an empty filter would make arbitrary faces of the collection the probes
        raise InvalidArgument("set user_id or face_id (not empty) to search with")
    page = store.get_faces(agency_id, collection_id, face_ids=[face_id] if face_id else (), user_id=user_id,
                           page_size=MAX_QUERIES, with_embeddings=True)
    if not page.faces:
        what = f"user_id {user_id!r}" if user_id else f"face_id {face_id!r}"
        raise NotFound(f"{what} has no faces in collection {collection_id!r}")
    return [list(f.embedding) for f in page.faces]
