"""The face operations of the vector store: write, search, read, delete and count face rows.

Every operation is bound to the agency's namespace (`MilvusCore._bound`/`_existing`), reads the
collection's pin and recorded owner before trusting it, and filters rows by `agency_id` as well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from lineup.errors import InvalidArgument
from search.milvus import MilvusCore
from search.naming import (
    FACE_ID_RE,
    MAX_QUERIES,
    MAX_TOP_K,
    check_face_ids,
    check_user_id,
    check_vector,
    decode_page_token,
    encode_page_token,
    page_size_of,
    quote,
)
from search.rows import (
    SCALAR_FIELDS,
    CollectionInfo,
    FacePage,
    FaceRow,
    Hit,
    SearchResult,
    row_from_entity,
)

log = logging.getLogger(__name__)


class FaceRows(MilvusCore):
    """Face rows of a collection (see `FaceStore`)."""

    def upsert_faces(self, agency_id: str, collection_id: str, faces: Sequence[FaceRow]) -> int:
        """Insert or overwrite by face id: ids are deterministic, so a replayed message changes nothing.

        Returns the number of distinct faces written (a repeated id in one call counts once, last wins)."""
        client, name = self._bound(agency_id, collection_id)  # _write describes it first
        return self._write(agency_id, collection_id, client, name, faces)

    def search(self, agency_id: str, collection_id: str, queries: Sequence[Sequence[float]], *, top_k: int,
               min_raw_score: float, user_id: str = "", associated_only: bool = False,
               check: Callable[[CollectionInfo], None] | None = None) -> SearchResult:
        """Top-k faces by cosine similarity per query, best first, keeping raw scores >= min_raw_score.

        Filtering after the top-k is exact: the best k above a threshold are a prefix of the best k.
        `user_id` restricts to one user's faces, `associated_only` to faces of any user (user search), so
        that unassociated faces do not use up the k."""
        if not 0 < len(queries) <= MAX_QUERIES:
            raise InvalidArgument(f"{len(queries)} query vectors; send 1 to {MAX_QUERIES}")
        if not 0 < top_k <= MAX_TOP_K:
            raise InvalidArgument(f"top_k {top_k} is out of range 1..{MAX_TOP_K}")
        if user_id:
            check_user_id(user_id)
        client, name = self._bound(agency_id, collection_id)
        with self._errors(collection_id):
            info = self._describe(client, name, collection_id, agency_id)  # NotFound for a missing collection
            if check is not None:  # the caller's own precondition on the pin, before any search runs
                check(info)
            for i, q in enumerate(queries):
                check_vector(q, info.dimension, f"query vector {i}")
            expr = self._filter(agency_id, user_id=user_id)
            if associated_only:
                expr += ' and user_id != ""'
            raw = self._read(client, name, lambda: client.search(
                name, data=[list(q) for q in queries], limit=top_k, filter=expr, output_fields=list(SCALAR_FIELDS),
                search_params=self.search_params(top_k), consistency_level="Strong", timeout=self.timeout_s))
        # ties are ordered by face id, so a ranking never depends on the engine's internal order
        results = [sorted((Hit(row_from_entity(h["entity"]), float(h["distance"])) for h in hits
                           if float(h["distance"]) >= min_raw_score),
                          key=lambda hit: (-hit.raw_score, hit.face.face_id))
                   for hits in raw]
        return SearchResult(info=info, results=results)

    def get_faces(self, agency_id: str, collection_id: str, *, face_ids: Sequence[str] = (), user_id: str = "",
                  image_id: str = "", page_size: int = 0, page_token: str = "", with_embeddings: bool = False,
                  ) -> FacePage:
        """A page of faces in face-id order. The token is the last id served, so pages never overlap or
        skip, even while faces are added or deleted between calls. `image_id` finds the faces cut from one
        image (erasure asks whether an image is still referenced)."""
        page_size = page_size_of(page_size)
        check_face_ids(face_ids)
        if user_id:
            check_user_id(user_id)
        if image_id and not FACE_ID_RE.fullmatch(image_id):  # SHA-256 hex in practice; it ends up in the filter
            raise InvalidArgument(f"image id {image_id!r} is not valid: use 1-64 of A-Z, a-z, 0-9, '_', '.', ':' "
                                  f"and '-'")
        after = decode_page_token(page_token) if page_token else ""
        client, name = self._existing(agency_id, collection_id)
        expr = self._filter(agency_id, user_id=user_id, face_ids=face_ids, after=after)
        if image_id:
            expr += f" and image_id == {quote(image_id)}"
        fields = [*SCALAR_FIELDS, "embedding"] if with_embeddings else list(SCALAR_FIELDS)
        with self._errors(collection_id):
            # iterator=True asks Milvus for primary-key order (what its own QueryIterator relies on)
            raw = self._read(client, name, lambda: client.query(
                name, filter=expr, output_fields=fields, limit=page_size + 1, consistency_level="Strong",
                timeout=self.timeout_s, iterator="True", reduce_stop_for_best="True"))
        rows = sorted((row_from_entity(r) for r in raw), key=lambda r: r.face_id)
        more = len(rows) > page_size
        rows = rows[:page_size]
        return FacePage(faces=rows, next_page_token=encode_page_token(rows[-1].face_id) if more else "")

    def delete_faces(self, agency_id: str, collection_id: str, face_ids: Sequence[str]) -> list[FaceRow]:
        """Delete the given faces; returns the rows that existed (ids, image ids, crop refs) for the erasure
        receipt. Ids that are not there are simply absent from the result."""
        check_face_ids(face_ids)
        if not face_ids:
            return []
        client, name = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            # get by primary key (Milvus' fast path), then the agency check in Python (defence in depth)
            existing = self._read(client, name, lambda: client.get(
                name, ids=list(dict.fromkeys(face_ids)), output_fields=list(SCALAR_FIELDS),
                consistency_level="Strong", timeout=self.timeout_s))
            mine = (row_from_entity(r) for r in existing if r["agency_id"] == agency_id)
            rows = sorted(mine, key=lambda r: r.face_id)
            if rows:
                client.delete(name, ids=[r.face_id for r in rows], timeout=self.timeout_s)
        return rows

    def flush(self, agency_id: str, collection_id: str) -> None:
        """Seal what was written into segments, so that an index other than FLAT covers it (bulk loads)."""
        client, name = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            client.flush(name, timeout=max(self.timeout_s, 600.0))

    def count_faces(self, agency_id: str, collection_id: str) -> int:
        client, name = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            return self._count(client, name)
