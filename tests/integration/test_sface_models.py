"""Two face models side by side, through the public front door: new collections pin SFace, a collection
pinned to dlib's ResNet keeps working, hostile model names are refused, and `python -m lineup.reembed`
moves a dlib collection to SFace (same face ids, users, external ids; resumable; audited)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from lineup.v1 import audit_pb2, audit_pb2_grpc, common_pb2, face_search_pb2, face_search_pb2_grpc
from tests.face_data import DATASETS, require
from tests.integration.pipeline_harness import Pipeline

pytestmark = pytest.mark.integration

TV = DATASETS / "tv-identities"
CONTEXT = common_pb2.SearchContext(case_id="CASE-2026-0014", purpose="testing", justification="model migration")
SFACE, DLIB = "face_embedder_sface/1", "face_embedder/1"
NAMES = ("leonard", "penny", "sheldon")


class Api:
    def __init__(self, channel: grpc.Channel) -> None:
        self.faces = face_search_pb2_grpc.FaceSearchStub(channel)
        self.audit = audit_pb2_grpc.AuditStub(channel)


@pytest.fixture(scope="module")
def pipeline(tv_pipeline: Pipeline) -> Pipeline:
    from tritonclient.grpc import InferenceServerClient

    url = os.environ.get("LINEUP_TRITON_URL", "127.0.0.1:8001")
    client = InferenceServerClient(url)
    try:
        served = client.is_model_ready("face_embedder_sface")
    finally:
        client.close()
    assert served, (f"Triton at {url} does not serve face_embedder_sface: it was started before the model was "
                    f"added; restart it (python -m lineup_tools.devstack down triton && "
                    f"python -m lineup_tools.devstack up triton) so it loads infra/triton/models/face_embedder_sface")
    return tv_pipeline


@pytest.fixture(scope="module")
def api(pipeline: Pipeline) -> Iterator[Api]:
    with grpc.insecure_channel(pipeline.endpoint, options=[("grpc.max_send_message_length", 32 << 20)]) as ch:
        yield Api(ch)


def _photos(name: str) -> list[Path]:
    return sorted((require(TV) / name).glob("*.png"))


def _img(path: Path) -> common_pb2.Image:
    return common_pb2.Image(bytes=path.read_bytes())


def _enroll(api: Api, md: list[tuple[str, str]], collection: str, *, users: bool) -> dict[str, list[str]]:
    """Three photos of each identity (external id `name/file`), each identity's faces associated to a user
    of that name when `users`."""
    faces: dict[str, list[str]] = {}
    for name in NAMES:
        for photo in _photos(name)[:3]:
            resp = api.faces.IndexFaces(face_search_pb2.IndexFacesRequest(
                collection_id=collection, image=_img(photo), external_image_id=f"{name}/{photo.name}", max_faces=1,
                quality_filter=common_pb2.QUALITY_FILTER_NONE), metadata=md, timeout=120)
            faces.setdefault(name, []).extend(r.face.face_id for r in resp.face_records)
        if users:
            api.faces.CreateUser(face_search_pb2.CreateUserRequest(collection_id=collection, user_id=name),
                                 metadata=md, timeout=30)
            api.faces.AssociateFaces(face_search_pb2.AssociateFacesRequest(
                collection_id=collection, user_id=name, face_ids=faces[name]), metadata=md, timeout=30)
    return faces


def _top(api: Api, md: list[tuple[str, str]], collection: str, photo: Path
         ) -> tuple[str, face_search_pb2.SearchFacesByImageResponse]:
    resp = api.faces.SearchFacesByImage(face_search_pb2.SearchFacesByImageRequest(
        collection_id=collection, image=_img(photo), largest_face_only=True, max_faces=3, context=CONTEXT),
        metadata=md, timeout=120)
    matches = resp.results[0].face_matches if resp.results else []
    return (matches[0].face.external_image_id.split("/")[0] if matches else ""), resp


def _all_faces(api: Api, md: list[tuple[str, str]], collection: str) -> dict[str, common_pb2.Face]:
    resp = api.faces.ListFaces(face_search_pb2.ListFacesRequest(
        collection_id=collection, page=common_pb2.PageRequest(page_size=1000)), metadata=md, timeout=30)
    return {f.face_id: f for f in resp.faces}


def _eventually(fn: Callable[[], Any], done: Callable[[Any], bool], timeout_s: float = 60.0) -> Any:
    """Poll until the exact asserted state (or the deadline); the caller asserts on the last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = fn()
        if done(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


@pytest.fixture(scope="module")
def old_gallery(api: Api, pipeline: Pipeline) -> dict[str, list[str]]:
    """A collection pinned to dlib's ResNet, as every collection made before SFace is."""
    md = pipeline.metadata()
    created = api.faces.CreateCollection(face_search_pb2.CreateCollectionRequest(
        collection_id="old-gallery", face_model="face_embedder"), metadata=md, timeout=30)
    assert created.face_model_version == DLIB
    return _enroll(api, md, "old-gallery", users=True)


def test_new_collections_pin_sface_and_find_the_person(api: Api, pipeline: Pipeline) -> None:
    md = pipeline.metadata()
    created = api.faces.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="new-gallery"),
                                         metadata=md, timeout=30)
    assert created.face_model_version == SFACE
    _enroll(api, md, "new-gallery", users=False)
    for name in NAMES:
        top, resp = _top(api, md, "new-gallery", _photos(name)[4])
        assert top == name, resp
        assert resp.provenance.face_model_version == SFACE
        # the default threshold is read from SFace's own calibration (cosine ~0.4), not dlib's (~0.94)
        applied = resp.provenance.threshold_applied
        assert applied.estimated_fmr == pytest.approx(1e-4, rel=1e-3) and applied.raw_score < 0.7


def test_a_collection_pinned_to_dlib_keeps_working(api: Api, pipeline: Pipeline,
                                                   old_gallery: dict[str, list[str]]) -> None:
    md = pipeline.metadata()
    assert all(len(v) == 3 for v in old_gallery.values()), old_gallery
    for name in NAMES:
        top, resp = _top(api, md, "old-gallery", _photos(name)[4])
        assert resp.provenance.face_model_version == DLIB
        assert resp.provenance.threshold_applied.raw_score > 0.9  # dlib's scale
        assert top in (name, ""), resp  # never someone else; dlib may miss at the strict default


@pytest.mark.parametrize("hostile", ["../../../etc/passwd", "face_embedder/../../x", "FACE_EMBEDDER",
                                     "face_embedder\n", "x" * 300, "arcface"])
def test_hostile_or_unknown_model_names_are_refused(api: Api, pipeline: Pipeline, hostile: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        api.faces.CreateCollection(face_search_pb2.CreateCollectionRequest(
            collection_id="hostile-model", face_model=hostile), metadata=pipeline.metadata(), timeout=30)
    code = err.value.code()  # type: ignore[attr-defined]
    assert code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION), err.value
    details = err.value.details()  # type: ignore[attr-defined]
    assert "\n" not in details and len(details) < 400


def _tool_env(pipeline: Pipeline) -> dict[str, str]:
    """The services' environment (internal token, object store, topic prefix) plus the internal endpoints."""
    env = pipeline.env("reembed", 1, {"LINEUP_DETECTION_URL": f"127.0.0.1:{pipeline.ports['detection']}",
                                      "LINEUP_EMBEDDING_URL": f"127.0.0.1:{pipeline.ports['embedding']}"})
    env.pop("LINEUP_GRPC_PORT")  # the tool serves nothing
    return env


def _reembed(pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lineup.reembed", "--agency", pipeline.agency, *args],
                          env=_tool_env(pipeline), capture_output=True, text=True, timeout=600, check=False)


def test_reembed_moves_a_dlib_collection_to_sface(api: Api, pipeline: Pipeline,
                                                  old_gallery: dict[str, list[str]]) -> None:
    md = pipeline.metadata()
    before = _all_faces(api, md, "old-gallery")
    run = _reembed(pipeline, "--source", "old-gallery", "--target", "old-gallery-sface", "--operator", "Ops Tester")
    assert run.returncode == 0, run.stderr + run.stdout
    assert f"{len(before)} of {len(before)} faces" in run.stdout and "0 failed" in run.stdout
    assert "reembed: " in run.stderr  # progress lines

    desc = api.faces.DescribeCollection(face_search_pb2.DescribeCollectionRequest(collection_id="old-gallery-sface"),
                                        metadata=md, timeout=30)
    assert desc.face_model_version == SFACE and desc.face_count == len(before) and desc.user_count == len(NAMES)
    after = _all_faces(api, md, "old-gallery-sface")
    assert set(after) == set(before)  # same face ids
    for fid, face in before.items():
        assert (after[fid].external_image_id, after[fid].user_id, after[fid].image_id) == \
            (face.external_image_id, face.user_id, face.image_id)
        assert after[fid].face_model_version == SFACE
    for name in NAMES:  # the moved collection finds people with the new model
        top, resp = _top(api, md, "old-gallery-sface", _photos(name)[4])
        assert top == name and resp.provenance.face_model_version == SFACE
    # the old collection is untouched
    assert _all_faces(api, md, "old-gallery") == before

    again = _reembed(pipeline, "--source", "old-gallery", "--target", "old-gallery-sface", "--operator", "Ops Tester")
    assert again.returncode == 0, again.stderr
    assert f"{len(before)} already done" in again.stdout  # resumable: nothing is done twice

    def records() -> list[audit_pb2.AuditRecord]:
        resp = api.audit.QueryAuditRecords(audit_pb2.QueryAuditRecordsRequest(
            operation="lineup.ops.ReembedCollection", page=common_pb2.PageRequest(page_size=100)),
            metadata=md, timeout=30)
        return list(resp.records)

    got = _eventually(records, lambda r: len(r) == 4)  # start + end, twice
    assert len(got) == 4, got
    assert {r.actor_holder for r in got} == {"Ops Tester"}
    ends = [r for r in got if r.details["reembed.phase"] == "end"]
    assert sorted(r.details["reembed.from_original"] for r in ends) == ["0", str(len(before))]


def test_reembed_refuses_a_hostile_target_and_another_agency(api: Api, pipeline: Pipeline,
                                                            old_gallery: dict[str, list[str]]) -> None:
    bad = _reembed(pipeline, "--source", "old-gallery", "--target", "../x", "--operator", "Ops Tester")
    assert bad.returncode != 0 and "INVALID_ARGUMENT" in bad.stderr, bad.stderr
    other = subprocess.run([sys.executable, "-m", "lineup.reembed", "--agency", "../etc", "--source", "old-gallery",
                            "--target", "y", "--operator", "Ops Tester"],
                           env=_tool_env(pipeline), capture_output=True, text=True, timeout=120, check=False)
    assert other.returncode == 2 and "reembed:" in other.stderr, other.stderr
