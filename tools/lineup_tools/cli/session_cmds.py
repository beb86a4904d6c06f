"""`lineup session start|revoke`: case-bound AWS credentials for the Rekognition-compatible endpoint.

`--format env` prints shell `export` lines, so `eval "$(lineup session start --case-id C --purpose P --format env)"`
makes an unmodified boto3 or AWS CLI program talk to Lineup under that case (docs/rekognition.md).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
from typing import Any

from google.protobuf import json_format

from lineup.client import Client
from lineup.v1 import admin_pb2, common_pb2, session_pb2

#: the local stack's Rekognition endpoint (lineup_tools.devstack.services: rekognition's gRPC port + 1)
DEFAULT_REKOGNITION_ENDPOINT = "http://127.0.0.1:50057"
_TTL_RE = re.compile(r"^(?P<n>[0-9]{1,6})(?P<unit>[smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(value: str) -> int:
    """`8h`, `30m`, `2d`, `600` (seconds) -> seconds."""
    m = _TTL_RE.match(value.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration: use e.g. 30m, 8h, 2d or seconds")
    return int(m["n"]) * _UNITS[m["unit"]]


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    sessions = sub.add_parser("session", help="case-bound AWS credentials for the Rekognition endpoint"
                              ).add_subparsers(dest="action", required=True, metavar="action")
    p = sessions.add_parser("start", parents=[common], help="start a session; --format env prints export lines")
    p.add_argument("--case", "--case-id", dest="case_id", required=True, help="the case every call belongs to")
    p.add_argument("--purpose", required=True, help="one of the agency's configured purposes")
    p.add_argument("--justification", default="", help="free text for reviewers and auditors")
    p.add_argument("--ttl", type=parse_ttl, default=8 * 3600, help="lifetime, e.g. 8h (default), 30m, 2d")
    p.add_argument("--role", action="append", default=[], choices=["admin", "enroller", "searcher"],
                   help="limit the session to these roles of the key (repeatable; default: all of the key's)")
    p.add_argument("--format", choices=["text", "env", "json"], default="text")
    p.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
                   help="AWS region name the SDK signs with (any; Lineup has one region)")
    p.add_argument("--rekognition-endpoint",
                   default=os.environ.get("LINEUP_REKOGNITION_ENDPOINT") or DEFAULT_REKOGNITION_ENDPOINT,
                   help="URL of the Rekognition endpoint (env LINEUP_REKOGNITION_ENDPOINT)")
    p.set_defaults(func=cmd_session_start)
    p = sessions.add_parser("revoke", parents=[common], help="end a session at once")
    p.add_argument("session_id")
    p.set_defaults(func=cmd_session_revoke)


def env_lines(resp: session_pb2.CreateSessionResponse, region: str, endpoint: str) -> str:
    values = {"AWS_ACCESS_KEY_ID": resp.access_key_id, "AWS_SECRET_ACCESS_KEY": resp.secret_access_key,
              "AWS_SESSION_TOKEN": resp.session_token, "AWS_DEFAULT_REGION": region,
              "AWS_ENDPOINT_URL_REKOGNITION": endpoint}
    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in values.items())


def cmd_session_start(client: Client, args: argparse.Namespace) -> int:
    req = session_pb2.CreateSessionRequest(
        context=common_pb2.SearchContext(case_id=args.case_id, purpose=args.purpose,
                                         justification=args.justification),
        ttl_seconds=args.ttl, roles=[admin_pb2.Role.Value(f"ROLE_{r.upper()}") for r in args.role])
    resp = client.call("CreateSession", req, service="Sessions").response
    if args.format == "env":
        print(env_lines(resp, args.region, args.rekognition_endpoint))
    elif args.format == "json":
        print(json_format.MessageToJson(resp))
    else:
        s = resp.session
        print(f"session {s.session_id} for case {s.context.case_id!r} ({s.context.purpose}), expires "
              f"{s.expires_at.ToJsonString()}")
        print("use --format env to get the AWS credentials as export lines")
    return 0


def cmd_session_revoke(client: Client, args: argparse.Namespace) -> int:
    resp = client.call("RevokeSession", session_pb2.RevokeSessionRequest(session_id=args.session_id),
                       service="Sessions").response
    print(f"session {resp.session.session_id} revoked at {resp.session.revoked_at.ToJsonString()}")
    return 0
