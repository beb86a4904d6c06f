"""Manual benchmark of the face store on the Milvus engine (not part of the test suite; pytest ignores it).

    .venv/bin/python tests/bench/bench_store.py [--sizes 10000,100000] [--dim 128] [--index FLAT]
        [--repeat 20] [--uri URI --token T] [--max-seconds 1200]

It starts its own Milvus engine (lineup_tools.devstack.milvus) on a free port with a temporary data directory
(so the numbers are not disturbed by, and do not disturb, the dev stack), loads N random unit vectors per size through
`FaceStore.upsert_faces`, and reports insert throughput, search latency (1 query and 10 queries per
call, before and after a flush to Parquet segments), count/list latency and the server's memory (RSS and
peak RSS from /proc). Everything is torn down at the end; a watchdog kills the run after --max-seconds.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import numpy as np
from lineup_tools.devstack.milvus import private_engine

from search.rows import FaceRow
from search.store import FaceStore

AGENCY = "bench"
MODEL = "bench-model@1"


def _rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MiB of a process, from /proc; (0, 0) for a remote server (pid 0)."""
    if pid == 0:
        return 0.0, 0.0
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


@contextmanager
def _server(uri: str) -> Iterator[tuple[str, int]]:
    if uri:
        yield uri, 0
    else:
        with private_engine() as server:
            yield server


def _unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)  # type: ignore[no-any-return]


def _latency_ms(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, p95) wall time of `call` in ms, after one warm-up call."""
    call()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def bench_size(store: FaceStore, uri: str, token: str, pid: int, n: int, dim: int, repeat: int) -> None:
    cid = f"bench-{n}"
    store.ensure_collection(AGENCY, cid, MODEL, dim)
    vectors = _unit_vectors(n, dim, seed=n)
    queries = _unit_vectors(10, dim, seed=1)

    t0 = time.perf_counter()
    batch = 5000
    for start in range(0, n, batch):
        rows = [FaceRow(face_id=f"face-{i:08d}", image_id=f"{i:064x}", user_id=f"u{i % 1000}",
                        embedding=tuple(vectors[i].tolist())) for i in range(start, min(n, start + batch))]
        store.upsert_faces(AGENCY, cid, rows)
    insert_s = time.perf_counter() - t0
    rss, peak = _rss_mb(pid)
    print(f"\n== {n} faces, dim {dim}, index {store.index_type}")
    print(f"upsert: {insert_s:.1f} s = {n / insert_s:,.0f} faces/s (FaceStore, batches of 500 rows per RPC)")
    print(f"milvus RSS after load: {rss:.0f} MiB (peak {peak:.0f} MiB)")

    def report(stage: str) -> None:
        for label, qs, k in (("1 query, top 10", queries[:1], 10), ("1 query, top 100", queries[:1], 100),
                             ("10 queries, top 10", queries, 10)):
            med, p95 = _latency_ms(partial(store.search, AGENCY, cid, qs.tolist(), top_k=k, min_raw_score=-1.0),
                                   repeat)
            print(f"search {stage}, {label}: median {med:.1f} ms, p95 {p95:.1f} ms")
        med, p95 = _latency_ms(lambda: store.search(AGENCY, cid, queries[:1].tolist(), top_k=10,
                                                    min_raw_score=-1.0, user_id="u7"), repeat)
        print(f"search {stage}, 1 query, top 10, user filter: median {med:.1f} ms, p95 {p95:.1f} ms")
        med, _ = _latency_ms(lambda: store.count_faces(AGENCY, cid), max(3, repeat // 5))
        print(f"count {stage}: median {med:.1f} ms")
        med, _ = _latency_ms(lambda: store.get_faces(AGENCY, cid, page_size=1000), max(3, repeat // 5))
        print(f"list 1000 {stage}: median {med:.1f} ms")
        victims = iter(range(0 if stage == "unflushed" else n // 2, n, 10))
        med, _ = _latency_ms(lambda: store.delete_faces(AGENCY, cid, [f"face-{next(victims):08d}"]),
                             max(3, repeat // 5))
        print(f"delete 1 face {stage}: median {med:.1f} ms")

    report("unflushed")

    t0 = time.perf_counter()
    store.flush(AGENCY, cid)
    store.search(AGENCY, cid, queries[:1].tolist(), top_k=10, min_raw_score=-1.0)  # builds/loads the index
    print(f"flush + first search: {time.perf_counter() - t0:.1f} s")
    report("flushed")
    rss, peak = _rss_mb(pid)
    print(f"milvus RSS: {rss:.0f} MiB (peak {peak:.0f} MiB)")
    store.drop_collection(AGENCY, cid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--index", default="FLAT")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--uri", default="", help="benchmark this Milvus (e.g. a cluster) instead of a private "
                        "Milvus engine; uses agency 'bench' there, no memory figures")
    parser.add_argument("--token", default="")
    parser.add_argument("--max-seconds", type=float, default=1200.0, help="hard stop for the whole run")
    args = parser.parse_args()

    def watchdog() -> None:
        print(f"bench: over {args.max_seconds:.0f} s, stopping", file=sys.stderr)
        os.kill(os.getpid(), signal.SIGINT)  # unwinds through private_engine()'s cleanup

    timer = threading.Timer(args.max_seconds, watchdog)
    timer.daemon = True
    timer.start()
    try:
        with _server(args.uri) as (uri, pid):
            rss, _ = _rss_mb(pid)
            print(f"milvus {uri} idle RSS: {rss:.0f} MiB (cpus here: {os.cpu_count()})")
            store = FaceStore(uri, token=args.token, index_type=args.index, timeout_s=600)
            try:
                for n in (int(s) for s in args.sizes.split(",")):
                    bench_size(store, uri, args.token, pid, n, args.dim, args.repeat)
            finally:
                store.close()
    finally:
        timer.cancel()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
