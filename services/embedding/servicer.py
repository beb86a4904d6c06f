"""gRPC servicer of `embedding`. RPCs that are not implemented yet answer UNIMPLEMENTED (the generated
base class), so clients get an honest status instead of a fake result."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from embedding.settings import EmbeddingSettings
from lineup.v1 import embedding_pb2, embedding_pb2_grpc


class EmbeddingServiceServicer(embedding_pb2_grpc.EmbeddingServiceServicer):
    def __init__(self, settings: EmbeddingSettings) -> None:
        self.settings = settings


def register(server: grpc.Server, servicer: EmbeddingServiceServicer) -> Sequence[str]:
    embedding_pb2_grpc.add_EmbeddingServiceServicer_to_server(servicer, server)
    return [embedding_pb2.DESCRIPTOR.services_by_name["EmbeddingService"].full_name]
