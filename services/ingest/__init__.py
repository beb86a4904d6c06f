"""The `ingest` service: Lineup's public front door. It authenticates, authorises, validates and audits
every call, stores originals, and hands image work to the Kafka pipeline; ranking and vectors belong to
the search service, which it calls over gRPC.

Wiring: `__main__.build(settings)` constructs everything below from `settings.IngestSettings`.

gRPC servicers, one module per proto service (lineup.v1):
- `face_search_api` — FaceSearch: collections, IndexFaces, the searches, CompareFaces, DetectFaces, users,
  bulk jobs, GetRequest
- `admin_api` — Admin: agencies, API keys, grants, policies
- `review_api` — Review: search records and examiner decisions (two-person rule)
- `audit_api` — Audit: reading and verifying the agency's audit chain
- `sessions_api` — Sessions: case-bound sessions

Workers (threads of the same process, started and stopped by `lineup.grpcserver.ServiceServer`):
- `results.ResultWaiter` — reads the results topic and wakes the synchronous call waiting for each result
- `jobs.JobRunner` — bulk enrolment jobs (StartIndexJob), resumable by any replica
- `retention.RetentionSweeper` — erases probes and faces past their retention, with receipts

Domain modules: `gateway` (store the image, publish the task, wait), `access` (who may search what),
`images` (what an accepted image is), `erasure`, `reviews`, `idempotency`, `paging`, `search_client`.
"""
