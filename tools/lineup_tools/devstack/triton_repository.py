"""Render the local Triton model repository from the production one.

Production configs (`infra/triton/models/<model>/config.pbtxt`) target Triton's onnxruntime backend on a
GPU. The Triton binary we can run locally (from the `nvidia-pytriton` wheel) ships only the Python backend,
so the local repository serves the *same* ONNX file through one generic Python-backend runner
(`infra/triton/python_runner/model.py`) that calls onnxruntime on CPU. Deriving the local config from the
production one (instead of keeping a second hand-written copy) keeps the names, shapes, batch size and
batching policy that clients see identical in both places.

Configs are parsed with Triton's own protobuf schema (`tritonclient.grpc.model_config_pb2`), so a typo in a
field name fails loudly here rather than as an obscure server log line.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import text_format

from lineup_tools.devstack.base import StackError

#: the file every production model version provides (unless its config sets default_model_filename)
DEFAULT_MODEL_FILE = "model.onnx"
#: a model directory may carry this script; it writes the model's version-1 ONNX file into the cache
BUILD_SCRIPT = "build.py"
#: onnxruntime backend parameter names (https://github.com/triton-inference-server/onnxruntime_backend);
#: the local runner honours the same keys so one config means the same thing in both places
INTRA_OP_PARAM = "intra_op_thread_count"
INTER_OP_PARAM = "inter_op_thread_count"
#: runner-only parameter: the ONNX file name inside the version directory
MODEL_FILE_PARAM = "onnx_model_filename"
DEFAULT_INTRA_OP_THREADS = 2


def _model_config_pb2() -> Any:
    """Triton's ModelConfig protobuf module (shipped with tritonclient[grpc], a project dependency)."""
    try:
        from tritonclient.grpc import model_config_pb2
    except ImportError as exc:  # pragma: no cover - tritonclient is a hard dependency of the project
        raise StackError("tritonclient[grpc] is not importable; run `make install`") from exc
    return model_config_pb2


def parse_config(text: str, source: str = "config.pbtxt") -> Any:
    """Parse a Triton config.pbtxt into a ModelConfig message; a malformed file is a one-line StackError."""
    pb2 = _model_config_pb2()
    try:
        return text_format.Parse(text, pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise StackError(f"{source}: not a valid Triton model config: {exc}") from exc


def format_config(config: Any) -> str:
    return str(text_format.MessageToString(config))


def is_onnx_model(config: Any) -> bool:
    return config.platform == "onnxruntime_onnx" or config.backend == "onnxruntime"


def model_file_name(config: Any) -> str:
    return str(config.default_model_filename) or DEFAULT_MODEL_FILE


def derive_local_config(production: Any, *, intra_op_threads: int | None = None,
                        source: str = "config.pbtxt") -> Any:
    """The CPU/Python-backend twin of a production ONNX config.

    Kept as is: name, max_batch_size, inputs, outputs, dynamic_batching, version policy, warmup and
    parameters - everything a client can observe. Changed: the backend (python), the instances (one on
    the CPU: the local server has no GPU), and GPU-only optimisation settings (dropped).
    `intra_op_threads` overrides the production `intra_op_thread_count`; without either it is 2.
    """
    if not is_onnx_model(production):
        kind = production.platform or production.backend or "unspecified"
        raise StackError(f"{source}: the local Triton serves only ONNX models (platform "
                         f"\"onnxruntime_onnx\"), not {kind!r}")
    if not production.input or not production.output:
        raise StackError(f"{source}: declare every input and output explicitly; the local Python-backend "
                         f"twin cannot auto-complete them from the ONNX file")
    local = type(production)()
    local.CopyFrom(production)
    local.ClearField("platform")
    local.backend = "python"
    local.ClearField("default_model_filename")  # for the python backend it would name model.py
    local.ClearField("cc_model_filenames")
    local.ClearField("optimization")  # TensorRT/CUDA-graph settings of the onnxruntime backend
    del local.instance_group[:]
    group = local.instance_group.add()
    group.count = 1
    group.kind = group.KIND_CPU
    local.parameters[MODEL_FILE_PARAM].string_value = model_file_name(production)
    if intra_op_threads is not None:
        local.parameters[INTRA_OP_PARAM].string_value = str(intra_op_threads)
    elif INTRA_OP_PARAM not in local.parameters:
        local.parameters[INTRA_OP_PARAM].string_value = str(DEFAULT_INTRA_OP_THREADS)
    return local


@dataclass(frozen=True)
class ModelSource:
    """One production model: its committed directory and where its build output lands in the cache."""

    name: str
    repo_dir: Path  # infra/triton/models/<name>
    cache_dir: Path  # <cache>/models/<name>

    @property
    def build_script(self) -> Path:
        return self.repo_dir / BUILD_SCRIPT

    def version_files(self, filename: str) -> dict[str, Path]:
        """Version -> ONNX file. The committed file wins over the cache (a committed file is a deliberate
        pin); the cache holds what build steps produce, so binaries need not be committed."""
        found: dict[str, Path] = {}
        for root in (self.cache_dir, self.repo_dir):  # repo last, so it overrides
            if not root.is_dir():
                continue
            for vdir in root.iterdir():
                if vdir.is_dir() and vdir.name.isdigit() and (vdir / filename).is_file():
                    found[vdir.name] = vdir / filename
        return dict(sorted(found.items(), key=lambda kv: int(kv[0])))


def discover_models(models_dir: Path, cache_models_dir: Path) -> list[ModelSource]:
    """Every directory under `models_dir` with a config.pbtxt is a model."""
    if not models_dir.is_dir():
        raise StackError(f"no Triton model repository at {models_dir}; is this a complete checkout?")
    return [ModelSource(d.name, d, cache_models_dir / d.name)
            for d in sorted(models_dir.iterdir()) if (d / "config.pbtxt").is_file()]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_needed(model: ModelSource) -> bool:
    """A build script reruns when its output is missing or the script changed since the output was made."""
    if not model.build_script.is_file():
        return False
    stamp = model.cache_dir / "1" / ".build-sha256"
    out = model.cache_dir / "1" / DEFAULT_MODEL_FILE
    try:
        return not out.is_file() or stamp.read_text().strip() != file_sha256(model.build_script)
    except OSError:
        return True


def mark_built(model: ModelSource) -> None:
    (model.cache_dir / "1" / ".build-sha256").write_text(file_sha256(model.build_script) + "\n")


def render_repository(models: list[ModelSource], dest: Path, runner: Path, *,
                      intra_op_threads: int | None = None,
                      build: Callable[[ModelSource], None] | None = None) -> list[str]:
    """(Re)write the local repository at `dest` and return the model names in it.

    Per model: `<dest>/<name>/config.pbtxt` (the derived Python-backend config) and per version
    `<dest>/<name>/<v>/model.py` (a copy of the shared runner) next to a symlink to the ONNX file (large
    models are not copied). `build` is called first for models whose build script must (re)run.
    """
    if not runner.is_file():
        raise StackError(f"the Python-backend runner {runner} is missing; is this a complete checkout?")
    staging = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    names: list[str] = []
    for model in models:
        config_path = model.repo_dir / "config.pbtxt"
        production = parse_config(config_path.read_text(), str(config_path))
        if production.name and production.name != model.name:
            raise StackError(f"{config_path}: name {production.name!r} differs from its directory "
                             f"{model.name!r}; Triton requires them to match")
        local = derive_local_config(production, intra_op_threads=intra_op_threads, source=str(config_path))
        local.name = model.name
        if build is not None and build_needed(model):
            build(model)
        filename = model_file_name(production)
        versions = model.version_files(filename)
        if not versions:
            hint = (f"its build script {model.build_script} did not produce one"
                    if model.build_script.is_file() else "build it (`make models`, see docs/infra/triton.md)")
            raise StackError(f"model {model.name!r} has no {filename} under {model.repo_dir}/<version>/ or "
                             f"{model.cache_dir}/<version>/: {hint}")
        target = staging / model.name
        target.mkdir()
        (target / "config.pbtxt").write_text(format_config(local))
        for version, onnx_file in versions.items():
            vdir = target / version
            vdir.mkdir()
            shutil.copyfile(runner, vdir / "model.py")
            os.symlink(onnx_file.resolve(), vdir / filename)
        names.append(model.name)
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return names
