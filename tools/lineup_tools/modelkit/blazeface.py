"""Convert MediaPipe's full-range BlazeFace (TFLite flatbuffer) to ONNX with a dynamic batch dimension.

We parse the flatbuffer with the `tflite` schema package and emit the handful of ops this model uses
(fp16 DEQUANTIZE of constants, CONV_2D, DEPTHWISE_CONV_2D, RELU, ADD, PAD, MAX_POOL_2D, RESIZE_BILINEAR,
RESHAPE) ourselves, instead of installing TensorFlow (~600 MB) only to run tf2onnx once. Activations are
kept in NCHW inside the graph; the final reshapes happen in NHWC so the anchor order matches TFLite.

Graph contract (what `infra/triton/models/face_detector/config.pbtxt` declares):
  input  `image`       uint8   [N, 192, 192, 3]  letterboxed RGB tile; scaled to [-1, 1] inside the graph
  output `regressors`  float32 [N, 2304, 16]     box (cx, cy, w, h) + 6 keypoints (x, y), in input pixels
                                                 relative to the anchor centre
  output `scores`      float32 [N, 2304, 1]      logits (apply a sigmoid)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT_NAME = "image"
OUTPUT_REGRESSORS = "regressors"
OUTPUT_SCORES = "scores"
INPUT_SIZE = 192
NUM_ANCHORS = 2304
OPSET = 17

_TFLITE_OUTPUT_NAMES = {b"reshaped_regressor_face_4": OUTPUT_REGRESSORS,
                        b"reshaped_classifier_face_4": OUTPUT_SCORES}
_PADDING_SAME = 0
_ACT_NONE, _ACT_RELU, _ACT_RELU6 = 0, 1, 3


def _tflite() -> Any:
    import tflite  # build-time dependency (optional group `models`)

    return tflite


@dataclass
class _Converter:
    model: Any
    graph: Any
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    consts: dict[int, np.ndarray] = field(default_factory=dict)  # tensor index -> constant value
    names: dict[int, str] = field(default_factory=dict)  # tensor index -> ONNX value name (NCHW)
    counter: int = 0

    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}_{self.counter}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def emit(self, op_type: str, inputs: list[str], hint: str, output: str | None = None,
             **attrs: Any) -> str:
        out = output or self.fresh(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.fresh(op_type), **attrs))
        return out

    def shape(self, idx: int) -> list[int]:
        return [int(v) for v in self.graph.Tensors(idx).ShapeAsNumpy()]

    def buffer(self, idx: int) -> np.ndarray | None:
        tfl = _tflite()
        tensor = self.graph.Tensors(idx)
        buf = self.model.Buffers(tensor.Buffer())
        if buf is None or buf.DataLength() == 0:
            return None
        dtype = {tfl.TensorType.FLOAT32: np.float32, tfl.TensorType.FLOAT16: np.float16,
                 tfl.TensorType.INT32: np.int32}[tensor.Type()]
        return buf.DataAsNumpy().view(dtype).reshape(self.shape(idx))

    def value(self, idx: int) -> np.ndarray:
        if idx in self.consts:
            return self.consts[idx]
        data = self.buffer(idx)
        if data is None:
            raise ValueError(f"tensor {self.graph.Tensors(idx).Name()!r} is not a constant")
        return data

    def activation(self, x: str, fused: int) -> str:
        if fused == _ACT_NONE:
            return x
        if fused == _ACT_RELU:
            return self.emit("Relu", [x], "relu")
        if fused == _ACT_RELU6:
            return self.emit("Clip", [x, self.const("lo", np.array(0, np.float32)),
                                      self.const("hi", np.array(6, np.float32))], "relu6")
        raise ValueError(f"unsupported fused activation {fused}")

    def same_pads(self, in_hw: list[int], k: list[int], s: list[int]) -> list[int]:
        """TF 'SAME' padding: the odd extra pixel goes to the bottom/right."""
        pads = []
        for n, kk, ss in zip(in_hw, k, s, strict=True):
            out = -(-n // ss)
            pads.append(max((out - 1) * ss + kk - n, 0))
        return [pads[0] // 2, pads[1] // 2, pads[0] - pads[0] // 2, pads[1] - pads[1] // 2]

    def convert_op(self, op: Any, opname: str) -> None:
        tfl = _tflite()
        ins = [int(i) for i in op.InputsAsNumpy()]
        out_idx = int(op.Outputs(0))
        options = op.BuiltinOptions()
        if opname == "DEQUANTIZE":
            self.consts[out_idx] = self.value(ins[0]).astype(np.float32)
            return
        x = self.names[ins[0]]
        in_shape = self.shape(ins[0])  # NHWC
        if opname in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            opts = tfl.Conv2DOptions() if opname == "CONV_2D" else tfl.DepthwiseConv2DOptions()
            opts.Init(options.Bytes, options.Pos)
            if opts.DilationHFactor() != 1 or opts.DilationWFactor() != 1:
                raise ValueError("dilated convolutions are not supported")
            w = self.value(ins[1])
            strides = [opts.StrideH(), opts.StrideW()]
            if opname == "CONV_2D":  # OHWI -> OIHW
                weight, group = w.transpose(0, 3, 1, 2), 1
            else:  # 1HW(C*M) -> (C*M)1HW
                weight, group = w.transpose(3, 0, 1, 2), in_shape[3]
            k = list(weight.shape[2:])
            pads = (self.same_pads(in_shape[1:3], k, strides) if opts.Padding() == _PADDING_SAME
                    else [0, 0, 0, 0])
            inputs = [x, self.const("w", weight.astype(np.float32))]
            if len(ins) > 2 and ins[2] >= 0:
                inputs.append(self.const("b", self.value(ins[2]).astype(np.float32)))
            y = self.emit("Conv", inputs, "conv", kernel_shape=k, strides=strides, pads=pads, group=group)
            y = self.activation(y, opts.FusedActivationFunction())
        elif opname == "RELU":
            y = self.emit("Relu", [x], "relu")
        elif opname == "ADD":
            opts = tfl.AddOptions()
            opts.Init(options.Bytes, options.Pos)
            y = self.emit("Add", [x, self.names[ins[1]]], "add")
            y = self.activation(y, opts.FusedActivationFunction())
        elif opname == "PAD":
            p = self.value(ins[1]).astype(np.int64).reshape(4, 2)  # NHWC (before, after)
            nchw = p[[0, 3, 1, 2]]
            y = self.emit("Pad", [x, self.const("pads", np.concatenate([nchw[:, 0], nchw[:, 1]]))], "pad")
        elif opname == "MAX_POOL_2D":
            opts = tfl.Pool2DOptions()
            opts.Init(options.Bytes, options.Pos)
            k, strides = [opts.FilterHeight(), opts.FilterWidth()], [opts.StrideH(), opts.StrideW()]
            pads = (self.same_pads(in_shape[1:3], k, strides) if opts.Padding() == _PADDING_SAME
                    else [0, 0, 0, 0])
            y = self.emit("MaxPool", [x], "maxpool", kernel_shape=k, strides=strides, pads=pads)
            y = self.activation(y, opts.FusedActivationFunction())
        elif opname == "RESIZE_BILINEAR":
            opts = tfl.ResizeBilinearOptions()
            opts.Init(options.Bytes, options.Pos)
            if opts.AlignCorners() or not opts.HalfPixelCenters():
                raise ValueError("only half_pixel_centers bilinear resizing is supported")
            size = self.value(ins[1]).astype(np.float32)
            scales = np.array([1, 1, size[0] / in_shape[1], size[1] / in_shape[2]], dtype=np.float32)
            y = self.emit("Resize", [x, "", self.const("scales", scales)], "resize", mode="linear",
                          coordinate_transformation_mode="half_pixel")
        elif opname == "RESHAPE":
            out_shape = self.shape(out_idx)
            nhwc = self.emit("Transpose", [x], "to_nhwc", perm=[0, 2, 3, 1])
            target = np.array([0, *out_shape[1:]], dtype=np.int64)  # 0 keeps the (dynamic) batch
            name = _TFLITE_OUTPUT_NAMES.get(self.graph.Tensors(out_idx).Name())
            y = self.emit("Reshape", [nhwc, self.const("shape", target)], "reshape", output=name)
        else:
            raise ValueError(f"TFLite op {opname} is not supported by this converter")
        self.names[out_idx] = y


def convert_bytes(tflite_bytes: bytes) -> onnx.ModelProto:
    """TFLite flatbuffer -> ONNX model (uint8 NHWC input, normalisation to [-1, 1] in the graph)."""
    tfl = _tflite()
    model = tfl.Model.GetRootAsModel(tflite_bytes, 0)
    if model.SubgraphsLength() != 1:
        raise ValueError("expected a single subgraph")
    graph = model.Subgraphs(0)
    opnames = {v: k for k, v in vars(tfl.BuiltinOperator).items() if not k.startswith("_")}
    conv = _Converter(model, graph)

    (in_idx,) = [int(i) for i in graph.InputsAsNumpy()]
    if conv.shape(in_idx) != [1, INPUT_SIZE, INPUT_SIZE, 3]:
        raise ValueError(f"unexpected input shape {conv.shape(in_idx)}")
    x = conv.emit("Cast", [INPUT_NAME], "cast", to=TensorProto.FLOAT)
    x = conv.emit("Mul", [x, conv.const("inv127_5", np.array(1 / 127.5, np.float32))], "scale")
    x = conv.emit("Sub", [x, conv.const("one", np.array(1.0, np.float32))], "shift")
    conv.names[in_idx] = conv.emit("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2])

    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        conv.convert_op(op, opnames[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())])

    outputs = [conv.names[int(i)] for i in graph.OutputsAsNumpy()]
    if sorted(outputs) != sorted(_TFLITE_OUTPUT_NAMES.values()):
        raise ValueError(f"unexpected outputs {outputs}")
    onnx_graph = helper.make_graph(
        conv.nodes, "blazeface_full_range",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["N", INPUT_SIZE, INPUT_SIZE, 3])],
        [helper.make_tensor_value_info(OUTPUT_REGRESSORS, TensorProto.FLOAT, ["N", NUM_ANCHORS, 16]),
         helper.make_tensor_value_info(OUTPUT_SCORES, TensorProto.FLOAT, ["N", NUM_ANCHORS, 1])],
        initializer=conv.inits)
    # the producer keeps the converter's first module name: it is part of the artifact, whose checksum the
    # model card records
    onnx_model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                   producer_name="lineup.modelkit.blazeface")
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def convert(tflite_path: Path, out_path: Path) -> None:
    """TFLite file -> ONNX file."""
    model = convert_bytes(tflite_path.read_bytes())
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(out_path))
