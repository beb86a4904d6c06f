"""The Lineup side of the benchmark: a private set of the four services, end to end through the public API.

Why a private set: the shared services on 50051-50054 are in use by other engineers, and a 300k-face
gallery in the shared Milvus would disturb them (and their load would disturb our memory figures). So we
start our own Milvus engine (a temporary data directory, deleted afterwards) and our own ingest, detection,
embedding and search processes with the integration tests' `Pipeline` harness (free ports, a unique Kafka
topic prefix); Kafka, MinIO and Triton are the shared local stack's. Only these processes are stopped at
the end.

Real faces are enrolled through `IndexFaces` (ingest -> Kafka -> detection -> Triton -> embedding -> search
-> Milvus). Distractors go straight into the collection through `FaceStore.upsert_faces` (bulk upserts
of 5,000 rows) with the collection's pinned model version, then Milvus is flushed so that searches run
over sealed segments, as they would on a long-running gallery.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from lineup_tools.cli.bulk import IndexItem, index_files
from lineup_tools.devstack.accounts import local_client
from lineup_tools.devstack.base import stack_paths
from lineup_tools.devstack.milvus import private_engine
from lineup_tools.devstack.triton import GRPC_PORT as TRITON_GRPC_PORT

from lineup.client import Client
from lineup.scoring import load_score_model
from lineup.v1 import common_pb2, face_search_pb2
from search.milvus import INDEX_BUILD_PARAMS
from search.rows import FaceRow
from search.store import FaceStore
from tests.bench import floor_side
from tests.bench.crowd import Crowd, tile_of
from tests.bench.dataset import Photo, Plan
from tests.bench.distractors import DistractorSampler, fit
from tests.bench.stats import rate, summarize_ms
from tests.integration.pipeline_harness import Pipeline

AGENCY = "bench"
COLLECTION = "bench-gallery"
HOLDER = "lineup-bench"
DISTRACTOR_BATCH = 5000
#: start order (downstream first, the front door last); `audit` is started when the harness knows it
SERVICES = ("search", "embedding", "detection", "audit", "ingest")


def vm_hwm_mib(pid: int) -> float | None:
    """Peak resident memory (VmHWM) of a live process in MiB; None when it is gone or unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


@dataclass
class Stack:
    client: Client
    store: FaceStore
    milvus_uri: str
    milvus_pid: int
    pipeline: Pipeline


@contextmanager
def private_stack(sync_timeout_s: float) -> Iterator[Stack]:
    """Our Milvus engine + our four services; always torn down (only what this function started)."""
    with private_engine() as (uri, milvus_pid):
        pipeline = Pipeline(prefix=f"bench{os.getpid()}{int(time.time()) % 100000}.")
        try:
            extra = {"LINEUP_MILVUS_URI": uri, "LINEUP_SYNC_TIMEOUT_S": str(sync_timeout_s)}
            for name in SERVICES:
                if name in pipeline.ports:
                    pipeline.start(name, extra_env=extra)
            endpoint = f"127.0.0.1:{pipeline.ports['ingest']}"
            client = local_client(AGENCY, endpoint=endpoint, holder=HOLDER, timeout_s=sync_timeout_s + 30)
            store = FaceStore(uri, timeout_s=600)
            try:
                yield Stack(client, store, uri, milvus_pid, pipeline)
            finally:
                store.close()
                client.close()
        finally:
            pipeline.stop_all()


def memory(stack: Stack) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for run in stack.pipeline.running:
        out[run.name] = vm_hwm_mib(run.proc.pid)
    out["milvus engine (private)"] = vm_hwm_mib(stack.milvus_pid)
    for child in children(stack.milvus_pid):
        out[f"milvus engine child {child}"] = vm_hwm_mib(child)
    triton_pid = stack_paths().run_dir / "triton.pid"
    if triton_pid.is_file():
        pid = int(triton_pid.read_text().split()[0])
        out["triton (shared stack; includes other users' load)"] = vm_hwm_mib(pid)
        for child in children(pid):
            out[f"triton child {child} (shared)"] = vm_hwm_mib(child)
    return out


def create_collection(client: Client) -> str:
    try:
        client.call("DeleteCollection", face_search_pb2.DeleteCollectionRequest(collection_id=COLLECTION))
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
    resp = client.call("CreateCollection", face_search_pb2.CreateCollectionRequest(
        collection_id=COLLECTION, tags={"purpose": "benchmark"}))
    return str(resp.response.face_model_version)


def triton_counts() -> dict[str, tuple[int, int, int]]:
    """Per model on the shared Triton: (requests, inferences, executions) so far. Requests per execution
    above 1 means the dynamic batcher merged requests (of different images or messages)."""
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(f"127.0.0.1:{TRITON_GRPC_PORT}")
    try:
        stats = client.get_inference_statistics(as_json=True)
    finally:
        client.close()
    return {m["name"]: (int(m.get("inference_stats", {}).get("success", {}).get("count", 0)),
                        int(m.get("inference_count", 0)), int(m.get("execution_count", 0)))
            for m in stats.get("model_stats", [])}


def triton_batching(before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]
                    ) -> dict[str, dict[str, float]]:
    out = {}
    for name, (req, inf, ex) in after.items():
        r0, i0, e0 = before.get(name, (0, 0, 0))
        if ex - e0 > 0:
            out[name] = {"requests": req - r0, "inferences": inf - i0, "executions": ex - e0,
                         "requests_per_execution": round((req - r0) / (ex - e0), 2),
                         "inferences_per_execution": round((inf - i0) / (ex - e0), 2)}
    return out


def enroll(stack: Stack, photos: list[Photo], concurrency: int) -> dict[str, Any]:
    items = [IndexItem(p.path, p.label, p.label) for p in photos]
    counts = triton_counts()
    t0 = time.perf_counter()
    summary = index_files(stack.client, COLLECTION, items, concurrency=concurrency, progress=False)
    seconds = time.perf_counter() - t0
    return {"images": len(items), "images_ok": len(summary.succeeded), "faces": summary.faces_indexed,
            "seconds": round(seconds, 3), "images_per_s": round(rate(len(items), seconds), 3),
            "faces_per_s": round(rate(summary.faces_indexed, seconds), 3), "workers": concurrency,
            "failed": len(summary.failed), "triton": triton_batching(counts, triton_counts())}


def real_faces(stack: Stack) -> list[FaceRow]:
    rows: list[FaceRow] = []
    token = ""
    while True:
        page = stack.store.get_faces(AGENCY, COLLECTION, page_size=1000, page_token=token, with_embeddings=True)
        rows += page.faces
        token = page.next_page_token
        if not token:
            return rows


class IndexTwin:
    """The same gallery in a second collection built with the store's IVF_FLAT settings, to measure what an
    approximate index would cost in recall on these (real + fitted) embeddings: recall@10 of IVF vs the exact
    FLAT collection for the probes' own embeddings (from the in-process floor), and both store-level latencies."""

    COLLECTION = "bench-gallery-ivf"

    def __init__(self, stack: Stack, model_version: str, dimension: int, real: list[FaceRow]) -> None:
        self.exact = stack.store
        self.store = FaceStore(stack.milvus_uri, index_type="IVF_FLAT", timeout_s=600)
        self.store.ensure_collection(AGENCY, self.COLLECTION, model_version, dimension)
        self.store.upsert_faces(AGENCY, self.COLLECTION, real)

    def add(self, rows: list[FaceRow]) -> None:
        self.store.upsert_faces(AGENCY, self.COLLECTION, rows)

    def flush(self) -> None:
        self.store.flush(AGENCY, self.COLLECTION)

    def measure(self, probes: np.ndarray, k: int = 10) -> dict[str, Any]:
        hits = 0
        times: dict[str, list[float]] = {"FLAT": [], "IVF_FLAT": []}
        for q in probes.tolist():
            found: dict[str, set[str]] = {}
            for name, store, collection in (("FLAT", self.exact, COLLECTION),
                                            ("IVF_FLAT", self.store, self.COLLECTION)):
                t = time.perf_counter()
                result = store.search(AGENCY, collection, [q], top_k=k, min_raw_score=-1.0)
                times[name].append(time.perf_counter() - t)
                found[name] = {h.face.face_id for h in result.results[0]}
            hits += len(found["FLAT"] & found["IVF_FLAT"])
        params = self.store.search_params(k)["params"]  # what the store really used
        recall = round(hits / (k * len(probes)), 4) if len(probes) else None
        return {"k": k, "probes": len(probes), "recall_at_k": recall,
                "ivf": {"nlist": INDEX_BUILD_PARAMS["IVF_FLAT"]["nlist"], **params},
                "store_search_p50_ms": {name: summarize_ms(t).as_dict()["p50_ms"] for name, t in times.items()}}

    def close(self) -> None:
        self.store.drop_collection(AGENCY, self.COLLECTION)
        self.store.close()


class Gallery:
    """Grows the collection to a target size with distractors drawn from the real embeddings' fit."""

    def __init__(self, stack: Stack, model_version: str, real: np.ndarray, seed: int, twin: IndexTwin) -> None:
        self.stack = stack
        self.model_version = model_version
        self.real = len(real)
        self.added = 0
        self.sampler = DistractorSampler(fit(real), normalize=True, seed=seed)
        self.twin = twin
        self.fill_seconds = 0.0

    @property
    def size(self) -> int:
        return self.real + self.added

    def grow_to(self, target: int) -> None:
        t0 = time.perf_counter()
        while self.size < target:
            n = min(DISTRACTOR_BATCH, target - self.size)
            vectors = self.sampler.sample(n)
            rows = [FaceRow(face_id=f"distractor-{self.added + i:09d}", image_id=f"{self.added + i:064x}",
                            external_image_id=f"(distractor)/{self.added + i}", confidence=99.0,
                            face_model_version=self.model_version, embedding=tuple(map(float, v)))
                    for i, v in enumerate(vectors)]
            self.stack.store.upsert_faces(AGENCY, COLLECTION, rows)
            self.twin.add(rows)
            self.added += n
            if self.size % 100_000 < DISTRACTOR_BATCH or self.size == target:  # long work shows progress
                print(f"lineup: gallery {self.size:,} / {target:,} faces ({time.perf_counter() - t0:.0f} s)",
                      flush=True)
        self.stack.store.flush(AGENCY, COLLECTION)
        self.twin.flush()
        self.fill_seconds += time.perf_counter() - t0


def context(case_id: str) -> common_pb2.SearchContext:
    return common_pb2.SearchContext(case_id=case_id, purpose="investigation",
                                    justification="Lineup benchmark: latency and accuracy on lfw-dev")


#: ask for every candidate (cosine >= 0) so rank 1 is visible below the default threshold; the agency's
#: threshold floor still applies on the server (recorded as `server_threshold`); acceptance at the default
#: threshold is judged on the client from the raw score
LOOSE = common_pb2.Threshold(min_similarity=0.0)


def identity(external_image_id: str) -> str:
    return external_image_id.split("/", 1)[0]


def search_all(stack: Stack, probes: list[tuple[Photo, bool]], default_raw: float, case_id: str,
               ) -> tuple[list[float], dict[str, Any]]:
    times: list[float] = []
    rank1 = accepted = false_accepts = n_unknown = errors = 0
    applied = ""
    ctx = context(case_id)
    for photo, known in probes:
        req = face_search_pb2.SearchFacesByImageRequest(
            collection_id=COLLECTION, image=common_pb2.Image(bytes=photo.path.read_bytes()), max_faces=5,
            threshold=LOOSE, largest_face_only=True, context=ctx)
        t = time.perf_counter()
        try:
            resp = stack.client.call("SearchFacesByImage", req).response
        except grpc.RpcError as exc:
            errors += 1
            print(f"  search {photo.label}: {exc.code().name} {exc.details()}", flush=True)
            continue
        times.append(time.perf_counter() - t)
        floor = resp.provenance.threshold_applied
        applied = f"raw cosine >= {floor.raw_score:.4f} (estimated FMR {floor.estimated_fmr:.1g})"
        top_id, top_raw = "", -2.0
        if resp.results and resp.results[0].face_matches:
            best = resp.results[0].face_matches[0]
            top_id, top_raw = identity(best.face.external_image_id), best.score.raw_score
        if known:
            rank1 += top_id == photo.identity
            accepted += top_id == photo.identity and top_raw >= default_raw
        else:
            n_unknown += 1
            false_accepts += top_raw >= default_raw
    n_known = sum(1 for _, k in probes if k)
    accuracy = {"known_probes": n_known, "rank1_closed_set": rank1 / n_known if n_known else None,
                "rank1_accepted": accepted / n_known if n_known else None, "unknown_probes": n_unknown,
                "false_accepts": false_accepts,
                "threshold": f"raw cosine >= {default_raw:.4f} (collection default, estimated FMR 1e-4)",
                "errors": errors,
                # what the server applied to our `min_similarity 0` request: the agency's threshold floor, so
                # candidates below it are never seen and rank 1 counts only candidates above it
                "server_threshold": applied}
    return times, accuracy


def search_crowd(stack: Stack, crowd: Crowd, case_id: str) -> dict[str, Any]:
    req = face_search_pb2.SearchFacesByImageRequest(
        collection_id=COLLECTION, image=common_pb2.Image(bytes=crowd.jpeg), max_faces=1, threshold=LOOSE,
        max_probe_faces=100, context=context(case_id))
    t = time.perf_counter()
    resp = stack.client.call("SearchFacesByImage", req).response
    seconds = time.perf_counter() - t
    correct = 0
    for r in resp.results:
        box = r.searched_face.bounding_box
        truth = tile_of(crowd, (box.left + box.width / 2) * crowd.width, (box.top + box.height / 2) * crowd.height)
        if r.face_matches and truth is not None:
            correct += identity(r.face_matches[0].face.external_image_id) == truth
    return {"faces_in_photo": len(crowd.tiles), "faces_found": len(resp.results) + len(resp.unsearched_faces),
            "faces_searched": len(resp.results), "seconds": round(seconds, 3), "rank1_correct": correct}


def run(plan: Plan, sizes: list[int], crowd: Crowd, *, concurrency: int, seed: int, sync_timeout_s: float,
        crowd_at: int = 0) -> dict[str, Any]:
    """Enrol, then search at each gallery size; the crowd photo is searched once the gallery reaches
    `crowd_at` (the largest size both sides run; 0: the largest here), so both sides search the same size."""
    out: dict[str, Any] = {"search": {}}
    case_id = f"BENCH-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    with private_stack(sync_timeout_s) as stack:
        model_version = create_collection(stack.client)
        default_raw = load_score_model(model_version).default_raw
        print(f"lineup: private services up ({stack.client.endpoint}), collection pinned to {model_version}; "
              f"enrolling {len(plan.enroll)} photos with {concurrency} concurrent IndexFaces calls", flush=True)
        out["enroll"] = enroll(stack, plan.enroll, concurrency)
        print(f"lineup: enrolled {out['enroll']}", flush=True)
        rows = real_faces(stack)
        real = np.asarray([r.embedding for r in rows], dtype=np.float64)
        probes = [(p, True) for p in plan.known_probes] + [(p, False) for p in plan.unknown_probes]
        # the floor: the same models and code in this process, on the real faces (the services are idle now);
        # its probe embeddings also measure the recall of an approximate index below
        print(f"floor: the same probes in one process (onnxruntime), searching the {len(real)} real faces", flush=True)
        out["floor"], probe_vectors = floor_side.measure([p for p, _ in probes], real, model_version)
        print(f"floor: {out['floor']}", flush=True)
        twin = IndexTwin(stack, model_version, real.shape[1], rows)
        gallery = Gallery(stack, model_version, real, seed, twin)
        search_all(stack, probes[:2], default_raw, case_id)  # warm-up: first calls load models and connections
        try:
            for size in sizes:
                gallery.grow_to(size)
                times, accuracy = search_all(stack, probes, default_raw, case_id)
                out["search"][str(size)] = {"gallery": gallery.size, "real_faces": gallery.real,
                                            "latency": summarize_ms(times).as_dict(), "accuracy": accuracy,
                                            "index": twin.measure(probe_vectors)}
                print(f"lineup: gallery {gallery.size}: {out['search'][str(size)]['latency']} {accuracy} "
                      f"index {out['search'][str(size)]['index']}", flush=True)
                if size == (crowd_at or sizes[-1]):
                    out["crowd"] = search_crowd(stack, crowd, case_id)
                    out["crowd"]["gallery"] = gallery.size
                    print(f"lineup: crowd {out['crowd']}", flush=True)
        finally:
            twin.close()
        out["distractor_fill_s"] = round(gallery.fill_seconds, 1)
        out["memory_mib"] = memory(stack)
        out["real_embeddings"] = len(real)
    return out
