"""Latency and throughput arithmetic shared by the benchmark and the load-test summary.

Percentiles use linear interpolation between closest ranks (numpy's default, "type 7"), so a p99 over
60 samples is an interpolated value rather than the maximum; the sample count is always reported beside
it so a reader can judge how much a tail percentile means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of `values` with linear interpolation; NaN for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    if lo == hi:
        return float(ordered[lo])
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))


@dataclass(frozen=True)
class LatencySummary:
    """Milliseconds; `n` is how many calls the percentiles come from."""

    n: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: floats rounded to 0.01 ms, NaN (nothing measured) as None."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else round(v, 2) if isinstance(v, float) else v)
                for k, v in asdict(self).items()}


def summarize_ms(seconds: Sequence[float]) -> LatencySummary:
    """Summary of call durations given in seconds."""
    ms = [s * 1000.0 for s in seconds]
    if not ms:
        return LatencySummary(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    return LatencySummary(n=len(ms), p50_ms=percentile(ms, 50), p95_ms=percentile(ms, 95),
                          p99_ms=percentile(ms, 99), mean_ms=sum(ms) / len(ms), max_ms=max(ms))


def rate(count: float, seconds: float) -> float:
    """count / seconds, 0 when nothing was timed (so an empty run reads as 0/s, not a crash)."""
    return count / seconds if seconds > 0 else 0.0


def ratio(a: float, b: float) -> float | None:
    """a / b, or None when b is 0 or either side is NaN (the JSON then says null instead of inf)."""
    if b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return a / b
