"""Bounds on every field of every public request, checked before any work is done.

Protobuf accepts any length of string, any number of repeated items and (proto3 enums are open) any
integer as an enum value. A hostile caller uses exactly that: a 2 MiB justification that cannot fit in an
audit record, an enum value 99 that breaks whoever names it later, ten thousand ids in one call. One walk
over the message's descriptor, before the servicer runs, refuses all of it with INVALID_ARGUMENT naming the
field, so the servicers (and the audit record built from the request) only ever see bounded, known values.
Per-field rules that are about meaning (a collection id's alphabet, a page size) stay with the servicers.
"""

from __future__ import annotations

import re
import unicodedata

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from lineup.errors import InvalidArgument

#: what any string field may hold unless named below (ids, names, tokens)
DEFAULT_MAX_CHARS = 256
#: free text a person writes; line breaks and tabs are allowed there, other control characters nowhere
FREE_TEXT_MAX_CHARS = {"justification": 4096, "notes": 2000, "legal_basis": 2000}
#: longer structured strings
MAX_CHARS = {"key": 1024, "prefix": 1024, "page_token": 1024, "collection_id": 320, "display_name": 256}
#: bytes fields other than an image's own bytes (bounded by the image limits and the message size)
MAX_BYTES = 64 * 1024
IMAGE_BYTES_FIELD = "lineup.v1.Image.bytes"
MAX_REPEATED = 4096
MAX_MAP_ENTRIES = 64
MAX_MAP_KEY_CHARS = 128
MAX_DEPTH = 8

#: a collection id, everywhere it is accepted (front door, grants, the vector store, re-embedding)
COLLECTION_ID = re.compile(r"[A-Za-z0-9_.-]{1,255}")
COLLECTION_ID_RULE = "1-255 of a-z, A-Z, 0-9, '_', '.' and '-'"
#: candidates per probe face (and users per search) a search may return, and face ids per call
MAX_MATCHES = 4096
#: users a user search may return
MAX_USERS = 500
MAX_FACE_IDS_PER_CALL = MAX_REPEATED

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_EXCEPT_LAYOUT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def validate_request(request: Message) -> None:
    """Raise InvalidArgument naming the first field that is out of bounds."""
    _walk(request, "", 0)


def _walk(msg: Message, prefix: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidArgument(f"{prefix.rstrip('.') or 'request'} is nested too deeply")
    for fd, value in msg.ListFields():
        path = f"{prefix}{fd.name}"
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            _check_map(fd, value, path)
        elif fd.is_repeated:
            if len(value) > MAX_REPEATED:
                raise InvalidArgument(f"{path} has {len(value)} items; at most {MAX_REPEATED} are accepted per call")
            for i, item in enumerate(value):
                _check_value(fd, item, f"{path}[{i}]", depth)
        else:
            _check_value(fd, value, path, depth)


def _check_value(fd: FieldDescriptor, value: object, path: str, depth: int) -> None:
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        assert isinstance(value, Message)
        _walk(value, f"{path}.", depth + 1)
    elif fd.type == FieldDescriptor.TYPE_STRING:
        assert isinstance(value, str)
        check_text(path, value, max_chars=_max_chars(fd.name), free_text=fd.name in FREE_TEXT_MAX_CHARS)
    elif fd.type == FieldDescriptor.TYPE_BYTES:
        assert isinstance(value, bytes)
        if fd.full_name != IMAGE_BYTES_FIELD and len(value) > MAX_BYTES:
            raise InvalidArgument(f"{path} is {len(value)} bytes; the limit is {MAX_BYTES}")
    elif fd.type == FieldDescriptor.TYPE_ENUM:
        assert isinstance(value, int)
        if value not in fd.enum_type.values_by_number:
            known = ", ".join(v.name for v in fd.enum_type.values if v.number)
            raise InvalidArgument(f"{path}={value} is not a known {fd.enum_type.name}: use one of {known}")


def _check_map(fd: FieldDescriptor, value: object, path: str) -> None:
    entries = dict(value)  # type: ignore[call-overload]
    if len(entries) > MAX_MAP_ENTRIES:
        raise InvalidArgument(f"{path} has {len(entries)} entries; at most {MAX_MAP_ENTRIES} are accepted")
    value_fd = fd.message_type.fields_by_name["value"]
    for k, v in entries.items():
        check_text(f"{path} key", str(k), max_chars=MAX_MAP_KEY_CHARS)
        if value_fd.type == FieldDescriptor.TYPE_STRING:
            check_text(f"{path}[{str(k)[:40]!r}]", v, max_chars=DEFAULT_MAX_CHARS)


def _max_chars(name: str) -> int:
    return FREE_TEXT_MAX_CHARS.get(name) or MAX_CHARS.get(name) or DEFAULT_MAX_CHARS


def check_text(path: str, value: str, *, max_chars: int = DEFAULT_MAX_CHARS, free_text: bool = False) -> None:
    """A bounded string without control characters (free text may keep line breaks and tabs)."""
    if len(value) > max_chars:
        raise InvalidArgument(f"{path} is {len(value)} characters long; the limit is {max_chars}")
    if (_CONTROL_EXCEPT_LAYOUT if free_text else _CONTROL).search(value):
        raise InvalidArgument(f"{path} contains control characters; send printable text")
    if any(unicodedata.category(c) in {"Cs", "Co", "Cn"} for c in value):
        raise InvalidArgument(f"{path} contains unassigned or private-use characters; send printable text")
