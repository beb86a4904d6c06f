from lineup.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Crop(_message.Message):
    __slots__ = ("object", "png")
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    object: _common_pb2.ObjectRef
    png: bytes
    def __init__(self, object: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., png: _Optional[bytes] = ...) -> None: ...

class EmbedRequest(_message.Message):
    __slots__ = ("agency_id", "crops", "face_model", "request_id")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    CROPS_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    crops: _containers.RepeatedCompositeFieldContainer[Crop]
    face_model: str
    request_id: str
    def __init__(self, agency_id: _Optional[str] = ..., crops: _Optional[_Iterable[_Union[Crop, _Mapping]]] = ..., face_model: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class Embedding(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("embeddings", "face_model_version")
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    embeddings: _containers.RepeatedCompositeFieldContainer[Embedding]
    face_model_version: str
    def __init__(self, embeddings: _Optional[_Iterable[_Union[Embedding, _Mapping]]] = ..., face_model_version: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FaceModelInfo(_message.Message):
    __slots__ = ("name", "version", "dimension", "metric", "default_threshold", "default_fmr", "licence")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_FMR_FIELD_NUMBER: _ClassVar[int]
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    dimension: int
    metric: str
    default_threshold: float
    default_fmr: float
    licence: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., dimension: _Optional[int] = ..., metric: _Optional[str] = ..., default_threshold: _Optional[float] = ..., default_fmr: _Optional[float] = ..., licence: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "default_model")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MODEL_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[FaceModelInfo]
    default_model: str
    def __init__(self, models: _Optional[_Iterable[_Union[FaceModelInfo, _Mapping]]] = ..., default_model: _Optional[str] = ...) -> None: ...
