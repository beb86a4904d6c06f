"""Build the `l2_normalize` ONNX graph: unit_vectors = vectors / max(||vectors||_2, 1e-12), row-wise.

Why a generated graph: embeddings are compared by cosine similarity, so the search path normalises them;
doing it as a served model keeps the arithmetic identical on every client and gives the local Triton a
small, exact model to test against numpy. The graph is built with the `onnx` helper API (no framework),
with a dynamic batch and vector length so one model serves any embedding size.

Usage: `python build.py OUTPUT.onnx` (the devstack runs it with the Triton virtualenv's Python and writes
`<cache>/models/l2_normalize/1/model.onnx`). Importable: `build_model()` returns the ModelProto.
"""

from __future__ import annotations

import sys
from pathlib import Path

import onnx
from onnx import TensorProto, helper

INPUT_NAME = "vectors"
OUTPUT_NAME = "unit_vectors"
EPSILON = 1e-12
#: opset 17 / IR 8: loadable by the onnxruntime versions of older production Triton images too
OPSET = 17
IR_VERSION = 8


def build_model() -> onnx.ModelProto:
    """ReduceL2 over the last axis (kept), clamped below by EPSILON so a zero vector maps to zeros."""
    nodes = [
        helper.make_node("ReduceL2", [INPUT_NAME], ["norm"], axes=[-1], keepdims=1),
        helper.make_node("Max", ["norm", "epsilon"], ["safe_norm"]),
        helper.make_node("Div", [INPUT_NAME, "safe_norm"], [OUTPUT_NAME]),
    ]
    graph = helper.make_graph(
        nodes,
        "l2_normalize",
        inputs=[helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", "dim"])],
        outputs=[helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", "dim"])],
        initializer=[helper.make_tensor("epsilon", TensorProto.FLOAT, [], [EPSILON])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="lineup")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python build.py OUTPUT.onnx", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(build_model(), out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
