"""lineup.v1.SearchService over real gRPC on a free port, backed by the local Milvus."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from lineup_tools.devstack.accounts import internal_token

from lineup.grpcserver import ServiceServer
from lineup.settings import load_settings
from lineup.v1 import common_pb2, search_pb2, search_pb2_grpc
from search.__main__ import build
from search.settings import SearchSettings
from tests.integration.milvus_data import drop_agency_collections
from tests.integration.pipeline_harness import internal_channel

pytestmark = pytest.mark.integration

DIM = 8
MODEL = "arcface-r100@1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unit(i: int) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(DIM)]


@pytest.fixture(scope="module")
def agency(milvus_uri: str) -> Iterator[str]:
    agency_id = f"it-svc-{uuid.uuid4().hex[:8]}"
    yield agency_id
    drop_agency_collections(milvus_uri, agency_id)


@pytest.fixture(scope="module")
def stub(milvus_uri: str) -> Iterator[search_pb2_grpc.SearchServiceStub]:
    # the API alone: the pipeline stage (Kafka) is tested in test_search_stage.py
    settings = load_settings(SearchSettings, {}, grpc_port=_free_port(), milvus_uri=milvus_uri, shutdown_grace_s=0.5,
                             pipeline_stage=False, internal_token=internal_token())
    server: ServiceServer = build(settings)
    port = server.start()
    try:
        with internal_channel(f"127.0.0.1:{port}") as channel:
            yield search_pb2_grpc.SearchServiceStub(channel)
    finally:
        server.stop()


def _face_vector(face_id: str, axis: int, user_id: str = "") -> search_pb2.FaceVector:
    indexed_at = Timestamp()
    indexed_at.FromMilliseconds(1_760_000_000_123)
    face = common_pb2.Face(face_id=face_id, image_id="cd" * 32, external_image_id="booking-1", user_id=user_id,
                           confidence=99.5, indexed_at=indexed_at,
                           bounding_box=common_pb2.BoundingBox(left=0.1, top=0.2, width=0.3, height=0.4))
    return search_pb2.FaceVector(face=face, embedding=_unit(axis),
                                 crop=common_pb2.ObjectRef(bucket="lineup-crops", key=f"crops/{face_id}.jpg"))


def test_enrol_search_list_count_over_grpc(stub: search_pb2_grpc.SearchServiceStub, agency: str) -> None:
    ensured = stub.EnsureCollection(search_pb2.EnsureCollectionRequest(
        agency_id=agency, collection_id="bookings", face_model_version=MODEL, dimension=DIM), timeout=30)
    assert (ensured.created, ensured.face_model_version) == (True, MODEL)

    upserted = stub.UpsertFaces(search_pb2.UpsertFacesRequest(
        agency_id=agency, collection_id="bookings",
        faces=[_face_vector("f1", 1, "u1"), _face_vector("f2", 2), _face_vector("f1", 1, "u1")]), timeout=30)
    assert upserted.upserted == 2

    found = stub.SearchVectors(search_pb2.SearchVectorsRequest(
        agency_id=agency, collection_id="bookings", queries=[search_pb2.QueryVector(values=_unit(2))],
        top_k=5, min_raw_score=0.5), timeout=30)
    assert found.face_model_version == MODEL
    [hit] = found.results[0].matches
    assert hit.face.face_id == "f2" and hit.raw_score == pytest.approx(1.0, abs=1e-5)
    assert hit.face.collection_id == "bookings" and hit.face.face_model_version == MODEL
    assert hit.face.indexed_at.ToMilliseconds() == 1_760_000_000_123
    assert hit.face.bounding_box.width == pytest.approx(0.3)

    listed = stub.GetFaces(search_pb2.GetFacesRequest(
        agency_id=agency, collection_id="bookings", page=common_pb2.PageRequest(page_size=1)), timeout=30)
    assert [f.face.face_id for f in listed.faces] == ["f1"] and listed.page.next_page_token
    assert listed.faces[0].crop.key == "crops/f1.jpg" and not listed.faces[0].embedding
    by_image = stub.GetFaces(search_pb2.GetFacesRequest(
        agency_id=agency, collection_id="bookings", image_id="cd" * 32), timeout=30)
    assert [f.face.face_id for f in by_image.faces] == ["f1", "f2"]
    assert not stub.GetFaces(search_pb2.GetFacesRequest(
        agency_id=agency, collection_id="bookings", image_id="ef" * 32), timeout=30).faces

    deleted = stub.DeleteFaceVectors(search_pb2.DeleteFaceVectorsRequest(
        agency_id=agency, collection_id="bookings", face_ids=["f1", "nope"]), timeout=30)
    assert [(d.face.face_id, d.crop.key) for d in deleted.deleted] == [("f1", "crops/f1.jpg")]
    count = stub.CountFaces(search_pb2.CountFacesRequest(agency_id=agency, collection_id="bookings"), timeout=30)
    assert count.face_count == 1


def test_errors_map_to_status_codes(stub: search_pb2_grpc.SearchServiceStub, agency: str) -> None:
    stub.EnsureCollection(search_pb2.EnsureCollectionRequest(
        agency_id=agency, collection_id="pinned", face_model_version=MODEL, dimension=DIM), timeout=30)

    cases: list[tuple[grpc.StatusCode, str, object]] = [
        (grpc.StatusCode.NOT_FOUND, "collection 'pinned' not found",
         lambda: stub.CountFaces(search_pb2.CountFacesRequest(agency_id="it-someone-else", collection_id="pinned"),
                                 timeout=30)),
        (grpc.StatusCode.FAILED_PRECONDITION, "pinned to face model",
         lambda: stub.EnsureCollection(search_pb2.EnsureCollectionRequest(
             agency_id=agency, collection_id="pinned", face_model_version="other@2", dimension=DIM), timeout=30)),
        (grpc.StatusCode.INVALID_ARGUMENT, "dimension 3",
         lambda: stub.SearchVectors(search_pb2.SearchVectorsRequest(
             agency_id=agency, collection_id="pinned", queries=[search_pb2.QueryVector(values=[1.0, 0.0, 0.0])],
             top_k=1), timeout=30)),
    ]
    for code, text, call in cases:
        with pytest.raises(grpc.RpcError) as err:
            call()  # type: ignore[operator]
        assert err.value.code() == code
        assert text in err.value.details()


def test_collection_properties_listing_and_must_create(stub: search_pb2_grpc.SearchServiceStub, agency: str) -> None:
    for cid, days in (("zeta", 0), ("alpha.1", 90)):
        created = stub.EnsureCollection(search_pb2.EnsureCollectionRequest(
            agency_id=agency, collection_id=cid, face_model_version=MODEL, dimension=DIM, face_retention_days=days,
            tags={"unit": cid}, must_create=True), timeout=30)
        assert created.created
    with pytest.raises(grpc.RpcError) as err:
        stub.EnsureCollection(search_pb2.EnsureCollectionRequest(
            agency_id=agency, collection_id="zeta", face_model_version=MODEL, dimension=DIM, must_create=True),
            timeout=30)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS

    stub.UpsertFaces(search_pb2.UpsertFacesRequest(agency_id=agency, collection_id="alpha.1",
                                                   faces=[_face_vector("f1", 1), _face_vector("f2", 2)]), timeout=30)
    stub.CreateUser(search_pb2.VectorUserRequest(agency_id=agency, collection_id="alpha.1", user_id="u1"), timeout=30)
    described = stub.DescribeCollection(search_pb2.DescribeVectorCollectionRequest(
        agency_id=agency, collection_id="alpha.1"), timeout=30)
    assert (described.collection_id, described.face_model_version, described.dimension) == ("alpha.1", MODEL, DIM)
    assert (described.face_count, described.user_count, described.face_retention_days) == (2, 1, 90)
    assert dict(described.tags) == {"unit": "alpha.1"} and described.created_at.seconds > 1_700_000_000

    first = stub.ListCollections(search_pb2.ListVectorCollectionsRequest(
        agency_id=agency, page=common_pb2.PageRequest(page_size=1)), timeout=30)
    assert [c.collection_id for c in first.collections] == ["alpha.1"] and first.page.next_page_token
    listed: list[str] = [c.collection_id for c in first.collections]
    token = first.page.next_page_token
    while token:
        page = stub.ListCollections(search_pb2.ListVectorCollectionsRequest(
            agency_id=agency, page=common_pb2.PageRequest(page_size=1, page_token=token)), timeout=30)
        listed += [c.collection_id for c in page.collections]
        token = page.page.next_page_token
    assert listed == sorted(listed) and {"alpha.1", "zeta"} <= set(listed)


def test_users_over_grpc(stub: search_pb2_grpc.SearchServiceStub, agency: str) -> None:
    stub.EnsureCollection(search_pb2.EnsureCollectionRequest(
        agency_id=agency, collection_id="people", face_model_version=MODEL, dimension=DIM), timeout=30)
    stub.UpsertFaces(search_pb2.UpsertFacesRequest(agency_id=agency, collection_id="people",
                                                   faces=[_face_vector(f"f{i}", i) for i in range(1, 4)]), timeout=30)
    user = stub.CreateUser(search_pb2.VectorUserRequest(agency_id=agency, collection_id="people", user_id="u1"),
                           timeout=30)
    assert (user.user_id, user.face_count) == ("u1", 0) and user.created_at.seconds > 0
    stub.CreateUser(search_pb2.VectorUserRequest(agency_id=agency, collection_id="people", user_id="u2"), timeout=30)
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateUser(search_pb2.VectorUserRequest(agency_id=agency, collection_id="people", user_id="u1"),
                        timeout=30)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS

    set1 = stub.SetFacesUser(search_pb2.SetFacesUserRequest(
        agency_id=agency, collection_id="people", user_id="u1", face_ids=["f1", "f2", "nope"]), timeout=30)
    assert [(c.face_id, c.changed, c.reason) for c in set1.changes] == [
        ("f1", True, ""), ("f2", True, ""), ("nope", False, "not found")]
    assert set1.user.face_count == 2
    set2 = stub.SetFacesUser(search_pb2.SetFacesUserRequest(
        agency_id=agency, collection_id="people", user_id="u2", face_ids=["f2", "f3"]), timeout=30)
    assert [(c.face_id, c.changed, c.reason) for c in set2.changes] == [
        ("f2", False, "associated to user u1"), ("f3", True, "")]
    with pytest.raises(grpc.RpcError) as err:
        stub.SetFacesUser(search_pb2.SetFacesUserRequest(
            agency_id=agency, collection_id="people", user_id="ghost", face_ids=["f3"]), timeout=30)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    users = stub.ListUsers(search_pb2.ListVectorUsersRequest(agency_id=agency, collection_id="people"), timeout=30)
    assert [(u.user_id, u.face_count) for u in users.users] == [("u1", 2), ("u2", 1)]

    kept = stub.DeleteUser(search_pb2.VectorUserRequest(agency_id=agency, collection_id="people", user_id="u1"),
                           timeout=30)
    assert sorted(kept.disassociated_face_ids) == ["f1", "f2"] and not kept.deleted_faces
    erased = stub.DeleteUser(search_pb2.VectorUserRequest(agency_id=agency, collection_id="people", user_id="u2",
                                                          delete_faces=True), timeout=30)
    assert [(f.face.face_id, f.crop.key) for f in erased.deleted_faces] == [("f3", "crops/f3.jpg")]
    count = stub.CountFaces(search_pb2.CountFacesRequest(agency_id=agency, collection_id="people"), timeout=30)
    assert count.face_count == 2
    with pytest.raises(grpc.RpcError) as err:
        stub.DeleteUser(search_pb2.VectorUserRequest(agency_id=agency, collection_id="people", user_id="u2"),
                        timeout=30)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
