"""gRPC servicer of `ingest`. RPCs that are not implemented yet answer UNIMPLEMENTED (the generated
base class), so clients get an honest status instead of a fake result."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from ingest.settings import IngestSettings
from lineup.v1 import face_search_pb2, face_search_pb2_grpc


class FaceSearchServicer(face_search_pb2_grpc.FaceSearchServicer):
    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings


def register(server: grpc.Server, servicer: FaceSearchServicer) -> Sequence[str]:
    face_search_pb2_grpc.add_FaceSearchServicer_to_server(servicer, server)
    return [face_search_pb2.DESCRIPTOR.services_by_name["FaceSearch"].full_name]
