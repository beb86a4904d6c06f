"""Authority where the work happens (issue 17 #8): enrolment reads only the caller's own photos, never a
probe, a crop, another bucket or another agency, malformed keys are named INVALID_ARGUMENT (not INTERNAL), and a
bulk job stops when the key that started it is revoked.

Each attack goes through the public front door with ordinary API keys, on the real stack."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from lineup_tools.devstack.accounts import ALL_ROLES
from lineup_tools.devstack.minio import credentials

from lineup.objectstore import ObjectStore
from lineup.v1 import admin_pb2, admin_pb2_grpc, common_pb2, face_search_pb2, face_search_pb2_grpc
from tests.face_data import DATASETS, LFW_DEV, require
from tests.integration.pipeline_harness import Pipeline

pytestmark = pytest.mark.integration
TV = DATASETS / "tv-identities"
CTX = common_pb2.SearchContext(case_id="CASE-AUTH-1", purpose="investigation", justification="authority test")
TERMINAL = {face_search_pb2.JOB_STATE_SUCCEEDED, face_search_pb2.JOB_STATE_FAILED,
            face_search_pb2.JOB_STATE_PARTIALLY_SUCCEEDED}


@pytest.fixture(scope="module")
def pipeline(tv_pipeline: Pipeline) -> Pipeline:
    return tv_pipeline


@pytest.fixture(scope="module")
def faces(pipeline: Pipeline) -> Iterator[face_search_pb2_grpc.FaceSearchStub]:
    with grpc.insecure_channel(pipeline.endpoint, options=[("grpc.max_send_message_length", 32 << 20)]) as ch:
        yield face_search_pb2_grpc.FaceSearchStub(ch)


@pytest.fixture(scope="module")
def store(minio_endpoint: str) -> ObjectStore:
    return ObjectStore(minio_endpoint, *credentials())


@pytest.fixture(scope="module")
def collection(faces: face_search_pb2_grpc.FaceSearchStub, pipeline: Pipeline) -> str:
    faces.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="auth"), metadata=pipeline.metadata(),
                           timeout=30)
    return "auth"


def _photos(name: str) -> list[Path]:
    return sorted((TV / name).glob("*.png"))


def _err(fn: object) -> tuple[grpc.StatusCode, str]:
    try:
        fn()  # type: ignore[operator]
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""  # type: ignore[attr-defined]
    return grpc.StatusCode.OK, ""


def _index(faces: face_search_pb2_grpc.FaceSearchStub, p: Pipeline, collection: str, bucket: str, key: str
           ) -> tuple[grpc.StatusCode, str]:
    return _err(lambda: faces.IndexFaces(face_search_pb2.IndexFacesRequest(
        collection_id=collection, image=common_pb2.Image(object=common_pb2.ObjectRef(bucket=bucket, key=key)),
        quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=p.metadata(), timeout=120))


def _job(faces: face_search_pb2_grpc.FaceSearchStub, p: Pipeline, collection: str, *, prefix: str = "",
         manifest: str = "", bucket: str = "lineup-images") -> tuple[grpc.StatusCode, str]:
    req = face_search_pb2.StartIndexJobRequest(collection_id=collection, quality_filter=common_pb2.QUALITY_FILTER_NONE)
    if prefix:
        req.prefix.CopyFrom(common_pb2.ObjectRef(bucket=bucket, key=prefix))
    else:
        req.manifest.CopyFrom(common_pb2.ObjectRef(bucket=bucket, key=manifest))
    return _err(lambda: faces.StartIndexJob(req, metadata=p.metadata(), timeout=30))


def test_a_probe_photo_or_a_crop_is_never_enrolled(faces: face_search_pb2_grpc.FaceSearchStub, pipeline: Pipeline,
                                                    store: ObjectStore, collection: str) -> None:
    p = pipeline
    faces.IndexFaces(face_search_pb2.IndexFacesRequest(
        collection_id=collection, image=common_pb2.Image(bytes=_photos("raj")[0].read_bytes()), max_faces=1,
        quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=p.metadata(), timeout=120)
    search = faces.SearchFacesByImage(face_search_pb2.SearchFacesByImageRequest(
        collection_id=collection, image=common_pb2.Image(bytes=_photos("raj")[1].read_bytes()),
        largest_face_only=True, context=CTX), metadata=p.metadata(), timeout=120)
    probe_sha = search.probe_image_sha256
    probe_key = f"{p.agency}/probes/{probe_sha[:2]}/{probe_sha}"
    assert store.exists(common_pb2.ObjectRef(bucket="lineup-images", key=probe_key))
    crops = list(store.list("lineup-crops", f"{p.agency}/crops/{search.provenance.search_id}/"))
    assert crops
    before = faces.DescribeCollection(face_search_pb2.DescribeCollectionRequest(collection_id=collection),
                                      metadata=p.metadata(), timeout=30).face_count

    code, msg = _index(faces, p, collection, "lineup-images", probe_key)  # the probe itself
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "image.object" in msg and f"{p.agency}/images/" in msg, msg
    code, msg = _index(faces, p, collection, "lineup-crops", crops[0].key)  # a probe's face crop
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "image.object.bucket" in msg, msg
    code, msg = _job(faces, p, collection, prefix=f"{p.agency}/crops/", bucket="lineup-crops")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "prefix.bucket" in msg, msg
    code, msg = _job(faces, p, collection, prefix=f"{p.agency}/probes/")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "prefix" in msg, msg
    manifest = f"{p.agency}/manifests/probes.txt"
    store.put("lineup-images", manifest, f"{probe_key}\tprobe\n".encode(), "text/plain")
    code, msg = _job(faces, p, collection, manifest=manifest)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "manifest line 1" in msg, msg
    # another agency's photo is as missing as a photo that does not exist (no enumeration)
    other = f"{p.agency}-x/images/{probe_sha[:2]}/{probe_sha}"
    assert _index(faces, p, collection, "lineup-images", other)[0] == grpc.StatusCode.NOT_FOUND
    assert _job(faces, p, collection, prefix=f"{p.agency}-x/images/")[0] == grpc.StatusCode.NOT_FOUND
    assert faces.DescribeCollection(face_search_pb2.DescribeCollectionRequest(collection_id=collection),
                                    metadata=p.metadata(), timeout=30).face_count == before


@pytest.mark.parametrize("key", ["{a}/images/../probes/x.png", "{a}/images/./x.png", "{a}//images/x.png",
                                 "{a}/images/x.png/..", "/{a}/images/x.png", "", "{a}/images/\x01.png",
                                 "{a}/images/" + "x" * 1100])
def test_malformed_object_keys_are_invalid_argument(faces: face_search_pb2_grpc.FaceSearchStub, pipeline: Pipeline,
                                                    collection: str, key: str) -> None:
    key = key.format(a=pipeline.agency)
    code, msg = _index(faces, pipeline, collection, "lineup-images", key)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "image.object.key" in msg, (key, msg)
    code, msg = _job(faces, pipeline, collection, prefix=key or "/")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "prefix.key" in msg, (key, msg)
    # the probe path too: a search names its field
    code, msg = _err(lambda: faces.DetectFaces(face_search_pb2.DetectFacesRequest(image=common_pb2.Image(
        object=common_pb2.ObjectRef(bucket="lineup-images", key=key))), metadata=pipeline.metadata(), timeout=30))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "image.object.key" in msg, (key, msg)


def test_a_job_stops_when_its_starting_key_is_revoked(faces: face_search_pb2_grpc.FaceSearchStub, pipeline: Pipeline,
                                                      store: ObjectStore, collection: str) -> None:
    p = pipeline
    people = sorted(d for d in require(LFW_DEV / "images").iterdir() if d.is_dir())[:60]
    prefix = f"{p.agency}/images/uploads/revoke/"
    for d in people:
        photo = sorted(d.glob("*.jpg"))[0]
        store.put("lineup-images", f"{prefix}{photo.name}", photo.read_bytes(), "image/jpeg")
    starter = p.metadata(user="job-starter", roles=ALL_ROLES)
    watcher = p.metadata(user="job-watcher", roles=ALL_ROLES)
    job_id = faces.StartIndexJob(face_search_pb2.StartIndexJobRequest(
        collection_id=collection, prefix=common_pb2.ObjectRef(bucket="lineup-images", key=prefix),
        quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=starter, timeout=30).job_id

    def job() -> face_search_pb2.Job:
        return faces.GetJob(face_search_pb2.GetJobRequest(job_id=job_id), metadata=watcher, timeout=30).job

    deadline = time.monotonic() + 180
    while job().images_done < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    started = job()
    assert started.images_done >= 2 and started.state == face_search_pb2.JOB_STATE_RUNNING, started
    with grpc.insecure_channel(p.endpoint) as ch:
        admin = admin_pb2_grpc.AdminStub(ch)
        keys = admin.ListApiKeys(admin_pb2.ListApiKeysRequest(), metadata=watcher, timeout=30).keys
        starter_key = next(k.key_id for k in keys if k.holder == "job-starter")
        admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(key_id=starter_key), metadata=watcher, timeout=30)

    deadline = time.monotonic() + 180
    while (current := job()).state not in TERMINAL and time.monotonic() < deadline:
        time.sleep(0.3)
    assert current.state == face_search_pb2.JOB_STATE_FAILED, current
    assert current.reason == (f"PERMISSION_DENIED: the API key {starter_key} that started the job was revoked"), current
    assert current.images_done < current.images_total == len(people), current
    # it stays stopped: no replica resumes a failed job
    done = current.images_done
    time.sleep(3)
    assert job().images_done == done
