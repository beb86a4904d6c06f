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

import base64
import binascii
import hashlib
import json
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import grpc
from opentelemetry import trace
from pymilvus import DataType, MilvusClient, MilvusException

from lineup.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from lineup.settings import SettingsError, env_name
from search.settings import SearchSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("lineup.milvus")
T = TypeVar("T")

#: budget of one Milvus call (pymilvus retries transient errors within it)
DEFAULT_TIMEOUT_S = 10.0
MAX_QUERIES = 100
#: contract limit; Milvus clusters and the embedded engine cap topk at 16384
MAX_TOP_K = 4097  # the public maximum (4096) plus the searched face itself (SearchFaces drops it)
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_FACE_IDS = 4096
#: Milvus' own ceiling for FLOAT_VECTOR
MAX_DIMENSION = 32768
#: rows per upsert call, so one request stays far below gRPC message limits even at dim 2048
UPSERT_BATCH = 500
#: pymilvus pings every 10 s even when idle; gRPC servers (the embedded engine among them) answer that with
#: GOAWAY "too_many_pings" and a reconnect. Ping only while calls are in flight, at most once a minute.
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 60_000, "grpc.keepalive_permit_without_calls": False}

DATABASE_PREFIX = "lineup_"
#: LINEUP_MILVUS_TENANCY values: the agency in every collection name (any Milvus, the embedded engine
#: included), or one database per agency (Milvus clusters; the embedded engine ignores databases)
TENANCY_COLLECTION = "collection"
TENANCY_DATABASE = "database"
TENANCIES = (TENANCY_COLLECTION, TENANCY_DATABASE)
DEFAULT_DATABASE = "default"
COLLECTION_PREFIX = "c_"
PROP_MODEL_VERSION = "lineup.face_model_version"
PROP_COLLECTION_ID = "lineup.collection_id"
PROP_AGENCY_ID = "lineup.agency_id"
PROP_CREATED_AT = "lineup.created_at_ms"
PROP_RETENTION_DAYS = "lineup.face_retention_days"
PROP_TAGS = "lineup.tags"  # JSON object

#: the per-agency collection of user records, after the namespace prefix (face collections all start with
#: the prefix and COLLECTION_PREFIX)
USERS_COLLECTION = "lineup_users"
#: Milvus requires a vector field in every collection; user records carry this constant 2-d one
USER_VECTOR_DIM = 2
#: Milvus' ceiling for offset + limit of one query
QUERY_LIMIT = 16384
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_RETENTION_DAYS = 36500

# index types Milvus clusters accept; the embedded engine builds FLAT, AUTOINDEX and IVF_FLAT (docs/infra/milvus.md)
INDEX_BUILD_PARAMS: dict[str, dict[str, int]] = {
    "FLAT": {},
    "AUTOINDEX": {},
    "HNSW": {"M": 16, "efConstruction": 200},
    "HNSW_SQ": {"M": 16, "efConstruction": 200},
    "IVF_FLAT": {"nlist": 128},
    "IVF_SQ8": {"nlist": 128},
}

_AGENCY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
#: a collection name in the `collection` tenancy (`a<len>_<agency>_...`)
_PREFIXED_RE = re.compile(r"^a[0-9]{1,2}_")
_COLLECTION_RE = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")
# ids that end up inside filter expressions are restricted to characters that need no escaping
_FACE_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_USER_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")

# VARCHAR limits of the schema; checked before writing so the caller gets a clear message
_MAX_LEN = {"image_id": 64, "external_image_id": 255, "user_id": 128, "crop_bucket": 63, "crop_key": 1024,
            "face_model_version": 128}
_SCALAR_FIELDS = ("face_id", "agency_id", "image_id", "external_image_id", "user_id", "crop_bucket", "crop_key",
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


# ---------------------------------------------------------------------------------------------- naming


def database_name(agency_id: str) -> str:
    """`lineup_<agency>`: agency ids have no '_', so mapping '-' to '_' cannot merge two agencies."""
    if not _AGENCY_RE.fullmatch(agency_id):
        raise InvalidArgument(f"agency id {agency_id!r} is not valid: use 2-63 of a-z, 0-9 and '-'")
    return DATABASE_PREFIX + agency_id.replace("-", "_")


@dataclass(frozen=True)
class Namespace:
    """Where one agency's collections live: a Milvus database, and a prefix of every collection name in it."""

    database: str
    prefix: str

    @property
    def users(self) -> str:
        return self.prefix + USERS_COLLECTION


def agency_namespace(agency_id: str, tenancy: str = TENANCY_COLLECTION) -> Namespace:
    """The agency's namespace. The collection prefix `a<len>_<agency>_` is prefix-free across agencies: the
    length fixes where the agency ends, and agency ids have no '_', so mapping '-' to '_' merges none."""
    database = database_name(agency_id)  # validates the id
    if tenancy == TENANCY_DATABASE:
        return Namespace(database, "")
    return Namespace(DEFAULT_DATABASE, f"a{len(agency_id)}_{agency_id.replace('-', '_')}_")


def collection_name(collection_id: str) -> str:
    """`c_<readable part>_<hash>`: Milvus names allow only [A-Za-z0-9_], so the readable part is lossy
    ('a.b' and 'a_b' look alike) and the SHA-256 prefix keeps distinct ids apart."""
    if not _COLLECTION_RE.fullmatch(collection_id):
        raise InvalidArgument(f"collection id {collection_id!r} is not valid: use 1-255 of A-Z, a-z, 0-9, "
                              f"'_', '.' and '-'")
    readable = re.sub(r"[^A-Za-z0-9_]", "_", collection_id)[:40]
    return f"{COLLECTION_PREFIX}{readable}_{collection_digest(collection_id)}"


def collection_digest(collection_id: str) -> str:
    return hashlib.sha256(collection_id.encode()).hexdigest()[:16]


def user_key(collection_id: str, user_id: str) -> str:
    """Primary key of a user record: unique per (collection, user) within the agency's database, and
    sorted like the user ids of one collection (same prefix), which is what ListUsers pages on."""
    return f"{collection_digest(collection_id)}:{user_id}"


def encode_page_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_page_token(token: str, pattern: re.Pattern[str] = _FACE_ID_RE) -> str:
    """The last id (face, user or collection) of the previous page; the token is opaque to callers but
    carries no secret. It is validated like the id it stands for, because it ends up in a filter."""
    try:
        last_id = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        last_id = ""
    if not pattern.match(last_id):
        raise InvalidArgument("page token is not valid: pass the next_page_token of the previous response")
    return last_id


# ---------------------------------------------------------------------------------------------- validation


def _check_face_id(face_id: str) -> None:
    if not _FACE_ID_RE.fullmatch(face_id):
        raise InvalidArgument(f"face id {face_id!r} is not valid: use 1-64 of A-Z, a-z, 0-9, '_', '.', ':' and '-'")


def _check_user_id(user_id: str) -> None:
    if not _USER_ID_RE.fullmatch(user_id):
        raise InvalidArgument(f"user id {user_id!r} is not valid: use 1-128 of A-Z, a-z, 0-9, '_', '.', ':' and '-'")


def _check_face_ids(face_ids: Sequence[str]) -> None:
    if len(face_ids) > MAX_FACE_IDS:
        raise InvalidArgument(f"{len(face_ids)} face ids in one call; the limit is {MAX_FACE_IDS}")
    for face_id in face_ids:
        _check_face_id(face_id)


def _check_vector(values: Sequence[float], dimension: int, what: str) -> None:
    """COSINE needs a finite, non-zero vector of the collection's dimension; anything else would be
    stored or searched as garbage (NaN scores) instead of failing here."""
    if len(values) != dimension:
        raise InvalidArgument(f"{what} has dimension {len(values)}; the collection holds {dimension}-d vectors")
    norm2 = 0.0
    for v in values:
        if not math.isfinite(v):
            raise InvalidArgument(f"{what} contains a non-finite value")
        norm2 += v * v
    if norm2 == 0.0:
        raise InvalidArgument(f"{what} is the zero vector, which has no direction to compare")


def _check_row(row: FaceRow, dimension: int) -> None:
    _check_face_id(row.face_id)
    if row.user_id:
        _check_user_id(row.user_id)
    for name, limit in _MAX_LEN.items():
        if len(getattr(row, name)) > limit:
            raise InvalidArgument(f"face {row.face_id}: {name} is longer than {limit} characters")
    _check_vector(row.embedding, dimension, f"embedding of face {row.face_id}")


def _page_size(page_size: int) -> int:
    page_size = page_size or DEFAULT_PAGE_SIZE
    if not 0 < page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"page size {page_size} is out of range 1..{MAX_PAGE_SIZE}")
    return page_size


def _check_tags(tags: Mapping[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidArgument(f"{len(tags)} tags; a collection takes at most {MAX_TAGS}")
    for key, value in tags.items():
        if not 0 < len(key) <= MAX_TAG_KEY:
            raise InvalidArgument(f"tag key {key[:40]!r} must be 1-{MAX_TAG_KEY} characters")
        if len(value) > MAX_TAG_VALUE:
            raise InvalidArgument(f"tag {key!r}: the value is longer than {MAX_TAG_VALUE} characters")


def _quote(value: str) -> str:
    """A filter-expression string literal. Values are validated to [A-Za-z0-9_.:-] before they get here;
    escaping anyway keeps a future caller from building an injectable expression."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------------------------- errors


_UNAVAILABLE_GRPC = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_CONNECT_FAILED = 2  # pymilvus Status.CONNECT_FAILED
_COLLECTION_NOT_FOUND = 100
_COLLECTION_NOT_LOADED = 101
_DATABASE_NOT_FOUND = 800


def _is_unavailable(exc: Exception) -> bool:
    if isinstance(exc, grpc.FutureTimeoutError):
        return True
    if isinstance(exc, grpc.RpcError):
        return exc.code() in _UNAVAILABLE_GRPC  # type: ignore[attr-defined,no-any-return]
    if isinstance(exc, MilvusException):
        return exc.code == _CONNECT_FAILED or exc.code in _UNAVAILABLE_GRPC or "Retry timeout" in exc.message
    return False


def _is_not_found(exc: Exception) -> bool:
    return isinstance(exc, MilvusException) and (exc.code == _COLLECTION_NOT_FOUND or _is_database_not_found(exc))


def _is_database_not_found(exc: MilvusException) -> bool:
    message = exc.message.lower()
    return exc.code == _DATABASE_NOT_FOUND or ("database" in message and ("not exist" in message
                                                                         or "not found" in message))


# ---------------------------------------------------------------------------------------------- store


class FaceStore:
    """Face vectors of all agencies in one Milvus, one namespace per agency (see the module docstring). Thread-safe."""

    def __init__(self, uri: str, *, token: str = "", index_type: str = "FLAT", tenancy: str = TENANCY_COLLECTION,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not uri:
            raise SettingsError(f"{env_name('milvus_uri')} is empty: give http://host:19530 of a Milvus")
        index_type = index_type.upper()
        if index_type not in INDEX_BUILD_PARAMS:
            raise SettingsError(f"{env_name('milvus_index_type')}={index_type!r} is not supported: use one of "
                                f"{', '.join(INDEX_BUILD_PARAMS)}")
        if tenancy not in TENANCIES:
            raise SettingsError(f"{env_name('milvus_tenancy')}={tenancy!r} is not supported: use "
                                f"{TENANCY_COLLECTION!r} (any Milvus) or {TENANCY_DATABASE!r} (a Milvus cluster)")
        self.uri = uri
        self.index_type = index_type
        self.tenancy = tenancy
        self.timeout_s = timeout_s
        self._token = token
        self._lock = threading.Lock()
        self._clients: dict[Namespace, _TracedClient] = {}  # namespace -> client bound to it
        self._databases: set[str] = set()  # databases known to exist
        self._users_ready: set[Namespace] = set()  # namespaces whose users collection is known to exist
        self._names: dict[tuple[str, str], str] = {}  # (database, Milvus name) -> Lineup collection id

    @classmethod
    def from_settings(cls, settings: SearchSettings, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> FaceStore:
        return cls(settings.milvus_uri, token=settings.milvus_token, index_type=settings.milvus_index_type,
                   tenancy=settings.milvus_tenancy, timeout_s=timeout_s)

    def check_layout(self) -> None:
        """Refuse a tenancy that cannot see what is stored: collections written under the other layout would
        be NOT_FOUND for everyone, so they could neither be searched nor erased. Raises SettingsError (the
        service exits with code 2); an unreachable Milvus is not a settings error and is only logged, without
        delaying the start (a TCP probe first: pymilvus would keep retrying a refused connection)."""
        parts = urlsplit(self.uri if "://" in self.uri else f"http://{self.uri}")
        try:
            socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 19530), timeout=2.0).close()
        except OSError:
            log.warning("cannot check the Milvus layout now (unreachable); serving anyway")
            return
        root = self._client(Namespace(DEFAULT_DATABASE, ""))
        try:
            names = list(root.list_collections(timeout=self.timeout_s))
            if self.tenancy == TENANCY_COLLECTION:
                try:
                    databases = [d for d in root.list_databases(timeout=self.timeout_s)
                                 if d.startswith(DATABASE_PREFIX)]
                except (MilvusException, grpc.RpcError):
                    databases = []  # an engine without databases (UNIMPLEMENTED): nothing can hide there
                other = databases + [n for n in names if n.startswith(COLLECTION_PREFIX) or n == USERS_COLLECTION]
            else:
                other = [n for n in names if _PREFIXED_RE.match(n)]
        except (MilvusException, grpc.RpcError, grpc.FutureTimeoutError) as exc:
            if _is_unavailable(exc):
                log.warning("cannot check the Milvus layout now (unreachable); serving anyway")
                return
            raise
        if other:
            raise SettingsError(
                f"{env_name('milvus_tenancy')}={self.tenancy!r}, but Milvus at {self.uri} holds data written with the "
                f"other layout ({', '.join(sorted(other)[:3])}{', …' if len(other) > 3 else ''}): it would be "
                f"invisible, so neither searchable nor erasable. Set the tenancy the data was written with "
                f"(docs/search.md) or move the collections with `python -m lineup.reembed`")

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

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
        if not face_model_version or len(face_model_version) > _MAX_LEN["face_model_version"]:
            raise InvalidArgument("face model version must be 1-128 characters")
        if not 0 < dimension <= MAX_DIMENSION:
            raise InvalidArgument(f"dimension {dimension} is out of range 1..{MAX_DIMENSION}")
        if not 0 <= face_retention_days <= MAX_RETENTION_DAYS:
            raise InvalidArgument(f"face retention {face_retention_days} days is out of range "
                                  f"0..{MAX_RETENTION_DAYS} (0: keep until deleted)")
        tags = dict(tags or {})
        _check_tags(tags)
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
        page_size = _page_size(page_size)
        after = decode_page_token(page_token, _COLLECTION_RE) if page_token else ""
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

    # ----------------------------------------------------------------------------------- users

    def create_user(self, agency_id: str, collection_id: str, user_id: str) -> UserRecord:
        """A new user of the collection; ALREADY_EXISTS if it is there. Two racing creators both succeed
        (the record is written by key), which is harmless: they created the same thing."""
        _check_user_id(user_id)
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
        _check_user_id(user_id)
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
        page_size = _page_size(page_size)
        after = decode_page_token(page_token, _USER_ID_RE) if page_token else ""
        client, name = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            if not self._has_users_collection(client):
                return UserPage(users=[], next_page_token="")
            expr = f"collection_id == {_quote(collection_id)} and agency_id == {_quote(agency_id)}"
            if after:
                expr += f" and key > {_quote(user_key(collection_id, after))}"
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
            _check_user_id(user_id)
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
        _check_face_ids(face_ids)
        if user_id:
            _check_user_id(user_id)
        client, name = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            user = self._get_user(client, collection_id, user_id) if user_id else None
            if user_id and user is None:
                raise NotFound(f"user {user_id!r} not found in collection {collection_id!r}")
            wanted = list(dict.fromkeys(face_ids))
            rows: dict[str, FaceRow] = {}
            if wanted:
                raw = self._read(client, name, lambda: client.get(
                    name, ids=wanted, output_fields=[*_SCALAR_FIELDS, "embedding"], consistency_level="Strong",
                    timeout=self.timeout_s))
                rows = {r.face_id: r for r in map(_row, (e for e in raw if e["agency_id"] == agency_id))}
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

    # ----------------------------------------------------------------------------------- faces

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
            _check_user_id(user_id)
        client, name = self._bound(agency_id, collection_id)
        with self._errors(collection_id):
            info = self._describe(client, name, collection_id, agency_id)  # NotFound for a missing collection
            if check is not None:  # the caller's own precondition on the pin, before any search runs
                check(info)
            for i, q in enumerate(queries):
                _check_vector(q, info.dimension, f"query vector {i}")
            expr = self._filter(agency_id, user_id=user_id)
            if associated_only:
                expr += ' and user_id != ""'
            raw = self._read(client, name, lambda: client.search(
                name, data=[list(q) for q in queries], limit=top_k, filter=expr, output_fields=list(_SCALAR_FIELDS),
                search_params=self.search_params(top_k), consistency_level="Strong", timeout=self.timeout_s))
        # ties are ordered by face id, so a ranking never depends on the engine's internal order
        results = [sorted((Hit(_row(h["entity"]), float(h["distance"])) for h in hits
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
        page_size = _page_size(page_size)
        _check_face_ids(face_ids)
        if user_id:
            _check_user_id(user_id)
        if image_id and not _FACE_ID_RE.fullmatch(image_id):  # SHA-256 hex in practice; it ends up in the filter
            raise InvalidArgument(f"image id {image_id!r} is not valid: use 1-64 of A-Z, a-z, 0-9, '_', '.', ':' "
                                  f"and '-'")
        after = decode_page_token(page_token) if page_token else ""
        client, name = self._existing(agency_id, collection_id)
        expr = self._filter(agency_id, user_id=user_id, face_ids=face_ids, after=after)
        if image_id:
            expr += f" and image_id == {_quote(image_id)}"
        fields = [*_SCALAR_FIELDS, "embedding"] if with_embeddings else list(_SCALAR_FIELDS)
        with self._errors(collection_id):
            # iterator=True asks Milvus for primary-key order (what its own QueryIterator relies on)
            raw = self._read(client, name, lambda: client.query(
                name, filter=expr, output_fields=fields, limit=page_size + 1, consistency_level="Strong",
                timeout=self.timeout_s, iterator="True", reduce_stop_for_best="True"))
        rows = sorted((_row(r) for r in raw), key=lambda r: r.face_id)
        more = len(rows) > page_size
        rows = rows[:page_size]
        return FacePage(faces=rows, next_page_token=encode_page_token(rows[-1].face_id) if more else "")

    def delete_faces(self, agency_id: str, collection_id: str, face_ids: Sequence[str]) -> list[FaceRow]:
        """Delete the given faces; returns the rows that existed (ids, image ids, crop refs) for the erasure
        receipt. Ids that are not there are simply absent from the result."""
        _check_face_ids(face_ids)
        if not face_ids:
            return []
        client, name = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            # get by primary key (Milvus' fast path), then the agency check in Python (defence in depth)
            existing = self._read(client, name, lambda: client.get(
                name, ids=list(dict.fromkeys(face_ids)), output_fields=list(_SCALAR_FIELDS),
                consistency_level="Strong", timeout=self.timeout_s))
            rows = sorted((_row(r) for r in existing if r["agency_id"] == agency_id), key=lambda r: r.face_id)
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

    # ----------------------------------------------------------------------------------- internals

    @contextmanager
    def _errors(self, collection_id: str) -> Iterator[None]:
        """Milvus failures as Lineup errors. A missing database and a missing collection read the same,
        so a message never tells whether some other agency has a collection of that name."""
        try:
            yield
        except (MilvusException, grpc.RpcError, grpc.FutureTimeoutError) as exc:
            if _is_unavailable(exc):
                raise Unavailable("the vector store is unavailable; retry later",
                                  detail=f"vector store {self.uri}: {exc!r}") from exc
            if _is_not_found(exc):
                # only a vanished database makes the caches stale (a users collection that vanished is
                # forgotten by `_read`): an unknown collection id, which any caller can send, must not make
                # every other agency's next call pay for re-reading them
                if isinstance(exc, MilvusException) and _is_database_not_found(exc):
                    with self._lock:
                        self._databases.clear()
                        self._users_ready.clear()
                raise NotFound(f"collection {collection_id!r} not found") from exc
            raise

    def namespace(self, agency_id: str) -> Namespace:
        return agency_namespace(agency_id, self.tenancy)

    def _client(self, space: Namespace) -> _TracedClient:
        """A client bound to one namespace. pymilvus shares one gRPC channel between clients with the same
        address and token; the database travels per call, so clients never switch databases under a
        concurrent request (MilvusClient.use_database would)."""
        with self._lock:
            client = self._clients.get(space)
        if client is not None:
            return client
        client = _TracedClient(MilvusClient(uri=self.uri, token=self._token, db_name=space.database,
                                            timeout=self.timeout_s, grpc_options=GRPC_OPTIONS), self.uri, space)
        with self._lock:
            kept = self._clients.setdefault(space, client)
        if kept is not client:
            client.close()
        return kept

    def _database_exists(self, db: str) -> bool:
        if self.tenancy == TENANCY_COLLECTION:
            return True  # everything lives in the default database
        with self._lock:
            if db in self._databases:
                return True
        found = set(self._client(Namespace(DEFAULT_DATABASE, "")).list_databases(timeout=self.timeout_s))
        with self._lock:
            self._databases = found
        return db in found

    def _ensure_database(self, db: str) -> None:
        if self._database_exists(db):
            return
        try:
            self._client(Namespace(DEFAULT_DATABASE, "")).create_database(db, timeout=self.timeout_s)
        except MilvusException:
            if not self._database_exists(db):  # another replica may have won the race
                raise
        with self._lock:
            self._databases.add(db)

    def _existing(self, agency_id: str, collection_id: str) -> tuple[_TracedClient, str]:
        """The client and Milvus name of a collection of this agency, or NotFound."""
        client, name = self._bound(agency_id, collection_id)
        with self._errors(collection_id):
            if not client.has_collection(name, timeout=self.timeout_s):
                raise NotFound(f"collection {collection_id!r} not found")
        return client, name

    def _bound(self, agency_id: str, collection_id: str) -> tuple[_TracedClient, str]:
        """The client and Milvus name the collection would have, without asking Milvus whether it exists:
        for calls whose first Milvus request fails with "collection not found" anyway (NotFound through
        `_errors`), which saves a round trip on the hot paths (search, upsert)."""
        space = self.namespace(agency_id)
        name = space.prefix + collection_name(collection_id)
        with self._errors(collection_id):  # connecting may fail too: UNAVAILABLE
            if not self._database_exists(space.database):
                raise NotFound(f"collection {collection_id!r} not found")
            return self._client(space), name

    def _create(self, client: _TracedClient, name: str, agency_id: str, collection_id: str,
                face_model_version: str, dimension: int, face_retention_days: int, tags: Mapping[str, str],
                ) -> None:
        properties = {PROP_MODEL_VERSION: face_model_version, PROP_COLLECTION_ID: collection_id,
                      PROP_AGENCY_ID: agency_id, PROP_CREATED_AT: str(int(time.time() * 1000)),
                      PROP_RETENTION_DAYS: str(face_retention_days),
                      PROP_TAGS: json.dumps(dict(tags), sort_keys=True, ensure_ascii=False)}
        # the description is the schema's (pymilvus ignores create_collection's own when given a schema)
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False,
                                      description=json.dumps(properties, sort_keys=True))
        schema.add_field("face_id", DataType.VARCHAR, max_length=64, is_primary=True)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=dimension)
        schema.add_field("agency_id", DataType.VARCHAR, max_length=63)
        for text in ("image_id", "external_image_id", "user_id", "crop_bucket", "crop_key", "face_model_version"):
            schema.add_field(text, DataType.VARCHAR, max_length=_MAX_LEN[text])
        for number in ("confidence", "bbox_left", "bbox_top", "bbox_width", "bbox_height"):
            schema.add_field(number, DataType.FLOAT)
        schema.add_field("indexed_at", DataType.INT64)
        index = client.prepare_index_params()
        index.add_index("embedding", index_type=self.index_type, metric_type="COSINE",
                        params=INDEX_BUILD_PARAMS[self.index_type])
        index.add_index("user_id", index_type="INVERTED")  # search and listing filter by user
        client.create_collection(
            name, schema=schema, index_params=index, consistency_level="Strong", timeout=self.timeout_s,
            properties=properties)

    def _read(self, client: _TracedClient, name: str, call: Callable[[], T]) -> T:
        """Run a search/query, loading the collection first if Milvus has it released: an embedded
        engine may release collections on restart (a cluster keeps them loaded), and a search service that
        answered "not loaded" until someone called load() would be down for no reason."""
        try:
            return call()
        except MilvusException as exc:
            if exc.code == _COLLECTION_NOT_FOUND and name == client.users:
                with self._lock:  # re-check (and re-create) it next time
                    self._users_ready.discard(client.space)
            if exc.code != _COLLECTION_NOT_LOADED:
                raise
        log.info("loading released collection", extra={"collection": name})
        client.load_collection(name, timeout=self.timeout_s)
        return call()

    def _describe(self, client: _TracedClient, name: str, collection_id: str, agency_id: str) -> CollectionInfo:
        """The collection's pin, after checking that its recorded owner is the caller (defence in depth: the
        namespace already keeps agencies apart; a mismatch means a naming bug or tampering, and is NotFound)."""
        desc = client.describe_collection(name, timeout=self.timeout_s)
        info = _info(desc)
        if info is None:
            raise FailedPrecondition(f"collection {collection_id!r} was not created by Lineup's search service "
                                     f"(no pinned model or vector field)")
        owner = _properties(desc).get(PROP_AGENCY_ID)
        if (owner and owner != agency_id) or (info.collection_id and info.collection_id != collection_id):
            log.warning("a collection's recorded owner differs from its name; refusing it",
                        extra={"collection": name, "agency_id": agency_id})
            raise NotFound(f"collection {collection_id!r} not found")
        return replace(info, collection_id=info.collection_id or collection_id)

    def _describe_any(self, client: _TracedClient, name: str, agency_id: str) -> CollectionInfo | None:
        """A listed collection's info; None if it vanished meanwhile, was not made by Lineup, or (defence
        in depth) belongs to another agency."""
        try:
            desc = client.describe_collection(name, timeout=self.timeout_s)
        except MilvusException as exc:
            if exc.code == _COLLECTION_NOT_FOUND:
                return None
            raise
        info = _info(desc)
        props = _properties(desc)
        if info is None or not info.collection_id or props.get(PROP_AGENCY_ID) != agency_id:
            log.warning("skipping a collection Lineup did not create", extra={"collection": name})
            return None
        return info

    def _write(self, agency_id: str, collection_id: str, client: _TracedClient, name: str,
               faces: Sequence[FaceRow]) -> int:
        with self._errors(collection_id):
            info = self._describe(client, name, collection_id, agency_id)
            rows = self._rows(faces, agency_id, info)
            for start in range(0, len(rows), UPSERT_BATCH):
                client.upsert(name, rows[start:start + UPSERT_BATCH], timeout=self.timeout_s)
        return len(rows)

    # -- users: one `lineup_users` collection per agency database

    def _has_users_collection(self, client: _TracedClient) -> bool:
        with self._lock:
            if client.space in self._users_ready:
                return True
        if not client.has_collection(client.users, timeout=self.timeout_s):
            return False
        with self._lock:
            self._users_ready.add(client.space)
        return True

    def _ensure_users_collection(self, client: _TracedClient) -> None:
        """Created on the first CreateUser of the agency. Milvus needs a vector field in every collection;
        user records carry a constant 2-d one and are only ever read by key or filter."""
        if self._has_users_collection(client):
            return
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, max_length=160, is_primary=True)
        schema.add_field("collection_id", DataType.VARCHAR, max_length=255)
        schema.add_field("user_id", DataType.VARCHAR, max_length=_MAX_LEN["user_id"])
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

    def _get_user(self, client: _TracedClient, collection_id: str, user_id: str) -> UserRecord | None:
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

    def _count_users(self, client: _TracedClient, collection_id: str) -> int:
        if not self._has_users_collection(client):
            return 0
        res = self._read(client, client.users, lambda: client.query(
            client.users, filter=f"collection_id == {_quote(collection_id)}", output_fields=["count(*)"],
            consistency_level="Strong", timeout=self.timeout_s))
        return int(res[0]["count(*)"])

    def _delete_users_of(self, client: _TracedClient, collection_id: str) -> None:
        if self._has_users_collection(client):
            self._read(client, client.users, lambda: client.delete(
                client.users, filter=f"collection_id == {_quote(collection_id)}", timeout=self.timeout_s))

    def _face_counts(self, client: _TracedClient, name: str, agency_id: str, user_ids: Sequence[str],
                     ) -> dict[str, int]:
        """Faces per user, counted from the face rows themselves (so DeleteFaces, SetFacesUser and the
        pipeline never have a counter to keep in step). Pages by face id, so any number of faces works."""
        counts: dict[str, int] = {}
        if not user_ids:
            return counts
        users = ", ".join(_quote(u) for u in user_ids)
        after = ""
        while True:
            expr = f"agency_id == {_quote(agency_id)} and user_id in [{users}]"
            if after:
                expr += f" and face_id > {_quote(after)}"

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

    def _count(self, client: _TracedClient, name: str) -> int:
        """Exact count (Strong consistency; deletes and overwritten upserts are not counted).

        Unlike reads that return faces, the count does not filter on agency_id: the namespace already
        scopes it, and a filtered count materialises every row (~30 ms per 1k faces on milvus-lite 3)
        while the unfiltered one is answered from segment statistics in milliseconds."""
        res = self._read(client, name, lambda: client.query(
            name, filter="", output_fields=["count(*)"], consistency_level="Strong", timeout=self.timeout_s))
        return int(res[0]["count(*)"])

    def _rows(self, faces: Sequence[FaceRow], agency_id: str, info: CollectionInfo) -> list[dict[str, Any]]:
        now_ms = int(time.time() * 1000)
        by_id: dict[str, dict[str, Any]] = {}
        for face in faces:
            if face.face_model_version and face.face_model_version != info.face_model_version:
                raise FailedPrecondition(f"face {face.face_id} comes from face model {face.face_model_version!r}; "
                                         f"the collection is pinned to {info.face_model_version!r}")
            face = replace(face, face_model_version=info.face_model_version,
                           indexed_at_ms=face.indexed_at_ms or now_ms)
            _check_row(face, info.dimension)
            by_id[face.face_id] = _record(face, agency_id)
        return list(by_id.values())

    def _filter(self, agency_id: str, *, user_id: str = "", face_ids: Sequence[str] = (), after: str = "") -> str:
        parts = [f"agency_id == {_quote(agency_id)}"]
        if user_id:
            parts.append(f"user_id == {_quote(user_id)}")
        if face_ids:
            parts.append(f"face_id in [{', '.join(_quote(f) for f in face_ids)}]")
        if after:
            parts.append(f"face_id > {_quote(after)}")
        return " and ".join(parts)

    def search_params(self, top_k: int) -> dict[str, Any]:
        """HNSW needs ef >= k; IVF scans a few lists. FLAT (and Milvus' AUTOINDEX) take no parameters."""
        params: dict[str, Any] = {}
        if self.index_type.startswith("HNSW"):
            params = {"ef": max(64, top_k)}
        elif self.index_type.startswith("IVF"):
            params = {"nprobe": 16}
        return {"metric_type": "COSINE", "params": params}


class _TracedClient:
    """A MilvusClient bound to one database whose every call runs in a CLIENT span (`milvus <method>`), so
    a request's trace shows each vector-store round trip with its database and collection, and its
    failure. Wrapping the client, rather than each call site, means no call can be left out."""

    _UNTRACED = frozenset({"close", "create_schema", "prepare_index_params"})  # local, no round trip

    def __init__(self, client: MilvusClient, uri: str, space: Namespace) -> None:
        self._inner = client
        self.space = space
        self.users = space.users
        parts = urlsplit(uri if "://" in uri else f"http://{uri}")
        self._attrs: dict[str, str | int] = {"rpc.system": "milvus", "db.system.name": "milvus",
                                             "db.namespace": space.database, "server.address": parts.hostname or uri}
        if parts.port:
            self._attrs["server.port"] = parts.port

    def __getattr__(self, method: str) -> Any:
        target = getattr(self._inner, method)
        if method in self._UNTRACED or not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            attrs = {**self._attrs, "rpc.method": method, "db.operation.name": method}
            collection = args[0] if args and isinstance(args[0], str) else kwargs.get("collection_name")
            if isinstance(collection, str):
                attrs["db.collection.name"] = collection
            with tracer.start_as_current_span(f"milvus {method}", kind=trace.SpanKind.CLIENT, attributes=attrs):
                return target(*args, **kwargs)

        return call


def _properties(desc: Mapping[str, Any]) -> Mapping[str, Any]:
    """Lineup's collection properties; from the description JSON where the engine did not keep them."""
    props = desc.get("properties", {}) or {}
    if PROP_MODEL_VERSION in props:
        return props  # type: ignore[no-any-return]
    try:
        described = json.loads(desc.get("description") or "{}")
    except ValueError:
        return {}
    return described if isinstance(described, dict) else {}


def _info(desc: Mapping[str, Any]) -> CollectionInfo | None:
    """A collection's Lineup properties from Milvus' description; None if Lineup did not create it."""
    dims = [int(f["params"]["dim"]) for f in desc.get("fields", []) if f["name"] == "embedding"]
    props = _properties(desc)
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


def _record(face: FaceRow, agency_id: str) -> dict[str, Any]:
    box = face.bounding_box
    return {"face_id": face.face_id, "embedding": list(face.embedding), "agency_id": agency_id,
            "image_id": face.image_id, "external_image_id": face.external_image_id, "user_id": face.user_id,
            "crop_bucket": face.crop_bucket, "crop_key": face.crop_key, "confidence": float(face.confidence),
            "bbox_left": float(box.left), "bbox_top": float(box.top), "bbox_width": float(box.width),
            "bbox_height": float(box.height), "indexed_at": int(face.indexed_at_ms),
            "face_model_version": face.face_model_version}


def _row(entity: dict[str, Any]) -> FaceRow:
    embedding = entity.get("embedding")
    return FaceRow(
        face_id=str(entity["face_id"]), image_id=entity["image_id"], external_image_id=entity["external_image_id"],
        user_id=entity["user_id"], crop_bucket=entity["crop_bucket"], crop_key=entity["crop_key"],
        confidence=float(entity["confidence"]),
        bounding_box=BoundingBox(float(entity["bbox_left"]), float(entity["bbox_top"]),
                                 float(entity["bbox_width"]), float(entity["bbox_height"])),
        indexed_at_ms=int(entity["indexed_at"]), face_model_version=entity["face_model_version"],
        embedding=tuple(float(v) for v in embedding) if embedding is not None else ())
