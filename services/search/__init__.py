"""The `search` service: the only owner of the vector store schema (lineup.v1.SearchService).

Shape: `__main__` (entrypoint) -> `settings` (typed config) -> `servicer` (gRPC API).
"""
