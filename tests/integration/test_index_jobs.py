"""Bulk enrollment on the real stack: a job over an object-store prefix or a manifest, its progress,
per-image errors, idempotent client tokens, and resumption after the owning ingest replica dies."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from lineup_tools.devstack.minio import credentials

from lineup.objectstore import ObjectStore
from lineup.v1 import common_pb2, face_search_pb2, face_search_pb2_grpc
from tests.face_data import LFW_DEV, require
from tests.integration.pipeline_harness import Pipeline
from tests.integration.waiting import PATIENT_S, wait_until

pytestmark = pytest.mark.integration
TERMINAL = {face_search_pb2.JOB_STATE_SUCCEEDED, face_search_pb2.JOB_STATE_FAILED,
            face_search_pb2.JOB_STATE_PARTIALLY_SUCCEEDED}


def _people(count: int, offset: int) -> list[Path]:
    people = sorted(p for p in require(LFW_DEV / "images").iterdir() if p.is_dir())
    return [sorted(p.glob("*.jpg"))[0] for p in people[offset:offset + count]]


@pytest.fixture()
def pipeline(kafka_bootstrap: str, minio_endpoint: str, milvus_uri: str, triton_url: str) -> Iterator[Pipeline]:
    p = Pipeline()
    try:
        yield p
    finally:
        p.stop_all()


def _upload(store: ObjectStore, prefix: str, photos: list[Path]) -> list[str]:
    keys = []
    for photo in photos:
        key = f"{prefix}{photo.name}"
        store.put("lineup-images", key, photo.read_bytes(), "image/jpeg")
        keys.append(key)
    return keys


def _get(api: face_search_pb2_grpc.FaceSearchStub, p: Pipeline, job_id: str) -> face_search_pb2.Job:
    return api.GetJob(face_search_pb2.GetJobRequest(job_id=job_id), metadata=p.metadata(), timeout=30).job


def _wait(api: face_search_pb2_grpc.FaceSearchStub, p: Pipeline, job_id: str, timeout_s: float = 2 * PATIENT_S
          ) -> face_search_pb2.Job:
    """The job once it is finished (a terminal state never changes), or as it is at the deadline."""
    return wait_until(lambda: _get(api, p, job_id), lambda job: job.state in TERMINAL, timeout_s=timeout_s)


def test_prefix_job_with_a_bad_image_and_a_manifest_job(pipeline: Pipeline, minio_endpoint: str) -> None:
    p = pipeline
    p.start_all()
    store = ObjectStore(minio_endpoint, *credentials())
    prefix = f"{p.agency}/images/uploads/batch1/"
    keys = _upload(store, prefix, _people(5, offset=500))
    store.put("lineup-images", f"{prefix}broken.jpg", b"\xff\xd8\xff\xe0 not a jpeg", "image/jpeg")
    with grpc.insecure_channel(f"127.0.0.1:{p.ports['ingest']}") as channel:
        api = face_search_pb2_grpc.FaceSearchStub(channel)
        md = p.metadata()
        api.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="bulk"), metadata=md, timeout=30)
        req = face_search_pb2.StartIndexJobRequest(
            collection_id="bulk", prefix=common_pb2.ObjectRef(bucket="lineup-images", key=prefix),
            quality_filter=common_pb2.QUALITY_FILTER_NONE, client_token="batch-1")
        job_id = api.StartIndexJob(req, metadata=md, timeout=30).job_id
        assert api.StartIndexJob(req, metadata=md, timeout=30).job_id == job_id  # idempotent token
        job = _wait(api, p, job_id)
        assert job.state == face_search_pb2.JOB_STATE_PARTIALLY_SUCCEEDED, job
        assert (job.images_total, job.images_done, job.images_failed) == (6, 6, 1)
        assert job.progress == pytest.approx(1.0)
        assert job.faces_indexed >= 5
        assert job.errors[0].object_key.endswith("broken.jpg") and "INVALID_ARGUMENT" in job.errors[0].reason
        faces = api.ListFaces(face_search_pb2.ListFacesRequest(collection_id="bulk"), metadata=md, timeout=30).faces
        assert len(faces) == job.faces_indexed
        assert {f.external_image_id for f in faces} == {k.rsplit("/", 1)[-1] for k in keys}

        manifest = f"{p.agency}/manifests/m1.txt"
        store.put("lineup-images", manifest, f"{keys[0]}\tbooking-0001\n# comment\n{keys[1]}\tbooking-0002\n".encode(),
                  "text/plain")
        job2 = _wait(api, p, api.StartIndexJob(face_search_pb2.StartIndexJobRequest(
            collection_id="bulk", manifest=common_pb2.ObjectRef(bucket="lineup-images", key=manifest)),
            metadata=md, timeout=30).job_id)
        assert job2.state == face_search_pb2.JOB_STATE_SUCCEEDED and job2.images_total == 2
        listed = api.ListJobs(face_search_pb2.ListJobsRequest(collection_id="bulk"), metadata=md, timeout=30).jobs
        assert {j.job_id for j in listed} == {job_id, job2.job_id}
        with pytest.raises(grpc.RpcError) as err:  # other agencies see no jobs
            api.GetJob(face_search_pb2.GetJobRequest(job_id=job_id), metadata=p.metadata(agency=f"{p.agency}-other"),
                       timeout=30)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_job_resumes_after_the_owner_dies_without_duplicates(pipeline: Pipeline, minio_endpoint: str) -> None:
    p = pipeline
    fast_lease = {"LINEUP_JOB_LEASE_S": "4", "LINEUP_JOB_CONCURRENCY": "2"}
    for name in ("search", "embedding", "detection"):
        p.start(name)
    owner = p.start("ingest", extra_env=fast_lease)
    store = ObjectStore(minio_endpoint, *credentials())
    prefix = f"{p.agency}/images/uploads/batch2/"
    _upload(store, prefix, _people(12, offset=600))
    with grpc.insecure_channel(f"127.0.0.1:{owner.port}") as channel:
        api = face_search_pb2_grpc.FaceSearchStub(channel)
        md = p.metadata()
        api.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="resume"), metadata=md, timeout=30)
        job_id = api.StartIndexJob(face_search_pb2.StartIndexJobRequest(
            collection_id="resume", prefix=common_pb2.ObjectRef(bucket="lineup-images", key=prefix),
            quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=md, timeout=30).job_id
        # kill the owner once it has demonstrably done part of the job, and not all of it: otherwise
        # nothing would be resumed and the test would prove nothing
        started = wait_until(lambda: _get(api, p, job_id), lambda job: job.images_done >= 2, interval_s=0.2)
        assert started.images_done >= 2 and started.state not in TERMINAL, started
    assert p.kill(owner, signal.SIGKILL) == -signal.SIGKILL
    survivor = p.start("ingest", replica=1, extra_env=fast_lease)
    with grpc.insecure_channel(f"127.0.0.1:{survivor.port}") as channel:
        api = face_search_pb2_grpc.FaceSearchStub(channel)
        job = _wait(api, p, job_id)
        assert job.state == face_search_pb2.JOB_STATE_SUCCEEDED, job
        assert job.images_done == job.images_total == 12
        faces = api.ListFaces(face_search_pb2.ListFacesRequest(collection_id="resume"), metadata=md, timeout=30).faces
        ids = [f.face_id for f in faces]
        assert len(ids) == len(set(ids)) == job.faces_indexed  # resumed items upserted, never duplicated
        assert len({f.external_image_id for f in faces}) == 12  # every image (some show a second face)
