"""Credentials for the local stack: its bootstrap admin secret, its internal service token, each agency's first
admin key, and ready clients for agencies.

A loopback stack still runs with real credentials: `make up` generates a random bootstrap credential and a
random internal service token into `.state/secrets/` (never a value baked into code), and the services read
them from the environment like a Kubernetes Secret.

The bootstrap credential does what it does in production and no more: it registers an agency and creates the
agency's *first* admin key, which is kept under `.state/secrets/agencies/` (mode 600). Every other key —
searchers, enrollers, reviewers, auditors — is minted by that agency admin key, exactly as an agency's own
administrator would. Benchmarks, load tests, the demo and the integration tests all connect through here.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import grpc

from lineup.client import Client
from lineup.v1 import admin_pb2, common_pb2
from lineup_tools.devstack.base import StackPaths, stack_paths

#: purposes every locally registered agency allows (a real agency sets its own through Admin)
LOCAL_PURPOSES = ("investigation", "testing", "demo", "benchmark")
ALL_ROLES = (admin_pb2.ROLE_ADMIN, admin_pb2.ROLE_ENROLLER, admin_pb2.ROLE_SEARCHER, admin_pb2.ROLE_REVIEWER,
             admin_pb2.ROLE_AUDITOR)
#: the holder of each local agency's first admin key (made by the bootstrap credential)
LOCAL_ADMIN_HOLDER = "local agency admin"


def _secrets_dir(paths: StackPaths | None = None) -> Path:
    return (paths or stack_paths()).state_dir / "secrets"


def _secret_file(path: Path, nbytes: int = 48) -> str:
    """A random secret kept in `path` (mode 600), created on first use; concurrent first uses agree on one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(nbytes))
    return path.read_text().strip()


def bootstrap_key_file(paths: StackPaths | None = None) -> Path:
    return _secrets_dir(paths) / "bootstrap-admin.key"


def bootstrap_key(paths: StackPaths | None = None) -> str:
    """The local stack's bootstrap credential, created (48 random bytes, mode 600) on first use."""
    return _secret_file(bootstrap_key_file(paths))


def internal_token_file(paths: StackPaths | None = None) -> Path:
    return _secrets_dir(paths) / "internal.token"


def internal_token(paths: StackPaths | None = None) -> str:
    """The local stack's internal service credential (LINEUP_INTERNAL_TOKEN), created like the bootstrap key."""
    return _secret_file(internal_token_file(paths))


def session_signing_key_file(paths: StackPaths | None = None) -> Path:
    return _secrets_dir(paths) / "session-signing.key"


def session_signing_key(paths: StackPaths | None = None) -> str:
    """The local stack's session signing key (LINEUP_SESSION_SIGNING_KEY, shared by ingest and rekognition)."""
    return _secret_file(session_signing_key_file(paths))


def agency_admin_key_file(agency_id: str, paths: StackPaths | None = None) -> Path:
    return _secrets_dir(paths) / "agencies" / f"{agency_id}.admin.key"


def local_policy(floor_fmr: float = 1e-3) -> admin_pb2.AgencyPolicy:
    return admin_pb2.AgencyPolicy(allowed_purposes=list(LOCAL_PURPOSES),
                                  threshold_floor=common_pb2.Threshold(max_fmr=floor_fmr), probe_retention_days=30)


_in_process: dict[Path, threading.Lock] = {}
_in_process_guard = threading.Lock()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One caller at a time per agency: two first-admin creations would race (the second is refused).

    The file lock keeps other processes out. Callers inside this process queue on a lock of their own first:
    two flocks from one process would deadlock where callers are greenlets of one thread (Locust users), the
    second blocking the thread that the first needs to finish."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _in_process_guard:
        mine = _in_process.setdefault(path, threading.Lock())
    with mine, open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _usable(endpoint: str | None, key: str) -> bool:
    try:
        with Client(endpoint=endpoint, api_key=key) as c:
            c.call("GetAgency", admin_pb2.GetAgencyRequest(), service="Admin")
        return True
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):  # type: ignore[attr-defined]
            return False
        raise


def _active_admin_keys(boot: Client, agency_id: str) -> list[str]:
    found, token = [], ""
    while True:
        resp = boot.call("ListApiKeys", admin_pb2.ListApiKeysRequest(
            agency_id=agency_id, page=common_pb2.PageRequest(page_size=1000, page_token=token)),
            service="Admin").response
        found += [k.key_id for k in resp.keys if admin_pb2.ROLE_ADMIN in k.roles and not k.HasField("revoked_at")]
        token = resp.page.next_page_token
        if not token:
            return found


def agency_admin_key(agency_id: str, *, endpoint: str | None = None,
                     policy: admin_pb2.AgencyPolicy | None = None) -> str:
    """The local agency's admin key: registers `agency_id` (idempotent; a new agency gets `policy` or the local
    one) and creates its first admin key with the bootstrap credential, once, kept in .state/secrets/agencies/.

    When the agency already has an admin key this machine does not hold (e.g. `.state/secrets` was wiped but
    MinIO kept its data), the local stack breaks glass as an operator would: the bootstrap credential revokes
    the agency's admin keys (audited) and creates a new first admin key.
    """
    path = agency_admin_key_file(agency_id)
    with _locked(path.with_suffix(".lock")), Client(endpoint=endpoint, api_key=bootstrap_key()) as boot:
        boot.call("CreateAgency", admin_pb2.CreateAgencyRequest(
            agency_id=agency_id, display_name=agency_id, policy=policy or local_policy()), service="Admin")
        if path.exists():
            key = path.read_text().strip()
            if key and _usable(endpoint, key):
                return key
        first = admin_pb2.CreateApiKeyRequest(agency_id=agency_id, holder=LOCAL_ADMIN_HOLDER,
                                              roles=[admin_pb2.ROLE_ADMIN])
        try:
            created = boot.call("CreateApiKey", first, service="Admin").response
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.PERMISSION_DENIED:  # type: ignore[attr-defined]
                raise
            stale = _active_admin_keys(boot, agency_id)
            print(f"lineup devstack: agency {agency_id} has admin key(s) {', '.join(stale)} whose secret is not in "
                  f"{path.parent}; revoking them with the bootstrap credential (break glass)", file=sys.stderr)
            for key_id in stale:
                boot.call("RevokeApiKey", admin_pb2.RevokeApiKeyRequest(key_id=key_id), service="Admin")
            created = boot.call("CreateApiKey", first, service="Admin").response
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(created.secret)
        os.replace(tmp, path)
        return str(created.secret)


def mint_key(agency_id: str, *, endpoint: str | None = None, holder: str = "local",
             roles: Sequence[int] = ALL_ROLES, policy: admin_pb2.AgencyPolicy | None = None) -> str:
    """Register `agency_id` if needed and return a new API key for `holder` with `roles`, minted by the
    agency's own admin key (never by the bootstrap credential, which only makes that first admin key)."""
    admin_key = agency_admin_key(agency_id, endpoint=endpoint, policy=policy)
    with Client(endpoint=endpoint, api_key=admin_key) as admin:
        created = admin.call("CreateApiKey", admin_pb2.CreateApiKeyRequest(
            holder=holder, roles=list(roles)),  # type: ignore[arg-type]
            service="Admin")
    return str(created.response.secret)


def local_client(agency_id: str, *, endpoint: str | None = None, holder: str = "local",
                 timeout_s: float = 60.0, roles: Sequence[int] = ALL_ROLES) -> Client:
    """A client acting for `agency_id` on the local stack with a freshly minted key holding `roles`."""
    key = mint_key(agency_id, endpoint=endpoint, holder=holder, roles=roles)
    return Client(endpoint=endpoint, api_key=key, timeout_s=timeout_s)
