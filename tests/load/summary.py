"""The per-RPC table `make load` prints after Locust: requests/s, p50/p95/p99 and failures of each RPC.

Read from Locust's own `<prefix>_stats.csv`, so the table and the CSV/HTML reports always agree. The
locustfile reports every call with the RPC name as Locust's request type and one name per RPC, so each
CSV row is exactly one RPC and nothing has to be merged (percentiles cannot be averaged).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RpcRow:
    rpc: str
    requests: int
    failures: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def _ms(value: str) -> float | None:
    """Locust writes 'N/A' for a percentile of a request type that never completed."""
    try:
        return float(value)
    except ValueError:
        return None


def read_stats(path: Path) -> list[RpcRow]:
    """One row per RPC plus Locust's 'Aggregated' row (last), from a `_stats.csv` file."""
    rows: list[RpcRow] = []
    with path.open(newline="") as f:
        for rec in csv.DictReader(f):
            name = rec["Name"] if rec["Name"] == "Aggregated" else rec["Type"]
            rows.append(RpcRow(rpc=name, requests=int(rec["Request Count"]), failures=int(rec["Failure Count"]),
                               rps=float(rec["Requests/s"]), p50_ms=_ms(rec["50%"]), p95_ms=_ms(rec["95%"]),
                               p99_ms=_ms(rec["99%"])))
    rows.sort(key=lambda r: (r.rpc == "Aggregated", r.rpc))
    return rows


def render(rows: list[RpcRow]) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    header = ["rpc", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "failures"]
    body = [[r.rpc, str(r.requests), f"{r.rps:.2f}", ms(r.p50_ms), ms(r.p95_ms), ms(r.p99_ms),
             f"{r.failures} ({100 * r.failure_ratio:.1f}%)"] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=True)]

    def line(cells: list[str]) -> str:  # the RPC name left-aligned, numbers right-aligned
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                                strict=True)))

    return "\n".join(line(cells) for cells in [header, *body])
