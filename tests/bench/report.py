"""`python -m tests.bench.report bench-results/<run>.json`: the run as the Markdown tables of docs/benchmarks.md,
so the published numbers are copied from a results file, never typed by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _f(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f} %"


def markdown(doc: dict[str, Any]) -> str:
    ln, fr, m = doc["lineup"], doc["face_recognition"], doc["machine"]
    out = [f"Run {doc['started_at']} → {doc['finished_at']}; {m['cpu_count']} CPUs ({m['cpus_usable']} usable, "
           f"{m['processor']}), no GPU, {m['platform']}; load average (1/5/15 min) "
           f"{'/'.join(f'{x:.1f}' for x in m['loadavg_start'])} at the start, "
           f"{'/'.join(f'{x:.1f}' for x in m['loadavg_end'])} at the end.", ""]
    out += ["| enrollment | Lineup | face_recognition | Lineup / fr |", "|---|---|---|---|"]
    for key, label in (("images", "photos"), ("faces", "faces enrolled"), ("seconds", "seconds"),
                       ("images_per_s", "photos/s"), ("faces_per_s", "faces/s"), ("workers", "parallelism")):
        a, b = ln["enroll"][key], fr["enroll"][key]
        ratio = f"{a / b:.2f}" if key.endswith("_per_s") and b else ""
        out.append(f"| {label} | {_f(a, 2)} | {_f(b, 2)} | {ratio} |")
    triton = ln["enroll"].get("triton") or {}
    if triton:
        out += ["", "| Triton during Lineup's enrolment (shared server) | requests | executions | requests / execution "
                "| inferences / execution |", "|---|---|---|---|---|"]
        for model, t in triton.items():
            out.append(f"| {model} | {t['requests']:,} | {t['executions']:,} | {_f(t['requests_per_execution'], 2)} | "
                       f"{_f(t['inferences_per_execution'], 2)} |")
    out += ["", "| search by image (one probe, largest face) | gallery | Lineup p50 / p95 / p99 ms | "
            "face_recognition p50 / p95 / p99 ms | p50 Lineup / fr |", "|---|---|---|---|---|"]
    for size, a in ln["search"].items():
        la, what = a["latency"], "real faces only" if size == "0" else f"{int(size):,}"
        b = fr["search"].get(size)
        if b is None:  # a Lineup-only size
            out.append(f"| {what} | {a['gallery']:,} / - | {_f(la['p50_ms'], 0)} / {_f(la['p95_ms'], 0)} / "
                       f"{_f(la['p99_ms'], 0)} (n={la['n']}) | (not run) | - |")
            continue
        lb = b["latency"]
        ratio = f"{la['p50_ms'] / lb['p50_ms']:.2f}" if la["p50_ms"] and lb["p50_ms"] else "-"
        out.append(f"| {what} | {a['gallery']:,} / {b['gallery']:,} | {_f(la['p50_ms'], 0)} / {_f(la['p95_ms'], 0)} / "
                   f"{_f(la['p99_ms'], 0)} (n={la['n']}) | {_f(lb['p50_ms'], 0)} / {_f(lb['p95_ms'], 0)} / "
                   f"{_f(lb['p99_ms'], 0)} (n={lb['n']}) | {ratio} |")
    floor = ln.get("floor")
    if floor:
        first = next(iter(ln["search"].values()))
        lf, la = floor["latency"], first["latency"]
        ratio = f"{la['p50_ms'] / lf['p50_ms']:.2f}" if la["p50_ms"] and lf["p50_ms"] else "-"
        out += ["", "| Lineup end to end vs the same models in one process (real faces) | p50 / p95 / p99 ms |",
                "|---|---|",
                f"| Lineup, public API | {_f(la['p50_ms'], 0)} / {_f(la['p95_ms'], 0)} / {_f(la['p99_ms'], 0)} |",
                f"| in-process floor ({floor['face_model']}, onnxruntime, {floor['threads']} threads, NumPy search) | "
                f"{_f(lf['p50_ms'], 0)} / {_f(lf['p95_ms'], 0)} / {_f(lf['p99_ms'], 0)} |",
                f"| p50 Lineup / floor | {ratio} |"]
    indexed = {size: a["index"] for size, a in ln["search"].items() if a.get("index")}
    if indexed:
        out += ["", "| vector index (Milvus engine, through FaceStore) | gallery | recall@10 of IVF_FLAT vs exact "
                "| store search p50 ms: FLAT (exact) / IVF_FLAT | IVF settings |", "|---|---|---|---|---|"]
        for size, ix in indexed.items():
            what = "real faces only" if size == "0" else f"{int(size):,}"
            p50 = ix["store_search_p50_ms"]
            settings = ", ".join(f"{k} {v}" for k, v in ix["ivf"].items())
            out.append(f"| {what} | {ln['search'][size]['gallery']:,} | {_f(ix['recall_at_k'], 4)} "
                       f"(n={ix['probes']}) | {_f(p50['FLAT'], 1)} / {_f(p50['IVF_FLAT'], 1)} | {settings} |")
    out += ["", "| accuracy | gallery | Lineup rank-1 / rank-1 accepted / unknowns accepted | "
            "face_recognition rank-1 / rank-1 accepted / unknowns accepted |", "|---|---|---|---|"]
    for size, a in ln["search"].items():
        b = fr["search"].get(size)
        aa, what = a["accuracy"], "real faces only" if size == "0" else f"{int(size):,}"
        if b is None:
            out.append(f"| {what} | {a['gallery']:,} / - | {_pct(aa['rank1_closed_set'])} / "
                       f"{_pct(aa['rank1_accepted'])} / {aa['false_accepts']} of {aa['unknown_probes']} | (not run) |")
            continue
        ab = b["accuracy"]
        out.append(f"| {what} | {a['gallery']:,} / {b['gallery']:,} | {_pct(aa['rank1_closed_set'])} / "
                   f"{_pct(aa['rank1_accepted'])} / {aa['false_accepts']} of {aa['unknown_probes']} | "
                   f"{_pct(ab['rank1_closed_set'])} / {_pct(ab['rank1_accepted'])} / {ab['false_accepts']} of "
                   f"{ab['unknown_probes']} |")
    lc, fc = ln["crowd"], fr["crowd"]
    out += ["", "| crowd photo, one call | Lineup | face_recognition |", "|---|---|---|",
            f"| faces in the photo | {lc['faces_in_photo']} | {fc['faces_in_photo']} |",
            f"| faces found | {lc['faces_found']} ({lc.get('faces_searched', '-')} searched) | {fc['faces_found']} |",
            f"| seconds for the whole photo | {_f(lc['seconds'], 2)} | {_f(fc['seconds'], 2)} |",
            f"| rank-1 correct | {lc['rank1_correct']} | {fc['rank1_correct']} |",
            f"| gallery | {lc.get('gallery', 0):,} | {fc.get('gallery', 0):,} |"]
    out += ["", "| peak resident memory (VmHWM) | MiB |", "|---|---|"]
    for side, label in (("lineup", "Lineup"), ("face_recognition", "face_recognition")):
        for name, mib in doc[side]["memory_mib"].items():
            out.append(f"| {label}: {name} | {_f(mib, 0)} |")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.bench.report bench-results/<run>.json", file=sys.stderr)
        return 2
    print(markdown(json.loads(Path(argv[0]).read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
