"""Which role may call which public RPC: one table, checked by the gRPC interceptor before any servicer runs.

A method missing from the table is refused, so a new RPC is unreachable until someone decides who may call
it. `deployment-admin` is the bootstrap credential: it creates agencies and their first keys and can do
nothing with faces.
"""

from __future__ import annotations

from lineup.auth import Principal
from lineup.errors import PermissionDenied, Unauthenticated

ADMIN, ENROLLER, SEARCHER, REVIEWER, AUDITOR = "admin", "enroller", "searcher", "reviewer", "auditor"
DEPLOYMENT_ADMIN = "deployment-admin"
AGENCY_ROLES = (ADMIN, ENROLLER, SEARCHER, REVIEWER, AUDITOR)

_FS, _ADM, _AUD, _REV = "/lineup.v1.FaceSearch/", "/lineup.v1.Admin/", "/lineup.v1.Audit/", "/lineup.v1.Review/"
_SES = "/lineup.v1.Sessions/"


def _rows(prefix: str, roles: tuple[str, ...], *methods: str) -> dict[str, frozenset[str]]:
    return {prefix + m: frozenset(roles) for m in methods}


METHOD_ROLES: dict[str, frozenset[str]] = {
    **_rows(_FS, (ADMIN,), "CreateCollection", "DeleteCollection"),
    **_rows(_FS, (ADMIN, ENROLLER, SEARCHER), "DescribeCollection", "ListCollections"),
    **_rows(_FS, (ADMIN, ENROLLER), "ListFaces", "ListUsers"),
    **_rows(_FS, (ENROLLER,), "IndexFaces", "DeleteFaces", "CreateUser", "DeleteUser", "AssociateFaces",
            "DisassociateFaces", "StartIndexJob", "GetJob", "ListJobs"),
    **_rows(_FS, (SEARCHER,), "SearchFaces", "SearchFacesByImage", "CompareFaces", "SearchUsers",
            "SearchUsersByImage"),
    **_rows(_FS, (SEARCHER, ENROLLER), "DetectFaces", "GetRequest"),
    **_rows(_ADM, (DEPLOYMENT_ADMIN,), "CreateAgency", "ListAgencies"),
    **_rows(_ADM, (DEPLOYMENT_ADMIN, ADMIN), "GetAgency", "SetAgencyPolicy", "CreateApiKey", "ListApiKeys",
            "RevokeApiKey"),
    **_rows(_ADM, (ADMIN,), "GrantCollectionAccess", "RevokeGrant", "ListGrants"),
    **_rows(_AUD, (AUDITOR,), "QueryAuditRecords", "VerifyAuditChain"),
    **_rows(_REV, (REVIEWER,), "RecordDecision"),
    **_rows(_REV, (REVIEWER, AUDITOR, SEARCHER), "GetSearchReview", "ListSearches"),
    # which searcher and whether auditors: decided per search by ingest.evidence
    **_rows(_REV, (REVIEWER, AUDITOR, SEARCHER), "GetProbeImage", "GetCandidateImage"),
    **_rows(_SES, (ADMIN, ENROLLER, SEARCHER), "CreateSession", "RevokeSession"),
    **_rows(_SES, AGENCY_ROLES, "GetCallerIdentity"),
}


def authorize(method: str, principal: Principal | None) -> None:
    """Raise unless `principal` holds a role that may call `method`."""
    if principal is None:
        raise Unauthenticated("no credentials: send `authorization: Bearer <API key>` (see docs/api.md)")
    allowed = METHOD_ROLES.get(method)
    if principal.session_id and not method.startswith(_FS):
        # a session is for face calls under its case; it cannot mint sessions or keys, review or read audit
        raise PermissionDenied(f"{method.rsplit('/', 1)[-1]} cannot be called with session credentials: use an "
                               f"API key")
    if allowed is None:
        raise PermissionDenied(f"{method} is not open to API keys")
    if not allowed & principal.roles:
        raise PermissionDenied(f"{method.rsplit('/', 1)[-1]} needs one of the roles {', '.join(sorted(allowed))}; "
                               f"key {principal.key_id} has {', '.join(sorted(principal.roles)) or 'none'}")
