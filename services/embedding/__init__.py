"""The `embedding` service: turns aligned crops into vectors via Triton (lineup.v1.EmbeddingService).

Shape: `__main__` (entrypoint) -> `settings` (typed config) -> `servicer` (gRPC API).
"""
