"""The `search` service: the only owner of the vector store schema (lineup.v1.SearchService) and the
pipeline's last stage (lineup.faces.embedded -> results).

Shape: `__main__` (entrypoint) -> `settings` (typed config) -> `servicer` (gRPC API) and `stage` (Kafka
worker), both over `store` (every Milvus call).
"""
