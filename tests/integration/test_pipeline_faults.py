"""Delivery guarantees of the pipeline on the real stack: replicas share work without duplicates, and a
stage killed with SIGKILL mid-batch resumes from its committed offsets with every image indexed once."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from kafka import KafkaAdminClient

from lineup.v1 import common_pb2, face_search_pb2, face_search_pb2_grpc
from tests.face_data import LFW_DEV, require
from tests.integration.pipeline_harness import Pipeline
from tests.integration.waiting import PATIENT_S, committed_and_end, pipeline_idle, wait_until

pytestmark = pytest.mark.integration


def _single_face_photos(count: int, offset: int) -> list[Path]:
    """One photo each of distinct LFW people (their deep-funneled images centre one face)."""
    people = sorted(p for p in require(LFW_DEV / "images").iterdir() if p.is_dir())
    return [sorted(p.glob("*.jpg"))[0] for p in people[offset:offset + count]]


@pytest.fixture()
def pipeline(kafka_bootstrap: str, minio_endpoint: str, milvus_uri: str, triton_url: str) -> Iterator[Pipeline]:
    p = Pipeline()
    try:
        yield p
    finally:
        p.stop_all()


def _index_all(api: face_search_pb2_grpc.FaceSearchStub, p: Pipeline, collection: str, photos: list[Path]
               ) -> list[face_search_pb2.IndexFacesResponse | grpc.RpcError]:
    def one(photo: Path) -> face_search_pb2.IndexFacesResponse | grpc.RpcError:
        try:
            return api.IndexFaces(face_search_pb2.IndexFacesRequest(
                collection_id=collection, image=common_pb2.Image(bytes=photo.read_bytes()), max_faces=1,
                external_image_id=photo.name, quality_filter=common_pb2.QUALITY_FILTER_NONE),
                metadata=p.metadata(), timeout=180)
        except grpc.RpcError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, photos))


def _all_face_ids(api: face_search_pb2_grpc.FaceSearchStub, p: Pipeline, collection: str) -> list[str]:
    ids: list[str] = []
    token = ""
    while True:
        page = api.ListFaces(face_search_pb2.ListFacesRequest(
            collection_id=collection, page=common_pb2.PageRequest(page_size=100, page_token=token)),
            metadata=p.metadata(), timeout=30)
        ids.extend(f.face_id for f in page.faces)
        token = page.page.next_page_token
        if not token:
            return ids


def test_two_detection_replicas_share_partitions_without_duplicates(pipeline: Pipeline, kafka_bootstrap: str
                                                                    ) -> None:
    p = pipeline
    p.start("search")
    p.start("embedding")
    p.start("detection")
    p.start("detection", replica=1)
    p.start("ingest")
    group_id = f"{p.prefix}detection"

    def owned(group: dict[str, Any]) -> list[set[tuple[str, int]]]:
        return [{(a["topic"], part) for a in m["member_assignment"]["assigned_partitions"]
                 for part in a["partitions"]} for m in group["members"]]

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:  # wait for the group to settle with both members, each owning partitions
        group = wait_until(lambda: admin.describe_groups([group_id])[group_id],
                           lambda g: len(g["members"]) == 2 and g["group_state"] == "Stable"
                           and all(owned(g)))
    finally:
        admin.close()
    assignments = owned(group)
    assert len(assignments) == 2 and all(assignments), "both replicas must own partitions"
    assert not assignments[0] & assignments[1], "a partition owned twice"

    with grpc.insecure_channel(f"127.0.0.1:{p.ports['ingest']}") as channel:
        api = face_search_pb2_grpc.FaceSearchStub(channel)
        api.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="replicas"),
                             metadata=p.metadata(), timeout=30)
        photos = _single_face_photos(16, offset=100)
        results = _index_all(api, p, "replicas", photos)
        errors = [r for r in results if isinstance(r, grpc.RpcError)]
        assert not errors, [e.details() for e in errors]  # type: ignore[attr-defined]
        indexed = [r.face_records[0].face.face_id for r in results
                   if isinstance(r, face_search_pb2.IndexFacesResponse) and r.face_records]
        stored = _all_face_ids(api, p, "replicas")
        assert len(indexed) >= 15
        assert sorted(stored) == sorted(indexed)  # exactly one face per accepted image, no duplicates


def test_embedding_killed_mid_batch_resumes_with_every_image_indexed_once(pipeline: Pipeline,
                                                                          kafka_bootstrap: str) -> None:
    p = pipeline
    p.start_all()
    with grpc.insecure_channel(f"127.0.0.1:{p.ports['ingest']}") as channel:
        api = face_search_pb2_grpc.FaceSearchStub(channel)
        api.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="crash"),
                             metadata=p.metadata(), timeout=30)
        photos = _single_face_photos(24, offset=300)

        def embedded_so_far() -> int:
            committed, _ = committed_and_end(kafka_bootstrap, f"{p.prefix}embedding",
                                             f"{p.prefix}lineup.faces.detected")
            return sum(committed.values())

        with ThreadPoolExecutor(max_workers=1) as runner:
            pending = runner.submit(_index_all, api, p, "crash", photos)
            # kill the embedder while the burst is in flight: once it has demonstrably embedded part of it
            # (a fixed sleep could kill it before any image reached it, or after the burst), then bring it back
            embedding = p.find("embedding")[0]
            assert wait_until(embedded_so_far, lambda n: n >= 1, interval_s=0.2) >= 1, "nothing was embedded"
            assert not pending.done(), "the burst finished before the embedder could be killed"
            assert p.kill(embedding, signal.SIGKILL) == -signal.SIGKILL
            time.sleep(1.0)  # an outage of a second, not a synchronisation
            p.start("embedding")
            results = pending.result(timeout=600)
        answered = [r for r in results if isinstance(r, face_search_pb2.IndexFacesResponse)]
        timed_out = [r for r in results if isinstance(r, grpc.RpcError)
                     and r.code() == grpc.StatusCode.DEADLINE_EXCEEDED]  # type: ignore[attr-defined]
        assert len(answered) + len(timed_out) == len(photos)
        # every accepted image ends up indexed exactly once, whether its caller waited or not: wait until
        # every stage has handled everything (a redelivered message included), so the index is final
        assert wait_until(lambda: pipeline_idle(kafka_bootstrap, p.prefix), timeout_s=2 * PATIENT_S, interval_s=1), \
            "the pipeline did not finish the burst"
        stored = _all_face_ids(api, p, "crash")
        assert len(stored) == len(set(stored)), "duplicate face ids in the index"
        expected = {r.face_records[0].face.face_id for r in answered if r.face_records}
        assert expected <= set(stored)
        assert len(stored) >= len(photos) - 1  # each single-face photo yields its face (one may be unusable)
        assert len(stored) <= len(photos)


def test_two_ingest_replicas_each_answer_their_own_callers(pipeline: Pipeline) -> None:
    p = pipeline
    p.start_all()
    second = p.start("ingest", replica=1)
    photos = _single_face_photos(8, offset=700)
    with grpc.insecure_channel(f"127.0.0.1:{p.ports['ingest']}") as c1, \
            grpc.insecure_channel(f"127.0.0.1:{second.port}") as c2:
        apis = [face_search_pb2_grpc.FaceSearchStub(c1), face_search_pb2_grpc.FaceSearchStub(c2)]
        apis[0].CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="two-fronts"),
                                 metadata=p.metadata(), timeout=30)

        def index(n: int) -> face_search_pb2.IndexFacesResponse:
            return apis[n % 2].IndexFaces(face_search_pb2.IndexFacesRequest(
                collection_id="two-fronts", image=common_pb2.Image(bytes=photos[n].read_bytes()), max_faces=1,
                external_image_id=photos[n].name, quality_filter=common_pb2.QUALITY_FILTER_NONE),
                metadata=p.metadata(), timeout=120)

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(index, range(len(photos))))
        # each caller got the result of its own image, whichever replica it talked to
        for photo, resp in zip(photos, results, strict=True):
            assert [r.face.external_image_id for r in resp.face_records] == [photo.name]
        assert len(_all_face_ids(apis[1], p, "two-fronts")) == len(photos)
