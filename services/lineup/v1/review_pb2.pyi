import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lineup.v1 import common_pb2 as _common_pb2
from lineup.v1 import face_search_pb2 as _face_search_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReviewDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_DECISION_UNSPECIFIED: _ClassVar[ReviewDecision]
    REVIEW_DECISION_POSSIBLE_LEAD: _ClassVar[ReviewDecision]
    REVIEW_DECISION_NOT_A_MATCH: _ClassVar[ReviewDecision]
    REVIEW_DECISION_INCONCLUSIVE: _ClassVar[ReviewDecision]

class CandidateReviewState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CANDIDATE_REVIEW_STATE_UNSPECIFIED: _ClassVar[CandidateReviewState]
    CANDIDATE_REVIEW_STATE_UNREVIEWED: _ClassVar[CandidateReviewState]
    CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW: _ClassVar[CandidateReviewState]
    CANDIDATE_REVIEW_STATE_CONFIRMED_LEAD: _ClassVar[CandidateReviewState]
    CANDIDATE_REVIEW_STATE_NOT_A_MATCH: _ClassVar[CandidateReviewState]
    CANDIDATE_REVIEW_STATE_INCONCLUSIVE: _ClassVar[CandidateReviewState]
    CANDIDATE_REVIEW_STATE_DISPUTED: _ClassVar[CandidateReviewState]
    CANDIDATE_REVIEW_STATE_ERASED: _ClassVar[CandidateReviewState]
REVIEW_DECISION_UNSPECIFIED: ReviewDecision
REVIEW_DECISION_POSSIBLE_LEAD: ReviewDecision
REVIEW_DECISION_NOT_A_MATCH: ReviewDecision
REVIEW_DECISION_INCONCLUSIVE: ReviewDecision
CANDIDATE_REVIEW_STATE_UNSPECIFIED: CandidateReviewState
CANDIDATE_REVIEW_STATE_UNREVIEWED: CandidateReviewState
CANDIDATE_REVIEW_STATE_PENDING_SECOND_REVIEW: CandidateReviewState
CANDIDATE_REVIEW_STATE_CONFIRMED_LEAD: CandidateReviewState
CANDIDATE_REVIEW_STATE_NOT_A_MATCH: CandidateReviewState
CANDIDATE_REVIEW_STATE_INCONCLUSIVE: CandidateReviewState
CANDIDATE_REVIEW_STATE_DISPUTED: CandidateReviewState
CANDIDATE_REVIEW_STATE_ERASED: CandidateReviewState

class GetProbeImageRequest(_message.Message):
    __slots__ = ("search_id", "whole_photo", "probe_face_index")
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    WHOLE_PHOTO_FIELD_NUMBER: _ClassVar[int]
    PROBE_FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    search_id: str
    whole_photo: bool
    probe_face_index: int
    def __init__(self, search_id: _Optional[str] = ..., whole_photo: _Optional[bool] = ..., probe_face_index: _Optional[int] = ...) -> None: ...

class GetCandidateImageRequest(_message.Message):
    __slots__ = ("search_id", "face_id", "original_photo")
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_PHOTO_FIELD_NUMBER: _ClassVar[int]
    search_id: str
    face_id: str
    original_photo: bool
    def __init__(self, search_id: _Optional[str] = ..., face_id: _Optional[str] = ..., original_photo: _Optional[bool] = ...) -> None: ...

class EvidenceFace(_message.Message):
    __slots__ = ("face_index", "bounding_box")
    FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    BOUNDING_BOX_FIELD_NUMBER: _ClassVar[int]
    face_index: int
    bounding_box: _common_pb2.BoundingBox
    def __init__(self, face_index: _Optional[int] = ..., bounding_box: _Optional[_Union[_common_pb2.BoundingBox, _Mapping]] = ...) -> None: ...

class EvidenceImage(_message.Message):
    __slots__ = ("search_id", "image", "content_type", "faces", "face_id")
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    search_id: str
    image: bytes
    content_type: str
    faces: _containers.RepeatedCompositeFieldContainer[EvidenceFace]
    face_id: str
    def __init__(self, search_id: _Optional[str] = ..., image: _Optional[bytes] = ..., content_type: _Optional[str] = ..., faces: _Optional[_Iterable[_Union[EvidenceFace, _Mapping]]] = ..., face_id: _Optional[str] = ...) -> None: ...

class ReviewEntry(_message.Message):
    __slots__ = ("reviewer_key_id", "reviewer_holder", "decision", "notes", "time")
    REVIEWER_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_HOLDER_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    reviewer_key_id: str
    reviewer_holder: str
    decision: ReviewDecision
    notes: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, reviewer_key_id: _Optional[str] = ..., reviewer_holder: _Optional[str] = ..., decision: _Optional[_Union[ReviewDecision, str]] = ..., notes: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CandidateReview(_message.Message):
    __slots__ = ("probe_face_index", "face_id", "rank", "score", "state", "entries")
    PROBE_FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    probe_face_index: int
    face_id: str
    rank: int
    score: _common_pb2.MatchScore
    state: CandidateReviewState
    entries: _containers.RepeatedCompositeFieldContainer[ReviewEntry]
    def __init__(self, probe_face_index: _Optional[int] = ..., face_id: _Optional[str] = ..., rank: _Optional[int] = ..., score: _Optional[_Union[_common_pb2.MatchScore, _Mapping]] = ..., state: _Optional[_Union[CandidateReviewState, str]] = ..., entries: _Optional[_Iterable[_Union[ReviewEntry, _Mapping]]] = ...) -> None: ...

class RecordDecisionRequest(_message.Message):
    __slots__ = ("search_id", "probe_face_index", "face_id", "decision", "notes")
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    PROBE_FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    search_id: str
    probe_face_index: int
    face_id: str
    decision: ReviewDecision
    notes: str
    def __init__(self, search_id: _Optional[str] = ..., probe_face_index: _Optional[int] = ..., face_id: _Optional[str] = ..., decision: _Optional[_Union[ReviewDecision, str]] = ..., notes: _Optional[str] = ...) -> None: ...

class RecordDecisionResponse(_message.Message):
    __slots__ = ("candidate",)
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    candidate: CandidateReview
    def __init__(self, candidate: _Optional[_Union[CandidateReview, _Mapping]] = ...) -> None: ...

class GetSearchReviewRequest(_message.Message):
    __slots__ = ("search_id",)
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    search_id: str
    def __init__(self, search_id: _Optional[str] = ...) -> None: ...

class GetSearchReviewResponse(_message.Message):
    __slots__ = ("search_id", "collection_id", "context", "candidates", "provenance", "probe_faces", "searcher_holder", "time", "caller_ran_search")
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    PROBE_FACES_FIELD_NUMBER: _ClassVar[int]
    SEARCHER_HOLDER_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    CALLER_RAN_SEARCH_FIELD_NUMBER: _ClassVar[int]
    search_id: str
    collection_id: str
    context: _common_pb2.SearchContext
    candidates: _containers.RepeatedCompositeFieldContainer[CandidateReview]
    provenance: _face_search_pb2.SearchProvenance
    probe_faces: _containers.RepeatedCompositeFieldContainer[EvidenceFace]
    searcher_holder: str
    time: _timestamp_pb2.Timestamp
    caller_ran_search: bool
    def __init__(self, search_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., context: _Optional[_Union[_common_pb2.SearchContext, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[CandidateReview, _Mapping]]] = ..., provenance: _Optional[_Union[_face_search_pb2.SearchProvenance, _Mapping]] = ..., probe_faces: _Optional[_Iterable[_Union[EvidenceFace, _Mapping]]] = ..., searcher_holder: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., caller_ran_search: _Optional[bool] = ...) -> None: ...

class ListSearchesRequest(_message.Message):
    __slots__ = ("case_id", "page")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    page: _common_pb2.PageRequest
    def __init__(self, case_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class SearchSummary(_message.Message):
    __slots__ = ("search_id", "collection_id", "context", "candidate_count", "confirmed_leads", "time", "unreviewed", "pending_second_review", "disputed")
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_LEADS_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    UNREVIEWED_FIELD_NUMBER: _ClassVar[int]
    PENDING_SECOND_REVIEW_FIELD_NUMBER: _ClassVar[int]
    DISPUTED_FIELD_NUMBER: _ClassVar[int]
    search_id: str
    collection_id: str
    context: _common_pb2.SearchContext
    candidate_count: int
    confirmed_leads: int
    time: _timestamp_pb2.Timestamp
    unreviewed: int
    pending_second_review: int
    disputed: int
    def __init__(self, search_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., context: _Optional[_Union[_common_pb2.SearchContext, _Mapping]] = ..., candidate_count: _Optional[int] = ..., confirmed_leads: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unreviewed: _Optional[int] = ..., pending_second_review: _Optional[int] = ..., disputed: _Optional[int] = ...) -> None: ...

class ListSearchesResponse(_message.Message):
    __slots__ = ("searches", "page")
    SEARCHES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    searches: _containers.RepeatedCompositeFieldContainer[SearchSummary]
    page: _common_pb2.PageResponse
    def __init__(self, searches: _Optional[_Iterable[_Union[SearchSummary, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...
