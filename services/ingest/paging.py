"""Offset pagination over lists the front door builds in memory (keys, grants, searches, jobs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from lineup.errors import InvalidArgument
from lineup.v1 import common_pb2

T = TypeVar("T")
MAX_PAGE = 1000


def page_of(items: Sequence[T], page: common_pb2.PageRequest) -> tuple[list[T], common_pb2.PageResponse]:
    size = page.page_size or 100
    if not 1 <= size <= MAX_PAGE:
        raise InvalidArgument(f"page_size={page.page_size} is out of range: use 1..{MAX_PAGE}")
    token = page.page_token or "0"
    if not token.isdigit():
        raise InvalidArgument("page_token is not one this API returned")
    start = int(token)
    end = start + size
    return list(items[start:end]), common_pb2.PageResponse(next_page_token=str(end) if end < len(items) else "")
