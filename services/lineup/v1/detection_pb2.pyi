from lineup.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DetectRequest(_message.Message):
    __slots__ = ("agency_id", "image", "max_faces", "store_crops", "request_id", "face_model")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MAX_FACES_FIELD_NUMBER: _ClassVar[int]
    STORE_CROPS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    image: _common_pb2.Image
    max_faces: int
    store_crops: bool
    request_id: str
    face_model: str
    def __init__(self, agency_id: _Optional[str] = ..., image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., max_faces: _Optional[int] = ..., store_crops: _Optional[bool] = ..., request_id: _Optional[str] = ..., face_model: _Optional[str] = ...) -> None: ...

class DetectedFace(_message.Message):
    __slots__ = ("face_index", "detail", "crop", "crop_png")
    FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CROP_FIELD_NUMBER: _ClassVar[int]
    CROP_PNG_FIELD_NUMBER: _ClassVar[int]
    face_index: int
    detail: _common_pb2.FaceDetail
    crop: _common_pb2.ObjectRef
    crop_png: bytes
    def __init__(self, face_index: _Optional[int] = ..., detail: _Optional[_Union[_common_pb2.FaceDetail, _Mapping]] = ..., crop: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., crop_png: _Optional[bytes] = ...) -> None: ...

class DetectResponse(_message.Message):
    __slots__ = ("faces", "image_width", "image_height", "detector_model_version")
    FACES_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[DetectedFace]
    image_width: int
    image_height: int
    detector_model_version: str
    def __init__(self, faces: _Optional[_Iterable[_Union[DetectedFace, _Mapping]]] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ..., detector_model_version: _Optional[str] = ...) -> None: ...
