"""gRPC servicer of lineup.v1.Review: examiners' decisions on the candidates of their agency's searches, and
the images they compare (ingest.evidence decides who may see which)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from ingest.evidence import EvidenceImages
from ingest.paging import page_of
from ingest.reviews import SearchRecords
from lineup.audit.emit import current_draft
from lineup.auth import require_principal
from lineup.identity.roles import AUDITOR, REVIEWER
from lineup.v1 import review_pb2, review_pb2_grpc


class ReviewServicer(review_pb2_grpc.ReviewServicer):
    def __init__(self, searches: SearchRecords, images: EvidenceImages) -> None:
        self.searches = searches
        self.images = images

    def RecordDecision(self, request: review_pb2.RecordDecisionRequest, context: grpc.ServicerContext
                       ) -> review_pb2.RecordDecisionResponse:
        candidate = self.searches.decide(require_principal(), request)
        current_draft().details["review.state"] = review_pb2.CandidateReviewState.Name(candidate.state)
        return review_pb2.RecordDecisionResponse(candidate=candidate)

    def GetSearchReview(self, request: review_pb2.GetSearchReviewRequest, context: grpc.ServicerContext
                        ) -> review_pb2.GetSearchReviewResponse:
        p = require_principal()
        review = self.searches.review(p.agency_id, request.search_id)
        draft = current_draft()
        draft.case_id, draft.search_id, draft.collection_id = (review.context.case_id, review.search_id,
                                                               review.collection_id)
        review.caller_ran_search = self.searches.ran_by(p, request.search_id)
        if not (review.caller_ran_search or {REVIEWER, AUDITOR} & p.roles):
            review.searcher_holder = ""  # who ran a search is for its examiners and auditors, not other searchers
        return review

    def ListSearches(self, request: review_pb2.ListSearchesRequest, context: grpc.ServicerContext
                     ) -> review_pb2.ListSearchesResponse:
        current_draft().case_id = request.case_id[:128]  # listing one case's searches is part of its trail
        items, page = page_of(self.searches.list_searches(require_principal().agency_id, request.case_id), request.page)
        return review_pb2.ListSearchesResponse(searches=items, page=page)

    def GetProbeImage(self, request: review_pb2.GetProbeImageRequest, context: grpc.ServicerContext
                      ) -> review_pb2.EvidenceImage:
        return self.images.probe(require_principal(), request)

    def GetCandidateImage(self, request: review_pb2.GetCandidateImageRequest, context: grpc.ServicerContext
                          ) -> review_pb2.EvidenceImage:
        return self.images.candidate(require_principal(), request)


def register(server: grpc.Server, servicer: ReviewServicer) -> Sequence[str]:
    review_pb2_grpc.add_ReviewServicer_to_server(servicer, server)
    return [review_pb2.DESCRIPTOR.services_by_name["Review"].full_name]
