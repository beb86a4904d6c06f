"""gRPC servicer of `embedding`: `Embed` (aligned crops -> vectors) and `ListModels` (model card facts).

Every vector comes from the Triton-served model through the same `FaceEmbedder` as the Kafka stage, so a
direct call and the pipeline give the same embedding for the same chip.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
from opentelemetry import context as otel_context

from embedding.chips import check_crop_ref, decode_chip
from embedding.models import ServedModels
from embedding.settings import EmbeddingSettings
from lineup.errors import InvalidArgument
from lineup.objectstore import ObjectStore, agency_key
from lineup.v1 import embedding_pb2, embedding_pb2_grpc

#: EmbedRequest.crops: "at most 256"
MAX_CROPS = 256


class EmbeddingServiceServicer(embedding_pb2_grpc.EmbeddingServiceServicer):
    def __init__(self, settings: EmbeddingSettings, models: ServedModels, store: ObjectStore,
                 pool: ThreadPoolExecutor) -> None:
        self.settings = settings
        self.models = models
        self.store = store
        self.pool = pool

    def _chip(self, crop: embedding_pb2.Crop, agency_id: str, size: int) -> np.ndarray:
        source = crop.WhichOneof("source")
        if source == "png":
            return decode_chip(crop.png, size)
        if source == "object":
            check_crop_ref(crop.object, agency_id)
            return decode_chip(self.store.get(crop.object), size)
        raise InvalidArgument("a crop has neither png bytes nor an object reference")

    def Embed(self, request: embedding_pb2.EmbedRequest, context: grpc.ServicerContext
              ) -> embedding_pb2.EmbedResponse:
        model = self.models.for_request(request.face_model)
        if len(request.crops) > MAX_CROPS:
            raise InvalidArgument(f"{len(request.crops)} crops in one request; the limit is {MAX_CROPS}")
        agency_key(request.agency_id)  # validates the id that scopes object references
        parent = otel_context.get_current()  # object-store spans in the pool belong to this RPC's trace

        def chip(crop: embedding_pb2.Crop) -> np.ndarray:
            token = otel_context.attach(parent)
            try:
                return self._chip(crop, request.agency_id, model.chip_size)
            finally:
                otel_context.detach(token)

        chips = list(self.pool.map(chip, request.crops))
        out = embedding_pb2.EmbedResponse(face_model_version=model.version)
        if chips:
            for vector in self.models.embedder(model).embed(np.stack(chips)):
                out.embeddings.append(embedding_pb2.Embedding(values=vector.tolist()))
        return out

    def ListModels(self, request: embedding_pb2.ListModelsRequest, context: grpc.ServicerContext
                   ) -> embedding_pb2.ListModelsResponse:
        """The models this deployment serves, the default (new collections) first; collections pinned to
        a version not listed fail loudly."""
        return embedding_pb2.ListModelsResponse(models=[m.info() for m in self.models.models],
                                                default_model=self.models.default.name)


def register(server: grpc.Server, servicer: EmbeddingServiceServicer) -> Sequence[str]:
    embedding_pb2_grpc.add_EmbeddingServiceServicer_to_server(servicer, server)
    return [embedding_pb2.DESCRIPTOR.services_by_name["EmbeddingService"].full_name]
