"""`lineup audit verify` and `lineup audit query`: the auditor's view of their agency's audit trail.

Both call the `lineup.v1.Audit` service on the front door with the caller's key, which decides the agency:
an auditor cannot name another agency's trail. `verify` exits 1 when the chain is broken, so it can run from
cron or CI; it prints the head it reached, to compare with an anchor kept elsewhere (docs/audit.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from lineup.client import Client
from lineup.v1 import audit_pb2, common_pb2
from lineup_tools.cli import render
from lineup_tools.cli.paging import fetch_pages, print_list

SERVICE = "Audit"


def parse_time(value: str) -> Timestamp:
    """An ISO 8601 time (`2026-12-02`, `2026-12-02T14:00`, `...Z`, `...+01:00`); naive times are UTC."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 time (e.g. 2026-12-02T14:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `audit verify` and `audit query` under the top-level subparsers."""
    audit = sub.add_parser("audit", help="verify and query the agency's audit trail (auditor role)").add_subparsers(
        dest="action", required=True, metavar="action")
    p = audit.add_parser("verify", parents=[common], help="walk the hash chain; exit 1 at the first broken link")
    p.set_defaults(func=cmd_audit_verify)
    p = audit.add_parser("query", parents=[common], help="audit records by case, user, operation, time, search")
    p.add_argument("--case-id", default="")
    p.add_argument("--user", default="", dest="actor_key_id", help="the acting API key id")
    p.add_argument("--operation", default="", help="RPC name (SearchFacesByImage) or full method name")
    p.add_argument("--since", type=parse_time, default=None, help="ISO 8601, inclusive (UTC unless given)")
    p.add_argument("--until", type=parse_time, default=None, help="ISO 8601, exclusive")
    p.add_argument("--search-id", default="")
    p.add_argument("--page-size", type=int, default=0, help="default 100, at most 1000")
    p.add_argument("--page-token", default="")
    p.add_argument("--all", action="store_true", help="follow page tokens to the end")
    p.set_defaults(func=cmd_audit_query)


# ------------------------------------------------------------------------------------------ rendering

def decision(value: int) -> str:
    return render.enum_name(audit_pb2.AuditDecision, value, "AUDIT_DECISION_")


def render_records(records: Sequence[audit_pb2.AuditRecord]) -> str:
    rows = [(r.sequence, render.fmt_time(r.time), r.actor_key_id or "-", r.operation.rpartition("/")[2] or "-",
             decision(r.decision), r.case_id or "-", r.collection_id or "-", len(r.candidates),
             render.short(r.search_id) if r.search_id else "-", r.request_id or "-")
            for r in records]
    return render.table(["seq", "time", "user", "operation", "decision", "case", "collection", "candidates",
                         "search id", "request id"], rows)


def render_verify(resp: audit_pb2.VerifyAuditChainResponse) -> str:
    head = f"head: sequence {resp.head_sequence}, hash {resp.head_hash or '-'}"
    checked = f"{resp.records_checked} records in {resp.segments_checked} segments"
    if resp.intact:
        return f"INTACT: {checked} verified\n{head}"
    b = resp.first_broken
    return "\n".join([
        f"BROKEN at sequence {b.sequence}: {b.reason}",
        f"  segment:   {b.segment}",
        f"  record id: {b.record_id or '(none: missing)'}",
        f"{checked} verified before the break",
        f"last good {head}"])


# ------------------------------------------------------------------------------------------- commands

def cmd_audit_verify(client: Client, args: argparse.Namespace) -> int:
    result = client.call("VerifyAuditChain", audit_pb2.VerifyAuditChainRequest(), service=SERVICE)
    resp = result.response
    print(render.to_json(resp, request_id=result.request_id, trace_id=result.trace_id) if args.json
          else render_verify(resp))
    return 0 if resp.intact else 1


def query_request(args: argparse.Namespace) -> audit_pb2.QueryAuditRecordsRequest:
    req = audit_pb2.QueryAuditRecordsRequest(case_id=args.case_id, actor_key_id=args.actor_key_id,
                                             operation=args.operation, search_id=args.search_id,
                                             page=common_pb2.PageRequest(page_size=args.page_size,
                                                                         page_token=args.page_token))
    if args.since is not None:
        req.from_time.CopyFrom(args.since)
    if args.until is not None:
        req.to_time.CopyFrom(args.until)
    return req


def cmd_audit_query(client: Client, args: argparse.Namespace) -> int:
    resp, records = fetch_pages(client, "QueryAuditRecords", query_request(args), args, "records", service=SERVICE)
    return print_list(args, resp, records, "records", render_records)
