"""The vector store's connection to Milvus: one client per agency namespace, every call traced, Milvus
failures mapped to Lineup errors, and the steps every operation shares (bind, describe and check the
owner, read with load-on-demand, write in batches).

`FaceStore` (search.store) is what the service uses; this module is its plumbing.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import grpc
from opentelemetry import trace
from pymilvus import DataType, MilvusClient, MilvusException

from lineup.errors import FailedPrecondition, NotFound, Unavailable
from lineup.settings import SettingsError, env_name
from search.naming import (
    COLLECTION_PREFIX,
    DATABASE_PREFIX,
    DEFAULT_DATABASE,
    MAX_LEN,
    PREFIXED_RE,
    TENANCIES,
    TENANCY_COLLECTION,
    TENANCY_DATABASE,
    USERS_COLLECTION,
    Namespace,
    agency_namespace,
    check_row,
    collection_name,
    quote,
)
from search.rows import (
    PROP_AGENCY_ID,
    PROP_COLLECTION_ID,
    PROP_CREATED_AT,
    PROP_MODEL_VERSION,
    PROP_RETENTION_DAYS,
    PROP_TAGS,
    CollectionInfo,
    FaceRow,
    collection_properties,
    info_from_description,
    record_from_row,
)
from search.settings import SearchSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("lineup.milvus")

T = TypeVar("T")
#: budget of one Milvus call (pymilvus retries transient errors within it)
DEFAULT_TIMEOUT_S = 10.0
#: rows per upsert call, so one request stays far below gRPC message limits even at dim 2048
UPSERT_BATCH = 500
#: pymilvus pings every 10 s even when idle; gRPC servers (the embedded engine among them) answer that with
#: GOAWAY "too_many_pings" and a reconnect. Ping only while calls are in flight, at most once a minute.
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 60_000, "grpc.keepalive_permit_without_calls": False}
# index types Milvus clusters accept; the embedded engine builds FLAT, AUTOINDEX and IVF_FLAT (docs/infra/milvus.md)
INDEX_BUILD_PARAMS: dict[str, dict[str, int]] = {
    "FLAT": {},
    "AUTOINDEX": {},
    "HNSW": {"M": 16, "efConstruction": 200},
    "HNSW_SQ": {"M": 16, "efConstruction": 200},
    "IVF_FLAT": {"nlist": 128},
    "IVF_SQ8": {"nlist": 128},
}

# ---------------------------------------------------------------------------------------------- errors


_UNAVAILABLE_GRPC = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_CONNECT_FAILED = 2  # pymilvus Status.CONNECT_FAILED
COLLECTION_NOT_FOUND = 100
COLLECTION_NOT_LOADED = 101
_DATABASE_NOT_FOUND = 800


def is_unavailable(exc: Exception) -> bool:
    if isinstance(exc, grpc.FutureTimeoutError):
        return True
    if isinstance(exc, grpc.RpcError):
        return exc.code() in _UNAVAILABLE_GRPC  # type: ignore[attr-defined,no-any-return]
    if isinstance(exc, MilvusException):
        return exc.code == _CONNECT_FAILED or exc.code in _UNAVAILABLE_GRPC or "Retry timeout" in exc.message
    return False


def is_not_found(exc: Exception) -> bool:
    return isinstance(exc, MilvusException) and (exc.code == COLLECTION_NOT_FOUND or is_database_not_found(exc))


def is_database_not_found(exc: MilvusException) -> bool:
    message = exc.message.lower()
    return exc.code == _DATABASE_NOT_FOUND or ("database" in message and ("not exist" in message
                                                                         or "not found" in message))



class MilvusCore:
    """Connections, namespaces, error mapping and the shared read/write steps of the vector store: the base
    of `UserStore` and `FaceStore`, which add the user and the collection/face operations."""


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
        self._clients: dict[Namespace, TracedClient] = {}  # namespace -> client bound to it
        self._databases: set[str] = set()  # databases known to exist
        self._users_ready: set[Namespace] = set()  # namespaces whose users collection is known to exist
        self._names: dict[tuple[str, str], str] = {}  # (database, Milvus name) -> Lineup collection id

    @classmethod
    def from_settings(cls, settings: SearchSettings, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Self:
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
                other = [n for n in names if PREFIXED_RE.match(n)]
        except (MilvusException, grpc.RpcError, grpc.FutureTimeoutError) as exc:
            if is_unavailable(exc):
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


    # ----------------------------------------------------------------------------------- internals

    @contextmanager
    def _errors(self, collection_id: str) -> Iterator[None]:
        """Milvus failures as Lineup errors. A missing database and a missing collection read the same,
        so a message never tells whether some other agency has a collection of that name."""
        try:
            yield
        except (MilvusException, grpc.RpcError, grpc.FutureTimeoutError) as exc:
            if is_unavailable(exc):
                raise Unavailable("the vector store is unavailable; retry later",
                                  detail=f"vector store {self.uri}: {exc!r}") from exc
            if is_not_found(exc):
                # only a vanished database makes the caches stale (a users collection that vanished is
                # forgotten by `_read`): an unknown collection id, which any caller can send, must not make
                # every other agency's next call pay for re-reading them
                if isinstance(exc, MilvusException) and is_database_not_found(exc):
                    with self._lock:
                        self._databases.clear()
                        self._users_ready.clear()
                raise NotFound(f"collection {collection_id!r} not found") from exc
            raise

    def namespace(self, agency_id: str) -> Namespace:
        return agency_namespace(agency_id, self.tenancy)

    def _client(self, space: Namespace) -> TracedClient:
        """A client bound to one namespace. pymilvus shares one gRPC channel between clients with the same
        address and token; the database travels per call, so clients never switch databases under a
        concurrent request (MilvusClient.use_database would)."""
        with self._lock:
            client = self._clients.get(space)
        if client is not None:
            return client
        client = TracedClient(MilvusClient(uri=self.uri, token=self._token, db_name=space.database,
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

    def _existing(self, agency_id: str, collection_id: str) -> tuple[TracedClient, str]:
        """The client and Milvus name of a collection of this agency, or NotFound."""
        client, name = self._bound(agency_id, collection_id)
        with self._errors(collection_id):
            if not client.has_collection(name, timeout=self.timeout_s):
                raise NotFound(f"collection {collection_id!r} not found")
        return client, name

    def _bound(self, agency_id: str, collection_id: str) -> tuple[TracedClient, str]:
        """The client and Milvus name the collection would have, without asking Milvus whether it exists:
        for calls whose first Milvus request fails with "collection not found" anyway (NotFound through
        `_errors`), which saves a round trip on the hot paths (search, upsert)."""
        space = self.namespace(agency_id)
        name = space.prefix + collection_name(collection_id)
        with self._errors(collection_id):  # connecting may fail too: UNAVAILABLE
            if not self._database_exists(space.database):
                raise NotFound(f"collection {collection_id!r} not found")
            return self._client(space), name

    def _create(self, client: TracedClient, name: str, agency_id: str, collection_id: str,
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
            schema.add_field(text, DataType.VARCHAR, max_length=MAX_LEN[text])
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

    def _read(self, client: TracedClient, name: str, call: Callable[[], T]) -> T:
        """Run a search/query, loading the collection first if Milvus has it released: an embedded
        engine may release collections on restart (a cluster keeps them loaded), and a search service that
        answered "not loaded" until someone called load() would be down for no reason."""
        try:
            return call()
        except MilvusException as exc:
            if exc.code == COLLECTION_NOT_FOUND and name == client.users:
                with self._lock:  # re-check (and re-create) it next time
                    self._users_ready.discard(client.space)
            if exc.code != COLLECTION_NOT_LOADED:
                raise
        log.info("loading released collection", extra={"collection": name})
        client.load_collection(name, timeout=self.timeout_s)
        return call()

    def _describe(self, client: TracedClient, name: str, collection_id: str, agency_id: str) -> CollectionInfo:
        """The collection's pin, after checking that its recorded owner is the caller (defence in depth: the
        namespace already keeps agencies apart; a mismatch means a naming bug or tampering, and is NotFound)."""
        desc = client.describe_collection(name, timeout=self.timeout_s)
        info = info_from_description(desc)
        if info is None:
            raise FailedPrecondition(f"collection {collection_id!r} was not created by Lineup's search service "
                                     f"(no pinned model or vector field)")
        owner = collection_properties(desc).get(PROP_AGENCY_ID)
        if (owner and owner != agency_id) or (info.collection_id and info.collection_id != collection_id):
            log.warning("a collection's recorded owner differs from its name; refusing it",
                        extra={"collection": name, "agency_id": agency_id})
            raise NotFound(f"collection {collection_id!r} not found")
        return replace(info, collection_id=info.collection_id or collection_id)

    def _describe_any(self, client: TracedClient, name: str, agency_id: str) -> CollectionInfo | None:
        """A listed collection's info; None if it vanished meanwhile, was not made by Lineup, or (defence
        in depth) belongs to another agency."""
        try:
            desc = client.describe_collection(name, timeout=self.timeout_s)
        except MilvusException as exc:
            if exc.code == COLLECTION_NOT_FOUND:
                return None
            raise
        info = info_from_description(desc)
        props = collection_properties(desc)
        if info is None or not info.collection_id or props.get(PROP_AGENCY_ID) != agency_id:
            log.warning("skipping a collection Lineup did not create", extra={"collection": name})
            return None
        return info

    def _write(self, agency_id: str, collection_id: str, client: TracedClient, name: str,
               faces: Sequence[FaceRow]) -> int:
        with self._errors(collection_id):
            info = self._describe(client, name, collection_id, agency_id)
            rows = self._rows(faces, agency_id, info)
            for start in range(0, len(rows), UPSERT_BATCH):
                client.upsert(name, rows[start:start + UPSERT_BATCH], timeout=self.timeout_s)
        return len(rows)


    def _count(self, client: TracedClient, name: str) -> int:
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
            check_row(face, info.dimension)
            by_id[face.face_id] = record_from_row(face, agency_id)
        return list(by_id.values())

    def _filter(self, agency_id: str, *, user_id: str = "", face_ids: Sequence[str] = (), after: str = "") -> str:
        parts = [f"agency_id == {quote(agency_id)}"]
        if user_id:
            parts.append(f"user_id == {quote(user_id)}")
        if face_ids:
            parts.append(f"face_id in [{', '.join(quote(f) for f in face_ids)}]")
        if after:
            parts.append(f"face_id > {quote(after)}")
        return " and ".join(parts)

    def search_params(self, top_k: int) -> dict[str, Any]:
        """HNSW needs ef >= k; IVF scans a few lists. FLAT (and Milvus' AUTOINDEX) take no parameters."""
        params: dict[str, Any] = {}
        if self.index_type.startswith("HNSW"):
            params = {"ef": max(64, top_k)}
        elif self.index_type.startswith("IVF"):
            params = {"nprobe": 16}
        return {"metric_type": "COSINE", "params": params}



class TracedClient:
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
