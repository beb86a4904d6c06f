"""gRPC servicer of lineup.v1.Admin: agencies, API keys, policies and grants.

The deployment's bootstrap credential manages every agency; an agency `admin` key manages only its own
agency, and an id of another agency answers NOT_FOUND exactly like one that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import grpc
from google.protobuf import json_format

from ingest.paging import page_of
from lineup.audit.emit import current_draft
from lineup.auth import Principal, require_principal
from lineup.errors import InvalidArgument, NotFound
from lineup.identity import keys
from lineup.identity.roles import DEPLOYMENT_ADMIN
from lineup.identity.store import IdentityStore, is_past, now_ts
from lineup.v1 import admin_pb2, admin_pb2_grpc

#: (agency, collection) -> whether the agency has that collection
CollectionExists = Callable[[str, str], bool]



class AdminServicer(admin_pb2_grpc.AdminServicer):
    def __init__(self, identities: IdentityStore, collection_exists: CollectionExists) -> None:
        self.identities = identities
        self.collection_exists = collection_exists

    def _target_agency(self, p: Principal, agency_id: str) -> str:
        """The agency a call manages: any for the bootstrap credential, else only the caller's own."""
        if DEPLOYMENT_ADMIN in p.roles:
            if not agency_id:
                raise InvalidArgument("agency_id is required with the deployment credential")
            self.identities.require_agency(agency_id)
        else:
            agency_id = agency_id or p.agency_id
            if agency_id != p.agency_id:
                raise NotFound(f"agency {agency_id!r} not found")
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
        agency_id = self._target_agency(require_principal(agency=False), request.agency_id)
        if not request.holder.strip():
            raise InvalidArgument("holder is required: the person or system the key is issued to")
        roles = sorted(set(request.roles) - {admin_pb2.ROLE_UNSPECIFIED})
        if not roles:
            raise InvalidArgument("roles is empty: give at least one of admin, enroller, searcher, reviewer, auditor")
        if request.HasField("expires_at") and is_past(request.expires_at):
            raise InvalidArgument("expires_at is in the past")
        key_id, secret, digest = keys.new_key()
        key = admin_pb2.ApiKey(key_id=key_id, agency_id=agency_id, holder=request.holder.strip(), roles=roles,
                               created_at=now_ts())
        if request.HasField("expires_at"):
            key.expires_at.CopyFrom(request.expires_at)
        self.identities.put_key(key, digest)
        current_draft().details["key_id"] = key_id
        return admin_pb2.CreateApiKeyResponse(key=key, secret=secret)

    def ListApiKeys(self, request: admin_pb2.ListApiKeysRequest, context: grpc.ServicerContext
                    ) -> admin_pb2.ListApiKeysResponse:
        agency_id = self._target_agency(require_principal(agency=False), request.agency_id)
        items, page = page_of(self.identities.list_keys(agency_id), request.page)
        return admin_pb2.ListApiKeysResponse(keys=items, page=page)

    def RevokeApiKey(self, request: admin_pb2.RevokeApiKeyRequest, context: grpc.ServicerContext
                     ) -> admin_pb2.RevokeApiKeyResponse:
        p = require_principal(agency=False)
        found = self.identities.get_key(request.key_id)
        if found is None or (DEPLOYMENT_ADMIN not in p.roles and found[0].agency_id != p.agency_id):
            raise NotFound(f"API key {request.key_id!r} not found")
        current_draft().owner_agency_id = found[0].agency_id
        return admin_pb2.RevokeApiKeyResponse(key=self.identities.revoke_key(request.key_id))

    # ------------------------------------------------------------------------------------ grants
    def GrantCollectionAccess(self, request: admin_pb2.GrantCollectionAccessRequest,
                              context: grpc.ServicerContext) -> admin_pb2.GrantCollectionAccessResponse:
        p = require_principal(agency=False)
        if not request.collection_id or not self.collection_exists(p.agency_id, request.collection_id):
            raise NotFound(f"collection {request.collection_id!r} not found")
        grant = self.identities.create_grant(p.agency_id, request.collection_id, request.grantee_agency_id,
                                             request.legal_basis, request.expires_at)
        draft = current_draft()
        draft.owner_agency_id, draft.grant_id = grant.grantee_agency_id, grant.grant_id
        return admin_pb2.GrantCollectionAccessResponse(grant=grant)

    def RevokeGrant(self, request: admin_pb2.RevokeGrantRequest, context: grpc.ServicerContext
                    ) -> admin_pb2.RevokeGrantResponse:
        grant = self.identities.revoke_grant(require_principal(agency=False).agency_id, request.grant_id)
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
