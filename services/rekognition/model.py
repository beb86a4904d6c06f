"""Rekognition's request and response shapes, read from the service model that ships in the botocore wheel.

Shapes are never copied by hand: `operation(name)` gives botocore's own `OperationModel`, and `check` walks a
JSON value against a shape the way the service does (required members, types, lengths, ranges, patterns,
enums), decoding base64 blobs on the way in. The same walk checks our responses in the tests, so a response
that an SDK would mis-parse fails a test rather than a customer's program.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

API_VERSION = "2016-06-27"
TARGET_PREFIX = "RekognitionService"


class ShapeError(Exception):
    """A value that does not fit its shape; `path` names the member, e.g. `Image.S3Object.Bucket`."""

    def __init__(self, path: str, message: str, *, too_large: bool = False) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.too_large = too_large


@functools.lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    model = botocore.session.get_session().get_service_model("rekognition", api_version=API_VERSION)
    assert model.metadata.get("targetPrefix") == TARGET_PREFIX
    return model


def operation(name: str) -> OperationModel | None:
    try:
        return service_model().operation_model(name)
    except Exception:  # botocore.exceptions.OperationNotFoundError
        return None


#: Java regex classes in the model (tag keys and values) that Python's `re` lacks, by their nearest equivalent
_JAVA_CLASSES = {r"\p{L}": r"\w", r"\p{N}": r"\w", r"\p{Z}": r"\s"}


@functools.lru_cache(maxsize=512)
def _pattern(expr: str) -> re.Pattern[str]:
    for java, python in _JAVA_CLASSES.items():
        expr = expr.replace(java, python)
    return re.compile(expr)


def check(shape: Shape, value: Any, path: str = "", *, decode_blobs: bool = True) -> Any:
    """`value` checked against `shape`; blobs are decoded from base64 when `decode_blobs` (requests), else
    left as strings (responses). Unknown structure members are dropped: newer SDKs may send members this
    model does not know, and the service ignores them as AWS does."""
    t = shape.type_name
    meta = shape.metadata
    if t == "structure":
        if not isinstance(value, dict):
            raise ShapeError(path, "expected an object")
        out = {}
        for name in shape.required_members:
            if value.get(name) is None:
                raise ShapeError(_join(path, name), "is required")
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                out[name] = check(member, value[name], _join(path, name), decode_blobs=decode_blobs)
        return out
    if t == "list":
        if not isinstance(value, list):
            raise ShapeError(path, "expected a list")
        _bounds(path, len(value), meta, "items")
        return [check(shape.member, v, f"{path}[{i}]", decode_blobs=decode_blobs) for i, v in enumerate(value)]
    if t == "map":
        if not isinstance(value, dict):
            raise ShapeError(path, "expected an object")
        _bounds(path, len(value), meta, "entries")
        return {check(shape.key, k, f"{path}.<key>"): check(shape.value, v, f"{path}.{k}", decode_blobs=decode_blobs)
                for k, v in value.items()}
    if t == "string":
        if not isinstance(value, str):
            raise ShapeError(path, "expected a string")
        _bounds(path, len(value), meta, "characters")
        if shape.enum and value not in shape.enum:
            raise ShapeError(path, f"{value!r} is not one of {', '.join(shape.enum)}")
        if "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
            raise ShapeError(path, f"{_shown(value)} does not match the pattern {meta['pattern']}")
        return value
    if t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ShapeError(path, "expected an integer")
        _range(path, value, meta)
        return value
    if t in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ShapeError(path, "expected a number")
        _range(path, value, meta)
        return float(value)
    if t == "boolean":
        if not isinstance(value, bool):
            raise ShapeError(path, "expected true or false")
        return value
    if t == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ShapeError(path, "expected a timestamp in epoch seconds")
        return value
    if t == "blob":
        if not isinstance(value, str):
            raise ShapeError(path, "expected base64 text")
        if not decode_blobs:
            return value
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ShapeError(path, "is not valid base64") from None
        if "max" in meta and len(raw) > meta["max"]:
            raise ShapeError(path, f"is {len(raw)} bytes; the limit is {meta['max']} bytes (larger images: use "
                             f"S3Object)", too_large=True)
        if "min" in meta and len(raw) < meta["min"]:
            raise ShapeError(path, f"must be at least {meta['min']} bytes")
        return raw
    raise ShapeError(path, f"unsupported shape type {t}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _shown(value: str) -> str:
    return repr(value if len(value) <= 64 else value[:64] + "...")


def _bounds(path: str, n: int, meta: dict[str, Any], unit: str) -> None:
    if "min" in meta and n < meta["min"]:
        raise ShapeError(path, f"must have at least {meta['min']} {unit}")
    if "max" in meta and n > meta["max"]:
        raise ShapeError(path, f"must have at most {meta['max']} {unit}")


def _range(path: str, value: float, meta: dict[str, Any]) -> None:
    if "min" in meta and value < meta["min"]:
        raise ShapeError(path, f"{value} is below the minimum {meta['min']}")
    if "max" in meta and value > meta["max"]:
        raise ShapeError(path, f"{value} is above the maximum {meta['max']}")
