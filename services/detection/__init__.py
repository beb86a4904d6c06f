"""The `detection` service: finds, measures and aligns faces (lineup.v1.DetectionService).

Shape: `__main__` (entrypoint) -> `settings` (typed config) -> `servicer` (gRPC API).
"""
