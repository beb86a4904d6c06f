"""Who is calling the front door.

Until API keys and roles exist (the accountability issue), a loopback deployment identifies the
caller's agency by the `x-lineup-agency` metadata header and the person by `x-lineup-user`. This is
dev-only by design: the setting that selects it has no other value yet, and docs/api.md says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lineup.auth import Principal
from lineup.errors import Unauthenticated

_AGENCY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class DevHeaderAuthenticator:
    def __init__(self, default_agency: str) -> None:
        self.default_agency = default_agency

    def authenticate(self, method: str, metadata: Mapping[str, str]) -> Principal | None:
        agency = metadata.get("x-lineup-agency", self.default_agency)
        if not _AGENCY_RE.match(agency):
            raise Unauthenticated(f"agency {agency!r} is not a valid agency id (2-63 of a-z, 0-9, '-')")
        holder = metadata.get("x-lineup-user", "anonymous")
        return Principal(key_id=f"dev:{agency}:{holder}", agency_id=agency, holder=holder,
                         roles=frozenset({"admin", "enroller", "searcher", "reviewer", "auditor"}))
