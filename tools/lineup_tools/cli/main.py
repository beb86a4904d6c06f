"""`lineup`: enroll, search, compare and manage faces from a shell, through the public FaceSearch API.

Every search and compare needs a case id and a purpose (the server checks them against the agency's
policy and writes them to the audit trail), so the CLI makes them required arguments instead of letting
a call fail later. Errors are one line, `error: <STATUS>: <details>`, with exit code 1 (2 for bad
arguments), so scripts can rely on the exit code and people see the server's explanation.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc

from lineup.agencies import ApplyError
from lineup.client import DEFAULT_ENDPOINT, CallResult, Client, image_files, load_image, parse_object_ref
from lineup.v1 import common_pb2, face_search_pb2
from lineup_tools.cli import admin_cmds, audit_cmds, render, session_cmds
from lineup_tools.cli.bulk import BulkSummary, IndexItem, index_files
from lineup_tools.cli.paging import fetch_pages, print_list

QUALITY_FILTERS = {"none": common_pb2.QUALITY_FILTER_NONE, "auto": common_pb2.QUALITY_FILTER_AUTO,
                   "low": common_pb2.QUALITY_FILTER_LOW, "medium": common_pb2.QUALITY_FILTER_MEDIUM,
                   "high": common_pb2.QUALITY_FILTER_HIGH}
JOB_DONE = {face_search_pb2.JOB_STATE_SUCCEEDED, face_search_pb2.JOB_STATE_FAILED,
            face_search_pb2.JOB_STATE_PARTIALLY_SUCCEEDED}


class CliError(Exception):
    """A problem with the caller's input found before any RPC (missing file, bad reference)."""


# ------------------------------------------------------------------------------ argument helpers

def _threshold_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--min-similarity", type=float, metavar="S", help="0..100")
    g.add_argument("--min-raw-score", type=float, metavar="R", help="cosine, -1..1")
    g.add_argument("--max-fmr", type=float, metavar="F",
                   help="estimated false-match rate, e.g. 1e-4 (default: the collection's, FMR 1e-4 or stricter)")


def _context_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--case-id", required=True, help="the case this search belongs to (audited)")
    p.add_argument("--purpose", required=True, help="one of the agency's configured purposes (audited)")
    p.add_argument("--justification", default="", help="free text for reviewers and auditors")


def _quality_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quality-filter", choices=sorted(QUALITY_FILTERS), default=None,
                   help="which detected faces to use, by quality band (default: auto = medium)")


def _page_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--page-size", type=int, default=0, help="default 100, at most 1000")
    p.add_argument("--page-token", default="")
    p.add_argument("--all", action="store_true", help="follow page tokens to the end")


def threshold_from(args: argparse.Namespace) -> common_pb2.Threshold | None:
    if getattr(args, "min_similarity", None) is not None:
        return common_pb2.Threshold(min_similarity=args.min_similarity)
    if getattr(args, "min_raw_score", None) is not None:
        return common_pb2.Threshold(min_raw_score=args.min_raw_score)
    if getattr(args, "max_fmr", None) is not None:
        return common_pb2.Threshold(max_fmr=args.max_fmr)
    return None


def context_from(args: argparse.Namespace) -> common_pb2.SearchContext:
    return common_pb2.SearchContext(case_id=args.case_id, purpose=args.purpose, justification=args.justification)


def quality_from(args: argparse.Namespace) -> common_pb2.QualityFilter:
    return QUALITY_FILTERS[args.quality_filter] if args.quality_filter else common_pb2.QUALITY_FILTER_UNSPECIFIED


def _tags(values: Sequence[str]) -> dict[str, str]:
    tags = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key:
            raise CliError(f"--tag {v!r}: use key=value")
        tags[key] = value
    return tags


def _image(value: str) -> common_pb2.Image:
    try:
        return load_image(value)
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None


# --------------------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the response as JSON instead of tables")

    parser = argparse.ArgumentParser(
        prog="lineup", description="Client of the Lineup FaceSearch API. Search results are investigative "
                                   "leads for human review, never identifications.")
    parser.add_argument("--endpoint", default=None,
                        help=f"host:port of ingest (env LINEUP_ENDPOINT, default {DEFAULT_ENDPOINT})")
    parser.add_argument("--api-key", default=None, help="sent as `authorization: Bearer <key>` (env LINEUP_API_KEY)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per call (default 60)")
    parser.add_argument("--request-id", default=None,
                        help="idempotency key (x-request-id, 1-64 of A-Z a-z 0-9 _ -) for one call: repeating "
                        "it returns the first call's outcome; the server's request id is printed")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    # collections
    coll = sub.add_parser("collections", help="create, describe, list, delete collections").add_subparsers(
        dest="action", required=True, metavar="action")
    p = coll.add_parser("create", parents=[common], help="create a collection")
    p.add_argument("collection_id")
    p.add_argument("--face-model", default="", help="default: the model new collections get (face_embedder_sface)")
    p.add_argument("--retention-days", type=int, default=0, help="0: keep faces until deleted")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=cmd_collections_create)
    p = coll.add_parser("describe", parents=[common], help="face count, model, retention")
    p.add_argument("collection_id")
    p.set_defaults(func=cmd_collections_describe)
    p = coll.add_parser("list", parents=[common], help="collections of (and granted to) the agency")
    _page_args(p)
    p.set_defaults(func=cmd_collections_list)
    p = coll.add_parser("delete", parents=[common], help="delete a collection: vectors, crops and images")
    p.add_argument("collection_id")
    p.set_defaults(func=cmd_collections_delete)

    # index
    p = sub.add_parser("index", parents=[common],
                       help="enroll the faces of an image file or of every image in a folder")
    p.add_argument("path", help="an image file, a folder (searched recursively) or s3://bucket/key")
    p.add_argument("--collection", required=True)
    p.add_argument("--external-image-id", default="", help="for a single image: the caller's own reference")
    p.add_argument("--external-id-from-filename", action="store_true",
                   help="use the file's path relative to the folder (for a file: its name) as external image id")
    p.add_argument("--max-faces", type=int, default=0, help="1..100, largest first (default 100)")
    _quality_arg(p)
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight for a folder (default 4)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_index)

    # search
    p = sub.add_parser("search", parents=[common], help="search a collection with every face of a probe image")
    p.add_argument("image", nargs="?", help="probe image file or s3://bucket/key")
    p.add_argument("--face-id", default=None, help="search with a face already in the collection instead")
    p.add_argument("--collection", required=True)
    _context_args(p)
    p.add_argument("--max-faces", type=int, default=0, help="candidates per probe face (default 10)")
    _threshold_args(p)
    p.add_argument("--largest-face-only", action="store_true", help="search only the largest face of the probe")
    p.add_argument("--max-probe-faces", type=int, default=0, help="faces of the probe to search (default 100)")
    _quality_arg(p)
    p.set_defaults(func=cmd_search)

    # compare
    p = sub.add_parser("compare", parents=[common], help="the largest source face against every target face")
    p.add_argument("source")
    p.add_argument("target")
    _context_args(p)
    _threshold_args(p)
    _quality_arg(p)
    p.set_defaults(func=cmd_compare)

    # detect
    p = sub.add_parser("detect", parents=[common], help="boxes, quality and pose of every face in an image")
    p.add_argument("image")
    p.set_defaults(func=cmd_detect)

    # faces
    faces = sub.add_parser("faces", help="list or delete enrolled faces").add_subparsers(
        dest="action", required=True, metavar="action")
    p = faces.add_parser("list", parents=[common], help="faces of a collection")
    p.add_argument("--collection", required=True)
    p.add_argument("--user-id", default="")
    p.add_argument("--face-id", action="append", default=[], dest="face_ids")
    _page_args(p)
    p.set_defaults(func=cmd_faces_list)
    p = faces.add_parser("delete", parents=[common], help="delete faces: vectors, crops, unreferenced images")
    p.add_argument("face_ids", nargs="+")
    p.add_argument("--collection", required=True)
    p.set_defaults(func=cmd_faces_delete)

    # users
    users = sub.add_parser("users", help="group faces of one identity").add_subparsers(
        dest="action", required=True, metavar="action")
    p = users.add_parser("create", parents=[common])
    p.add_argument("user_id")
    p.add_argument("--collection", required=True)
    p.set_defaults(func=cmd_users_create)
    p = users.add_parser("delete", parents=[common])
    p.add_argument("user_id")
    p.add_argument("--collection", required=True)
    p.add_argument("--delete-faces", action="store_true", help="also erase the user's faces")
    p.set_defaults(func=cmd_users_delete)
    p = users.add_parser("list", parents=[common])
    p.add_argument("--collection", required=True)
    _page_args(p)
    p.set_defaults(func=cmd_users_list)
    for name in ("associate", "disassociate"):
        p = users.add_parser(name, parents=[common], help=f"{name} faces with a user")
        p.add_argument("user_id")
        p.add_argument("face_ids", nargs="+")
        p.add_argument("--collection", required=True)
        if name == "associate":
            _threshold_args(p)
        p.set_defaults(func=cmd_users_associate if name == "associate" else cmd_users_disassociate)
    p = users.add_parser("search", parents=[common], help="rank users by a user, a face or an image")
    p.add_argument("--collection", required=True)
    q = p.add_mutually_exclusive_group(required=True)
    q.add_argument("--user-id")
    q.add_argument("--face-id")
    q.add_argument("--image", help="probe image file or s3://bucket/key (its largest face)")
    _context_args(p)
    p.add_argument("--max-users", type=int, default=0, help="default 10")
    _threshold_args(p)
    _quality_arg(p)
    p.set_defaults(func=cmd_users_search)

    # jobs
    jobs = sub.add_parser("jobs", help="bulk enrollment from the object store").add_subparsers(
        dest="action", required=True, metavar="action")
    p = jobs.add_parser("start", parents=[common])
    p.add_argument("--collection", required=True)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prefix", help="s3://bucket/prefix: every image below it")
    src.add_argument("--manifest", help="s3://bucket/key: one object key per line, optional <TAB>external id")
    p.add_argument("--max-faces", type=int, default=0, help="per image")
    _quality_arg(p)
    p.add_argument("--client-token", default="", help="idempotency: the same token returns the same job")
    p.set_defaults(func=cmd_jobs_start)
    p = jobs.add_parser("get", parents=[common])
    p.add_argument("job_id")
    p.add_argument("--wait", action="store_true", help="poll until the job finishes")
    p.set_defaults(func=cmd_jobs_get)
    p = jobs.add_parser("list", parents=[common])
    p.add_argument("--collection", default="")
    _page_args(p)
    p.set_defaults(func=cmd_jobs_list)

    # request
    req = sub.add_parser("request", help="the outcome of an earlier request").add_subparsers(
        dest="action", required=True, metavar="action")
    p = req.add_parser("get", parents=[common])
    p.add_argument("request_id")
    p.set_defaults(func=cmd_request_get)

    audit_cmds.add_parsers(sub, common)
    admin_cmds.add_parsers(sub, common)
    session_cmds.add_parsers(sub, common)
    return parser


# ------------------------------------------------------------------------------------- commands

def _emit(args: argparse.Namespace, result: CallResult, text: Callable[[Any], str]) -> int:
    if args.json:
        print(render.to_json(result.response, request_id=result.request_id, trace_id=result.trace_id))
    else:
        print(text(result.response))
    return 0


def cmd_collections_create(client: Client, args: argparse.Namespace) -> int:
    req = face_search_pb2.CreateCollectionRequest(collection_id=args.collection_id, face_model=args.face_model,
                                                  face_retention_days=args.retention_days, tags=_tags(args.tag))
    return _emit(args, client.call("CreateCollection", req),
                 lambda r: f"created collection {r.collection_id} (model {r.face_model_version})")


def cmd_collections_describe(client: Client, args: argparse.Namespace) -> int:
    req = face_search_pb2.DescribeCollectionRequest(collection_id=args.collection_id)
    return _emit(args, client.call("DescribeCollection", req), render.render_collection)


def cmd_collections_list(client: Client, args: argparse.Namespace) -> int:
    resp, items = fetch_pages(client, "ListCollections", face_search_pb2.ListCollectionsRequest(), args, "collections")
    return print_list(args, resp, items, "collections", render.render_collections)


def cmd_collections_delete(client: Client, args: argparse.Namespace) -> int:
    req = face_search_pb2.DeleteCollectionRequest(collection_id=args.collection_id)
    return _emit(args, client.call("DeleteCollection", req),
                 lambda r: f"deleted collection {args.collection_id}: {r.deleted_faces} face(s); "
                           f"erasure receipt {r.erasure_receipt_id or '-'}")


def cmd_index(client: Client, args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not args.path.startswith("s3://") and path.is_dir():
        return _index_folder(client, args, path)
    external = args.external_image_id or (path.name if args.external_id_from_filename else "")
    req = face_search_pb2.IndexFacesRequest(collection_id=args.collection, image=_image(args.path),
                                            external_image_id=external, max_faces=args.max_faces,
                                            quality_filter=quality_from(args))
    return _emit(args, client.call("IndexFaces", req), render.render_index)


def folder_items(folder: Path, external_from_filename: bool) -> list[IndexItem]:
    """Every image below `folder`; external ids are the path relative to the folder (`penny/penny1.png`)."""
    items = []
    for f in image_files(folder):
        rel = f.relative_to(folder).as_posix()
        items.append(IndexItem(path=f, external_image_id=rel if external_from_filename else "", label=rel))
    return items


def _index_folder(client: Client, args: argparse.Namespace, folder: Path) -> int:
    if args.external_image_id:
        raise CliError("--external-image-id names one image; for a folder use --external-id-from-filename")
    if args.request_id:
        raise CliError("--request-id names one request; a folder is one request per image")
    items = folder_items(folder, args.external_id_from_filename)
    if not items:
        raise CliError(f"{folder}: no .jpg, .jpeg, .png or .webp files")
    summary: BulkSummary = index_files(client, args.collection, items, max_faces=args.max_faces,
                                       quality_filter=quality_from(args), concurrency=args.concurrency,
                                       progress=not args.no_progress and not args.json)
    if args.json:
        import json

        from google.protobuf import json_format

        print(json.dumps({"files": [
            {"path": o.item.label, "error": o.error} if o.error else
            {"path": o.item.label, "response": json_format.MessageToDict(o.response, preserving_proto_field_name=True)}
            for o in summary.outcomes], "faces_indexed": summary.faces_indexed}, indent=2))
    else:
        print(summary.render())
    return 1 if summary.failed else 0


def cmd_search(client: Client, args: argparse.Namespace) -> int:
    if (args.image is None) == (args.face_id is None):
        raise CliError("give a probe image or --face-id (exactly one)")
    if args.face_id is not None:
        req = face_search_pb2.SearchFacesRequest(collection_id=args.collection, face_id=args.face_id,
                                                 max_faces=args.max_faces, threshold=threshold_from(args),
                                                 context=context_from(args))
        result = client.call("SearchFaces", req)
        return _emit(args, result, lambda r: render.render_search_faces(r, result.trace_id))
    req2 = face_search_pb2.SearchFacesByImageRequest(
        collection_id=args.collection, image=_image(args.image), max_faces=args.max_faces,
        threshold=threshold_from(args), quality_filter=quality_from(args),
        largest_face_only=args.largest_face_only, max_probe_faces=args.max_probe_faces, context=context_from(args))
    result = client.call("SearchFacesByImage", req2)
    return _emit(args, result, lambda r: render.render_search_by_image(r, result.trace_id))


def cmd_compare(client: Client, args: argparse.Namespace) -> int:
    req = face_search_pb2.CompareFacesRequest(source_image=_image(args.source), target_image=_image(args.target),
                                              threshold=threshold_from(args), quality_filter=quality_from(args),
                                              context=context_from(args))
    result = client.call("CompareFaces", req)
    return _emit(args, result, lambda r: render.render_compare(r, result.trace_id))


def cmd_detect(client: Client, args: argparse.Namespace) -> int:
    result = client.call("DetectFaces", face_search_pb2.DetectFacesRequest(image=_image(args.image)))
    return _emit(args, result, render.render_detect)


def cmd_faces_list(client: Client, args: argparse.Namespace) -> int:
    req = face_search_pb2.ListFacesRequest(collection_id=args.collection, user_id=args.user_id,
                                           face_ids=args.face_ids)
    resp, items = fetch_pages(client, "ListFaces", req, args, "faces")
    return print_list(args, resp, items, "faces", render.render_faces)


def cmd_faces_delete(client: Client, args: argparse.Namespace) -> int:
    req = face_search_pb2.DeleteFacesRequest(collection_id=args.collection, face_ids=args.face_ids)
    result = client.call("DeleteFaces", req)
    _emit(args, result, render.render_delete_faces)
    return 1 if result.response.unsuccessful else 0


def cmd_users_create(client: Client, args: argparse.Namespace) -> int:
    req = face_search_pb2.CreateUserRequest(collection_id=args.collection, user_id=args.user_id)
    return _emit(args, client.call("CreateUser", req), lambda r: f"created user {r.user.user_id}")


def cmd_users_delete(client: Client, args: argparse.Namespace) -> int:
    req = face_search_pb2.DeleteUserRequest(collection_id=args.collection, user_id=args.user_id,
                                            delete_faces=args.delete_faces)
    return _emit(args, client.call("DeleteUser", req),
                 lambda r: f"deleted user {args.user_id}; erasure receipt {r.erasure_receipt_id or '-'}")


def cmd_users_list(client: Client, args: argparse.Namespace) -> int:
    resp, items = fetch_pages(client, "ListUsers", face_search_pb2.ListUsersRequest(collection_id=args.collection),
                         args, "users")
    return print_list(args, resp, items, "users", render.render_users)


def cmd_users_associate(client: Client, args: argparse.Namespace) -> int:
    req = face_search_pb2.AssociateFacesRequest(collection_id=args.collection, user_id=args.user_id,
                                                face_ids=args.face_ids, user_match_threshold=threshold_from(args))
    return _emit(args, client.call("AssociateFaces", req), lambda r: render.render_association(r, "associated"))


def cmd_users_disassociate(client: Client, args: argparse.Namespace) -> int:
    req = face_search_pb2.DisassociateFacesRequest(collection_id=args.collection, user_id=args.user_id,
                                                   face_ids=args.face_ids)
    return _emit(args, client.call("DisassociateFaces", req),
                 lambda r: render.render_association(r, "disassociated"))


def cmd_users_search(client: Client, args: argparse.Namespace) -> int:
    if args.image:
        req: Any = face_search_pb2.SearchUsersByImageRequest(
            collection_id=args.collection, image=_image(args.image), max_users=args.max_users,
            threshold=threshold_from(args), quality_filter=quality_from(args), context=context_from(args))
        result = client.call("SearchUsersByImage", req)
    else:
        req = face_search_pb2.SearchUsersRequest(collection_id=args.collection, max_users=args.max_users,
                                                 threshold=threshold_from(args), context=context_from(args))
        if args.user_id:
            req.user_id = args.user_id
        else:
            req.face_id = args.face_id
        result = client.call("SearchUsers", req)
    return _emit(args, result, lambda r: render.render_search_users(r, result.trace_id))


def cmd_jobs_start(client: Client, args: argparse.Namespace) -> int:
    req = face_search_pb2.StartIndexJobRequest(collection_id=args.collection, max_faces_per_image=args.max_faces,
                                               quality_filter=quality_from(args), client_token=args.client_token)
    try:
        if args.prefix:
            req.prefix.CopyFrom(parse_object_ref(args.prefix))
        else:
            req.manifest.CopyFrom(parse_object_ref(args.manifest))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return _emit(args, client.call("StartIndexJob", req),
                 lambda r: f"started job {r.job_id}; follow it with: lineup jobs get {r.job_id} --wait")


def cmd_jobs_get(client: Client, args: argparse.Namespace) -> int:
    req = face_search_pb2.GetJobRequest(job_id=args.job_id)
    result = client.call("GetJob", req)
    while args.wait and result.response.job.state not in JOB_DONE:
        job = result.response.job
        print(f"{render.job_state(job.state)} {100 * job.progress:.0f}% ({job.images_done}/{job.images_total})",
              file=sys.stderr, flush=True)
        time.sleep(2.0)
        result = client.call("GetJob", req)
    _emit(args, result, lambda r: render.render_job(r.job))
    return 1 if result.response.job.state == face_search_pb2.JOB_STATE_FAILED else 0


def cmd_jobs_list(client: Client, args: argparse.Namespace) -> int:
    resp, items = fetch_pages(client, "ListJobs", face_search_pb2.ListJobsRequest(collection_id=args.collection),
                         args, "jobs")
    return print_list(args, resp, items, "jobs", render.render_jobs)


def cmd_request_get(client: Client, args: argparse.Namespace) -> int:
    result = client.call("GetRequest", face_search_pb2.GetRequestRequest(request_id=args.request_id))
    _emit(args, result, lambda r: render.render_request(r, result.trace_id))
    return 1 if result.response.state == face_search_pb2.REQUEST_STATE_FAILED else 0


# ----------------------------------------------------------------------------------------- main

def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with Client(args.endpoint, args.api_key, timeout_s=args.timeout, request_id=args.request_id) as client:
            return int(args.func(client, args))
    except grpc.RpcError as exc:
        print(render.format_rpc_error(exc), file=sys.stderr)
        return 1
    except (CliError, ApplyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
