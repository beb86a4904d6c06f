"""search.upserts: enrolment upserts merged across concurrent messages, each message keeping its own outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from lineup.errors import InvalidArgument, Unavailable
from search.rows import BoundingBox, FaceRow
from search.upserts import UpsertBatcher


def _rows(tag: str, n: int = 1) -> list[FaceRow]:
    return [FaceRow(face_id=f"{tag}-{i}", image_id="img", external_image_id="", user_id="", crop_bucket="b",
                    crop_key="k", confidence=99.0, bounding_box=BoundingBox(0, 0, 1, 1), indexed_at_ms=0,
                    face_model_version="m/1", embedding=(1.0,)) for i in range(n)]


class SlowStore:
    """Writes block until released, so that handlers pile up behind the first one."""

    def __init__(self, *, refuse: str = "", down: bool = False) -> None:
        self.calls: list[tuple[str, str, list[str]]] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        self.refuse = refuse
        self.down = down
        self._lock = threading.Lock()

    def write(self, agency: str, collection: str, rows: Sequence[FaceRow]) -> int:
        self.entered.set()
        self.release.wait(10)
        with self._lock:
            self.calls.append((agency, collection, [r.face_id for r in rows]))
        if self.down:
            raise Unavailable("vector store unreachable")
        if any(r.face_id.startswith(self.refuse) for r in rows) and self.refuse:
            raise InvalidArgument("bad rows")
        return len(rows)


def _pile_up(store: SlowStore, batcher: UpsertBatcher, jobs: list[tuple[str, str, str]], *, queued: int = -1
             ) -> list[BaseException | int]:
    """The first job writes alone and blocks; `queued` (default: all) of the rest queue behind it; then the
    store is released."""
    queued = len(jobs) - 1 if queued < 0 else queued
    outcomes: list[BaseException | int] = [0] * len(jobs)

    def run(i: int) -> None:
        agency, collection, tag = jobs[i]
        try:
            outcomes[i] = batcher.upsert(agency, collection, _rows(tag))
        except BaseException as exc:  # the outcome under test, whatever it is
            outcomes[i] = exc

    with ThreadPoolExecutor(len(jobs)) as pool:
        first = pool.submit(run, 0)
        assert store.entered.wait(10)
        rest = [pool.submit(run, i) for i in range(1, len(jobs))]
        deadline = time.monotonic() + 10
        while sum(len(q.waiting) for q in batcher._queues.values()) < queued:
            assert time.monotonic() < deadline, "the handlers never queued up"
            time.sleep(0.01)
        store.release.set()
        for f in [first, *rest]:
            f.result(timeout=20)
    return outcomes


def test_a_lone_message_is_written_at_once_alone() -> None:
    store = SlowStore()
    store.release.set()
    assert UpsertBatcher(store.write).upsert("a", "c", _rows("x", 2)) == 2
    assert store.calls == [("a", "c", ["x-0", "x-1"])]


def test_messages_arriving_while_one_writes_share_the_next_write() -> None:
    store = SlowStore()
    batcher = UpsertBatcher(store.write)
    outcomes = _pile_up(store, batcher, [("a", "c", "m0"), ("a", "c", "m1"), ("a", "c", "m2"), ("a", "c", "m3")])
    assert outcomes == [1, 1, 1, 1]
    assert store.calls[0] == ("a", "c", ["m0-0"])
    assert len(store.calls) == 2 and sorted(store.calls[1][2]) == ["m1-0", "m2-0", "m3-0"]
    assert batcher._queues == {}  # nothing kept once nobody waits


def test_collections_and_agencies_are_never_merged() -> None:
    store = SlowStore()
    outcomes = _pile_up(store, UpsertBatcher(store.write),
                        [("a", "c", "m0"), ("a", "c", "m1"), ("b", "c", "m2"), ("a", "d", "m3")], queued=1)
    assert outcomes == [1, 1, 1, 1]
    for agency, collection, ids in store.calls:
        tags = {i.split("-")[0] for i in ids}
        expected = {("a", "c"): {"m0", "m1"}, ("b", "c"): {"m2"}, ("a", "d"): {"m3"}}[(agency, collection)]
        assert tags <= expected


def test_one_messages_bad_rows_fail_that_message_alone() -> None:
    store = SlowStore(refuse="bad")
    outcomes = _pile_up(store, UpsertBatcher(store.write), [("a", "c", "m0"), ("a", "c", "m1"), ("a", "c", "bad"),
                                                            ("a", "c", "m3")])
    assert outcomes[0] == 1 and outcomes[1] == 1 and outcomes[3] == 1
    assert isinstance(outcomes[2], InvalidArgument)
    written = [ids for _, _, ids in store.calls]
    assert ["m1-0"] in written and ["m3-0"] in written  # retried one by one after the merged write failed


def test_an_unreachable_store_fails_every_queued_message_without_asking_again() -> None:
    store = SlowStore(down=True)
    outcomes = _pile_up(store, UpsertBatcher(store.write), [("a", "c", "m0"), ("a", "c", "m1"), ("a", "c", "m2")])
    assert all(isinstance(o, Unavailable) for o in outcomes)
    assert len(store.calls) == 2  # m0 alone, then m1 + m2 merged; no per-message retries


def test_merged_writes_are_bounded() -> None:
    store = SlowStore()
    outcomes = _pile_up(store, UpsertBatcher(store.write, max_rows=2),
                        [("a", "c", f"m{i}") for i in range(5)])
    assert outcomes == [1] * 5
    assert max(len(ids) for _, _, ids in store.calls) == 2


def test_a_writer_that_dies_never_leaves_a_waiter_hanging() -> None:
    class Boom(BaseException):
        pass

    store = SlowStore()
    dead = {"m1-0"}

    def write(agency: str, collection: str, rows: Sequence[FaceRow]) -> int:
        if dead & {r.face_id for r in rows}:
            raise Boom()  # not an Exception: escapes the per-message retry
        return store.write(agency, collection, rows)

    batcher = UpsertBatcher(write)
    outcomes = _pile_up(store, batcher, [("a", "c", "m0"), ("a", "c", "m1"), ("a", "c", "m2")])
    assert outcomes[0] == 1
    # whichever handler ran the dying write got Boom; the other queued one was told, not left waiting
    assert sorted(type(o).__name__ for o in outcomes[1:]) == ["Boom", "RuntimeError"]
    assert batcher._queues == {}
