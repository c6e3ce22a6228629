"""Early checks on a QONNX graph: every op is one onebit can map, every weight is binary."""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import UnsupportedOpError

SUPPORTED_OPS = frozenset({
    # quantizers and activations
    "Quant", "BipolarQuant", "MultiThreshold", "Relu", "HardTanh", "Sign",
    # linear layers and what folds into thresholds
    "MatMul", "Gemm", "Conv", "BatchNormalization", "Mul", "Add", "Sub", "Div",
    # data movement
    "Reshape", "Flatten", "Transpose", "Pad", "Identity", "Squeeze", "Unsqueeze",
    "Shape", "Gather", "Concat", "Constant",
    # pooling and the classifier head
    "MaxPool", "TopK", "ArgMax",
})  # fmt: skip
LINEAR_OPS = ("MatMul", "Gemm", "Conv")


def check_supported(model: ModelWrapper) -> None:
    """Raise UnsupportedOpError for the first node onebit cannot map, or a non-binary weight."""
    for node in model.graph.node:
        if node.op_type not in SUPPORTED_OPS:
            raise UnsupportedOpError(
                node.name or node.output[0], node.op_type,
                "onebit maps binary linear layers, thresholds, pooling, padding and reshapes",
            )
    for node in model.graph.node:
        if node.op_type in LINEAR_OPS:
            _check_binary_weight(model, node)
        if node.op_type == "Conv":
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            if group != 1:
                raise UnsupportedOpError(
                    node.name, "Conv",
                    f"grouped convolution (group={group}): onebit maps dense convs only (qonnx "
                    "lowers no grouped conv to a MatMul); train it with groups=1",
                )


def _check_binary_weight(model: ModelWrapper, node) -> None:
    w_name = node.input[1]
    producer = model.find_producer(w_name)
    if producer is not None and producer.op_type == "BipolarQuant":
        return
    if producer is not None and producer.op_type == "Quant":
        bw = model.get_initializer(producer.input[3])
        if bw is not None and float(np.asarray(bw).reshape(-1)[0]) == 1.0:
            return
        bits = "?" if bw is None else f"{float(np.asarray(bw).reshape(-1)[0]):g}"
        raise UnsupportedOpError(node.name, node.op_type,
                                 f"weights are quantized to {bits} bits; onebit needs binary "
                                 "(1-bit) weights")
    w = model.get_initializer(w_name)
    if w is None:
        raise UnsupportedOpError(node.name, node.op_type, "weights are not a constant")
    values = np.unique(np.asarray(w))
    if not set(values.tolist()) <= {-1.0, 1.0} and not set(values.tolist()) <= {0.0, 1.0}:
        sample = ", ".join(f"{v:g}" for v in values[:3])
        raise UnsupportedOpError(node.name, node.op_type,
                                 f"non-binary weights (values such as {sample}); onebit needs "
                                 "+-1 (or {0,1}) weights")
