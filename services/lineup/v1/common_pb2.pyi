import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LandmarkType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LANDMARK_TYPE_UNSPECIFIED: _ClassVar[LandmarkType]
    LANDMARK_TYPE_LEFT_EYE: _ClassVar[LandmarkType]
    LANDMARK_TYPE_RIGHT_EYE: _ClassVar[LandmarkType]
    LANDMARK_TYPE_NOSE: _ClassVar[LandmarkType]
    LANDMARK_TYPE_MOUTH_LEFT: _ClassVar[LandmarkType]
    LANDMARK_TYPE_MOUTH_RIGHT: _ClassVar[LandmarkType]

class QualityBand(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUALITY_BAND_UNSPECIFIED: _ClassVar[QualityBand]
    QUALITY_BAND_LOW: _ClassVar[QualityBand]
    QUALITY_BAND_MEDIUM: _ClassVar[QualityBand]
    QUALITY_BAND_HIGH: _ClassVar[QualityBand]

class QualityFilter(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUALITY_FILTER_UNSPECIFIED: _ClassVar[QualityFilter]
    QUALITY_FILTER_NONE: _ClassVar[QualityFilter]
    QUALITY_FILTER_AUTO: _ClassVar[QualityFilter]
    QUALITY_FILTER_LOW: _ClassVar[QualityFilter]
    QUALITY_FILTER_MEDIUM: _ClassVar[QualityFilter]
    QUALITY_FILTER_HIGH: _ClassVar[QualityFilter]

class UnindexedReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNINDEXED_REASON_UNSPECIFIED: _ClassVar[UnindexedReason]
    UNINDEXED_REASON_EXCEEDS_MAX_FACES: _ClassVar[UnindexedReason]
    UNINDEXED_REASON_EXTREME_POSE: _ClassVar[UnindexedReason]
    UNINDEXED_REASON_LOW_BRIGHTNESS: _ClassVar[UnindexedReason]
    UNINDEXED_REASON_LOW_SHARPNESS: _ClassVar[UnindexedReason]
    UNINDEXED_REASON_LOW_CONFIDENCE: _ClassVar[UnindexedReason]
    UNINDEXED_REASON_SMALL_BOUNDING_BOX: _ClassVar[UnindexedReason]
    UNINDEXED_REASON_LOW_FACE_QUALITY: _ClassVar[UnindexedReason]

class ResultLabel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESULT_LABEL_UNSPECIFIED: _ClassVar[ResultLabel]
    RESULT_LABEL_INVESTIGATIVE_LEAD: _ClassVar[ResultLabel]
LANDMARK_TYPE_UNSPECIFIED: LandmarkType
LANDMARK_TYPE_LEFT_EYE: LandmarkType
LANDMARK_TYPE_RIGHT_EYE: LandmarkType
LANDMARK_TYPE_NOSE: LandmarkType
LANDMARK_TYPE_MOUTH_LEFT: LandmarkType
LANDMARK_TYPE_MOUTH_RIGHT: LandmarkType
QUALITY_BAND_UNSPECIFIED: QualityBand
QUALITY_BAND_LOW: QualityBand
QUALITY_BAND_MEDIUM: QualityBand
QUALITY_BAND_HIGH: QualityBand
QUALITY_FILTER_UNSPECIFIED: QualityFilter
QUALITY_FILTER_NONE: QualityFilter
QUALITY_FILTER_AUTO: QualityFilter
QUALITY_FILTER_LOW: QualityFilter
QUALITY_FILTER_MEDIUM: QualityFilter
QUALITY_FILTER_HIGH: QualityFilter
UNINDEXED_REASON_UNSPECIFIED: UnindexedReason
UNINDEXED_REASON_EXCEEDS_MAX_FACES: UnindexedReason
UNINDEXED_REASON_EXTREME_POSE: UnindexedReason
UNINDEXED_REASON_LOW_BRIGHTNESS: UnindexedReason
UNINDEXED_REASON_LOW_SHARPNESS: UnindexedReason
UNINDEXED_REASON_LOW_CONFIDENCE: UnindexedReason
UNINDEXED_REASON_SMALL_BOUNDING_BOX: UnindexedReason
UNINDEXED_REASON_LOW_FACE_QUALITY: UnindexedReason
RESULT_LABEL_UNSPECIFIED: ResultLabel
RESULT_LABEL_INVESTIGATIVE_LEAD: ResultLabel

class Image(_message.Message):
    __slots__ = ("bytes", "object")
    BYTES_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    bytes: bytes
    object: ObjectRef
    def __init__(self, bytes: _Optional[bytes] = ..., object: _Optional[_Union[ObjectRef, _Mapping]] = ...) -> None: ...

class ObjectRef(_message.Message):
    __slots__ = ("bucket", "key")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("left", "top", "width", "height")
    LEFT_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    left: float
    top: float
    width: float
    height: float
    def __init__(self, left: _Optional[float] = ..., top: _Optional[float] = ..., width: _Optional[float] = ..., height: _Optional[float] = ...) -> None: ...

class Landmark(_message.Message):
    __slots__ = ("type", "x", "y")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    type: LandmarkType
    x: float
    y: float
    def __init__(self, type: _Optional[_Union[LandmarkType, str]] = ..., x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...

class Pose(_message.Message):
    __slots__ = ("yaw", "pitch", "roll")
    YAW_FIELD_NUMBER: _ClassVar[int]
    PITCH_FIELD_NUMBER: _ClassVar[int]
    ROLL_FIELD_NUMBER: _ClassVar[int]
    yaw: float
    pitch: float
    roll: float
    def __init__(self, yaw: _Optional[float] = ..., pitch: _Optional[float] = ..., roll: _Optional[float] = ...) -> None: ...

class FaceQuality(_message.Message):
    __slots__ = ("sharpness", "brightness", "face_size_px", "band")
    SHARPNESS_FIELD_NUMBER: _ClassVar[int]
    BRIGHTNESS_FIELD_NUMBER: _ClassVar[int]
    FACE_SIZE_PX_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    sharpness: float
    brightness: float
    face_size_px: int
    band: QualityBand
    def __init__(self, sharpness: _Optional[float] = ..., brightness: _Optional[float] = ..., face_size_px: _Optional[int] = ..., band: _Optional[_Union[QualityBand, str]] = ...) -> None: ...

class FaceDetail(_message.Message):
    __slots__ = ("bounding_box", "landmarks", "pose", "quality", "confidence")
    BOUNDING_BOX_FIELD_NUMBER: _ClassVar[int]
    LANDMARKS_FIELD_NUMBER: _ClassVar[int]
    POSE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    bounding_box: BoundingBox
    landmarks: _containers.RepeatedCompositeFieldContainer[Landmark]
    pose: Pose
    quality: FaceQuality
    confidence: float
    def __init__(self, bounding_box: _Optional[_Union[BoundingBox, _Mapping]] = ..., landmarks: _Optional[_Iterable[_Union[Landmark, _Mapping]]] = ..., pose: _Optional[_Union[Pose, _Mapping]] = ..., quality: _Optional[_Union[FaceQuality, _Mapping]] = ..., confidence: _Optional[float] = ...) -> None: ...

class UnindexedFace(_message.Message):
    __slots__ = ("face_detail", "reasons", "face_index")
    FACE_DETAIL_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    face_detail: FaceDetail
    reasons: _containers.RepeatedScalarFieldContainer[UnindexedReason]
    face_index: int
    def __init__(self, face_detail: _Optional[_Union[FaceDetail, _Mapping]] = ..., reasons: _Optional[_Iterable[_Union[UnindexedReason, str]]] = ..., face_index: _Optional[int] = ...) -> None: ...

class Face(_message.Message):
    __slots__ = ("face_id", "collection_id", "image_id", "external_image_id", "bounding_box", "confidence", "user_id", "face_model_version", "indexed_at")
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    BOUNDING_BOX_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    INDEXED_AT_FIELD_NUMBER: _ClassVar[int]
    face_id: str
    collection_id: str
    image_id: str
    external_image_id: str
    bounding_box: BoundingBox
    confidence: float
    user_id: str
    face_model_version: str
    indexed_at: _timestamp_pb2.Timestamp
    def __init__(self, face_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., image_id: _Optional[str] = ..., external_image_id: _Optional[str] = ..., bounding_box: _Optional[_Union[BoundingBox, _Mapping]] = ..., confidence: _Optional[float] = ..., user_id: _Optional[str] = ..., face_model_version: _Optional[str] = ..., indexed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MatchScore(_message.Message):
    __slots__ = ("similarity", "raw_score", "estimated_fmr")
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    RAW_SCORE_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_FMR_FIELD_NUMBER: _ClassVar[int]
    similarity: float
    raw_score: float
    estimated_fmr: float
    def __init__(self, similarity: _Optional[float] = ..., raw_score: _Optional[float] = ..., estimated_fmr: _Optional[float] = ...) -> None: ...

class Threshold(_message.Message):
    __slots__ = ("min_similarity", "min_raw_score", "max_fmr")
    MIN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    MIN_RAW_SCORE_FIELD_NUMBER: _ClassVar[int]
    MAX_FMR_FIELD_NUMBER: _ClassVar[int]
    min_similarity: float
    min_raw_score: float
    max_fmr: float
    def __init__(self, min_similarity: _Optional[float] = ..., min_raw_score: _Optional[float] = ..., max_fmr: _Optional[float] = ...) -> None: ...

class SearchContext(_message.Message):
    __slots__ = ("case_id", "purpose", "justification")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    purpose: str
    justification: str
    def __init__(self, case_id: _Optional[str] = ..., purpose: _Optional[str] = ..., justification: _Optional[str] = ...) -> None: ...

class PageRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class PageResponse(_message.Message):
    __slots__ = ("next_page_token",)
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    next_page_token: str
    def __init__(self, next_page_token: _Optional[str] = ...) -> None: ...
