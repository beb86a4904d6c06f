"""Locust users that speak gRPC to Lineup's front door (`ingest`), with real face photos.

    make load                                  # 4 users, 60 s, against 127.0.0.1:50051
    make load LOAD_USERS=16 LOAD_RUN_TIME=5m   # heavier
    .venv/bin/locust -f tests/load/locustfile.py --host 127.0.0.1:50051   # the web UI

What a user does, and how often (task weights), modelled on an investigative deployment where searching
dominates and enrollment runs beside it:

| task | weight | RPC |
|---|---|---|
| search with a probe photo (largest face; 80 % held-out photos of enrolled people, 20 % not) | 6 | SearchFacesByImage |
| search every face of a group photo (shared `crowd/` stills) | 1 | SearchFacesByImage |
| enroll one more photo (lfw-dev people outside the seed gallery) | 2 | IndexFaces |
| compare an enrolled photo with a held-out photo of the same person, or of another | 1 | CompareFaces |

Every call is reported with the RPC name as Locust's *request type* and one name per RPC, so Locust's
tables, CSV and HTML show each RPC on its own row. Before the users start, `test_start` creates the
collection (agency `LINEUP_LOAD_AGENCY`, default `load`) and enrolls a seed gallery of
`LINEUP_LOAD_GALLERY` people (default 40) unless it is already there, so reruns skip it.

Credentials come only from `lineup_tools.devstack.accounts.local_client` (the local deployment's identity);
raw stubs use its channel and `metadata()`. gRPC is made gevent-cooperative (`grpc.experimental.gevent`)
before any channel exists, since Locust's users are greenlets: one Locust process drives many users.
"""

from __future__ import annotations

import grpc
import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()  # before any channel exists

import itertools  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from lineup_tools.devstack.accounts import local_client  # noqa: E402
from locust import User, between, events, task  # noqa: E402
from locust.env import Environment  # noqa: E402

from lineup.client import Client  # noqa: E402
from lineup.v1 import common_pb2, face_search_pb2  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASETS = Path(os.environ.get("LINEUP_DATASETS", REPO_ROOT.parent / "shared" / "datasets"))
AGENCY = os.environ.get("LINEUP_LOAD_AGENCY", "load")
COLLECTION = os.environ.get("LINEUP_LOAD_COLLECTION", "load-gallery")
GALLERY_PEOPLE = int(os.environ.get("LINEUP_LOAD_GALLERY", "40"))
TIMEOUT_S = float(os.environ.get("LINEUP_LOAD_TIMEOUT_S", "60"))
SERVICE = "lineup.v1.FaceSearch"


@dataclass
class Photos:
    """The photos users pick from, loaded into memory once (reading files is not what we measure)."""

    gallery: list[tuple[str, bytes]] = field(default_factory=list)  # (label, bytes) enrolled at test start
    known: list[tuple[str, bytes]] = field(default_factory=list)  # held-out photos of gallery people
    strangers: list[tuple[str, bytes]] = field(default_factory=list)  # people never enrolled at start
    crowds: list[tuple[str, bytes]] = field(default_factory=list)
    #: gallery photos whose face passed the quality filter when enrolled: CompareFaces sources, since a
    #: source without a usable face is INVALID_ARGUMENT by contract (that would measure our data, not Lineup)
    sources: list[tuple[str, bytes]] = field(default_factory=list)


def load_photos(datasets: Path, people: int) -> Photos:
    lfw = datasets / "lfw-dev" / "images"
    if not lfw.is_dir():
        raise RuntimeError(f"{lfw} is missing: the load test reads real faces from ../shared/datasets beside the "
                           f"clone (or LINEUP_DATASETS)")
    photos = Photos()
    folders = sorted(p for p in lfw.iterdir() if p.is_dir())
    multi = [sorted(p.glob("*.jpg")) for p in folders]
    multi = [m for m in multi if len(m) >= 2]
    for files in multi[:people]:
        photos.gallery.append((f"{files[0].parent.name}/{files[0].name}", files[0].read_bytes()))
        photos.known += [(f"{f.parent.name}/{f.name}", f.read_bytes()) for f in files[1:3]]
    for files in multi[people:people + 200]:
        photos.strangers.append((f"{files[0].parent.name}/{files[0].name}", files[0].read_bytes()))
    photos.crowds = [(p.name, p.read_bytes()) for p in sorted((datasets / "crowd").glob("*.jpg"))]
    return photos


PHOTOS = Photos()


def context(user: str) -> common_pb2.SearchContext:
    return common_pb2.SearchContext(case_id=f"LOAD-{time.strftime('%Y%m%d')}", purpose="investigation",
                                    justification=f"Locust load test ({user})")


@events.test_start.add_listener
def prepare(environment: Environment, **_: Any) -> None:
    """Load the photos; create and fill the seed gallery once (idempotent across runs)."""
    global PHOTOS
    PHOTOS = load_photos(DATASETS, GALLERY_PEOPLE)
    with local_client(AGENCY, endpoint=environment.host or None, holder="locust-setup", timeout_s=TIMEOUT_S) as c:
        try:
            c.call("CreateCollection", face_search_pb2.CreateCollectionRequest(
                collection_id=COLLECTION, tags={"purpose": "load test"}))
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        listed = c.call("ListFaces", face_search_pb2.ListFacesRequest(
            collection_id=COLLECTION, page=common_pb2.PageRequest(page_size=1000))).response
        have = {f.external_image_id for f in listed.faces}
        for label, data in PHOTOS.gallery:
            if label not in have:
                indexed = c.call("IndexFaces", face_search_pb2.IndexFacesRequest(
                    collection_id=COLLECTION, image=common_pb2.Image(bytes=data), external_image_id=label,
                    max_faces=1)).response
                if indexed.face_records:
                    have.add(label)
    PHOTOS.sources = [(label, data) for label, data in PHOTOS.gallery if label in have]
    print(f"load: collection {COLLECTION} of agency {AGENCY} has its seed gallery of {len(PHOTOS.gallery)} people; "
          f"{len(PHOTOS.known)} known probes, {len(PHOTOS.strangers)} strangers, {len(PHOTOS.crowds)} group photos",
          flush=True)


_user_ids = itertools.count(1)


class FaceSearchUser(User):
    """One investigator's client: its own channel and identity, searching much more than enrolling."""

    host = "127.0.0.1:50051"
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.name = f"locust-{next(_user_ids)}"
        self.client: Client = local_client(AGENCY, endpoint=self.host, holder=self.name, timeout_s=TIMEOUT_S)
        self.ctx = context(self.name)

    def on_stop(self) -> None:
        self.client.close()

    def _call(self, rpc: str, request: Any) -> Any:
        """One RPC, reported to Locust as request type `rpc`; errors are Locust failures, never raised."""
        started = time.perf_counter()
        response: Any = None
        error: Exception | None = None
        try:
            response = getattr(self.client.stub, rpc)(request, metadata=self.client.metadata(), timeout=TIMEOUT_S)
        except grpc.RpcError as exc:
            error = exc
        self.environment.events.request.fire(
            request_type=rpc, name=f"/{SERVICE}/{rpc}", response_time=(time.perf_counter() - started) * 1000,
            response_length=response.ByteSize() if response is not None else 0, exception=error,
            context={"user": self.name}, response=response)
        return response

    @task(6)
    def search_probe(self) -> None:
        pool = PHOTOS.known if random.random() < 0.8 else PHOTOS.strangers
        _, data = random.choice(pool)
        self._call("SearchFacesByImage", face_search_pb2.SearchFacesByImageRequest(
            collection_id=COLLECTION, image=common_pb2.Image(bytes=data), max_faces=10, largest_face_only=True,
            context=self.ctx))

    @task(1)
    def search_group_photo(self) -> None:
        if not PHOTOS.crowds:
            return
        _, data = random.choice(PHOTOS.crowds)
        self._call("SearchFacesByImage", face_search_pb2.SearchFacesByImageRequest(
            collection_id=COLLECTION, image=common_pb2.Image(bytes=data), max_faces=5, context=self.ctx))

    @task(2)
    def index(self) -> None:
        label, data = random.choice(PHOTOS.strangers)
        self._call("IndexFaces", face_search_pb2.IndexFacesRequest(
            collection_id=COLLECTION, image=common_pb2.Image(bytes=data), external_image_id=label, max_faces=1))

    @task(1)
    def compare(self) -> None:
        if not PHOTOS.sources:
            return
        label, source = random.choice(PHOTOS.sources)
        person = label.split("/", 1)[0]
        same = [data for lbl, data in PHOTOS.known if lbl.startswith(f"{person}/")]
        target = random.choice(same) if same and random.random() < 0.5 else random.choice(PHOTOS.known)[1]
        self._call("CompareFaces", face_search_pb2.CompareFacesRequest(
            source_image=common_pb2.Image(bytes=source), target_image=common_pb2.Image(bytes=target),
            context=self.ctx))
