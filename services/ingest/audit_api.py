"""gRPC servicer of `lineup.v1.Audit` in ingest: auditors query and verify their own agency's audit trail.

The trail is read straight from the audit segments in the object store (`lineup.audit.segments`), so
answers reflect what the writer has stored, which lags the RPCs by the writer's batch linger. An auditor
sees exactly one chain, their agency's; the agency comes from the caller's credential, never from the
request, so there is no parameter to point at someone else's trail. A deployment-level credential (no
agency) with the auditor role reads the `_deployment` chain (unauthenticated calls, bootstrap actions).
"""

from __future__ import annotations

import grpc

from lineup.audit.chain import DEPLOYMENT_CHAIN
from lineup.audit.segments import AuditLog
from lineup.auth import require_principal
from lineup.v1 import audit_pb2, audit_pb2_grpc, common_pb2


class AuditServicer(audit_pb2_grpc.AuditServicer):
    def __init__(self, audit_log: AuditLog) -> None:
        self.log = audit_log

    @staticmethod
    def _chain() -> str:
        """The caller's chain (the auditor role is checked by the interceptor's role table)."""
        return require_principal(agency=False).agency_id or DEPLOYMENT_CHAIN

    def QueryAuditRecords(self, request: audit_pb2.QueryAuditRecordsRequest, context: grpc.ServicerContext
                          ) -> audit_pb2.QueryAuditRecordsResponse:
        chain = self._chain()
        records, token = self.log.query(
            chain, case_id=request.case_id, actor_key_id=request.actor_key_id, operation=request.operation,
            from_time=request.from_time if request.HasField("from_time") else None,
            to_time=request.to_time if request.HasField("to_time") else None,
            search_id=request.search_id, page=request.page)
        return audit_pb2.QueryAuditRecordsResponse(records=records,
                                                   page=common_pb2.PageResponse(next_page_token=token))

    def VerifyAuditChain(self, request: audit_pb2.VerifyAuditChainRequest, context: grpc.ServicerContext
                         ) -> audit_pb2.VerifyAuditChainResponse:
        return self.log.verify(self._chain())


def register(server: grpc.Server, servicer: AuditServicer) -> list[str]:
    audit_pb2_grpc.add_AuditServicer_to_server(servicer, server)
    return [audit_pb2.DESCRIPTOR.services_by_name["Audit"].full_name]
