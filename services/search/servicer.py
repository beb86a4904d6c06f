"""gRPC servicer of `search`. RPCs that are not implemented yet answer UNIMPLEMENTED (the generated
base class), so clients get an honest status instead of a fake result."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from lineup.v1 import search_pb2, search_pb2_grpc
from search.settings import SearchSettings


class SearchServiceServicer(search_pb2_grpc.SearchServiceServicer):
    def __init__(self, settings: SearchSettings) -> None:
        self.settings = settings


def register(server: grpc.Server, servicer: SearchServiceServicer) -> Sequence[str]:
    search_pb2_grpc.add_SearchServiceServicer_to_server(servicer, server)
    return [search_pb2.DESCRIPTOR.services_by_name["SearchService"].full_name]
