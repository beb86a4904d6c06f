"""`lineup admin …` (agencies, keys, policies, grants, the Helm bootstrap file) and `lineup review …`
(examiners' decisions on a search's candidates)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from lineup.agencies import apply_agencies
from lineup.client import Client
from lineup.v1 import admin_pb2, common_pb2, review_pb2
from lineup_tools.cli import render

ROLES = {"admin": admin_pb2.ROLE_ADMIN, "enroller": admin_pb2.ROLE_ENROLLER, "searcher": admin_pb2.ROLE_SEARCHER,
         "reviewer": admin_pb2.ROLE_REVIEWER, "auditor": admin_pb2.ROLE_AUDITOR}
DECISIONS = {"possible_lead": review_pb2.REVIEW_DECISION_POSSIBLE_LEAD,
             "not_a_match": review_pb2.REVIEW_DECISION_NOT_A_MATCH,
             "inconclusive": review_pb2.REVIEW_DECISION_INCONCLUSIVE}


def _in_days(days: float) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(int((time.time() + days * 86400) * 1000))
    return ts


def _policy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--purpose", action="append", default=[], help="an allowed search purpose (repeat)")
    p.add_argument("--floor-fmr", type=float, default=1e-3,
                   help="threshold floor as an estimated false-match rate: no search may be looser (default 1e-3)")
    p.add_argument("--probe-retention-days", type=int, default=30, help="probe images are erased after this")
    p.add_argument("--require-justification", action="store_true", help="every search must carry a justification")


def _policy(args: argparse.Namespace) -> admin_pb2.AgencyPolicy:
    return admin_pb2.AgencyPolicy(allowed_purposes=args.purpose,
                                  threshold_floor=common_pb2.Threshold(max_fmr=args.floor_fmr),
                                  probe_retention_days=args.probe_retention_days,
                                  require_justification=args.require_justification)


def _print(args: argparse.Namespace, resp: Any, text: str) -> int:
    print(render.to_json(resp) if args.json else text)
    return 0


def _agencies_table(agencies: list[admin_pb2.Agency]) -> str:
    return render.table(("agency", "name", "purposes", "floor fmr", "probe days"), [
        (a.agency_id, a.display_name, ",".join(a.policy.allowed_purposes) or "-",
         render.fmt_fmr(a.policy.threshold_floor.max_fmr) if a.policy.threshold_floor.HasField("max_fmr") else "-",
         a.policy.probe_retention_days) for a in agencies])


def _roles(values: Any) -> str:
    return ",".join(admin_pb2.Role.Name(r).removeprefix("ROLE_").lower() for r in values)


# ----------------------------------------------------------------------------------------- admin

def cmd_agencies_create(client: Client, args: argparse.Namespace) -> int:
    resp = client.call("CreateAgency", admin_pb2.CreateAgencyRequest(
        agency_id=args.agency_id, display_name=args.name, policy=_policy(args)), service="Admin").response
    note = "created" if resp.created else "already existed (unchanged; use `admin policy set`)"
    return _print(args, resp, f"agency {resp.agency.agency_id} {note}\n{_agencies_table([resp.agency])}")


def cmd_agencies_list(client: Client, args: argparse.Namespace) -> int:
    resp = client.call("ListAgencies", admin_pb2.ListAgenciesRequest(), service="Admin").response
    return _print(args, resp, _agencies_table(list(resp.agencies)) if resp.agencies else "(none)")


def cmd_agencies_get(client: Client, args: argparse.Namespace) -> int:
    resp = client.call("GetAgency", admin_pb2.GetAgencyRequest(agency_id=args.agency), service="Admin").response
    return _print(args, resp, _agencies_table([resp.agency]))


def cmd_policy_set(client: Client, args: argparse.Namespace) -> int:
    resp = client.call("SetAgencyPolicy", admin_pb2.SetAgencyPolicyRequest(
        agency_id=args.agency, policy=_policy(args)), service="Admin").response
    return _print(args, resp, _agencies_table([resp.agency]))


def cmd_keys_create(client: Client, args: argparse.Namespace) -> int:
    req = admin_pb2.CreateApiKeyRequest(agency_id=args.agency, holder=args.holder,
                                        roles=[ROLES[r] for r in args.role])
    if args.expires_days:
        req.expires_at.CopyFrom(_in_days(args.expires_days))
    resp = client.call("CreateApiKey", req, service="Admin").response
    return _print(args, resp, f"key {resp.key.key_id} for {resp.key.holder} ({resp.key.agency_id}; roles "
                              f"{_roles(resp.key.roles)})\n{resp.secret}\n"
                              f"This secret is shown once and stored only as a hash: hand it over now.")


def cmd_keys_list(client: Client, args: argparse.Namespace) -> int:
    resp = client.call("ListApiKeys", admin_pb2.ListApiKeysRequest(agency_id=args.agency), service="Admin").response
    rows = [(k.key_id, k.holder, _roles(k.roles), render.fmt_time(k.created_at),
             render.fmt_time(k.expires_at) if k.HasField("expires_at") else "-",
             render.fmt_time(k.revoked_at) if k.HasField("revoked_at") else "-") for k in resp.keys]
    return _print(args, resp, render.table(("key", "holder", "roles", "created", "expires", "revoked"), rows)
                  if rows else "(none)")


def cmd_keys_revoke(client: Client, args: argparse.Namespace) -> int:
    resp = client.call("RevokeApiKey", admin_pb2.RevokeApiKeyRequest(key_id=args.key_id), service="Admin").response
    return _print(args, resp, f"key {resp.key.key_id} revoked at {render.fmt_time(resp.key.revoked_at)}")


def _grants_table(grants: Any) -> str:
    return render.table(("grant", "owner", "collection", "grantee", "expires", "revoked", "legal basis"), [
        (g.grant_id, g.owner_agency_id, g.collection_id, g.grantee_agency_id, render.fmt_time(g.expires_at),
         render.fmt_time(g.revoked_at) if g.HasField("revoked_at") else "-", render.short(g.legal_basis, 40))
        for g in grants]) if grants else "(none)"


def cmd_grants_create(client: Client, args: argparse.Namespace) -> int:
    resp = client.call("GrantCollectionAccess", admin_pb2.GrantCollectionAccessRequest(
        collection_id=args.collection, grantee_agency_id=args.to, legal_basis=args.legal_basis,
        expires_at=_in_days(args.expires_days)), service="Admin").response
    return _print(args, resp, _grants_table([resp.grant]))


def cmd_grants_list(client: Client, args: argparse.Namespace) -> int:
    resp = client.call("ListGrants", admin_pb2.ListGrantsRequest(received=args.received), service="Admin").response
    return _print(args, resp, _grants_table(resp.grants))


def cmd_grants_revoke(client: Client, args: argparse.Namespace) -> int:
    resp = client.call("RevokeGrant", admin_pb2.RevokeGrantRequest(grant_id=args.grant_id), service="Admin").response
    return _print(args, resp, _grants_table([resp.grant]))


def cmd_apply(client: Client, args: argparse.Namespace) -> int:
    """Create missing agencies and set every listed agency's policy: safe to run on every upgrade."""
    return apply_agencies(client, Path(args.file))


# ---------------------------------------------------------------------------------------- review

def _state(value: int) -> str:
    return review_pb2.CandidateReviewState.Name(value).removeprefix("CANDIDATE_REVIEW_STATE_").lower()


def render_review(resp: review_pb2.GetSearchReviewResponse) -> str:
    head = (f"search {resp.search_id}  collection {resp.collection_id}  case {resp.context.case_id}  "
            f"purpose {resp.context.purpose}\nInvestigative leads only: a candidate is a confirmed lead only "
            f"after two different reviewers call it a possible lead.")
    rows = [(c.probe_face_index, c.rank, c.face_id, f"{c.score.similarity:.1f}", render.fmt_fmr(c.score.estimated_fmr),
             _state(c.state), ", ".join(f"{e.reviewer_holder or e.reviewer_key_id}: "
                                        f"{review_pb2.ReviewDecision.Name(e.decision).removeprefix('REVIEW_DECISION_').lower()}"
                                        for e in c.entries) or "-")
            for c in resp.candidates]
    body = render.table(("probe face", "rank", "face", "similarity", "est. fmr", "state", "decisions"), rows) \
        if rows else "(no candidates)"
    return f"{head}\n{body}"


def cmd_review_show(client: Client, args: argparse.Namespace) -> int:
    resp = client.call("GetSearchReview", review_pb2.GetSearchReviewRequest(search_id=args.search_id),
                       service="Review").response
    return _print(args, resp, render_review(resp))


def cmd_review_decide(client: Client, args: argparse.Namespace) -> int:
    resp = client.call("RecordDecision", review_pb2.RecordDecisionRequest(
        search_id=args.search_id, probe_face_index=args.probe_face, face_id=args.face,
        decision=DECISIONS[args.decision], notes=args.notes), service="Review").response
    return _print(args, resp, f"face {resp.candidate.face_id}: {_state(resp.candidate.state)} "
                              f"({len(resp.candidate.entries)} decision(s))")


def cmd_review_list(client: Client, args: argparse.Namespace) -> int:
    resp = client.call("ListSearches", review_pb2.ListSearchesRequest(case_id=args.case_id), service="Review").response
    rows = [(s.search_id, render.fmt_time(s.time), s.collection_id, s.context.case_id, s.context.purpose,
             s.candidate_count, s.confirmed_leads) for s in resp.searches]
    return _print(args, resp, render.table(("search", "time", "collection", "case", "purpose", "candidates",
                                            "confirmed"), rows) if rows else "(none)")


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    admin = sub.add_parser("admin", help="agencies, API keys, policies and grants").add_subparsers(
        dest="admin_command", required=True, metavar="command")
    ag = admin.add_parser("agencies", help="create, list, show agencies").add_subparsers(
        dest="agencies_command", required=True, metavar="command")
    p = ag.add_parser("create", parents=[common], help="register an agency (deployment credential)")
    p.add_argument("agency_id")
    p.add_argument("--name", default="")
    _policy_args(p)
    p.set_defaults(func=cmd_agencies_create)
    p = ag.add_parser("list", parents=[common])
    p.set_defaults(func=cmd_agencies_list)
    p = ag.add_parser("get", parents=[common])
    p.add_argument("--agency", default="", help="default: the key's own agency")
    p.set_defaults(func=cmd_agencies_get)
    pol = admin.add_parser("policy", help="an agency's search policy").add_subparsers(
        dest="policy_command", required=True, metavar="command")
    p = pol.add_parser("set", parents=[common], help="replace the policy (purposes, floor, probe retention)")
    p.add_argument("--agency", default="")
    _policy_args(p)
    p.set_defaults(func=cmd_policy_set)
    keys = admin.add_parser("keys", help="issue, list, revoke API keys").add_subparsers(
        dest="keys_command", required=True, metavar="command")
    p = keys.add_parser("create", parents=[common], help="issue a key; the secret is printed once")
    p.add_argument("--agency", default="", help="default: the caller's agency")
    p.add_argument("--holder", required=True, help="the person or system the key is for")
    p.add_argument("--role", action="append", required=True, choices=sorted(ROLES))
    p.add_argument("--expires-days", type=float, default=0, help="0: no expiry")
    p.set_defaults(func=cmd_keys_create)
    p = keys.add_parser("list", parents=[common])
    p.add_argument("--agency", default="")
    p.set_defaults(func=cmd_keys_list)
    p = keys.add_parser("revoke", parents=[common])
    p.add_argument("key_id")
    p.set_defaults(func=cmd_keys_revoke)
    gr = admin.add_parser("grants", help="search-only access of another agency to one collection").add_subparsers(
        dest="grants_command", required=True, metavar="command")
    p = gr.add_parser("create", parents=[common])
    p.add_argument("collection")
    p.add_argument("--to", required=True, help="the grantee agency")
    p.add_argument("--legal-basis", required=True, help="the agreement or order that allows the sharing")
    p.add_argument("--expires-days", type=float, required=True)
    p.set_defaults(func=cmd_grants_create)
    p = gr.add_parser("list", parents=[common])
    p.add_argument("--received", action="store_true", help="grants other agencies gave yours")
    p.set_defaults(func=cmd_grants_list)
    p = gr.add_parser("revoke", parents=[common])
    p.add_argument("grant_id")
    p.set_defaults(func=cmd_grants_revoke)
    p = admin.add_parser("apply", parents=[common], help="create/update agencies from a JSON file (Helm hook)")
    p.add_argument("--file", required=True)
    p.set_defaults(func=cmd_apply)

    rev = sub.add_parser("review", help="examiner decisions on a search's candidates").add_subparsers(
        dest="review_command", required=True, metavar="command")
    p = rev.add_parser("show", parents=[common], help="a search's candidates with their review state")
    p.add_argument("search_id")
    p.set_defaults(func=cmd_review_show)
    p = rev.add_parser("decide", parents=[common], help="record your decision on one candidate")
    p.add_argument("search_id")
    p.add_argument("--face", required=True, help="the candidate's face id")
    p.add_argument("--probe-face", type=int, default=0, help="index of the probe face (0: the largest)")
    p.add_argument("--decision", required=True, choices=sorted(DECISIONS))
    p.add_argument("--notes", default="")
    p.set_defaults(func=cmd_review_decide)
    p = rev.add_parser("list", parents=[common], help="your agency's searches, newest first")
    p.add_argument("--case-id", default="")
    p.set_defaults(func=cmd_review_list)
