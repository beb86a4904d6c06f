"""Move a collection to another face model: re-embed every enrolled face into a new collection.

    python -m lineup.reembed --agency AGENCY --source COLLECTION --target NEW_COLLECTION \
        --operator "name of the person running it" [--model face_embedder_sface] [--page-size 100]

Vectors of different models are not comparable, so a collection stays pinned to the model it was built
with (docs/models.md). This operator command builds the replacement: a new collection pinned to `--model`
(default: the model new collections get), with the source's retention and tags, the same users, and
every face under the **same face id**, external image id, user association, bounding box and indexing
time (retention keeps counting from the original enrollment), embedded again:

  * from the original photo when it is still stored: the detection service finds the faces again and the
    one whose box overlaps the enrolled face's box best (IoU >= 0.5) gives the new model's crop, cut
    from the same landmarks as production (the best crop, the normal case);
  * otherwise from the stored crop: the new model's crop is cut out of the old model's chip through the
    card's `from_dlib_chip` transform. The ArcFace template reaches past the top of dlib's chip, so such
    faces lose some forehead to black borders and match less well; they are counted and reported.

It is resumable: face ids are kept, so a face already in the target is skipped, and a rerun after an
interruption (or with the same arguments at any time) only does what is missing. Progress goes to stderr.
The old collection is never touched; the operator deletes it when the new one is checked.

Audited: an `lineup.ops.ReembedCollection` record at the start and one at the end (counts, result) go to
the audit topic under the agency, naming the operator, like every public call. The command talks to the
internal services (search, detection, embedding) with the deployment's internal token and reads the
object store for the stored-crop fallback, so it runs where the services run (e.g. `kubectl exec` into
an ingest pod), with the same LINEUP_* environment.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
from PIL import Image

from lineup.audit.chain import chain_of
from lineup.auth import internal_metadata
from lineup.chips import chip_spec
from lineup.errors import AlreadyExists, InvalidArgument, LineupError, NotFound, Unavailable, error_from_code
from lineup.kafka.envelope import new_envelope
from lineup.kafka.producer import EnvelopeProducer
from lineup.objectstore import ObjectStore, agency_key
from lineup.scoring import load_score_model
from lineup.settings import CommonSettings, SettingsError, load_settings
from lineup.topology import AUDIT_TOPIC, CROPS_BUCKET, IMAGES_BUCKET
from lineup.v1 import (
    audit_pb2,
    common_pb2,
    detection_pb2,
    detection_pb2_grpc,
    embedding_pb2,
    embedding_pb2_grpc,
    events_pb2,
    search_pb2,
    search_pb2_grpc,
)
from lineup.validation import COLLECTION_ID, COLLECTION_ID_RULE

OPERATION = "lineup.ops.ReembedCollection"
#: below this overlap the re-detected face is not taken to be the enrolled one
MIN_IOU = 0.5


@dataclass(frozen=True)
class ReembedSettings(CommonSettings):
    service_name: str = "reembed"
    search_url: str = "127.0.0.1:50054"
    detection_url: str = "127.0.0.1:50052"
    embedding_url: str = "127.0.0.1:50053"
    rpc_timeout_s: float = 60.0


class InternalClient:
    """One internal service, its statuses turned back into Lineup errors (so messages reach the operator)."""

    def __init__(self, target: str, stub: Callable[[grpc.Channel], Any], token: str, timeout_s: float) -> None:
        self._channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)])
        self._stub = stub(self._channel)
        self._metadata = internal_metadata(token, "reembed")
        self._target = target
        self.timeout_s = timeout_s

    def call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=self.timeout_s, metadata=self._metadata)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details() or ""  # type: ignore[attr-defined]
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable(f"{self._target} unavailable: {details}") from None
            raise error_from_code(code.value[0], details) from None

    def close(self) -> None:
        self._channel.close()


@dataclass
class Report:
    source: str
    target: str
    model_version: str
    faces_total: int = 0
    already_done: int = 0
    from_original: int = 0
    from_stored_crop: int = 0
    failed: list[str] = field(default_factory=list)  # "face_id: reason"
    users: int = 0

    @property
    def done(self) -> int:
        return self.already_done + self.from_original + self.from_stored_crop

    def details(self) -> dict[str, str]:
        return {"reembed.source": self.source, "reembed.target": self.target,
                "reembed.model_version": self.model_version, "reembed.faces_total": str(self.faces_total),
                "reembed.already_done": str(self.already_done), "reembed.from_original": str(self.from_original),
                "reembed.from_stored_crop": str(self.from_stored_crop), "reembed.failed": str(len(self.failed)),
                "reembed.users": str(self.users)}


def iou(a: common_pb2.BoundingBox, b: common_pb2.BoundingBox) -> float:
    ix = max(0.0, min(a.left + a.width, b.left + b.width) - max(a.left, b.left))
    iy = max(0.0, min(a.top + a.height, b.top + b.height) - max(a.top, b.top))
    inter = ix * iy
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def crop_from_chip(chip: np.ndarray, from_dlib_chip: np.ndarray, size: int) -> np.ndarray:
    """The target model's crop cut out of an old dlib chip (black where the template reaches past it)."""
    from detection.align import warp_bilinear

    return warp_bilinear(chip, np.asarray(from_dlib_chip, np.float64), size)


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(pixels, np.uint8), "RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class Reembedder:
    def __init__(self, settings: ReembedSettings, *, agency_id: str, operator: str,
                 progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> None:
        settings.require("internal_token")
        agency_key(agency_id)  # validates the id before it names anything
        self.settings = settings
        self.agency_id = agency_id
        self.operator = operator
        self.progress = progress
        token, t = settings.internal_token, settings.rpc_timeout_s
        self.search = InternalClient(settings.search_url, search_pb2_grpc.SearchServiceStub, token, t)
        self.detection = InternalClient(settings.detection_url, detection_pb2_grpc.DetectionServiceStub, token, t)
        self.embedding = InternalClient(settings.embedding_url, embedding_pb2_grpc.EmbeddingServiceStub, token, t)
        self.store = (ObjectStore.from_settings(settings)
                      if settings.minio_access_key and settings.minio_secret_key else None)
        self.producer = EnvelopeProducer.from_settings(settings)

    def close(self) -> None:
        for c in (self.search, self.detection, self.embedding):
            c.close()
        self.producer.close()

    # -- audit ------------------------------------------------------------------------------------
    def _audit(self, report: Report, *, phase: str, code: int = 0, message: str = "") -> None:
        rec = audit_pb2.AuditRecord(
            record_id=uuid.uuid4().hex, agency_id=self.agency_id, actor_holder=self.operator[:200],
            actor_agency_id=self.agency_id, operation=OPERATION, collection_id=report.source,
            decision=audit_pb2.AUDIT_DECISION_ALLOWED if code == 0 else audit_pb2.AUDIT_DECISION_FAILED,
            status_code=code, status_message=message[:500], request_id=uuid.uuid4().hex)
        rec.time.GetCurrentTime()
        rec.details.update(report.details())
        rec.details["reembed.phase"] = phase
        env = new_envelope(rec, request_id=rec.request_id, agency_id=rec.agency_id, producer="reembed",
                           actor=events_pb2.Actor(holder=rec.actor_holder, agency_id=rec.agency_id))
        self.producer.send(self.settings.topic(AUDIT_TOPIC), env, key=chain_of(rec))
        self.producer.flush()

    # -- the work ---------------------------------------------------------------------------------
    def run(self, source: str, target: str, model: str = "", page_size: int = 100) -> Report:
        for what, cid in (("source", source), ("target", target)):
            if not COLLECTION_ID.fullmatch(cid):
                raise InvalidArgument(f"{what} collection id {cid[:80]!r} is invalid: use "
                                      f"{COLLECTION_ID_RULE} (a collection of this agency)")
        if source == target:
            raise InvalidArgument("the target collection must be a new one, not the source")
        score = load_score_model(model)
        report = Report(source=source, target=target, model_version=score.face_model_version)
        src = self.search.call("DescribeCollection", search_pb2.DescribeVectorCollectionRequest(
            agency_id=self.agency_id, collection_id=source))
        if src.face_model_version == score.face_model_version:
            raise InvalidArgument(f"{source} is already pinned to {score.face_model_version}: nothing to do")
        report.faces_total = int(src.face_count)
        self._audit(report, phase="start")
        try:
            self.search.call("EnsureCollection", search_pb2.EnsureCollectionRequest(
                agency_id=self.agency_id, collection_id=target, face_model_version=score.face_model_version,
                dimension=score.dimension, face_retention_days=src.face_retention_days, tags=dict(src.tags)))
            self._copy_users(source, target, report)
            old_spec, new_spec = chip_spec(src.face_model_version), chip_spec(score.face_model_version)
            started = time.monotonic()
            for page in self._pages(source, page_size):
                self._page(page, target, report, old_spec.is_dlib_chip, new_spec)
                rate = (report.done - report.already_done) / max(time.monotonic() - started, 1e-6)
                self.progress(f"reembed: {report.done}/{report.faces_total} faces ({report.already_done} already "
                              f"done, {report.from_original} from originals, {report.from_stored_crop} from "
                              f"stored crops, {len(report.failed)} failed; {rate:.1f} faces/s)")
        except LineupError as exc:
            self._audit(report, phase="end", code=exc.code.value[0], message=exc.message)
            raise
        self._audit(report, phase="end", code=0 if not report.failed else 9,
                    message="" if not report.failed else f"{len(report.failed)} faces not re-embedded")
        return report

    def _copy_users(self, source: str, target: str, report: Report) -> None:
        token = ""
        while True:
            resp = self.search.call("ListUsers", search_pb2.ListVectorUsersRequest(
                agency_id=self.agency_id, collection_id=source,
                page=common_pb2.PageRequest(page_size=1000, page_token=token)))
            for user in resp.users:
                with contextlib.suppress(AlreadyExists):  # a rerun
                    self.search.call("CreateUser", search_pb2.VectorUserRequest(
                        agency_id=self.agency_id, collection_id=target, user_id=user.user_id))
                report.users += 1
            token = resp.page.next_page_token
            if not token:
                return

    def _pages(self, source: str, page_size: int) -> Iterator[list[search_pb2.FaceVector]]:
        token = ""
        while True:
            resp = self.search.call("GetFaces", search_pb2.GetFacesRequest(
                agency_id=self.agency_id, collection_id=source,
                page=common_pb2.PageRequest(page_size=page_size, page_token=token)))
            yield list(resp.faces)
            token = resp.page.next_page_token
            if not token:
                return

    def _page(self, faces: list[search_pb2.FaceVector], target: str, report: Report, old_is_dlib: bool,
              spec: Any) -> None:
        done = self.search.call("GetFaces", search_pb2.GetFacesRequest(
            agency_id=self.agency_id, collection_id=target, face_ids=[f.face.face_id for f in faces],
            page=common_pb2.PageRequest(page_size=max(len(faces), 1))))
        have = {f.face.face_id for f in done.faces}
        out = []
        for fv in faces:
            if fv.face.face_id in have:
                report.already_done += 1
                continue
            try:
                vector, crop, how = self._embed_face(fv, target, old_is_dlib, spec)
            except LineupError as exc:
                report.failed.append(f"{fv.face.face_id}: {exc.message}")
                self.progress(f"reembed: face {fv.face.face_id} not re-embedded: {exc.message}")
                continue
            face = common_pb2.Face()
            face.CopyFrom(fv.face)
            face.collection_id = target
            face.face_model_version = report.model_version
            out.append(search_pb2.FaceVector(face=face, embedding=vector, crop=crop))
            if how == "original":
                report.from_original += 1
            else:
                report.from_stored_crop += 1
        if out:
            self.search.call("UpsertFaces", search_pb2.UpsertFacesRequest(
                agency_id=self.agency_id, collection_id=target, faces=out))

    def _request_id(self, target: str, face_id: str) -> str:
        """Deterministic, so a rerun overwrites the crops of an interrupted one instead of adding more."""
        return "reembed-" + hashlib.sha256(f"{target}/{face_id}".encode()).hexdigest()[:32]

    def _embed_face(self, fv: search_pb2.FaceVector, target: str, old_is_dlib: bool, spec: Any
                    ) -> tuple[list[float], common_pb2.ObjectRef, str]:
        face, rid = fv.face, self._request_id(target, fv.face.face_id)
        crop: common_pb2.ObjectRef | None = None
        how = "original"
        sha = face.image_id
        if len(sha) == 64 and all(c in "0123456789abcdef" for c in sha):
            image = common_pb2.ObjectRef(bucket=IMAGES_BUCKET, key=agency_key(self.agency_id, "images", sha[:2], sha))
            try:
                found = self.detection.call("Detect", detection_pb2.DetectRequest(
                    agency_id=self.agency_id, image=common_pb2.Image(object=image), store_crops=True,
                    request_id=rid, face_model=spec.model))
                best = max(found.faces, key=lambda d: iou(d.detail.bounding_box, face.bounding_box), default=None)
                if best is not None and iou(best.detail.bounding_box, face.bounding_box) >= MIN_IOU:
                    crop = best.crop
            except NotFound:
                pass  # the original is gone (erased or expired): fall back to the stored crop
        if crop is None:
            crop, how = self._crop_from_stored(fv, rid, old_is_dlib, spec), "stored_crop"
        resp = self.embedding.call("Embed", embedding_pb2.EmbedRequest(
            agency_id=self.agency_id, crops=[embedding_pb2.Crop(object=crop)], face_model=spec.model))
        return list(resp.embeddings[0].values), crop, how

    def _crop_from_stored(self, fv: search_pb2.FaceVector, rid: str, old_is_dlib: bool, spec: Any
                          ) -> common_pb2.ObjectRef:
        if self.store is None:
            raise NotFound("the original photo is gone and no object-store credentials were given to cut the "
                           "crop from the stored one (set LINEUP_MINIO_ACCESS_KEY/SECRET_KEY)")
        if not old_is_dlib or not fv.crop.key:
            raise NotFound("the original photo is gone and the stored crop is not a dlib chip")
        from embedding.chips import decode_chip

        chip = decode_chip(self.store.get(fv.crop))
        pixels = crop_from_chip(chip, np.asarray(spec.from_dlib_chip), spec.size)
        return self.store.put(CROPS_BUCKET, agency_key(self.agency_id, "crops", rid, "0.png"), _png(pixels),
                              content_type="image/png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lineup.reembed", description=__doc__.split("\n")[0])
    parser.add_argument("--agency", required=True, help="the agency that owns the collection")
    parser.add_argument("--source", required=True, help="the collection to re-embed (left untouched)")
    parser.add_argument("--target", required=True, help="the new collection (created, or resumed)")
    parser.add_argument("--model", default="", help="Triton model name (default: the model for new collections)")
    parser.add_argument("--operator", required=True, help="who runs this (goes into the audit records)")
    parser.add_argument("--page-size", type=int, default=100, help="faces per page (1..1000)")
    args = parser.parse_args(argv)
    if not 1 <= args.page_size <= 1000:
        parser.error("--page-size must be 1..1000")
    if not args.operator.strip() or any(ord(c) < 32 for c in args.operator):
        parser.error("--operator must name a person (printable text)")
    try:
        tool = Reembedder(load_settings(ReembedSettings), agency_id=args.agency, operator=args.operator.strip())
    except (SettingsError, LineupError) as exc:
        print(f"reembed: {exc}", file=sys.stderr)
        return 2
    try:
        report = tool.run(args.source, args.target, args.model, args.page_size)
    except LineupError as exc:
        print(f"reembed: {exc.code.name}: {exc.message}", file=sys.stderr)
        return 1
    finally:
        tool.close()
    print(f"reembed: {args.source} -> {args.target} ({report.model_version}): {report.done} of "
          f"{report.faces_total} faces, {report.users} users; {report.from_original} from originals, "
          f"{report.from_stored_crop} from stored crops, {report.already_done} already done, "
          f"{len(report.failed)} failed")
    for line in report.failed[:20]:
        print(f"  not re-embedded: {line}")
    return 0 if not report.failed else 3


if __name__ == "__main__":
    sys.exit(main())
