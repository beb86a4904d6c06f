"""The `ingest` service: Lineup's public front door (lineup.v1.FaceSearch).

Shape: `__main__` (entrypoint) -> `settings` (typed config) -> `servicer` (gRPC API).
"""
