"""The face vector store: the only code that knows how faces are laid out in Milvus.

Isolation: one Milvus *database* per agency (`lineup_<agency>`, '-' mapped to '_') and one Milvus
collection per Lineup collection inside it. Every operation names the agency and runs on a client
bound to that agency's database, so a query cannot reach another agency's vectors even with a
guessed collection id; each row also carries `agency_id` and every read filters on it (defence in
depth against a bug that writes into the wrong database). docs/search.md explains the choice.

Model pinning: a collection records the face model version that produced its vectors (collection
property `lineup.face_model_version`) and its dimension (the vector field); vectors of another model
are refused, because cosine scores between two models' embeddings mean nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import grpc
from pymilvus import DataType, MilvusClient, MilvusException

from lineup.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from lineup.settings import SettingsError, env_name
from search.settings import SearchSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

#: budget of one Milvus call (pymilvus retries transient errors within it)
DEFAULT_TIMEOUT_S = 10.0
MAX_QUERIES = 100
#: contract limit; Milvus clusters cap topk at 16384, Milvus Lite 3.2.2 has no cap (verified up to 20000)
MAX_TOP_K = 4096
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_FACE_IDS = 4096
#: Milvus' own ceiling for FLOAT_VECTOR
MAX_DIMENSION = 32768
#: rows per upsert call, so one request stays far below gRPC message limits even at dim 2048
UPSERT_BATCH = 500

DATABASE_PREFIX = "lineup_"
COLLECTION_PREFIX = "c_"
PROP_MODEL_VERSION = "lineup.face_model_version"
PROP_COLLECTION_ID = "lineup.collection_id"
PROP_AGENCY_ID = "lineup.agency_id"

# index types Milvus Lite 3.2.2 builds (docs/infra/milvus.md) and Milvus clusters accept
INDEX_BUILD_PARAMS: dict[str, dict[str, int]] = {
    "FLAT": {},
    "AUTOINDEX": {},
    "HNSW": {"M": 16, "efConstruction": 200},
    "HNSW_SQ": {"M": 16, "efConstruction": 200},
    "IVF_FLAT": {"nlist": 128},
    "IVF_SQ8": {"nlist": 128},
}

_AGENCY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
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
    face_model_version: str
    results: list[list[Hit]]  # one list per query, best first


@dataclass(frozen=True)
class FacePage:
    faces: list[FaceRow]
    next_page_token: str  # empty on the last page


@dataclass(frozen=True)
class CollectionInfo:
    face_model_version: str
    dimension: int


# ---------------------------------------------------------------------------------------------- naming


def database_name(agency_id: str) -> str:
    """`lineup_<agency>`: agency ids have no '_', so mapping '-' to '_' cannot merge two agencies."""
    if not _AGENCY_RE.match(agency_id):
        raise InvalidArgument(f"agency id {agency_id!r} is not valid: use 2-63 of a-z, 0-9 and '-'")
    return DATABASE_PREFIX + agency_id.replace("-", "_")


def collection_name(collection_id: str) -> str:
    """`c_<readable part>_<hash>`: Milvus names allow only [A-Za-z0-9_], so the readable part is lossy
    ('a.b' and 'a_b' look alike) and the SHA-256 prefix keeps distinct ids apart."""
    if not _COLLECTION_RE.match(collection_id):
        raise InvalidArgument(f"collection id {collection_id!r} is not valid: use 1-255 of A-Z, a-z, 0-9, "
                              f"'_', '.' and '-'")
    readable = re.sub(r"[^A-Za-z0-9_]", "_", collection_id)[:40]
    digest = hashlib.sha256(collection_id.encode()).hexdigest()[:16]
    return f"{COLLECTION_PREFIX}{readable}_{digest}"


def encode_page_token(last_face_id: str) -> str:
    return base64.urlsafe_b64encode(last_face_id.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> str:
    """The last face id of the previous page; the token is opaque to callers but carries no secret."""
    try:
        face_id = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        face_id = ""
    if not _FACE_ID_RE.match(face_id):
        raise InvalidArgument("page token is not valid: pass the next_page_token of the previous response")
    return face_id


# ---------------------------------------------------------------------------------------------- validation


def _check_face_id(face_id: str) -> None:
    if not _FACE_ID_RE.match(face_id):
        raise InvalidArgument(f"face id {face_id!r} is not valid: use 1-64 of A-Z, a-z, 0-9, '_', '.', ':' and '-'")


def _check_user_id(user_id: str) -> None:
    if not _USER_ID_RE.match(user_id):
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
    if not isinstance(exc, MilvusException):
        return False
    message = exc.message.lower()
    return (exc.code in (_COLLECTION_NOT_FOUND, _DATABASE_NOT_FOUND)
            or ("database" in message and ("not exist" in message or "not found" in message)))


# ---------------------------------------------------------------------------------------------- store


class FaceStore:
    """Face vectors of all agencies in one Milvus, one database per agency. Thread-safe."""

    def __init__(self, uri: str, *, token: str = "", index_type: str = "FLAT",
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not uri:
            raise SettingsError(f"{env_name('milvus_uri')} is empty: give http://host:19530 of a Milvus")
        index_type = index_type.upper()
        if index_type not in INDEX_BUILD_PARAMS:
            raise SettingsError(f"{env_name('milvus_index_type')}={index_type!r} is not supported: use one of "
                                f"{', '.join(INDEX_BUILD_PARAMS)}")
        self.uri = uri
        self.index_type = index_type
        self.timeout_s = timeout_s
        self._token = token
        self._lock = threading.Lock()
        self._clients: dict[str, MilvusClient] = {}  # database name -> client bound to it
        self._databases: set[str] = set()  # databases known to exist

    @classmethod
    def from_settings(cls, settings: SearchSettings, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> FaceStore:
        return cls(settings.milvus_uri, token=settings.milvus_token, index_type=settings.milvus_index_type,
                   timeout_s=timeout_s)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    # ----------------------------------------------------------------------------------- collections

    def ensure_collection(self, agency_id: str, collection_id: str, face_model_version: str,
                          dimension: int) -> tuple[bool, str]:
        """Create the collection pinned to (model, dimension), or check an existing one against them.

        Returns (created, pinned model version). Idempotent, so the front door can call it before every
        enrolment; a racing creator is tolerated (the loser re-reads what the winner pinned)."""
        db, name = database_name(agency_id), collection_name(collection_id)
        if not face_model_version or len(face_model_version) > _MAX_LEN["face_model_version"]:
            raise InvalidArgument("face model version must be 1-128 characters")
        if not 0 < dimension <= MAX_DIMENSION:
            raise InvalidArgument(f"dimension {dimension} is out of range 1..{MAX_DIMENSION}")
        with self._errors(collection_id):
            self._ensure_database(db)
            client = self._client(db)
            if not client.has_collection(name, timeout=self.timeout_s):
                try:
                    self._create(client, name, agency_id, collection_id, face_model_version, dimension)
                    log.info("collection created", extra={"agency_id": agency_id, "collection_id": collection_id,
                                                          "face_model_version": face_model_version})
                    return True, face_model_version
                except MilvusException:
                    if not client.has_collection(name, timeout=self.timeout_s):
                        raise
            info = self._describe(client, name, collection_id)
        if info.face_model_version != face_model_version or info.dimension != dimension:
            raise FailedPrecondition(
                f"collection {collection_id!r} is pinned to face model {info.face_model_version!r} "
                f"({info.dimension}-d); it cannot take {face_model_version!r} ({dimension}-d) vectors: "
                f"create a new collection for the new model and re-enrol")
        return False, info.face_model_version

    def drop_collection(self, agency_id: str, collection_id: str) -> int:
        """Drop the collection; returns how many faces it held (for the erasure receipt)."""
        client, name = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            count = self._count(client, name)
            client.drop_collection(name, timeout=self.timeout_s)
        log.info("collection dropped", extra={"agency_id": agency_id, "collection_id": collection_id,
                                              "faces": count})
        return count

    def collection_info(self, agency_id: str, collection_id: str) -> CollectionInfo:
        client, name = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            return self._describe(client, name, collection_id)

    # ----------------------------------------------------------------------------------- faces

    def upsert_faces(self, agency_id: str, collection_id: str, faces: Sequence[FaceRow]) -> int:
        """Insert or overwrite by face id: ids are deterministic, so a replayed message changes nothing.

        Returns the number of distinct faces written (a repeated id in one call counts once, last wins)."""
        client, name = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            info = self._describe(client, name, collection_id)
            rows = self._rows(faces, agency_id, info)
            for start in range(0, len(rows), UPSERT_BATCH):
                client.upsert(name, rows[start:start + UPSERT_BATCH], timeout=self.timeout_s)
        return len(rows)

    def search(self, agency_id: str, collection_id: str, queries: Sequence[Sequence[float]], *, top_k: int,
               min_raw_score: float, user_id: str = "") -> SearchResult:
        """Top-k faces by cosine similarity per query, best first, keeping raw scores >= min_raw_score.

        Filtering after the top-k is exact: the best k above a threshold are a prefix of the best k."""
        if not 0 < len(queries) <= MAX_QUERIES:
            raise InvalidArgument(f"{len(queries)} query vectors; send 1 to {MAX_QUERIES}")
        if not 0 < top_k <= MAX_TOP_K:
            raise InvalidArgument(f"top_k {top_k} is out of range 1..{MAX_TOP_K}")
        if user_id:
            _check_user_id(user_id)
        client, name = self._existing(agency_id, collection_id)
        with self._errors(collection_id):
            info = self._describe(client, name, collection_id)
            for i, q in enumerate(queries):
                _check_vector(q, info.dimension, f"query vector {i}")
            expr = self._filter(agency_id, user_id=user_id)
            raw = self._read(client, name, lambda: client.search(
                name, data=[list(q) for q in queries], limit=top_k, filter=expr, output_fields=list(_SCALAR_FIELDS),
                search_params=self._search_params(top_k), consistency_level="Strong", timeout=self.timeout_s))
        results = [sorted((Hit(_row(h["entity"]), float(h["distance"])) for h in hits
                           if float(h["distance"]) >= min_raw_score), key=lambda hit: -hit.raw_score)
                   for hits in raw]
        return SearchResult(face_model_version=info.face_model_version, results=results)

    def get_faces(self, agency_id: str, collection_id: str, *, face_ids: Sequence[str] = (), user_id: str = "",
                  page_size: int = 0, page_token: str = "", with_embeddings: bool = False) -> FacePage:
        """A page of faces in face-id order. The token is the last id served, so pages never overlap or
        skip, even while faces are added or deleted between calls."""
        page_size = page_size or DEFAULT_PAGE_SIZE
        if not 0 < page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument(f"page size {page_size} is out of range 1..{MAX_PAGE_SIZE}")
        _check_face_ids(face_ids)
        if user_id:
            _check_user_id(user_id)
        after = decode_page_token(page_token) if page_token else ""
        client, name = self._existing(agency_id, collection_id)
        expr = self._filter(agency_id, user_id=user_id, face_ids=face_ids, after=after)
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
                raise Unavailable(f"vector store {self.uri} is unavailable; retry later") from exc
            if _is_not_found(exc):
                with self._lock:
                    self._databases.clear()  # may be stale: re-read on the next call
                raise NotFound(f"collection {collection_id!r} not found") from exc
            raise

    def _client(self, db: str) -> MilvusClient:
        """A client bound to one database. pymilvus shares one gRPC channel between clients with the same
        address and token; the database travels per call, so clients never switch databases under a
        concurrent request (MilvusClient.use_database would)."""
        with self._lock:
            client = self._clients.get(db)
        if client is not None:
            return client
        client = MilvusClient(uri=self.uri, token=self._token, db_name=db, timeout=self.timeout_s)
        with self._lock:
            kept = self._clients.setdefault(db, client)
        if kept is not client:
            client.close()
        return kept

    def _database_exists(self, db: str) -> bool:
        with self._lock:
            if db in self._databases:
                return True
        found = set(self._client("default").list_databases(timeout=self.timeout_s))
        with self._lock:
            self._databases = found
        return db in found

    def _ensure_database(self, db: str) -> None:
        if self._database_exists(db):
            return
        try:
            self._client("default").create_database(db, timeout=self.timeout_s)
        except MilvusException:
            if not self._database_exists(db):  # another replica may have won the race
                raise
        with self._lock:
            self._databases.add(db)

    def _existing(self, agency_id: str, collection_id: str) -> tuple[MilvusClient, str]:
        """The client and Milvus name of a collection of this agency, or NotFound."""
        db, name = database_name(agency_id), collection_name(collection_id)
        with self._errors(collection_id):
            if not self._database_exists(db):
                raise NotFound(f"collection {collection_id!r} not found")
            client = self._client(db)
            if not client.has_collection(name, timeout=self.timeout_s):
                raise NotFound(f"collection {collection_id!r} not found")
        return client, name

    def _create(self, client: MilvusClient, name: str, agency_id: str, collection_id: str,
                face_model_version: str, dimension: int) -> None:
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
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
            properties={PROP_MODEL_VERSION: face_model_version, PROP_COLLECTION_ID: collection_id,
                        PROP_AGENCY_ID: agency_id})

    def _read(self, client: MilvusClient, name: str, call: Callable[[], T]) -> T:
        """Run a search/query, loading the collection first if Milvus has it released: Milvus Lite
        releases every collection on restart (a cluster keeps them loaded), and a search service that
        answered "not loaded" until someone called load() would be down for no reason."""
        try:
            return call()
        except MilvusException as exc:
            if exc.code != _COLLECTION_NOT_LOADED:
                raise
        log.info("loading released collection", extra={"collection": name})
        client.load_collection(name, timeout=self.timeout_s)
        return call()

    def _describe(self, client: MilvusClient, name: str, collection_id: str) -> CollectionInfo:
        desc = client.describe_collection(name, timeout=self.timeout_s)
        dims = [int(f["params"]["dim"]) for f in desc["fields"] if f["name"] == "embedding"]
        version = str(desc.get("properties", {}).get(PROP_MODEL_VERSION, ""))
        if not dims or not version:
            raise FailedPrecondition(f"collection {collection_id!r} was not created by Lineup's search service "
                                     f"(no pinned model or vector field)")
        return CollectionInfo(face_model_version=version, dimension=dims[0])

    def _count(self, client: MilvusClient, name: str) -> int:
        """Exact count (Strong consistency; deletes and overwritten upserts are not counted).

        Unlike reads that return faces, the count does not filter on agency_id: the database already
        scopes it, and on Milvus Lite a filtered count materialises every row (~30 ms per 1k faces)
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

    def _search_params(self, top_k: int) -> dict[str, Any]:
        """HNSW needs ef >= k; IVF scans a few lists. FLAT (and Milvus' AUTOINDEX) take no parameters."""
        params: dict[str, Any] = {}
        if self.index_type.startswith("HNSW"):
            params = {"ef": max(64, top_k)}
        elif self.index_type.startswith("IVF"):
            params = {"nprobe": 16}
        return {"metric_type": "COSINE", "params": params}


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
