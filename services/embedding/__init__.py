"""The `embedding` service: turns aligned crops into vectors via Triton (lineup.v1.EmbeddingService).

Shape: `__main__` (entrypoint: wires everything) -> `settings` (typed config) -> `servicer` (gRPC Embed,
ListModels) and `stage` (the batching `lineup.faces.detected` consumer) -> `chips`, `models` (domain:
chip decoding, model cards) -> `embedder` (mirror-averaged, L2-normalised)
-> Triton (through `lineup.modelkit.backends.TracedBackend`).
"""
