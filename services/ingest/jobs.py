"""Bulk enrollment: StartIndexJob over an object-store prefix or a manifest, with progress and resume.

A job is a JSON document in the object store (`lineup-jobs/<agency>/jobs/<job_id>.json`) listing its
items; a runner thread in an ingest replica feeds them through the same pipeline as IndexFaces, in batches of
`concurrency` items. Before each batch the runner checks that the API key that started the job still holds
(not revoked, not expired, still an enroller): a job never does more than its starter may do now, and stops
(FAILED, with the reason) when the key no longer holds. Sources are the agency's own photos only
(`lineup-images/<agency>/images/...`; a manifest may also live under `<agency>/manifests/`). Each
item's request id is derived from the job id and the item's position, so face ids are deterministic:
a job resumed after a crash (by any replica, once the owner's lease expired) re-publishes unfinished
items and upserts the same faces instead of duplicating them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from google.protobuf.timestamp_pb2 import Timestamp

from ingest.gateway import PipelineGateway
from ingest.images import ImageLimits, validate_image
from lineup.auth import Principal
from lineup.errors import InvalidArgument, LineupError, NotFound
from lineup.identity import roles
from lineup.identity.authenticator import role_names
from lineup.identity.store import IdentityStore, is_past
from lineup.objectstore import ObjectStore, agency_key, check_source_object
from lineup.pipeline import RESULTS_BUCKET
from lineup.v1 import common_pb2, events_pb2, face_search_pb2

log = logging.getLogger(__name__)
_JOB_NS = uuid.UUID("0b5e8a52-1f7e-4c21-9a3e-6a6f62736a6f")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
_MAX_ERRORS = 100
_START_METHOD = "/lineup.v1.FaceSearch/StartIndexJob"
#: called for an item that enrolled nothing (failed or no usable face): (agency, request id, image sha256)
NotEnrolled = Callable[[str, str, str], None]


@dataclass
class Item:
    key: str
    external_image_id: str
    state: str = "pending"  # pending | done | failed
    faces: int = 0
    reason: str = ""


@dataclass
class JobDoc:
    job_id: str
    agency_id: str
    collection_id: str
    bucket: str
    max_faces: int
    quality_filter: int
    face_model_version: str
    actor_key_id: str
    actor_holder: str
    created_at: float
    updated_at: float
    state: int = face_search_pb2.JOB_STATE_QUEUED
    owner: str = ""
    heartbeat: float = 0.0
    items: list[Item] = field(default_factory=list)
    reason: str = ""  # why the job stopped before its end

    def to_proto(self) -> face_search_pb2.Job:
        done = [i for i in self.items if i.state != "pending"]
        failed = [i for i in self.items if i.state == "failed"]
        total = len(self.items)
        return face_search_pb2.Job(
            job_id=self.job_id, collection_id=self.collection_id, state=cast(Any, self.state), images_total=total,
            images_done=len(done), images_failed=len(failed), faces_indexed=sum(i.faces for i in self.items),
            progress=len(done) / total if total else 1.0, created_at=_ts(self.created_at),
            updated_at=_ts(self.updated_at), reason=self.reason,
            errors=[face_search_pb2.JobItemError(object_key=i.key, reason=i.reason) for i in failed[:_MAX_ERRORS]])


def _ts(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def _load(data: bytes) -> JobDoc:
    raw: dict[str, Any] = json.loads(data)
    raw["items"] = [Item(**i) for i in raw["items"]]
    return JobDoc(**raw)


class JobRunner:
    def __init__(self, store: ObjectStore, gateway: PipelineGateway, limits: ImageLimits,
                 identities: IdentityStore, *, concurrency: int = 4, lease_s: float = 60.0,
                 item_timeout_s: float = 300.0, not_enrolled: NotEnrolled | None = None) -> None:
        self.store = store
        self.identities = identities
        self.concurrency = max(1, concurrency)
        self.not_enrolled = not_enrolled
        self.gateway = gateway
        self.limits = limits
        self.item_timeout_s = item_timeout_s
        self.lease_s = lease_s
        self.replica = uuid.uuid4().hex[:12]
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="job-item")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._unreadable: set[str] = set()  # logged once each
        self._wake = threading.Event()

    # ------------------------------------------------------------------------------------ storage
    @staticmethod
    def _key(agency_id: str, job_id: str) -> str:
        return agency_key(agency_id, "jobs", f"{job_id}.json")

    def _save(self, job: JobDoc) -> None:
        job.updated_at = time.time()
        self.store.put(RESULTS_BUCKET, self._key(job.agency_id, job.job_id),
                       json.dumps(asdict(job)).encode(), "application/json")

    def get(self, agency_id: str, job_id: str) -> JobDoc:
        if not job_id or "/" in job_id:
            raise InvalidArgument("job_id is empty or malformed")
        try:
            return _load(self.store.get(common_pb2.ObjectRef(bucket=RESULTS_BUCKET, key=self._key(agency_id, job_id))))
        except NotFound:
            raise NotFound(f"job {job_id!r} not found") from None

    def list_jobs(self, agency_id: str, collection_id: str = "") -> list[JobDoc]:
        refs = self.store.list(RESULTS_BUCKET, agency_key(agency_id, "jobs") + "/")
        jobs = [_load(self.store.get(ref)) for ref in refs]
        return sorted((j for j in jobs if not collection_id or j.collection_id == collection_id),
                      key=lambda j: (j.created_at, j.job_id))

    # ------------------------------------------------------------------------------------- create
    def start(self, *, agency_id: str, actor: events_pb2.Actor, request: face_search_pb2.StartIndexJobRequest,
              face_model_version: str, max_faces: int) -> str:
        token = request.client_token or uuid.uuid4().hex
        job_id = str(uuid.uuid5(_JOB_NS, f"{agency_id}/{token}"))
        try:
            return self.get(agency_id, job_id).job_id  # same client token: same job
        except NotFound:
            pass
        source = request.WhichOneof("source")
        if source is None:
            raise InvalidArgument("set prefix or manifest: where are the images?")
        ref = getattr(request, source)
        if source == "manifest":
            check_source_object(ref, agency_id, "manifest", kinds=("images", "manifests"))
            items = self._manifest_items(agency_id, ref)
        else:
            check_source_object(ref, agency_id, "prefix", kinds=("images",), prefix=True)
            items = [Item(key=r.key, external_image_id=r.key.rsplit("/", 1)[-1])
                     for r in self.store.list(ref.bucket, ref.key) if r.key.lower().endswith(_IMAGE_SUFFIXES)
                     and _is_photo(r, agency_id)]
        if not items:
            raise InvalidArgument(f"no images (.jpg, .jpeg, .png, .webp) under {ref.bucket}/{ref.key}")
        now = time.time()
        job = JobDoc(job_id=job_id, agency_id=agency_id, collection_id=request.collection_id, bucket=ref.bucket,
                     max_faces=max_faces, quality_filter=request.quality_filter, face_model_version=face_model_version,
                     actor_key_id=actor.key_id, actor_holder=actor.holder, created_at=now, updated_at=now,
                     items=items)
        self._save(job)
        self._wake.set()
        return job_id

    def _manifest_items(self, agency_id: str, ref: common_pb2.ObjectRef) -> list[Item]:
        items = []
        for n, line in enumerate(self.store.get(ref).decode("utf-8", "replace").splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            key, _, external = line.rstrip("\n").partition("\t")
            key = key.strip()
            try:
                check_source_object(common_pb2.ObjectRef(bucket=ref.bucket, key=key), agency_id,
                                    f"manifest line {n}", kinds=("images",))
            except NotFound:
                raise InvalidArgument(f"manifest line {n}: {key[:200]!r} is outside the agency's prefix "
                                      f"{agency_id}/images/") from None
            except InvalidArgument as exc:
                raise InvalidArgument(exc.message) from None
            items.append(Item(key=key, external_image_id=external.strip() or key.rsplit("/", 1)[-1]))
        return items

    # ---------------------------------------------------------------------------------------- run
    def run(self) -> None:
        """Worker loop: take any job that is unfinished and not leased by a live replica."""
        while not self._stop.is_set():
            try:
                job = self._claim()
                if job is not None:
                    self._run_job(job)
                    continue
            except Exception:  # the store down, a bad document: retry later, never take the service down
                log.exception("index job loop failed; retrying")
            self._wake.wait(2.0)
            self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _claim(self) -> JobDoc | None:
        now = time.time()
        refs = (ref for agency_dir in self.store.list_prefixes(RESULTS_BUCKET)
                for ref in self.store.list(RESULTS_BUCKET, f"{agency_dir}jobs/"))
        for ref in refs:
            try:
                job = _load(self.store.get(ref))
            except Exception as exc:
                # e.g. written by a newer version (an unknown field) or damaged: skipped, never overwritten,
                # and never a reason to stop the worker (that would stop every agency's jobs); logged once
                if ref.key not in self._unreadable:
                    self._unreadable.add(ref.key)
                    log.warning("skipping a job document that cannot be read", extra={
                        "key": ref.key[:200], "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
                continue
            unfinished = job.state in (face_search_pb2.JOB_STATE_QUEUED, face_search_pb2.JOB_STATE_RUNNING)
            leased = job.owner and job.owner != self.replica and now - job.heartbeat < self.lease_s
            if unfinished and not leased:
                job.owner, job.heartbeat, job.state = self.replica, now, face_search_pb2.JOB_STATE_RUNNING
                self._save(job)
                return job
        return None

    def starter_refusal(self, job: JobDoc) -> str:
        """Why the key that started the job may no longer run it ("" while it may): revoked, expired, gone,
        moved to another agency, or no longer an enroller. Read from the identity store on every call."""
        found = self.identities.get_key(job.actor_key_id)
        if found is None or found[0].agency_id != job.agency_id:
            return f"PERMISSION_DENIED: the API key {job.actor_key_id} that started the job no longer exists"
        key = found[0]
        if key.HasField("revoked_at"):
            return f"PERMISSION_DENIED: the API key {key.key_id} that started the job was revoked"
        if is_past(key.expires_at):
            return f"PERMISSION_DENIED: the API key {key.key_id} that started the job expired"
        try:
            roles.authorize(_START_METHOD, Principal(key_id=key.key_id, agency_id=key.agency_id, holder=key.holder,
                                                     roles=role_names(tuple(key.roles))))
        except LineupError:
            return f"PERMISSION_DENIED: the API key {key.key_id} that started the job may no longer enrol faces"
        return ""

    def _run_job(self, job: JobDoc) -> None:
        log.info("running index job", extra={"job_id": job.job_id, "items": len(job.items)})
        pending = [(n, item) for n, item in enumerate(job.items) if item.state == "pending"]
        last_save = time.monotonic()
        for start in range(0, len(pending), self.concurrency):
            refusal = self.starter_refusal(job)
            if refusal:  # authority is checked where the work happens, before every batch
                job.state, job.reason = face_search_pb2.JOB_STATE_FAILED, refusal
                with self._lock:
                    self._save(job)
                log.warning("index job stopped", extra={"job_id": job.job_id, "reason": refusal})
                return
            futures = [self._pool.submit(self._run_item, job, n, item)
                       for n, item in pending[start:start + self.concurrency]]
            for fut in futures:
                while not fut.done():
                    if self._stop.is_set():
                        return  # the lease lapses; this or another replica resumes the job
                    time.sleep(0.2)
                    if time.monotonic() - last_save > min(5.0, self.lease_s / 3):
                        with self._lock:
                            job.heartbeat = time.time()
                            self._save(job)
                        last_save = time.monotonic()
            with self._lock:  # progress is visible batch by batch
                job.heartbeat = time.time()
                self._save(job)
            last_save = time.monotonic()
        failed = any(i.state == "failed" for i in job.items)
        ok = any(i.state == "done" for i in job.items)
        job.state = (face_search_pb2.JOB_STATE_PARTIALLY_SUCCEEDED if failed and ok else
                     face_search_pb2.JOB_STATE_FAILED if failed else face_search_pb2.JOB_STATE_SUCCEEDED)
        with self._lock:
            self._save(job)
        log.info("index job finished", extra={"job_id": job.job_id, "state": job.state})

    def _run_item(self, job: JobDoc, n: int, item: Item) -> None:
        if self._stop.is_set():
            return
        request_id = f"{job.job_id[:8]}-{n:06d}-{hashlib.sha1(item.key.encode()).hexdigest()[:8]}"
        sha = ""
        try:
            check_source_object(common_pb2.ObjectRef(bucket=job.bucket, key=item.key), job.agency_id, "item",
                                kinds=("images",))
            data = self.store.get(common_pb2.ObjectRef(bucket=job.bucket, key=item.key))
            validated = validate_image(data, self.limits)
            sha, ref = self.gateway.store_image(job.agency_id, validated, probe=False)
            task = events_pb2.PipelineTask(
                operation=events_pb2.PIPELINE_OPERATION_INDEX, collection_id=job.collection_id,
                owner_agency_id=job.agency_id, image=ref, image_sha256=sha, image_width=validated.width,
                image_height=validated.height, external_image_id=item.external_image_id, max_faces=job.max_faces,
                quality_filter=cast(Any, job.quality_filter), face_model_version=job.face_model_version,
                job_id=job.job_id)
            actor = events_pb2.Actor(key_id=job.actor_key_id, holder=job.actor_holder, agency_id=job.agency_id)
            result = self.gateway.run(agency_id=job.agency_id, actor=actor, request_id=request_id, task=task,
                                      timeout_s=self.item_timeout_s)
            item.faces, item.state = len(result.index_faces.face_records), "done"
        except LineupError as exc:
            item.state, item.reason = "failed", f"{exc.code.name}: {exc.message}"
        except Exception as exc:  # keep the job going; the item records what happened
            log.exception("job item failed", extra={"job_id": job.job_id, "key": item.key})
            item.state, item.reason = "failed", f"INTERNAL: {type(exc).__name__}"
        if item.faces == 0 and sha and self.not_enrolled is not None and not item.reason.startswith(
                "DEADLINE_EXCEEDED"):
            self.not_enrolled(job.agency_id, request_id, sha)


def _is_photo(ref: common_pb2.ObjectRef, agency_id: str) -> bool:
    """A listed key is an item only if it passes the same check as a named one (the listing prefix may match
    sibling folders, e.g. `images` also lists `images-old/`)."""
    try:
        check_source_object(ref, agency_id, "prefix", kinds=("images",))
    except LineupError:
        return False
    return True
