"""The face store on the real Milvus engine: pinning, idempotent upserts, ranking, paging, deletion, isolation."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lineup.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from lineup.settings import SettingsError
from search.naming import (
    MAX_TOP_K,
    TENANCY_DATABASE,
    agency_namespace,
    collection_name,
    database_name,
    decode_page_token,
    encode_page_token,
)
from search.rows import FaceRow
from search.store import FaceStore
from tests.integration.milvus_data import drop_agency_collections

pytestmark = pytest.mark.integration

DIM = 16
MODEL = "arcface-r100@1"
TIMEOUT_S = 30.0


def _unit(i: int) -> list[float]:
    v = [0.0] * DIM
    v[i] = 1.0
    return v


def _at_cosine(c: float, axis: int) -> list[float]:
    """A unit vector whose cosine with _unit(0) is exactly c (the rest of it lies along `axis`)."""
    v = [0.0] * DIM
    v[0], v[axis] = c, math.sqrt(1.0 - c * c)
    return v


def _face(face_id: str, embedding: list[float], **kw: Any) -> FaceRow:
    return FaceRow(face_id=face_id, image_id="ab" * 32, embedding=tuple(embedding), **kw)


@pytest.fixture(scope="module")
def store(milvus_uri: str) -> Iterator[FaceStore]:
    s = FaceStore(milvus_uri, index_type="FLAT", timeout_s=TIMEOUT_S)
    yield s
    s.close()


@pytest.fixture(scope="module")
def new_agency(milvus_uri: str) -> Iterator[Callable[[], str]]:
    """Fresh agency ids; their collections are removed at the end of the module."""
    made: list[str] = []

    def make() -> str:
        made.append(f"it-{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield make
    for agency in made:
        drop_agency_collections(milvus_uri, agency, TIMEOUT_S)


@pytest.fixture(scope="module")
def agency(new_agency: Callable[[], str]) -> str:
    return new_agency()


def _collection(store: FaceStore, agency: str, faces: list[FaceRow] = ()) -> str:  # type: ignore[assignment]
    cid = f"col.{uuid.uuid4().hex[:8]}"
    assert store.ensure_collection(agency, cid, MODEL, DIM) == (True, MODEL)
    if faces:
        store.upsert_faces(agency, cid, faces)
    return cid


# ------------------------------------------------------------------------------------------ naming


def test_names_are_safe_and_distinct() -> None:
    assert database_name("police-north-1") == "lineup_police_north_1"
    assert agency_namespace("police-north-1", TENANCY_DATABASE).prefix == ""
    # one database for all agencies: the prefix alone keeps them apart, so no agency's prefix may start
    # another's (the length fixes where the agency ends; '-' -> '_' merges none since ids have no '_')
    agencies = ["a1", "a1-", "a1--c", "a1-c", "a12", "a-1", "ab-c-d", "ab--cd", "x" * 63]
    prefixes = [agency_namespace(a).prefix for a in agencies]
    assert all(p.replace("_", "").isalnum() and p[0].isalpha() for p in prefixes)
    for i, p in enumerate(prefixes):
        for j, q in enumerate(prefixes):
            assert i == j or not q.startswith(p), (agencies[i], agencies[j])
    assert len(prefixes[-1] + collection_name("x" * 255) + "lineup_users") <= 255
    names = {collection_name(c) for c in ("a.b", "a_b", "a-b", "A.b")}
    assert len(names) == 4
    long = collection_name("x" * 255)
    assert long.startswith("c_") and len(long) <= 64 and long.replace("_", "").isalnum()
    for bad_agency in ("", "A", "a_b", "x" * 64, "-a"):
        with pytest.raises(InvalidArgument):
            database_name(bad_agency)
        with pytest.raises(InvalidArgument):
            agency_namespace(bad_agency)
    with pytest.raises(SettingsError):
        FaceStore("http://127.0.0.1:1", tenancy="shared")
    for bad_collection in ("", "a/b", "a b", "x" * 256):
        with pytest.raises(InvalidArgument):
            collection_name(bad_collection)
    assert decode_page_token(encode_page_token("face-0042")) == "face-0042"
    with pytest.raises(InvalidArgument):
        decode_page_token("not base64 !!")


# ------------------------------------------------------------------------------------------ collections


def test_ensure_is_idempotent_and_pins_model_and_dimension(store: FaceStore, agency: str) -> None:
    cid = _collection(store, agency)
    assert store.ensure_collection(agency, cid, MODEL, DIM) == (False, MODEL)
    with pytest.raises(FailedPrecondition, match=r"pinned to face model 'arcface-r100@1' \(16-d\)"):
        store.ensure_collection(agency, cid, "arcface-r100@2", DIM)
    with pytest.raises(FailedPrecondition, match="pinned"):
        store.ensure_collection(agency, cid, MODEL, DIM * 2)
    info = store.collection_info(agency, cid)
    assert (info.face_model_version, info.dimension) == (MODEL, DIM)


def test_drop_returns_face_count_and_collection_is_gone(store: FaceStore, agency: str) -> None:
    cid = _collection(store, agency, [_face(f"f{i}", _unit(i)) for i in range(3)])
    assert store.drop_collection(agency, cid) == 3
    with pytest.raises(NotFound, match=f"collection '{cid}' not found"):
        store.count_faces(agency, cid)
    assert store.ensure_collection(agency, cid, "another-model", 8) == (True, "another-model")


# ------------------------------------------------------------------------------------------ upsert


def test_upsert_is_keyed_by_face_id_so_a_replay_never_duplicates(store: FaceStore, agency: str) -> None:
    cid = _collection(store, agency)
    face = _face("face-1", _unit(1), user_id="u1", external_image_id="booking-7")
    assert store.upsert_faces(agency, cid, [face]) == 1
    assert store.upsert_faces(agency, cid, [face]) == 1  # the replay
    assert store.count_faces(agency, cid) == 1
    # a later version of the same face overwrites; a repeated id within one call counts once
    moved = _face("face-1", _unit(2), user_id="u2", external_image_id="booking-7")
    assert store.upsert_faces(agency, cid, [face, moved]) == 1
    assert store.count_faces(agency, cid) == 1
    [row] = store.get_faces(agency, cid, with_embeddings=True).faces
    assert row.user_id == "u2" and row.embedding == tuple(_unit(2))
    assert row.face_model_version == MODEL and row.indexed_at_ms > 0


def test_wrong_vectors_are_rejected(store: FaceStore, agency: str) -> None:
    cid = _collection(store, agency)
    with pytest.raises(InvalidArgument, match="dimension 15; the collection holds 16-d"):
        store.upsert_faces(agency, cid, [_face("short", _unit(1)[:-1])])
    with pytest.raises(InvalidArgument, match="zero vector"):
        store.upsert_faces(agency, cid, [_face("zero", [0.0] * DIM)])
    with pytest.raises(InvalidArgument, match="non-finite"):
        store.upsert_faces(agency, cid, [_face("nan", [math.nan] * DIM)])
    with pytest.raises(InvalidArgument, match="dimension 17"):
        store.search(agency, cid, [[*_unit(0), 0.0]], top_k=1, min_raw_score=0.0)
    with pytest.raises(FailedPrecondition, match="pinned"):
        store.upsert_faces(agency, cid, [_face("other", _unit(1), face_model_version="facenet@1")])
    with pytest.raises(InvalidArgument, match="face id"):
        store.upsert_faces(agency, cid, [_face('bad"id', _unit(1))])
    assert store.count_faces(agency, cid) == 0


# ------------------------------------------------------------------------------------------ search


def test_search_ranks_best_first_applies_threshold_and_user_filter(store: FaceStore, agency: str) -> None:
    scores = {"a": 0.95, "b": 0.8, "c": 0.6, "d": 0.3, "e": -0.4}
    faces = [_face(fid, _at_cosine(c, axis), user_id="u1" if fid in "bd" else "")
             for axis, (fid, c) in enumerate(scores.items(), start=1)]
    cid = _collection(store, agency, faces)

    result = store.search(agency, cid, [_unit(0)], top_k=10, min_raw_score=-1.0)
    assert result.face_model_version == MODEL
    hits = result.results[0]
    assert [h.face.face_id for h in hits] == ["a", "b", "c", "d", "e"]
    assert [h.raw_score for h in hits] == pytest.approx(list(scores.values()), abs=1e-5)

    above = store.search(agency, cid, [_unit(0)], top_k=10, min_raw_score=0.6).results[0]
    assert [h.face.face_id for h in above] == ["a", "b", "c"]
    assert [h.face.face_id for h in store.search(agency, cid, [_unit(0)], top_k=2, min_raw_score=0.0).results[0]] \
        == ["a", "b"]
    only_u1 = store.search(agency, cid, [_unit(0)], top_k=10, min_raw_score=0.0, user_id="u1").results[0]
    assert [(h.face.face_id, h.face.user_id) for h in only_u1] == [("b", "u1"), ("d", "u1")]
    assert hits[0].face.image_id == "ab" * 32


def test_multi_query_search_returns_one_list_per_query(store: FaceStore, agency: str) -> None:
    cid = _collection(store, agency, [_face(f"f{i}", _unit(i)) for i in range(1, 6)])
    queries = [_at_cosine(0.6, 3), _unit(1), _unit(5)]  # the first is closest to f3
    result = store.search(agency, cid, queries, top_k=2, min_raw_score=0.5)
    assert [[h.face.face_id for h in hits] for hits in result.results] == [["f3"], ["f1"], ["f5"]]
    assert result.results[1][0].raw_score == pytest.approx(1.0, abs=1e-5)


def test_search_limits(store: FaceStore, agency: str) -> None:
    cid = _collection(store, agency, [_face("f1", _unit(1))])
    with pytest.raises(InvalidArgument, match="top_k"):
        store.search(agency, cid, [_unit(1)], top_k=MAX_TOP_K + 1, min_raw_score=0.0)
    with pytest.raises(InvalidArgument, match="101 query vectors"):
        store.search(agency, cid, [_unit(1)] * 101, top_k=1, min_raw_score=0.0)
    # the largest request the contract allows works (fewer faces than k: all of them)
    result = store.search(agency, cid, [_unit(1)] * 100, top_k=MAX_TOP_K, min_raw_score=0.0)
    assert len(result.results) == 100 and all(len(r) == 1 for r in result.results)


# ------------------------------------------------------------------------------------------ listing


def test_pagination_covers_every_face_exactly_once_in_id_order(store: FaceStore, agency: str) -> None:
    faces = [_face(f"face-{i:03d}", _unit(i % DIM) if i % DIM else _unit(1), user_id="u7" if i % 4 == 0 else "")
             for i in range(23)]
    cid = _collection(store, agency, faces)
    seen: list[str] = []
    token, pages = "", 0
    while True:
        page = store.get_faces(agency, cid, page_size=5, page_token=token)
        assert len(page.faces) <= 5 and all(f.embedding == () for f in page.faces)
        seen += [f.face_id for f in page.faces]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 5
    assert seen == sorted(f.face_id for f in faces)

    by_user = store.get_faces(agency, cid, user_id="u7", page_size=100)
    assert [f.face_id for f in by_user.faces] == [f"face-{i:03d}" for i in range(0, 23, 4)]
    assert by_user.next_page_token == ""
    by_ids = store.get_faces(agency, cid, face_ids=["face-010", "face-002", "missing"], with_embeddings=True)
    assert [f.face_id for f in by_ids.faces] == ["face-002", "face-010"]
    assert by_ids.faces[0].embedding == tuple(_unit(2))
    with pytest.raises(InvalidArgument, match="page size"):
        store.get_faces(agency, cid, page_size=1001)


def test_faces_of_one_image(store: FaceStore, agency: str) -> None:
    cid = _collection(store, agency, [FaceRow(face_id=f"f{i}", image_id=("aa" if i < 2 else "bb") * 32,
                                              embedding=tuple(_unit(i + 1))) for i in range(3)])
    assert [f.face_id for f in store.get_faces(agency, cid, image_id="aa" * 32).faces] == ["f0", "f1"]
    assert [f.face_id for f in store.get_faces(agency, cid, image_id="bb" * 32, page_size=1).faces] == ["f2"]
    assert store.get_faces(agency, cid, image_id="cc" * 32).faces == []
    with pytest.raises(InvalidArgument, match="image id"):
        store.get_faces(agency, cid, image_id='x" or true')


# ------------------------------------------------------------------------------------------ delete


def test_delete_returns_what_it_removed_and_the_faces_vanish(store: FaceStore, agency: str) -> None:
    faces = [_face(f"f{i}", _unit(i), crop_bucket="lineup-crops", crop_key=f"{agency}/crops/f{i}.jpg")
             for i in range(1, 5)]
    cid = _collection(store, agency, faces)
    deleted = store.delete_faces(agency, cid, ["f2", "f3", "never-existed"])
    assert [(r.face_id, r.image_id, r.crop_bucket, r.crop_key) for r in deleted] == [
        ("f2", "ab" * 32, "lineup-crops", f"{agency}/crops/f2.jpg"),
        ("f3", "ab" * 32, "lineup-crops", f"{agency}/crops/f3.jpg")]
    assert store.count_faces(agency, cid) == 2
    hits = store.search(agency, cid, [_unit(2), _unit(3)], top_k=10, min_raw_score=-1.0).results
    assert {h.face.face_id for r in hits for h in r} == {"f1", "f4"}
    assert store.delete_faces(agency, cid, ["f2"]) == []  # deleting again is a no-op


# ------------------------------------------------------------------------------------------ isolation


def test_agencies_are_isolated_even_with_the_same_collection_id(store: FaceStore,
                                                                 new_agency: Callable[[], str]) -> None:
    a, b = new_agency(), new_agency()
    cid = "mugshots"
    store.ensure_collection(a, cid, MODEL, DIM)
    store.create_user(a, cid, "u1")
    store.upsert_faces(a, cid, [_face("secret", _unit(1), user_id="u1")])
    # all agencies share one Milvus database (collection tenancy): listing shows only the caller's own
    assert [c.collection_id for c in store.list_collections(a).collections] == [cid]
    assert store.list_collections(b).collections == []

    # B has no such collection: every operation says NOT_FOUND, with the same message as for any unknown id
    calls: list[Callable[[], object]] = [
        lambda: store.count_faces(b, cid),
        lambda: store.search(b, cid, [_unit(1)], top_k=5, min_raw_score=-1.0),
        lambda: store.get_faces(b, cid),
        lambda: store.delete_faces(b, cid, ["secret"]),
        lambda: store.upsert_faces(b, cid, [_face("x", _unit(1))]),
        lambda: store.drop_collection(b, cid),
        lambda: store.list_users(b, cid),
        lambda: store.create_user(b, cid, "u2"),
    ]
    for call in calls:
        with pytest.raises(NotFound) as err:
            call()
        assert err.value.message == "collection 'mugshots' not found"

    # B creates its own "mugshots" (even pinned to another model): two separate collections
    assert store.ensure_collection(b, cid, "other-model", 8) == (True, "other-model")
    store.upsert_faces(b, cid, [_face("mine", [1.0] + [0.0] * 7)])
    assert store.search(b, cid, [[1.0] + [0.0] * 7], top_k=10, min_raw_score=-1.0).results[0][0].face.face_id == "mine"
    assert store.count_faces(b, cid) == 1
    assert store.list_users(b, cid).users == []
    assert store.delete_faces(b, cid, ["secret"]) == []
    assert [f.face_id for f in store.get_faces(b, cid).faces] == ["mine"]
    # A is untouched
    assert store.count_faces(a, cid) == 1
    assert [f.face_id for f in store.get_faces(a, cid).faces] == ["secret"]
    assert store.drop_collection(b, cid) == 1
    assert store.count_faces(a, cid) == 1
    assert [u.user_id for u in store.list_users(a, cid).users] == ["u1"]


def test_a_collection_recorded_as_another_agencys_is_refused_even_under_the_callers_name(
        store: FaceStore, new_agency: Callable[[], str], milvus_uri: str) -> None:
    """Defence in depth behind the namespace: a collection whose description names another owner (a naming
    bug, or someone writing to Milvus directly) is NOT_FOUND for every call, like a missing one."""
    import json

    from pymilvus import DataType, MilvusClient

    victim, attacker = new_agency(), new_agency()
    store.ensure_collection(victim, "mugshots", MODEL, DIM)
    space = agency_namespace(attacker)
    raw = MilvusClient(uri=milvus_uri, timeout=TIMEOUT_S, dedicated=True)
    try:
        forged = json.dumps({"lineup.face_model_version": MODEL, "lineup.agency_id": victim,
                             "lineup.collection_id": "mugshots"})
        schema = raw.create_schema(auto_id=False, enable_dynamic_field=False, description=forged)
        schema.add_field("face_id", DataType.VARCHAR, max_length=64, is_primary=True)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=DIM)
        index = raw.prepare_index_params()
        index.add_index("embedding", index_type="FLAT", metric_type="COSINE")
        raw.create_collection(space.prefix + collection_name("mugshots"), schema=schema, index_params=index)
        for call in (lambda: store.search(attacker, "mugshots", [_unit(1)], top_k=5, min_raw_score=-1.0),
                     lambda: store.collection_info(attacker, "mugshots"),
                     lambda: store.drop_collection(attacker, "mugshots")):
            with pytest.raises(NotFound) as err:
                call()
            assert err.value.message == "collection 'mugshots' not found"
        assert store.list_collections(attacker).collections == []
        assert store.collection_info(victim, "mugshots").face_model_version == MODEL
    finally:
        raw.drop_collection(space.prefix + collection_name("mugshots"))
        raw.close()


def test_unknown_collection_ids_do_not_flush_the_caches_other_agencies_rely_on(store: FaceStore, agency: str,
                                                                               new_agency: Callable[[], str]) -> None:
    """Observed as Milvus round trips (client spans): after another agency's searches of ids that do not exist,
    listing this agency's users still skips the "does the users collection exist" check it cached."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from lineup.telemetry import setup_telemetry

    exporter = InMemorySpanExporter()
    setup_telemetry("integration-tests", span_processors=[SimpleSpanProcessor(exporter)])
    cid = _collection(store, agency)
    store.create_user(agency, cid, "u1")
    users = agency_namespace(agency).users

    def users_checks() -> int:
        return sum(1 for sp in exporter.get_finished_spans() if sp.name == "milvus has_collection"
                   and sp.attributes is not None and sp.attributes.get("db.collection.name") == users)

    stranger = new_agency()
    exporter.clear()
    for i in range(3):
        with pytest.raises(NotFound):
            store.search(stranger, f"no-such-{i}", [_unit(1)], top_k=1, min_raw_score=-1.0)
    assert [u.user_id for u in store.list_users(agency, cid).users] == ["u1"]
    assert users_checks() == 0


def test_a_tenancy_that_cannot_see_the_stored_data_refuses_to_start(store: FaceStore, agency: str,
                                                                    milvus_uri: str) -> None:
    from pymilvus import DataType, MilvusClient

    from lineup.settings import SettingsError

    _collection(store, agency)  # written with the default `collection` tenancy
    store.check_layout()
    with pytest.raises(SettingsError, match="invisible, so neither searchable nor erasable"):
        FaceStore(milvus_uri, tenancy=TENANCY_DATABASE, timeout_s=TIMEOUT_S).check_layout()
    # and a collection of the database-per-agency layout, seen by the `collection` tenancy
    legacy = f"c_legacy_{uuid.uuid4().hex[:8]}"
    raw = MilvusClient(uri=milvus_uri, timeout=TIMEOUT_S, dedicated=True)
    try:
        schema = raw.create_schema(auto_id=False)
        schema.add_field("face_id", DataType.VARCHAR, max_length=64, is_primary=True)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=DIM)
        index = raw.prepare_index_params()
        index.add_index("embedding", index_type="FLAT", metric_type="COSINE")
        raw.create_collection(legacy, schema=schema, index_params=index)
        with pytest.raises(SettingsError, match=legacy):
            store.check_layout()
    finally:
        raw.drop_collection(legacy)
        raw.close()
    store.check_layout()


# ------------------------------------------------------------------------------------------ failures


def test_unreachable_milvus_is_unavailable() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = FaceStore(f"http://127.0.0.1:{port}", timeout_s=2.0)
    with pytest.raises(Unavailable, match="unavailable"):
        down.count_faces("some-agency", "c1")
    with pytest.raises(Unavailable):
        down.ensure_collection("some-agency", "c1", MODEL, DIM)


# ------------------------------------------------------------------------------------------ collection properties


def test_retention_and_tags_are_kept_and_must_create_refuses_an_existing_collection(
        store: FaceStore, agency: str) -> None:
    cid = f"tagged.{uuid.uuid4().hex[:8]}"
    tags = {"unit": "robbery", "retention-basis": "statute §12"}
    assert store.ensure_collection(agency, cid, MODEL, DIM, face_retention_days=30, tags=tags,
                                   must_create=True) == (True, MODEL)
    store.upsert_faces(agency, cid, [_face("f1", _unit(1)), _face("f2", _unit(2))])

    described = store.describe_collection(agency, cid)
    info = described.info
    assert (info.collection_id, info.face_model_version, info.dimension) == (cid, MODEL, DIM)
    assert (info.face_retention_days, dict(info.tags)) == (30, tags)
    assert info.created_at_ms > 1_700_000_000_000
    assert (described.face_count, described.user_count) == (2, 0)

    with pytest.raises(AlreadyExists, match=f"collection '{cid}' already exists"):
        store.ensure_collection(agency, cid, MODEL, DIM, must_create=True)
    # without must_create an existing collection is reused and keeps its own retention and tags
    assert store.ensure_collection(agency, cid, MODEL, DIM, face_retention_days=1, tags={"x": "y"}) == (False, MODEL)
    assert store.describe_collection(agency, cid).info.tags == tags

    for bad in ({"k" * 129: "v"}, {"": "v"}, {"k": "v" * 257}, {f"k{i}": "v" for i in range(51)}):
        with pytest.raises(InvalidArgument, match="tag"):
            store.ensure_collection(agency, f"bad.{uuid.uuid4().hex[:6]}", MODEL, DIM, tags=bad)
    with pytest.raises(InvalidArgument, match="retention"):
        store.ensure_collection(agency, "bad-retention", MODEL, DIM, face_retention_days=-1)
    with pytest.raises(NotFound):
        store.describe_collection(agency, "no-such-collection")


def test_list_collections_pages_in_collection_id_order(store: FaceStore, new_agency: Callable[[], str]) -> None:
    agency = new_agency()
    assert store.list_collections(agency).collections == []  # no database yet
    ids = ["b.2", "a-1", "A_3", "c", "a.1"]  # 'a-1' and 'a.1' share a readable Milvus name part
    for i, cid in enumerate(ids):
        store.ensure_collection(agency, cid, MODEL, DIM, face_retention_days=i)
    store.create_user(agency, "c", "u1")  # the users collection lives in the same database, never listed

    seen: list[str] = []
    token = ""
    while True:
        page = store.list_collections(agency, page_size=2, page_token=token)
        assert len(page.collections) <= 2
        seen += [c.collection_id for c in page.collections]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(ids)
    [first] = store.list_collections(agency, page_size=1).collections
    assert (first.collection_id, first.face_model_version, first.face_retention_days) == ("A_3", MODEL, 2)
    # a second store (another replica) has no cached names and lists the same
    other = FaceStore(store.uri, timeout_s=TIMEOUT_S)
    try:
        assert [c.collection_id for c in other.list_collections(agency).collections] == sorted(ids)
    finally:
        other.close()
    store.drop_collection(agency, "b.2")
    assert [c.collection_id for c in store.list_collections(agency).collections] == ["A_3", "a-1", "a.1", "c"]
    with pytest.raises(InvalidArgument, match="page token"):
        store.list_collections(agency, page_token="////")


# ------------------------------------------------------------------------------------------ users


def test_users_create_associate_list_and_delete(store: FaceStore, agency: str) -> None:
    cid = _collection(store, agency, [_face(f"f{i}", _unit(i)) for i in range(1, 7)])
    u1 = store.create_user(agency, cid, "u1")
    assert (u1.user_id, u1.face_count) == ("u1", 0) and u1.created_at_ms > 0
    store.create_user(agency, cid, "u2")
    with pytest.raises(AlreadyExists, match="user 'u1' already exists"):
        store.create_user(agency, cid, "u1")
    with pytest.raises(InvalidArgument, match="user id"):
        store.create_user(agency, cid, "bad user")

    changes, user = store.set_faces_user(agency, cid, "u1", ["f1", "f2", "missing", "f1"])
    assert [(c.face_id, c.changed, c.reason) for c in changes] == [
        ("f1", True, ""), ("f2", True, ""), ("missing", False, "not found")]
    assert user is not None and user.face_count == 2
    changes, user = store.set_faces_user(agency, cid, "u2", ["f2", "f3"])
    assert [(c.face_id, c.changed, c.reason) for c in changes] == [
        ("f2", False, "associated to user u1"), ("f3", True, "")]  # reported, not moved
    assert user is not None and user.face_count == 1
    changes, _ = store.set_faces_user(agency, cid, "u1", ["f1"])
    assert (changes[0].changed, changes[0].reason) == (False, "already associated to user u1")
    with pytest.raises(NotFound, match="user 'ghost' not found"):
        store.set_faces_user(agency, cid, "ghost", ["f4"])
    # the association is the face row's user_id: search and listing see it, the vector is unchanged
    [row] = store.get_faces(agency, cid, face_ids=["f1"], with_embeddings=True).faces
    assert row.user_id == "u1" and row.embedding == tuple(_unit(1))
    assert [h.face.face_id for h in store.search(agency, cid, [_unit(3)], top_k=10, min_raw_score=-1.0,
                                                associated_only=True).results[0]] == ["f3", "f1", "f2"]

    page = store.list_users(agency, cid, page_size=1)
    assert [(u.user_id, u.face_count) for u in page.users] == [("u1", 2)]
    rest = store.list_users(agency, cid, page_token=page.next_page_token)
    assert [(u.user_id, u.face_count) for u in rest.users] == [("u2", 1)] and rest.next_page_token == ""
    assert store.describe_collection(agency, cid).user_count == 2
    assert set(store.get_users(agency, cid, ["u1", "u2", "nobody"])) == {"u1", "u2"}

    # disassociate with an empty user id
    changes, user = store.set_faces_user(agency, cid, "", ["f2", "f4"])
    assert [(c.face_id, c.changed, c.reason) for c in changes] == [
        ("f2", True, ""), ("f4", False, "not associated to a user")]
    assert user is None

    # DeleteUser keeps the faces (disassociated) unless told to delete them
    store.set_faces_user(agency, cid, "u1", ["f2"])
    done = store.delete_user(agency, cid, "u1")
    assert sorted(done.disassociated_face_ids) == ["f1", "f2"] and done.deleted_faces == []
    assert {f.face_id: f.user_id for f in store.get_faces(agency, cid).faces}["f1"] == ""
    assert store.count_faces(agency, cid) == 6
    done = store.delete_user(agency, cid, "u2", delete_faces=True)
    assert [f.face_id for f in done.deleted_faces] == ["f3"] and done.disassociated_face_ids == []
    assert store.count_faces(agency, cid) == 5
    assert store.list_users(agency, cid).users == []
    with pytest.raises(NotFound, match="user 'u1' not found"):
        store.delete_user(agency, cid, "u1")


def test_dropping_a_collection_drops_its_users(store: FaceStore, agency: str) -> None:
    cid = _collection(store, agency)
    other = _collection(store, agency)
    store.create_user(agency, cid, "u1")
    store.create_user(agency, other, "u1")  # the same user id in another collection is another user
    store.drop_collection(agency, cid)
    assert store.ensure_collection(agency, cid, MODEL, DIM) == (True, MODEL)
    assert store.list_users(agency, cid).users == []
    assert [u.user_id for u in store.list_users(agency, other).users] == ["u1"]
    with pytest.raises(NotFound):
        store.create_user(agency, "never-created", "u1")


def test_every_milvus_call_has_a_client_span(store: FaceStore, agency: str) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from lineup.telemetry import setup_telemetry

    exporter = InMemorySpanExporter()
    setup_telemetry("integration-tests", span_processors=[SimpleSpanProcessor(exporter)])
    cid = _collection(store, agency, [_face("f1", _unit(1))])
    exporter.clear()
    store.search(agency, cid, [_unit(1)], top_k=1, min_raw_score=0.0)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    search = spans["milvus search"]
    assert search.kind == SpanKind.CLIENT
    assert search.attributes is not None
    assert search.attributes["rpc.system"] == "milvus"
    space = agency_namespace(agency)
    assert search.attributes["db.namespace"] == space.database
    assert search.attributes["db.collection.name"] == space.prefix + collection_name(cid)
