"""Credentials for the local stack: one call that returns a ready FaceSearch `Client` for an agency.

Benchmarks, load tests and the demo connect through `local_client` so that none of them needs to know how
the loopback deployment issues identities.
"""

from __future__ import annotations

from lineup.cli.client import Client


def local_client(agency_id: str, *, endpoint: str | None = None, holder: str = "local",
                 timeout_s: float = 60.0) -> Client:
    """A client acting for `agency_id` on the local stack (dev identity until API keys land)."""
    return Client(endpoint=endpoint, agency=agency_id, user=holder, timeout_s=timeout_s)
