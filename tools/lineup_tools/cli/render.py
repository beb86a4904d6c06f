"""Turning FaceSearch responses into text a person reads at a terminal (or JSON a script reads).

Kept apart from the command code, with no dependency beyond protobuf, so the demo, the CLI and the
unit tests share one rendering: the INVESTIGATIVE LEAD notice, the three scores of every candidate and
the ids an auditor needs (search id, request id, trace id) are printed the same way everywhere.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from lineup.v1 import common_pb2, face_search_pb2

_NUMBER = re.compile(r"^[-+]?(\d[\d,]*)?(\.\d+)?(e[-+]?\d+)?%?$|^<\s*\S+$")


# ----------------------------------------------------------------------------------- primitives

def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain-text table; columns whose cells all look like numbers are right-aligned."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    body = cells[1:]
    numeric = [any(_NUMBER.match(r[i]) for r in body) and all(_NUMBER.match(r[i]) or r[i] in ("", "-") for r in body)
               for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in body)
    return "\n".join(out)


def fmt_fmr(fmr: float) -> str:
    """False-match rates span orders of magnitude: scientific notation, and never a bare 0."""
    return "< 1e-9" if fmr <= 0 else f"{fmr:.1e}"


def fmt_box(box: common_pb2.BoundingBox) -> str:
    return f"{box.left:.3f},{box.top:.3f} {box.width:.3f}x{box.height:.3f}"


def fmt_pose(pose: common_pb2.Pose) -> str:
    return "/".join(f"{round(v):+d}" for v in (pose.yaw, pose.pitch, pose.roll))


def enum_name(enum: Any, value: int, prefix: str) -> str:
    """`QUALITY_BAND_HIGH` -> `HIGH`; an unknown number (newer server) stays visible as a number."""
    try:
        name: str = enum.Name(value)
    except ValueError:
        return str(value)
    return name.removeprefix(prefix)


def band(value: int) -> str:
    return enum_name(common_pb2.QualityBand, value, "QUALITY_BAND_")


def reason(value: int) -> str:
    return enum_name(common_pb2.UnindexedReason, value, "UNINDEXED_REASON_")


def fmt_time(ts: Any) -> str:
    return ts.ToJsonString() if (ts.seconds or ts.nanos) else "-"


def short(text: str, n: int = 12) -> str:
    """Long hex ids (image SHA-256) are shortened in tables; JSON output keeps them whole."""
    return text if len(text) <= n else text[:n] + "…"


# ------------------------------------------------------------------------------------- errors

def format_rpc_error(exc: grpc.RpcError) -> str:
    """One line `error: <STATUS>: <details>`; the server's details already end with the request id."""
    code = getattr(exc, "code", None)
    details = getattr(exc, "details", None)
    status = code() if callable(code) else None
    text = details() if callable(details) else None
    name = status.name if isinstance(status, grpc.StatusCode) else "UNKNOWN"
    return f"error: {name}: {text or str(exc) or 'no details'}"


# --------------------------------------------------------------------------------------- json

def to_json(message: Message, **ids: str) -> str:
    """The response as JSON (proto field names, enums by name), with the call's ids beside it."""
    body = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return json.dumps({**{k: v for k, v in ids.items() if v}, "response": body}, indent=2, sort_keys=False)


# ------------------------------------------------------------------------------ faces / scores

def face_details_table(details: Sequence[common_pb2.FaceDetail], indexes: Sequence[int] | None = None) -> str:
    """Boxes, quality and pose of detected faces (geometry and image quality only: nothing else)."""
    rows = []
    for i, d in enumerate(details):
        q = d.quality
        rows.append([indexes[i] if indexes is not None else i, fmt_box(d.bounding_box), f"{d.confidence:.1f}",
                     band(q.band), f"{q.sharpness:.0f}", f"{q.brightness:.0f}", q.face_size_px,
                     fmt_pose(d.pose)])
    return table(["face", "box (left,top wxh)", "conf", "quality", "sharp", "bright", "size px",
                  "yaw/pitch/roll"], rows)


def unindexed_table(faces: Sequence[common_pb2.UnindexedFace]) -> str:
    rows = [[f.face_index, fmt_box(f.face_detail.bounding_box), band(f.face_detail.quality.band),
             ", ".join(reason(r) for r in f.reasons) or "-"] for f in faces]
    return table(["face", "box (left,top wxh)", "quality", "reasons"], rows)


def matches_table(matches: Sequence[face_search_pb2.FaceMatch]) -> str:
    rows = [[m.rank, m.face.face_id, m.face.external_image_id or "-", f"{m.score.similarity:.1f}",
             f"{m.score.raw_score:.4f}", fmt_fmr(m.score.estimated_fmr)] for m in matches]
    return table(["rank", "face id", "external image id", "similarity", "raw score", "est. FMR"], rows)


def threshold_line(score: common_pb2.MatchScore) -> str:
    return (f"similarity >= {score.similarity:.1f} (raw >= {score.raw_score:.4f}, "
            f"est. FMR <= {fmt_fmr(score.estimated_fmr)})")


def provenance_block(prov: face_search_pb2.SearchProvenance, trace_id: str = "") -> str:
    """The label and the ids that make a search reviewable; printed under every search result."""
    label = enum_name(common_pb2.ResultLabel, prov.label, "RESULT_LABEL_") if prov.label else "INVESTIGATIVE_LEAD"
    notice = prov.notice or "candidates are leads for human review, not an identification."
    lines = [f"{label.replace('_', ' ')}: {notice}"]
    ids = [f"search id {prov.search_id or '-'}", f"request id {prov.request_id or '-'}",
           f"trace id {trace_id or prov.trace_id or '-'}"]
    lines.append("  ".join(ids))
    extra = []
    if prov.HasField("threshold_applied"):
        extra.append(f"threshold {threshold_line(prov.threshold_applied)}")
    if prov.face_model_version:
        extra.append(f"model {prov.face_model_version}")
    if extra:
        lines.append("  ".join(extra))
    return "\n".join(lines)


def _reason_summary(faces: Sequence[common_pb2.UnindexedFace]) -> str:
    counts = Counter(reason(r) for f in faces for r in f.reasons)
    return ", ".join(f"{name} {n}" for name, n in counts.most_common())


# ------------------------------------------------------------------------------------ searches

def render_search_by_image(resp: face_search_pb2.SearchFacesByImageResponse, trace_id: str = "") -> str:
    """One candidate table per probe face, then the faces that were not searched, then provenance."""
    out = []
    if not resp.results:
        out.append("no face in the probe image was searched" if resp.unsearched_faces
                   else "no face was found in the probe image")
    for r in resp.results:
        d = r.searched_face
        out.append(f"probe face {r.face_index}: box {fmt_box(d.bounding_box)}  quality {band(d.quality.band)}  "
                   f"pose {fmt_pose(d.pose)}  confidence {d.confidence:.1f}")
        out.append(matches_table(r.face_matches) if r.face_matches else "  (no candidate at or above the threshold)")
        out.append("")
    if resp.unsearched_faces:
        out.append(f"not searched ({len(resp.unsearched_faces)}):")
        out.append(unindexed_table(resp.unsearched_faces))
        out.append("")
    out.append(provenance_block(resp.provenance, trace_id))
    return "\n".join(out)


def render_search_faces(resp: face_search_pb2.SearchFacesResponse, trace_id: str = "") -> str:
    out = [f"searched face {resp.searched_face_id}:"]
    out.append(matches_table(resp.face_matches) if resp.face_matches else "  (no candidate at or above the threshold)")
    out.extend(["", provenance_block(resp.provenance, trace_id)])
    return "\n".join(out)


def user_matches_table(matches: Sequence[face_search_pb2.UserMatch]) -> str:
    rows = [[m.rank, m.user.user_id, m.user.face_count, m.best_face_id or "-", f"{m.score.similarity:.1f}",
             f"{m.score.raw_score:.4f}", fmt_fmr(m.score.estimated_fmr)] for m in matches]
    return table(["rank", "user id", "faces", "best face id", "similarity", "raw score", "est. FMR"], rows)


def render_search_users(resp: Any, trace_id: str = "") -> str:
    """SearchUsersResponse or SearchUsersByImageResponse."""
    out = []
    if resp.DESCRIPTOR.name == "SearchUsersByImageResponse" and resp.HasField("searched_face"):
        d = resp.searched_face
        out.append(f"searched face: box {fmt_box(d.bounding_box)}  quality {band(d.quality.band)}")
    out.append(user_matches_table(resp.user_matches) if resp.user_matches
               else "  (no user at or above the threshold)")
    if getattr(resp, "unsearched_faces", None):
        out.extend(["", f"not searched ({len(resp.unsearched_faces)}):", unindexed_table(resp.unsearched_faces)])
    out.extend(["", provenance_block(resp.provenance, trace_id)])
    return "\n".join(out)


def render_compare(resp: face_search_pb2.CompareFacesResponse, trace_id: str = "") -> str:
    d = resp.source_face
    out = [f"source face: box {fmt_box(d.bounding_box)}  quality {band(d.quality.band)}  pose {fmt_pose(d.pose)}"]
    rows = [[m.face_index, fmt_box(m.face.bounding_box), f"{m.score.similarity:.1f}", f"{m.score.raw_score:.4f}",
             fmt_fmr(m.score.estimated_fmr), verdict] for verdict, group in
            (("above threshold", resp.face_matches), ("below", resp.unmatched_faces)) for m in group]
    out.append(table(["target face", "box (left,top wxh)", "similarity", "raw score", "est. FMR", "result"], rows)
               if rows else "  (no face found in the target image)")
    out.extend(["", provenance_block(resp.provenance, trace_id)])
    return "\n".join(out)


# --------------------------------------------------------------------------------- detect/index

def render_detect(resp: face_search_pb2.DetectFacesResponse) -> str:
    head = f"{len(resp.face_details)} face(s) in a {resp.image_width}x{resp.image_height} image"
    if resp.request_id:
        head += f" (request id {resp.request_id})"
    return head if not resp.face_details else head + "\n" + face_details_table(resp.face_details)


def render_index(resp: face_search_pb2.IndexFacesResponse) -> str:
    out = [f"indexed {len(resp.face_records)} face(s), {len(resp.unindexed_faces)} not indexed; image "
           f"{short(resp.image_id, 16) or '-'}, model {resp.face_model_version or '-'}, "
           f"request id {resp.request_id or '-'}"]
    if resp.face_records:
        rows = [[r.face.face_id, r.face.external_image_id or "-", fmt_box(r.face_detail.bounding_box),
                 f"{r.face_detail.confidence:.1f}", band(r.face_detail.quality.band)] for r in resp.face_records]
        out.append(table(["face id", "external image id", "box (left,top wxh)", "conf", "quality"], rows))
    if resp.unindexed_faces:
        out.extend(["not indexed:", unindexed_table(resp.unindexed_faces)])
    return "\n".join(out)


def unindexed_summary(faces: Sequence[common_pb2.UnindexedFace]) -> str:
    """`LOW_SHARPNESS 2, EXCEEDS_MAX_FACES 1`: why faces were left out, most frequent first."""
    return _reason_summary(faces)


# ---------------------------------------------------------------------------- collections/faces

def render_collection(resp: face_search_pb2.DescribeCollectionResponse) -> str:
    rows = [("collection", resp.collection_id), ("owner agency", resp.owner_agency_id or "-"),
            ("faces", resp.face_count), ("users", resp.user_count), ("model", resp.face_model_version),
            ("created", fmt_time(resp.created_at)),
            ("retention", f"{resp.face_retention_days} days" if resp.face_retention_days else "until deleted"),
            ("tags", ", ".join(f"{k}={v}" for k, v in sorted(resp.tags.items())) or "-")]
    return "\n".join(f"{k + ':':<14}{v}" for k, v in rows)


def render_collections(collections: Sequence[face_search_pb2.CollectionSummary]) -> str:
    rows = [[c.collection_id, c.face_model_version, c.owner_agency_id or "-", "yes" if c.granted else "no"]
            for c in collections]
    return table(["collection", "model", "owner agency", "granted"], rows)


def render_faces(faces: Sequence[common_pb2.Face]) -> str:
    rows = [[f.face_id, f.external_image_id or "-", short(f.image_id), f.user_id or "-", f"{f.confidence:.1f}",
             fmt_time(f.indexed_at)] for f in faces]
    return table(["face id", "external image id", "image", "user", "conf", "indexed at"], rows)


def render_delete_faces(resp: face_search_pb2.DeleteFacesResponse) -> str:
    out = [f"deleted {len(resp.deleted_face_ids)} face(s); erasure receipt {resp.erasure_receipt_id or '-'}"]
    out.extend(f"  deleted {f}" for f in resp.deleted_face_ids)
    out.extend(f"  not deleted {u.face_id}: {u.reason}" for u in resp.unsuccessful)
    return "\n".join(out)


# --------------------------------------------------------------------------------------- users

def render_users(users: Sequence[face_search_pb2.User]) -> str:
    return table(["user id", "faces", "created"], [[u.user_id, u.face_count, fmt_time(u.created_at)] for u in users])


def render_association(resp: Any, verb: str) -> str:
    """AssociateFacesResponse / DisassociateFacesResponse: what changed, what did not and why."""
    done = list(resp.associated_face_ids if verb == "associated" else resp.disassociated_face_ids)
    head = f"{verb} {len(done)} face(s)"
    if resp.user.user_id:  # the server may leave the user out
        head += f"; user {resp.user.user_id} now has {resp.user.face_count} face(s)"
    out = [head]
    out.extend(f"  {verb} {f}" for f in done)
    for u in resp.unsuccessful:
        score = f" (similarity {u.score.similarity:.1f})" if u.HasField("score") else ""
        out.append(f"  not {verb} {u.face_id}: {u.reason}{score}")
    return "\n".join(out)


# ---------------------------------------------------------------------------------- jobs/requests

def job_state(value: int) -> str:
    return enum_name(face_search_pb2.JobState, value, "JOB_STATE_")


def render_job(job: face_search_pb2.Job) -> str:
    rows = [("job", job.job_id), ("collection", job.collection_id), ("state", job_state(job.state)),
            ("progress", f"{100 * job.progress:.0f}% ({job.images_done}/{job.images_total} images, "
                         f"{job.images_failed} failed)"),
            ("faces indexed", job.faces_indexed), ("created", fmt_time(job.created_at)),
            ("updated", fmt_time(job.updated_at))]
    out = [f"{k + ':':<15}{v}" for k, v in rows]
    if job.errors:
        out.append("errors:")
        out.extend(f"  {e.object_key}: {e.reason}" for e in job.errors)
    return "\n".join(out)


def render_jobs(jobs: Sequence[face_search_pb2.Job]) -> str:
    rows = [[j.job_id, j.collection_id, job_state(j.state), f"{100 * j.progress:.0f}%", j.images_done,
             j.images_total, j.images_failed, j.faces_indexed] for j in jobs]
    return table(["job", "collection", "state", "progress", "done", "total", "failed", "faces"], rows)


def render_request(resp: face_search_pb2.GetRequestResponse, trace_id: str = "") -> str:
    state = enum_name(face_search_pb2.RequestState, resp.state, "REQUEST_STATE_")
    out = [f"request {resp.request_id}: {state}"]
    if resp.state == face_search_pb2.REQUEST_STATE_FAILED:
        out.append(f"error: {_code_name(resp.error_code)}: {resp.error_message}")
    kind = resp.WhichOneof("result")
    if kind == "index_faces":
        out.append(render_index(resp.index_faces))
    elif kind == "search_faces_by_image":
        out.append(render_search_by_image(resp.search_faces_by_image, trace_id))
    elif kind == "detect_faces":
        out.append(render_detect(resp.detect_faces))
    elif kind == "compare_faces":
        out.append(render_compare(resp.compare_faces, trace_id))
    elif kind == "search_users_by_image":
        out.append(render_search_users(resp.search_users_by_image, trace_id))
    return "\n".join(out)


def _code_name(number: int) -> str:
    """A google.rpc.Code number as its gRPC status name (PipelineResult and GetRequest carry numbers)."""
    for status in grpc.StatusCode:
        if status.value[0] == number:
            return status.name
    return str(number)
