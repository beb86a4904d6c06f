"""gRPC servicer of `lineup.v1.Sessions` in ingest: case-bound credentials for AWS SDK programs.

A session is started with an API key and inherits at most that key's roles. Its case and purpose are checked
against the agency's policy now (a session for a purpose the agency does not allow is refused up front) and
again on every search made under it. The session document holds no secret: the AWS secret is derived from
the deployment's session signing key (`lineup.identity.sessions`).
"""

from __future__ import annotations

import time

import grpc

from ingest.access import Access
from lineup.auth import require_principal
from lineup.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from lineup.identity import roles as role_table
from lineup.identity import sessions
from lineup.identity.authenticator import role_names
from lineup.identity.store import IdentityStore, now_ts
from lineup.v1 import admin_pb2, session_pb2, session_pb2_grpc


class SessionsServicer(session_pb2_grpc.SessionsServicer):
    def __init__(self, identities: IdentityStore, access: Access, signing_key: str) -> None:
        self.identities = identities
        self.access = access
        self._signing_key = signing_key

    def CreateSession(self, request: session_pb2.CreateSessionRequest, context: grpc.ServicerContext
                      ) -> session_pb2.CreateSessionResponse:
        p = require_principal()
        if not self._signing_key:
            raise FailedPrecondition("sessions are not enabled on this deployment: the operator sets "
                                     "LINEUP_SESSION_SIGNING_KEY on ingest and rekognition")
        ttl = request.ttl_seconds or sessions.DEFAULT_TTL_S
        if not 60 <= ttl <= sessions.MAX_TTL_S:
            raise InvalidArgument(f"ttl_seconds={request.ttl_seconds} is out of range: use 60..{sessions.MAX_TTL_S} "
                                  f"(0 means {sessions.DEFAULT_TTL_S})")
        self.access.check_search(p, request.context)  # case, purpose (and justification if required) up front
        wanted = role_names(tuple(request.roles)) if request.roles else p.roles
        extra = wanted - p.roles
        if extra:
            raise PermissionDenied(f"a session cannot hold roles its key lacks: {', '.join(sorted(extra))}")
        usable = wanted & {role_table.ADMIN, role_table.ENROLLER, role_table.SEARCHER}
        if not usable:
            raise PermissionDenied("a session needs one of the roles admin, enroller or searcher")
        sid = sessions.new_session_id()
        created = now_ts()
        expires = int(time.time()) + ttl
        session = session_pb2.Session(
            session_id=sid, agency_id=p.agency_id, key_id=p.key_id, holder=p.holder, context=request.context,
            roles=sorted(admin_pb2.Role.Value(f"ROLE_{r.upper()}") for r in usable), created_at=created)
        session.expires_at.FromSeconds(expires)
        self.identities.put_session(session)
        return session_pb2.CreateSessionResponse(
            session=session, access_key_id=sid, secret_access_key=sessions.derive_secret(self._signing_key, sid),
            session_token=sessions.make_token(self._signing_key, sid, p.agency_id, expires))

    def RevokeSession(self, request: session_pb2.RevokeSessionRequest, context: grpc.ServicerContext
                      ) -> session_pb2.RevokeSessionResponse:
        """The session's own key holder, or an agency admin, may end it; another agency's id is NOT_FOUND."""
        p = require_principal()
        found = self.identities.get_session(request.session_id)
        if found is not None and found.agency_id == p.agency_id and found.key_id != p.key_id and \
                role_table.ADMIN not in p.roles:
            raise PermissionDenied("only the key that started a session or an agency admin can revoke it")
        return session_pb2.RevokeSessionResponse(session=self.identities.revoke_session(p.agency_id,
                                                                                        request.session_id))

    def GetCallerIdentity(self, request: session_pb2.GetCallerIdentityRequest, context: grpc.ServicerContext
                          ) -> session_pb2.GetCallerIdentityResponse:
        """Only the caller's own agency is described: the key decides which, nothing in the request does."""
        p = require_principal()
        agency = self.identities.require_agency(p.agency_id)
        return session_pb2.GetCallerIdentityResponse(
            agency_id=p.agency_id, agency_display_name=agency.display_name, key_id=p.key_id, holder=p.holder,
            roles=sorted(admin_pb2.Role.Value(f"ROLE_{r.upper()}") for r in p.roles), policy=agency.policy)


def register(server: grpc.Server, servicer: SessionsServicer) -> list[str]:
    session_pb2_grpc.add_SessionsServicer_to_server(servicer, server)
    return [session_pb2.DESCRIPTOR.services_by_name["Sessions"].full_name]
