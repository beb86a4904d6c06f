"""Index many image files through IndexFaces with a few requests in flight and a progress bar.

Each file is its own synchronous request, so one bad file (unreadable, no face, rejected) is reported
with its own status and never stops the others. A handful of concurrent requests keeps the pipeline
busy (detection and embedding batch across requests) without flooding a small machine.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from tqdm import tqdm

from lineup.client import Client
from lineup.v1 import common_pb2, face_search_pb2
from lineup_tools.cli.render import format_rpc_error, reason


@dataclass(frozen=True)
class IndexItem:
    path: Path
    external_image_id: str = ""
    label: str = ""  # how the file is named in messages (relative path)


@dataclass
class IndexOutcome:
    item: IndexItem
    response: Any = None  # IndexFacesResponse on success
    error: str = ""  # one line `error: STATUS: details` otherwise


@dataclass
class BulkSummary:
    outcomes: list[IndexOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[IndexOutcome]:
        return [o for o in self.outcomes if o.error]

    @property
    def succeeded(self) -> list[IndexOutcome]:
        return [o for o in self.outcomes if not o.error]

    @property
    def faces_indexed(self) -> int:
        return sum(len(o.response.face_records) for o in self.succeeded)

    @property
    def unindexed_reasons(self) -> Counter[str]:
        return Counter(reason(r) for o in self.succeeded for f in o.response.unindexed_faces for r in f.reasons)

    @property
    def unindexed_faces(self) -> int:
        return sum(len(o.response.unindexed_faces) for o in self.succeeded)

    def render(self) -> str:
        """The closing summary: what was indexed, what was not and why, which files failed."""
        ok = self.succeeded
        lines = [f"indexed {self.faces_indexed} face(s) from {sum(1 for o in ok if o.response.face_records)} "
                 f"of {len(self.outcomes)} image(s); {self.unindexed_faces} face(s) not indexed; "
                 f"{len(self.failed)} image(s) failed"]
        if self.unindexed_reasons:
            lines.append("not indexed, by reason: " + ", ".join(
                f"{name} {n}" for name, n in self.unindexed_reasons.most_common()))
        empty = [o for o in ok if not o.response.face_records]
        if empty:
            lines.append("images with no face indexed:")
            for o in empty:
                why = sorted({reason(r) for f in o.response.unindexed_faces for r in f.reasons})
                lines.append(f"  {o.item.label}: {', '.join(why) if why else 'no face detected'}")
        if self.failed:
            lines.append("failed images:")
            lines.extend(f"  {o.item.label}: {o.error.removeprefix('error: ')}" for o in self.failed)
        return "\n".join(lines)


def index_one(client: Client, collection_id: str, item: IndexItem, *, max_faces: int = 0,
              quality_filter: common_pb2.QualityFilter = common_pb2.QUALITY_FILTER_UNSPECIFIED) -> IndexOutcome:
    try:
        data = item.path.read_bytes()
    except OSError as exc:
        return IndexOutcome(item, error=f"error: cannot read file: {exc.strerror or exc}")
    req = face_search_pb2.IndexFacesRequest(collection_id=collection_id, image=common_pb2.Image(bytes=data),
                                            external_image_id=item.external_image_id, max_faces=max_faces,
                                            quality_filter=quality_filter)
    try:
        return IndexOutcome(item, response=client.call("IndexFaces", req).response)
    except grpc.RpcError as exc:
        return IndexOutcome(item, error=format_rpc_error(exc))


def index_files(client: Client, collection_id: str, items: Sequence[IndexItem], *, max_faces: int = 0,
                quality_filter: common_pb2.QualityFilter = common_pb2.QUALITY_FILTER_UNSPECIFIED, concurrency: int = 4,
                progress: bool = True, desc: str = "indexing",
                on_outcome: Callable[[IndexOutcome], None] | None = None) -> BulkSummary:
    """Index every item; errors are printed above the progress bar as they happen (not only at the end)."""
    summary = BulkSummary()
    # on a terminal the bar redraws in place; in a log file every redraw is kept, so redraw rarely there
    bar = tqdm(total=len(items), desc=desc, unit="img", disable=not progress, file=sys.stderr,
               dynamic_ncols=True, mininterval=0.1 if sys.stderr.isatty() else 10.0)
    try:
        with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="index") as pool:
            futures = [pool.submit(index_one, client, collection_id, it, max_faces=max_faces,
                                   quality_filter=quality_filter) for it in items]
            for fut in as_completed(futures):
                outcome = fut.result()
                summary.outcomes.append(outcome)
                if outcome.error:
                    tqdm.write(f"{outcome.item.label}: {outcome.error}", file=sys.stderr)
                if on_outcome is not None:
                    on_outcome(outcome)
                bar.set_postfix(faces=summary.faces_indexed, failed=len(summary.failed), refresh=False)
                bar.update(1)
    finally:
        bar.close()
    order = {it: i for i, it in enumerate(items)}
    summary.outcomes.sort(key=lambda o: order[o.item])
    return summary
