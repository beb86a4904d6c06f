"""Credentials for the local stack: its bootstrap admin secret, and ready clients for agencies.

A loopback stack still runs with real API keys: `make up` generates a random bootstrap credential into
`.state/secrets/` (never a value baked into code), the services read it from the environment like a
Kubernetes Secret, and `local_client` uses it to register an agency and mint a key for a holder.
Benchmarks, load tests, the demo and the integration tests all connect through here.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from lineup.cli.client import Client
from lineup.devstack.base import StackPaths, stack_paths
from lineup.v1 import admin_pb2, common_pb2

#: purposes every locally registered agency allows (a real agency sets its own through Admin)
LOCAL_PURPOSES = ("investigation", "testing", "demo", "benchmark")
ALL_ROLES = (admin_pb2.ROLE_ADMIN, admin_pb2.ROLE_ENROLLER, admin_pb2.ROLE_SEARCHER, admin_pb2.ROLE_REVIEWER,
             admin_pb2.ROLE_AUDITOR)


def bootstrap_key_file(paths: StackPaths | None = None) -> Path:
    return (paths or stack_paths()).state_dir / "secrets" / "bootstrap-admin.key"


def bootstrap_key(paths: StackPaths | None = None) -> str:
    """The local stack's bootstrap credential, created (48 random bytes, mode 600) on first use."""
    path = bootstrap_key_file(paths)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def local_policy(floor_fmr: float = 1e-3) -> admin_pb2.AgencyPolicy:
    return admin_pb2.AgencyPolicy(allowed_purposes=list(LOCAL_PURPOSES),
                                  threshold_floor=common_pb2.Threshold(max_fmr=floor_fmr), probe_retention_days=30)


def mint_key(agency_id: str, *, endpoint: str | None = None, holder: str = "local",
             roles: Sequence[int] = ALL_ROLES, policy: admin_pb2.AgencyPolicy | None = None) -> str:
    """Register `agency_id` (idempotent; a new agency gets `policy` or the local one) and return a new API key."""
    with Client(endpoint=endpoint, api_key=bootstrap_key()) as admin:
        admin.call("CreateAgency", admin_pb2.CreateAgencyRequest(
            agency_id=agency_id, display_name=agency_id, policy=policy or local_policy()), service="Admin")
        created = admin.call("CreateApiKey", admin_pb2.CreateApiKeyRequest(
            agency_id=agency_id, holder=holder, roles=list(roles)),  # type: ignore[arg-type]
            service="Admin")
    return str(created.response.secret)


def local_client(agency_id: str, *, endpoint: str | None = None, holder: str = "local",
                 timeout_s: float = 60.0, roles: Sequence[int] = ALL_ROLES) -> Client:
    """A client acting for `agency_id` on the local stack with a freshly minted key holding `roles`."""
    key = mint_key(agency_id, endpoint=endpoint, holder=holder, roles=roles)
    return Client(endpoint=endpoint, api_key=key, timeout_s=timeout_s)
