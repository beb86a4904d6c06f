"""The machine-readable results file of `make bench` (bench-results/<UTC timestamp>.json).

One JSON object; `validate` checks the shape that docs/benchmarks.md and anyone comparing runs rely on,
so a refactor of the benchmark cannot silently drop a number. Values that could not be measured are
null (never 0), with the reason in `notes`.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
SIDES = ("lineup", "face_recognition")
LATENCY_KEYS = ("n", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms")
ENROLL_KEYS = ("images", "images_ok", "faces", "seconds", "images_per_s", "faces_per_s", "workers")
ACCURACY_KEYS = ("known_probes", "rank1_closed_set", "rank1_accepted", "unknown_probes", "false_accepts",
                 "threshold")
CROWD_KEYS = ("faces_in_photo", "faces_found", "seconds", "rank1_correct")


def machine() -> dict[str, Any]:
    """What the numbers were measured on; the load average matters because the machine may be shared."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        affinity = os.cpu_count() or 0
    return {"cpu_count": os.cpu_count(), "cpus_usable": affinity, "platform": platform.platform(),
            "processor": _cpu_model(), "python": platform.python_version(), "gpu": None,
            "loadavg_start": list(os.getloadavg())}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def new_document(config: Mapping[str, Any]) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(), "config": dict(config), "gallery_method": "", "notes": [],
            "lineup": {"enroll": None, "search": {}, "crowd": None, "memory_mib": {}},
            "face_recognition": {"enroll": None, "search": {}, "crowd": None, "memory_mib": {}},
            "ratios": {}}


def _missing(obj: Mapping[str, Any] | None, keys: tuple[str, ...], where: str) -> list[str]:
    if obj is None:
        return [f"{where} is missing"]
    return [f"{where}.{k} is missing" for k in keys if k not in obj]


def validate(doc: Mapping[str, Any]) -> list[str]:
    """Problems with the document's shape; [] when it is complete."""
    problems: list[str] = []
    if doc.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version is {doc.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    for key in ("started_at", "finished_at", "machine", "config", "gallery_method", "ratios"):
        if key not in doc:
            problems.append(f"{key} is missing")
    problems += _missing(doc.get("machine"), ("cpu_count", "cpus_usable", "loadavg_start", "loadavg_end"), "machine")
    for side in SIDES:
        part = doc.get(side)
        if not isinstance(part, Mapping):
            problems.append(f"{side} is missing")
            continue
        problems += _missing(part.get("enroll"), ENROLL_KEYS, f"{side}.enroll")
        searches = part.get("search") or {}
        if not searches:
            problems.append(f"{side}.search has no gallery size")
        for size, entry in searches.items():
            if not str(size).isdigit():
                problems.append(f"{side}.search key {size!r} is not a gallery size")
            problems += _missing(entry.get("latency"), LATENCY_KEYS, f"{side}.search.{size}.latency")
            problems += _missing(entry.get("accuracy"), ACCURACY_KEYS, f"{side}.search.{size}.accuracy")
        problems += _missing(part.get("crowd"), CROWD_KEYS, f"{side}.crowd")
        if not isinstance(part.get("memory_mib"), Mapping):
            problems.append(f"{side}.memory_mib is missing")
    return problems


def write(doc: dict[str, Any], folder: Path) -> Path:
    """Stamp the end, validate, and write `<folder>/<started_at>.json`; refuses an incomplete document."""
    doc["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    doc["machine"]["loadavg_end"] = list(os.getloadavg())
    problems = validate(doc)
    if problems:
        raise ValueError("results document is incomplete: " + "; ".join(problems))
    folder.mkdir(parents=True, exist_ok=True)
    stamp = doc["started_at"].replace(":", "").replace("+0000", "Z").replace("+00:00", "Z")
    path = folder / f"{stamp}.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return path
