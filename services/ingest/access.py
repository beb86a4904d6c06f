"""Tenancy and search policy for the front door: whose collection a call reaches, and whether a search may run.

A collection is named `<collection>` inside the caller's agency, or `<owner agency>/<collection>` for a
collection another agency granted the caller search access to. A missing grant and a missing collection
give the same NOT_FOUND, so a caller learns nothing about another agency's collections.
"""

from __future__ import annotations

from dataclasses import dataclass

from lineup.audit.emit import current_draft
from lineup.auth import Principal
from lineup.errors import FailedPrecondition, NotFound
from lineup.identity.store import IdentityStore, grant_active
from lineup.v1 import admin_pb2, common_pb2


@dataclass(frozen=True)
class Target:
    owner_agency_id: str
    collection_id: str
    grant_id: str = ""

    @property
    def granted(self) -> bool:
        return bool(self.grant_id)


class Access:
    def __init__(self, identities: IdentityStore) -> None:
        self.identities = identities

    def searchable(self, p: Principal, collection_id: str) -> Target:
        """The caller's own collection, or one another agency granted it and has not revoked or let expire."""
        owner, sep, name = collection_id.partition("/")
        if not sep or owner == p.agency_id:
            return Target(p.agency_id, name if sep else collection_id)
        grant = self.identities.active_grant(owner, name, p.agency_id)
        if grant is None:
            raise NotFound(f"collection {collection_id!r} not found")
        draft = current_draft()
        draft.owner_agency_id, draft.grant_id = owner, grant.grant_id
        return Target(owner, name, grant.grant_id)

    def policy(self, agency_id: str) -> admin_pb2.AgencyPolicy:
        agency = self.identities.get_agency(agency_id)
        if agency is None:
            raise FailedPrecondition(f"agency {agency_id!r} is not registered; a deployment admin creates it with "
                                     f"`lineup admin agencies create`")
        return agency.policy

    def check_search(self, p: Principal, ctx: common_pb2.SearchContext, target: Target | None = None
                     ) -> list[common_pb2.Threshold]:
        """Enforce the caller's search policy; returns the threshold floors that apply (the caller's agency's,
        and the owner's for a granted collection): the strictest wins."""
        missing = [name for name in ("case_id", "purpose") if not getattr(ctx, name).strip()]
        if missing:
            raise FailedPrecondition(f"every search needs a case id and a purpose; missing: {', '.join(missing)} "
                                     f"(set context.case_id and context.purpose)")
        policy = self.policy(p.agency_id)
        if ctx.purpose not in policy.allowed_purposes:
            allowed = ", ".join(policy.allowed_purposes) or "none configured yet; an admin sets them"
            raise FailedPrecondition(f"purpose {ctx.purpose!r} is not one of agency {p.agency_id}'s allowed "
                                     f"purposes ({allowed})")
        if policy.require_justification and not ctx.justification.strip():
            raise FailedPrecondition(f"agency {p.agency_id} requires a justification on every search "
                                     f"(set context.justification)")
        floors = [policy.threshold_floor] if policy.HasField("threshold_floor") else []
        if target is not None and target.owner_agency_id != p.agency_id:
            owner = self.policy(target.owner_agency_id)
            if owner.HasField("threshold_floor"):
                floors.append(owner.threshold_floor)
        return floors

    def received_grants(self, agency_id: str) -> list[admin_pb2.Grant]:
        return [g for g in self.identities.all_grants() if g.grantee_agency_id == agency_id and grant_active(g)]
