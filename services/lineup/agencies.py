"""`python -m lineup.agencies --file agencies.json`: create the deployment's agencies and set their policies.

The Helm chart runs this as a post-install/upgrade Job from the service image (so it is runtime code,
not a tool): it calls the public Admin API with the bootstrap administrator's key, like any client,
so every change it makes is authorised and audited. Idempotent: existing agencies are kept and their
policy is set again. Endpoint and credentials: LINEUP_ENDPOINT, LINEUP_API_KEY, LINEUP_TLS_CA_FILE
(`lineup.client.Client`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc

from lineup.client import Client
from lineup.v1 import admin_pb2, common_pb2


class ApplyError(ValueError):
    """The agencies file does not have the documented shape."""


def load_agencies_file(path: Path) -> list[admin_pb2.CreateAgencyRequest]:
    """The Helm bootstrap file: {"agencies": [{"id", "display_name", "policy": {"purposes",
    "threshold_floor_max_fmr", "probe_retention_days", "require_justification"}}]}."""
    try:
        doc = json.loads(path.read_text())
        out = []
        for a in doc["agencies"]:
            pol = a.get("policy", {})
            out.append(admin_pb2.CreateAgencyRequest(
                agency_id=a["id"], display_name=a.get("display_name", a["id"]),
                policy=admin_pb2.AgencyPolicy(
                    allowed_purposes=list(pol.get("purposes", [])),
                    threshold_floor=common_pb2.Threshold(max_fmr=float(pol.get("threshold_floor_max_fmr", 1e-3))),
                    probe_retention_days=int(pol.get("probe_retention_days", 30)),
                    require_justification=bool(pol.get("require_justification", False)))))
        return out
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ApplyError(f"{path}: not a valid agencies file ({type(exc).__name__}: {exc}); "
                         f"see docs/deploy.md") from None


def apply_agencies(client: Client, path: Path) -> int:
    """Create missing agencies and set every listed agency's policy: safe to run on every upgrade."""
    for req in load_agencies_file(path):
        created = client.call("CreateAgency", req, service="Admin").response.created
        client.call("SetAgencyPolicy", admin_pb2.SetAgencyPolicyRequest(agency_id=req.agency_id, policy=req.policy),
                    service="Admin")
        print(f"agency {req.agency_id}: {'created' if created else 'exists'}, policy applied")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lineup.agencies", description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, required=True, help="the agencies file (docs/deploy.md)")
    parser.add_argument("--timeout-s", type=float, default=60.0, help="per call")
    args = parser.parse_args(argv)
    try:
        with Client(timeout_s=args.timeout_s) as client:
            return apply_agencies(client, args.file)
    except ApplyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except grpc.RpcError as exc:
        print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)  # type: ignore[attr-defined]
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
