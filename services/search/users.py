"""Users of a collection: an identity grouping some of its faces (Rekognition's CreateUser/AssociateFaces).

User records live in one more Milvus collection per agency namespace, `<prefix>lineup_users` (key
`<collection hash>:<user id>`, a constant 2-d vector because Milvus needs one); a face's association is
its row's `user_id`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pymilvus import DataType, MilvusException

from lineup.errors import AlreadyExists, NotFound
from search.faces import FaceRows
from search.milvus import TracedClient
from search.naming import (
    MAX_LEN,
    MAX_PAGE_SIZE,
    QUERY_LIMIT,
    USER_ID_RE,
    USER_VECTOR_DIM,
    check_face_ids,
    check_user_id,
    decode_page_token,
    encode_page_token,
    page_size_of,
    quote,
    user_key,
)
from search.rows import SCALAR_FIELDS, DeletedUser, FaceRow, FaceUserChange, UserPage, UserRecord, row_from_entity

log = logging.getLogger(__name__)

class UserStore(FaceRows):
    """The user operations of the vector store (see `FaceStore`)."""

    # ----------------------------------------------------------------------------------- users

    def create_user(self, agency_id: str, collection_id: str, user_id: str) -> UserRecord:
        """A new user of the collection; ALREADY_EXISTS if it is there. Two racing creators both succeed
        (the record is written by key), which is harmless: they created the same thing."""
        check_user_id(user_id)
        client, _ = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            self._ensure_users_collection(client)
            if self._get_user(client, collection_id, user_id) is not None:
                raise AlreadyExists(f"user {user_id!r} already exists in collection {collection_id!r}")
            now_ms = int(time.time() * 1000)
            client.upsert(client.users, [{
                "key": user_key(collection_id, user_id), "collection_id": collection_id, "user_id": user_id,
                "agency_id": agency_id, "created_at": now_ms, "vector": [1.0, 0.0]}], timeout=self.timeout_s)
        log.info("user created", extra={"agency_id": agency_id, "collection_id": collection_id, "user_id": user_id})
        return UserRecord(user_id=user_id, face_count=0, created_at_ms=now_ms)

    def delete_user(self, agency_id: str, collection_id: str, user_id: str, *,
                    delete_faces: bool = False) -> DeletedUser:
        """Remove a user: its faces are disassociated (kept, user_id cleared) or, with `delete_faces`, deleted
        and returned for the erasure receipt. The faces go before the record, so a retry after a failure
        half-way finishes the job instead of leaving faces pointing at a user that no longer exists."""
        check_user_id(user_id)
        client, name = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            if self._get_user(client, collection_id, user_id) is None:
                raise NotFound(f"user {user_id!r} not found in collection {collection_id!r}")
        disassociated: list[str] = []
        deleted: list[FaceRow] = []
        token = ""
        while True:
            page = self.get_faces(agency_id, collection_id, user_id=user_id, page_size=MAX_PAGE_SIZE,
                                  page_token=token, with_embeddings=not delete_faces)
            if delete_faces:
                deleted += self.delete_faces(agency_id, collection_id, [f.face_id for f in page.faces])
            elif page.faces:
                self._write(agency_id, collection_id, client, name, [replace(f, user_id="") for f in page.faces])
                disassociated += [f.face_id for f in page.faces]
            token = page.next_page_token
            if not token:
                break
        with self._errors(collection_id):
            client.delete(client.users, ids=[user_key(collection_id, user_id)], timeout=self.timeout_s)
        log.info("user deleted", extra={"agency_id": agency_id, "collection_id": collection_id, "user_id": user_id,
                                        "disassociated": len(disassociated), "deleted_faces": len(deleted)})
        return DeletedUser(disassociated_face_ids=disassociated, deleted_faces=deleted)

    def list_users(self, agency_id: str, collection_id: str, *, page_size: int = 0, page_token: str = ""
                   ) -> UserPage:
        """A page of the collection's users in user-id order, each with its current face count."""
        page_size = page_size_of(page_size)
        after = decode_page_token(page_token, USER_ID_RE) if page_token else ""
        client, name = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            if not self._has_users_collection(client):
                return UserPage(users=[], next_page_token="")
            expr = f"collection_id == {quote(collection_id)} and agency_id == {quote(agency_id)}"
            if after:
                expr += f" and key > {quote(user_key(collection_id, after))}"
            raw = self._read(client, client.users, lambda: client.query(
                client.users, filter=expr, output_fields=["user_id", "created_at"], limit=page_size + 1,
                consistency_level="Strong", timeout=self.timeout_s, iterator="True", reduce_stop_for_best="True"))
            records = sorted((str(r["user_id"]), int(r["created_at"])) for r in raw)
            more = len(records) > page_size
            records = records[:page_size]
            counts = self._face_counts(client, name, agency_id, [u for u, _ in records])
        users = [UserRecord(user_id=u, face_count=counts.get(u, 0), created_at_ms=at) for u, at in records]
        return UserPage(users=users, next_page_token=encode_page_token(users[-1].user_id) if more else "")

    def get_users(self, agency_id: str, collection_id: str, user_ids: Sequence[str]) -> dict[str, UserRecord]:
        """The given users that exist, with their face counts (for search-by-user results)."""
        for user_id in user_ids:
            check_user_id(user_id)
        if not user_ids:
            return {}
        client, name = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            if not self._has_users_collection(client):
                return {}
            raw = self._read(client, client.users, lambda: client.get(
                client.users, ids=[user_key(collection_id, u) for u in dict.fromkeys(user_ids)],
                output_fields=["user_id", "created_at", "agency_id", "collection_id"], consistency_level="Strong",
                timeout=self.timeout_s))
            found = {str(r["user_id"]): int(r["created_at"]) for r in raw
                     if r["agency_id"] == agency_id and r["collection_id"] == collection_id}
            counts = self._face_counts(client, name, agency_id, list(found))
        return {u: UserRecord(user_id=u, face_count=counts.get(u, 0), created_at_ms=at) for u, at in found.items()}

    def set_faces_user(self, agency_id: str, collection_id: str, user_id: str, face_ids: Sequence[str]
                       ) -> tuple[list[FaceUserChange], UserRecord | None]:
        """Associate faces to `user_id`, or disassociate them when it is empty, by rewriting their rows.

        A face of another user is reported ("associated to user u2"), never moved: re-assigning a face
        between identities must be a deliberate disassociate + associate. Unknown faces are reported
        ("not found"). Returns one change per distinct face id (in request order) and, when associating, the
        user with its face count afterwards. An unknown user is NOT_FOUND."""
        check_face_ids(face_ids)
        if user_id:
            check_user_id(user_id)
        client, name = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            user = self._get_user(client, collection_id, user_id) if user_id else None
            if user_id and user is None:
                raise NotFound(f"user {user_id!r} not found in collection {collection_id!r}")
            wanted = list(dict.fromkeys(face_ids))
            rows: dict[str, FaceRow] = {}
            if wanted:
                raw = self._read(client, name, lambda: client.get(
                    name, ids=wanted, output_fields=[*SCALAR_FIELDS, "embedding"], consistency_level="Strong",
                    timeout=self.timeout_s))
                rows = {r.face_id: r for r in map(row_from_entity, (e for e in raw if e["agency_id"] == agency_id))}
        changes: list[FaceUserChange] = []
        writes: list[FaceRow] = []
        for face_id in wanted:
            row = rows.get(face_id)
            if row is None:
                changes.append(FaceUserChange(face_id, False, "not found"))
            elif row.user_id == user_id:
                changes.append(FaceUserChange(face_id, False, f"already associated to user {user_id}" if user_id
                                              else "not associated to a user"))
            elif user_id and row.user_id:
                changes.append(FaceUserChange(face_id, False, f"associated to user {row.user_id}"))
            else:
                changes.append(FaceUserChange(face_id, True))
                writes.append(replace(row, user_id=user_id))
        if writes:
            self._write(agency_id, collection_id, client, name, writes)
        if user is None:
            return changes, None
        with self._errors(collection_id):
            count = self._face_counts(client, name, agency_id, [user_id]).get(user_id, 0)
        return changes, replace(user, face_count=count)


    # -- users: one `lineup_users` collection per agency database

    def _has_users_collection(self, client: TracedClient) -> bool:
        with self._lock:
            if client.space in self._users_ready:
                return True
        if not client.has_collection(client.users, timeout=self.timeout_s):
            return False
        with self._lock:
            self._users_ready.add(client.space)
        return True

    def _ensure_users_collection(self, client: TracedClient) -> None:
        """Created on the first CreateUser of the agency. Milvus needs a vector field in every collection;
        user records carry a constant 2-d one and are only ever read by key or filter."""
        if self._has_users_collection(client):
            return
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, max_length=160, is_primary=True)
        schema.add_field("collection_id", DataType.VARCHAR, max_length=255)
        schema.add_field("user_id", DataType.VARCHAR, max_length=MAX_LEN["user_id"])
        schema.add_field("agency_id", DataType.VARCHAR, max_length=63)
        schema.add_field("created_at", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=USER_VECTOR_DIM)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="L2")
        index.add_index("collection_id", index_type="INVERTED")  # every read filters by collection
        try:
            client.create_collection(client.users, schema=schema, index_params=index, consistency_level="Strong",
                                     timeout=self.timeout_s)
        except MilvusException:
            if not client.has_collection(client.users, timeout=self.timeout_s):  # lost a creation race?
                raise
        with self._lock:
            self._users_ready.add(client.space)

    def _get_user(self, client: TracedClient, collection_id: str, user_id: str) -> UserRecord | None:
        """The user's record (face count not filled in), or None."""
        if not self._has_users_collection(client):
            return None
        raw = self._read(client, client.users, lambda: client.get(
            client.users, ids=[user_key(collection_id, user_id)], output_fields=["collection_id", "created_at"],
            consistency_level="Strong", timeout=self.timeout_s))
        for r in raw:
            if r["collection_id"] == collection_id:
                return UserRecord(user_id=user_id, face_count=0, created_at_ms=int(r["created_at"]))
        return None

    def _count_users(self, client: TracedClient, collection_id: str) -> int:
        if not self._has_users_collection(client):
            return 0
        res = self._read(client, client.users, lambda: client.query(
            client.users, filter=f"collection_id == {quote(collection_id)}", output_fields=["count(*)"],
            consistency_level="Strong", timeout=self.timeout_s))
        return int(res[0]["count(*)"])

    def _delete_users_of(self, client: TracedClient, collection_id: str) -> None:
        if self._has_users_collection(client):
            self._read(client, client.users, lambda: client.delete(
                client.users, filter=f"collection_id == {quote(collection_id)}", timeout=self.timeout_s))

    def _face_counts(self, client: TracedClient, name: str, agency_id: str, user_ids: Sequence[str],
                     ) -> dict[str, int]:
        """Faces per user, counted from the face rows themselves (so DeleteFaces, SetFacesUser and the
        pipeline never have a counter to keep in step). Pages by face id, so any number of faces works."""
        counts: dict[str, int] = {}
        if not user_ids:
            return counts
        users = ", ".join(quote(u) for u in user_ids)
        after = ""
        while True:
            expr = f"agency_id == {quote(agency_id)} and user_id in [{users}]"
            if after:
                expr += f" and face_id > {quote(after)}"

            def page(expr: str = expr) -> list[dict[str, Any]]:
                return client.query(
                    name, filter=expr, output_fields=["face_id", "user_id"], limit=QUERY_LIMIT,
                    consistency_level="Strong", timeout=self.timeout_s, iterator="True", reduce_stop_for_best="True")

            raw = self._read(client, name, page)
            for r in raw:
                counts[r["user_id"]] = counts.get(r["user_id"], 0) + 1
            if len(raw) < QUERY_LIMIT:
                return counts
            after = max(str(r["face_id"]) for r in raw)
