"""gRPC servicer of lineup.v1.Admin: agencies, API keys, policies and grants.

Who may do what:

* The deployment's bootstrap credential manages agencies (create, list, show, set policy) and creates an
  agency's *first* admin key — only keys with exactly the admin role, and only while the agency has no
  active admin key. It cannot mint searcher, enroller, reviewer or auditor keys, so a leaked bootstrap
  secret alone does not read an agency's faces or audit trail once the agency is set up. It can still list
  and revoke any key: that is the break-glass path when an agency's admins are gone or compromised (revoke,
  then create a fresh first admin key — every step audited).
* An agency `admin` key manages only its own agency.

No enumeration: every caller-supplied field is validated first (INVALID_ARGUMENT names the field and does
not depend on what exists), then existence, and "missing" and "belongs to someone else" are one refusal
with one message, so an id of another agency answers exactly like one that does not exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

import grpc
from google.protobuf import json_format

from ingest.paging import page_of
from lineup.audit.emit import current_draft
from lineup.auth import Principal, require_principal
from lineup.errors import InvalidArgument, NotFound, PermissionDenied
from lineup.identity import keys
from lineup.identity.holders import display_holder
from lineup.identity.roles import DEPLOYMENT_ADMIN
from lineup.identity.store import AGENCY_RE, IdentityStore, is_past, now_ts
from lineup.v1 import admin_pb2, admin_pb2_grpc
from lineup.validation import COLLECTION_ID, COLLECTION_ID_RULE

#: (agency, collection) -> whether the agency has that collection
CollectionExists = Callable[[str, str], bool]

_KEY_ID = re.compile(r"[0-9a-f]{16}")
_GRANT_ID = re.compile(r"g-[0-9a-f]{16}")
_VALID_ROLES = frozenset(v for v in admin_pb2.Role.values() if v != admin_pb2.ROLE_UNSPECIFIED)
_LEGAL_BASIS_MIN, _LEGAL_BASIS_MAX = 5, 2000


def agency_not_found(agency_id: str) -> NotFound:
    """The one refusal for an agency that does not exist or is not the caller's."""
    return NotFound(f"agency {agency_id!r} not found")


def check_agency_id(agency_id: str, field: str = "agency_id") -> None:
    if not AGENCY_RE.fullmatch(agency_id):
        raise InvalidArgument(f"{field} is invalid: use 2-63 of a-z, 0-9 and '-', starting with a letter or digit")


def check_roles(values: Sequence[int]) -> list[int]:
    """The distinct roles of a request, each a known role; refused (naming the value) otherwise."""
    unknown = sorted({v for v in values if v not in _VALID_ROLES})
    if unknown:
        raise InvalidArgument(f"roles contains unknown value(s) {unknown}: use admin, enroller, searcher, reviewer, "
                              "auditor")
    roles = sorted(set(values))
    if not roles:
        raise InvalidArgument("roles is empty: give at least one of admin, enroller, searcher, reviewer, auditor")
    return roles


def _bootstrap(p: Principal) -> bool:
    return DEPLOYMENT_ADMIN in p.roles


class AdminServicer(admin_pb2_grpc.AdminServicer):
    def __init__(self, identities: IdentityStore, collection_exists: CollectionExists) -> None:
        self.identities = identities
        self.collection_exists = collection_exists

    def _target_agency(self, p: Principal, agency_id: str) -> str:
        """The agency a call manages: any existing one for the bootstrap credential, else only the caller's own
        (another agency's id answers like a missing one)."""
        if _bootstrap(p):
            if not agency_id:
                raise InvalidArgument("agency_id is required with the deployment credential")
            check_agency_id(agency_id)
            if self.identities.get_agency(agency_id) is None:
                raise agency_not_found(agency_id)
        else:
            agency_id = agency_id or p.agency_id
            check_agency_id(agency_id)
            if agency_id != p.agency_id:
                raise agency_not_found(agency_id)
        current_draft().owner_agency_id = agency_id
        return agency_id

    # ---------------------------------------------------------------------------------- agencies
    def CreateAgency(self, request: admin_pb2.CreateAgencyRequest, context: grpc.ServicerContext
                     ) -> admin_pb2.CreateAgencyResponse:
        agency, created = self.identities.create_agency(
            request.agency_id, request.display_name, request.policy if request.HasField("policy") else None)
        current_draft().owner_agency_id = agency.agency_id
        return admin_pb2.CreateAgencyResponse(agency=agency, created=created)

    def GetAgency(self, request: admin_pb2.GetAgencyRequest, context: grpc.ServicerContext
                  ) -> admin_pb2.GetAgencyResponse:
        agency_id = self._target_agency(require_principal(agency=False), request.agency_id)
        return admin_pb2.GetAgencyResponse(agency=self.identities.require_agency(agency_id))

    def ListAgencies(self, request: admin_pb2.ListAgenciesRequest, context: grpc.ServicerContext
                     ) -> admin_pb2.ListAgenciesResponse:
        items, page = page_of(self.identities.list_agencies(), request.page)
        return admin_pb2.ListAgenciesResponse(agencies=items, page=page)

    def SetAgencyPolicy(self, request: admin_pb2.SetAgencyPolicyRequest, context: grpc.ServicerContext
                        ) -> admin_pb2.SetAgencyPolicyResponse:
        agency_id = self._target_agency(require_principal(agency=False), request.agency_id)
        agency = self.identities.set_policy(agency_id, request.policy)
        current_draft().details["policy"] = json.dumps(json_format.MessageToDict(request.policy), sort_keys=True)
        return admin_pb2.SetAgencyPolicyResponse(agency=agency)

    # -------------------------------------------------------------------------------------- keys
    def CreateApiKey(self, request: admin_pb2.CreateApiKeyRequest, context: grpc.ServicerContext
                     ) -> admin_pb2.CreateApiKeyResponse:
        p = require_principal(agency=False)
        holder = display_holder(request.holder)
        roles = check_roles(list(request.roles))
        if request.HasField("expires_at") and is_past(request.expires_at):
            raise InvalidArgument("expires_at is in the past")
        if _bootstrap(p) and roles != [admin_pb2.ROLE_ADMIN]:
            raise PermissionDenied("the deployment credential creates only an agency's first admin key (roles = "
                                   "[admin]); that admin then creates the agency's other keys")
        agency_id = self._target_agency(p, request.agency_id)
        if _bootstrap(p) and self._has_active_admin(agency_id):
            raise PermissionDenied(f"agency {agency_id!r} already has an active admin key; its admin creates further "
                                   "keys. Break glass: revoke the agency's admin keys with the deployment "
                                   "credential first (audited), then create a new first admin key")
        key_id, secret, digest = keys.new_key()
        key = admin_pb2.ApiKey(key_id=key_id, agency_id=agency_id, holder=holder, roles=roles,  # type: ignore[arg-type]
                               created_at=now_ts())
        if request.HasField("expires_at"):
            key.expires_at.CopyFrom(request.expires_at)
        self.identities.put_key(key, digest)
        current_draft().details["key_id"] = key_id
        return admin_pb2.CreateApiKeyResponse(key=key, secret=secret)

    def _has_active_admin(self, agency_id: str) -> bool:
        return any(admin_pb2.ROLE_ADMIN in k.roles and not k.HasField("revoked_at") and not is_past(k.expires_at)
                   for k in self.identities.list_keys(agency_id))

    def ListApiKeys(self, request: admin_pb2.ListApiKeysRequest, context: grpc.ServicerContext
                    ) -> admin_pb2.ListApiKeysResponse:
        agency_id = self._target_agency(require_principal(agency=False), request.agency_id)
        items, page = page_of(self.identities.list_keys(agency_id), request.page)
        return admin_pb2.ListApiKeysResponse(keys=items, page=page)

    def RevokeApiKey(self, request: admin_pb2.RevokeApiKeyRequest, context: grpc.ServicerContext
                     ) -> admin_pb2.RevokeApiKeyResponse:
        p = require_principal(agency=False)
        if not _KEY_ID.fullmatch(request.key_id):
            raise InvalidArgument("key_id must be the 16 hex digits of a key id (see ListApiKeys)")
        found = self.identities.get_key(request.key_id)
        if found is None or (not _bootstrap(p) and found[0].agency_id != p.agency_id):
            raise NotFound(f"API key {request.key_id!r} not found")
        current_draft().owner_agency_id = found[0].agency_id
        return admin_pb2.RevokeApiKeyResponse(key=self.identities.revoke_key(request.key_id))

    # ------------------------------------------------------------------------------------ grants
    def GrantCollectionAccess(self, request: admin_pb2.GrantCollectionAccessRequest,
                              context: grpc.ServicerContext) -> admin_pb2.GrantCollectionAccessResponse:
        """Fields first, then existence: a refusal never depends on whether the grantee agency exists unless
        every field is valid (and then "missing" has one message); see the module docstring."""
        p = require_principal(agency=False)
        cid, grantee = request.collection_id, request.grantee_agency_id
        if not COLLECTION_ID.fullmatch(cid) or set(cid) == {"."}:
            raise InvalidArgument(f"collection_id is invalid: use {COLLECTION_ID_RULE} (one of your agency's "
                                  f"collections)")
        check_agency_id(grantee, "grantee_agency_id")
        basis = request.legal_basis.strip()
        if not _LEGAL_BASIS_MIN <= len(basis) <= _LEGAL_BASIS_MAX:
            raise InvalidArgument(f"legal_basis is required ({_LEGAL_BASIS_MIN}-{_LEGAL_BASIS_MAX} characters): cite "
                                  "the agreement or order that allows this sharing")
        if not request.HasField("expires_at") or is_past(request.expires_at):
            raise InvalidArgument("expires_at is required and must be in the future")
        if grantee == p.agency_id:
            raise InvalidArgument("an agency cannot grant access to itself")
        if not self.collection_exists(p.agency_id, cid):
            raise NotFound(f"collection {cid!r} not found")
        if self.identities.get_agency(grantee) is None:
            raise agency_not_found(grantee)
        grant = self.identities.create_grant(p.agency_id, cid, grantee, basis, request.expires_at)
        draft = current_draft()
        draft.owner_agency_id, draft.grant_id = grant.grantee_agency_id, grant.grant_id
        return admin_pb2.GrantCollectionAccessResponse(grant=grant)

    def RevokeGrant(self, request: admin_pb2.RevokeGrantRequest, context: grpc.ServicerContext
                    ) -> admin_pb2.RevokeGrantResponse:
        p = require_principal(agency=False)
        if not _GRANT_ID.fullmatch(request.grant_id):
            raise InvalidArgument("grant_id must look like g-<16 hex digits> (see ListGrants)")
        grant = self.identities.revoke_grant(p.agency_id, request.grant_id)
        draft = current_draft()
        draft.owner_agency_id, draft.grant_id = grant.grantee_agency_id, grant.grant_id
        return admin_pb2.RevokeGrantResponse(grant=grant)

    def ListGrants(self, request: admin_pb2.ListGrantsRequest, context: grpc.ServicerContext
                   ) -> admin_pb2.ListGrantsResponse:
        agency_id = require_principal(agency=False).agency_id
        grants = [g for g in self.identities.all_grants()
                  if (g.grantee_agency_id if request.received else g.owner_agency_id) == agency_id]
        items, page = page_of(grants, request.page)
        return admin_pb2.ListGrantsResponse(grants=items, page=page)


def register(server: grpc.Server, servicer: AdminServicer) -> Sequence[str]:
    admin_pb2_grpc.add_AdminServicer_to_server(servicer, server)
    return [admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name]
