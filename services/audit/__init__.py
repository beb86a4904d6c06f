"""The `audit` service: the audit writer. It consumes `lineup.audit` and appends every record to its
agency's hash chain in the object store (`lineup.audit.segments`); it serves gRPC health only.

Shape: `__main__` (entrypoint: wires everything) -> `settings` (typed config) -> `consumer` (Kafka worker)
-> `writer` (domain: batch by chain, skip replays, append one segment per chain).
"""
