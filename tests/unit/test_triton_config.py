"""The local Triton repository: production ONNX config -> Python-backend twin, artefact lookup, rendering."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from lineup_tools.devstack.base import StackError
from lineup_tools.devstack.triton_repository import (
    ModelSource,
    build_needed,
    derive_local_config,
    discover_models,
    format_config,
    mark_built,
    parse_config,
    render_repository,
)

REPO = Path(__file__).resolve().parents[2]

PRODUCTION = """
name: "embedder"
platform: "onnxruntime_onnx"
max_batch_size: 64
default_model_filename: "net.onnx"
input [ { name: "image" data_type: TYPE_UINT8 dims: [ 150, 150, 3 ] } ]
output [ { name: "embedding" data_type: TYPE_FP32 dims: [ 128 ] } ]
dynamic_batching { preferred_batch_size: [ 16, 64 ] max_queue_delay_microseconds: 2000 }
instance_group [ { count: 2 kind: KIND_GPU gpus: [ 0 ] } ]
optimization { execution_accelerators { gpu_execution_accelerator [ { name: "tensorrt" } ] } }
parameters { key: "intra_op_thread_count" value: { string_value: "8" } }
"""


def test_local_twin_keeps_the_client_contract_and_switches_backend() -> None:
    prod = parse_config(PRODUCTION)
    local = derive_local_config(prod)
    assert local.name == "embedder" and local.max_batch_size == 64
    assert list(local.input) == list(prod.input) and list(local.output) == list(prod.output)
    assert local.dynamic_batching == prod.dynamic_batching
    assert (local.backend, local.platform) == ("python", "")
    cpu = local.instance_group[0].KIND_CPU
    assert [(g.kind, g.count, list(g.gpus)) for g in local.instance_group] == [(cpu, 1, [])]
    assert not local.HasField("optimization") and local.default_model_filename == ""
    assert local.parameters["onnx_model_filename"].string_value == "net.onnx"
    assert local.parameters["intra_op_thread_count"].string_value == "8"  # production value kept
    # the production message is untouched, and the rendering round-trips through Triton's schema
    assert prod.platform == "onnxruntime_onnx" and prod.instance_group[0].count == 2
    assert parse_config(format_config(local)) == local


def test_thread_override_and_default() -> None:
    prod = parse_config(PRODUCTION)
    assert derive_local_config(prod, intra_op_threads=3).parameters["intra_op_thread_count"].string_value == "3"
    del prod.parameters["intra_op_thread_count"]
    assert derive_local_config(prod).parameters["intra_op_thread_count"].string_value == "2"


@pytest.mark.parametrize("text, message", [
    ('name: "x" platform: "tensorrt_plan" input [ { name: "a" data_type: TYPE_FP32 dims: [1] } ] '
     'output [ { name: "b" data_type: TYPE_FP32 dims: [1] } ]', "only ONNX"),
    ('name: "x" platform: "onnxruntime_onnx" max_batch_size: 4', "declare every input and output"),
])
def test_unsupported_configs_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(StackError, match=message):
        derive_local_config(parse_config(text))


def test_malformed_config_is_a_stack_error() -> None:
    with pytest.raises(StackError, match="not a valid Triton model config"):
        parse_config('name: "x" platfrom: "onnxruntime_onnx"', "bad/config.pbtxt")


def _model(tmp_path: Path, name: str = "embedder", config: str = PRODUCTION) -> ModelSource:
    repo_dir = tmp_path / "repo" / name
    repo_dir.mkdir(parents=True)
    (repo_dir / "config.pbtxt").write_text(config)
    return ModelSource(name, repo_dir, tmp_path / "cache" / name)


def test_render_prefers_committed_file_and_links_cache_versions(tmp_path: Path) -> None:
    model = _model(tmp_path)
    for root, version in ((model.cache_dir, "1"), (model.cache_dir, "2"), (model.repo_dir, "2")):
        (root / version).mkdir(parents=True)
        (root / version / "net.onnx").write_bytes(b"onnx")
    runner = tmp_path / "runner.py"
    runner.write_text("# runner\n")
    dest = tmp_path / "state" / "repository"
    assert render_repository(discover_models(tmp_path / "repo", tmp_path / "cache"), dest, runner) == ["embedder"]
    assert (dest / "embedder" / "1" / "net.onnx").resolve() == (model.cache_dir / "1" / "net.onnx").resolve()
    assert (dest / "embedder" / "2" / "net.onnx").resolve() == (model.repo_dir / "2" / "net.onnx").resolve()
    assert (dest / "embedder" / "1" / "model.py").read_text() == "# runner\n"
    assert parse_config((dest / "embedder" / "config.pbtxt").read_text()).backend == "python"


def test_render_without_model_file_says_where_it_looked(tmp_path: Path) -> None:
    model = _model(tmp_path)
    runner = tmp_path / "runner.py"
    runner.write_text("")
    with pytest.raises(StackError, match=r"no net.onnx under .*embedder/<version>/"):
        render_repository([model], tmp_path / "out", runner)


def test_build_script_reruns_only_when_output_missing_or_script_changed(tmp_path: Path) -> None:
    model = _model(tmp_path)
    assert not build_needed(model)  # no build.py
    model.build_script.write_text("# v1\n")
    assert build_needed(model)
    (model.cache_dir / "1").mkdir(parents=True)
    (model.cache_dir / "1" / "model.onnx").write_bytes(b"onnx")
    mark_built(model)
    assert not build_needed(model)
    model.build_script.write_text("# v2\n")
    assert build_needed(model)


def test_committed_configs_derive_cleanly() -> None:
    """Every production config in infra/triton/models has a valid local twin."""
    models = discover_models(REPO / "infra" / "triton" / "models", REPO / ".no-cache")
    assert "l2_normalize" in [m.name for m in models]
    for m in models:
        local = derive_local_config(parse_config((m.repo_dir / "config.pbtxt").read_text()))
        assert local.backend == "python" and local.instance_group[0].kind == local.instance_group[0].KIND_CPU


def _l2_build_module() -> ModuleType:
    path = REPO / "infra" / "triton" / "models" / "l2_normalize" / "build.py"
    spec = importlib.util.spec_from_file_location("l2_normalize_build", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_l2_normalize_graph_matches_numpy() -> None:
    pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    build = _l2_build_module()
    model = build.build_model()
    x = np.random.default_rng(3).standard_normal((4, 128)).astype(np.float32)
    x[2] = 0.0
    (y,) = ReferenceEvaluator(model).run(None, {"vectors": x})
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(y), np.divide(x, norms, out=np.zeros_like(x), where=norms > 0), atol=1e-6)
    assert [i.name for i in model.graph.input] == ["vectors"]
    assert [o.name for o in model.graph.output] == ["unit_vectors"]
