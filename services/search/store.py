"""The face vector store: the only code that knows how faces are laid out in Milvus.

Isolation is structural, in one of two layouts (`LINEUP_MILVUS_TENANCY`, docs/search.md):
- `collection` (the default, and the only one the embedded engine can do): every Milvus collection of an
  agency is named with the agency's prefix (`a<len>_<agency>_`, '-' mapped to '_'), in the default
  database. The prefix is derived from the agency id alone and no two agencies share one, so a guessed
  collection id of another agency names a collection that does not exist for the caller.
- `database`: one Milvus *database* per agency (`lineup_<agency>`), for Milvus clusters.
Every operation names the agency and runs on a client bound to that agency's namespace; each row also
carries `agency_id` and every read filters on it (defence in depth against a bug that writes into the
wrong namespace).

Model pinning: a collection records the face model version that produced its vectors (collection
property `lineup.face_model_version`) and its dimension (the vector field); vectors of another model
are refused, because cosine scores between two models' embeddings mean nothing. The same properties are
also written, as JSON, into the collection's description: the embedded engine (milvus-lite 2.5) accepts
collection properties but does not keep them, while it keeps the description.

Users (an identity grouping faces of one collection) are records in one more Milvus collection per agency
namespace, `<prefix>lineup_users` (key `<collection hash>:<user id>`); a face's association is its row's `user_id`.
Every Milvus call runs inside an OpenTelemetry CLIENT span (`milvus <method>`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pymilvus import MilvusException

from lineup.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from lineup.validation import COLLECTION_ID
from search.naming import (
    COLLECTION_PREFIX,
    MAX_DIMENSION,
    MAX_LEN,
    MAX_RETENTION_DAYS,
    Namespace,
    check_tags,
    collection_name,
    decode_page_token,
    encode_page_token,
    page_size_of,
)
from search.rows import (
    CollectionDescription,
    CollectionInfo,
    CollectionPage,
)
from search.users import UserStore

log = logging.getLogger(__name__)

class FaceStore(UserStore):
    """Face vectors of all agencies in one Milvus, one namespace per agency (see the module docstring). Thread-safe."""

    # ----------------------------------------------------------------------------------- collections

    def ensure_collection(self, agency_id: str, collection_id: str, face_model_version: str, dimension: int, *,
                          face_retention_days: int = 0, tags: Mapping[str, str] | None = None,
                          must_create: bool = False) -> tuple[bool, str]:
        """Create the collection pinned to (model, dimension), or check an existing one against them.

        Returns (created, pinned model version). Idempotent, so the front door can call it before every
        enrolment; a racing creator is tolerated (the loser re-reads what the winner pinned). Retention and
        tags are kept from creation; an existing collection keeps its own. `must_create` (the public
        CreateCollection) turns "it exists already" into ALREADY_EXISTS instead of reusing it."""
        space = self.namespace(agency_id)
        name = space.prefix + collection_name(collection_id)
        if not face_model_version or len(face_model_version) > MAX_LEN["face_model_version"]:
            raise InvalidArgument("face model version must be 1-128 characters")
        if not 0 < dimension <= MAX_DIMENSION:
            raise InvalidArgument(f"dimension {dimension} is out of range 1..{MAX_DIMENSION}")
        if not 0 <= face_retention_days <= MAX_RETENTION_DAYS:
            raise InvalidArgument(f"face retention {face_retention_days} days is out of range "
                                  f"0..{MAX_RETENTION_DAYS} (0: keep until deleted)")
        tags = dict(tags or {})
        check_tags(tags)
        with self._errors(collection_id):
            self._ensure_database(space.database)
            client = self._client(space)
            if not client.has_collection(name, timeout=self.timeout_s):
                try:
                    self._create(client, name, agency_id, collection_id, face_model_version, dimension,
                                 face_retention_days, tags)
                except MilvusException:
                    if not client.has_collection(name, timeout=self.timeout_s):
                        raise
                else:
                    # users left behind by a drop that died half-way must not reappear in the new collection
                    self._delete_users_of(client, collection_id)
                    log.info("collection created", extra={"agency_id": agency_id, "collection_id": collection_id,
                                                          "face_model_version": face_model_version})
                    return True, face_model_version
            if must_create:
                raise AlreadyExists(f"collection {collection_id!r} already exists")
            info = self._describe(client, name, collection_id, agency_id)
        if info.face_model_version != face_model_version or info.dimension != dimension:
            raise FailedPrecondition(
                f"collection {collection_id!r} is pinned to face model {info.face_model_version!r} "
                f"({info.dimension}-d); it cannot take {face_model_version!r} ({dimension}-d) vectors: "
                f"create a new collection for the new model and re-enrol")
        return False, info.face_model_version

    def drop_collection(self, agency_id: str, collection_id: str) -> int:
        """Drop the collection and its users; returns how many faces it held (for the erasure receipt).

        Faces go first: if the user records' delete fails afterwards, they are invisible (every user call
        needs the collection) and a later EnsureCollection of the same id removes them."""
        client, name = self._bound(agency_id, collection_id)
        with self._errors(collection_id):
            self._describe(client, name, collection_id, agency_id)  # NotFound unless it is the caller's
            count = self._count(client, name)
            client.drop_collection(name, timeout=self.timeout_s)
            self._delete_users_of(client, collection_id)
        log.info("collection dropped", extra={"agency_id": agency_id, "collection_id": collection_id,
                                              "faces": count})
        return count

    def collection_info(self, agency_id: str, collection_id: str) -> CollectionInfo:
        client, name = self._bound(agency_id, collection_id)  # describing a missing collection is NotFound
        with self._errors(collection_id):
            return self._describe(client, name, collection_id, agency_id)

    def describe_collection(self, agency_id: str, collection_id: str) -> CollectionDescription:
        """Pinned model, dimension, creation time, retention, tags and exact face and user counts."""
        client, name = self._bound(agency_id, collection_id)  # describing a missing collection is NotFound
        with self._errors(collection_id):
            info = self._describe(client, name, collection_id, agency_id)
            faces = self._count(client, name)
            users = self._count_users(client, collection_id)
        return CollectionDescription(info=info, face_count=faces, user_count=users)

    def list_collections(self, agency_id: str, *, page_size: int = 0, page_token: str = "") -> CollectionPage:
        """The agency's collections in collection-id order, a page at a time (token: the last id served).

        Milvus names are lossy, so the Lineup id comes from each collection's `lineup.collection_id`
        property. Milvus cannot list by property, so a call lists the database's collection names and
        describes the ones it has not seen before (a name's id never changes: it is derived from the id),
        then describes the page it returns; that is O(collections of the agency), fine for the tens to
        hundreds an agency has."""
        page_size = page_size_of(page_size)
        after = decode_page_token(page_token, COLLECTION_ID) if page_token else ""
        space = self.namespace(agency_id)
        try:
            with self._errors(""):
                return self._list_collections(space, agency_id, after, page_size)
        except NotFound:  # the agency's database went away while listing: it has no collections
            return CollectionPage(collections=[], next_page_token="")

    def _list_collections(self, space: Namespace, agency_id: str, after: str, page_size: int) -> CollectionPage:
        if not self._database_exists(space.database):
            return CollectionPage(collections=[], next_page_token="")
        client = self._client(space)
        db = space.database
        fresh: dict[str, CollectionInfo] = {}  # described during this call
        ids: dict[str, str] = {}  # collection id -> Milvus name
        for name in client.list_collections(timeout=self.timeout_s):
            if not name.startswith(space.prefix + COLLECTION_PREFIX):
                continue  # the users collection, or (one database for all) another agency's
            with self._lock:
                cid = self._names.get((db, name))
            if cid is None:
                info = self._describe_any(client, name, agency_id)
                if info is None:
                    continue
                fresh[name], cid = info, info.collection_id
                with self._lock:
                    self._names[(db, name)] = cid
            ids[cid] = name
        chosen = sorted(cid for cid in ids if cid > after)[:page_size + 1]
        more = len(chosen) > page_size
        page: list[CollectionInfo] = []
        for cid in chosen[:page_size]:
            info = fresh.get(ids[cid]) or self._describe_any(client, ids[cid], agency_id)
            if info is not None:  # None: dropped meanwhile
                page.append(info)
        return CollectionPage(collections=page, next_page_token=encode_page_token(chosen[page_size - 1]) if more
                              else "")
