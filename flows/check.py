"""Early checks on a QONNX graph: every op is one onebit can map, every weight is binary.

The first and the last linear layer (pixels in, logits out) may have integer weights of up to
`MAX_IO_WEIGHT_BITS` bits, as the binary-network papers keep them real-valued; hidden layers
must be binary.
"""

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
FRACBNN_DOMAIN = "onebit.flows.fracbnn_ops"
FRACBNN_OPS = frozenset({"Thermometer", "PGConv", "PGGemm"})
"""FracBNN's graph ops (`onebit.flows.fracbnn_ops`), lowered to HW layers with onebit RTL."""
MAX_IO_WEIGHT_BITS = 8


HW_DOMAIN = "finn.custom_op.fpgadataflow"


def is_hw_node(node) -> bool:
    """Whether `node` is a FINN HW layer (domain finn.custom_op.fpgadataflow[.hls|.rtl])."""
    return node.domain == HW_DOMAIN or node.domain.startswith(HW_DOMAIN + ".")


def has_hw_layers(model: ModelWrapper) -> bool:
    """Whether a graph already holds FINN HW layers (a FINN-ONNX graph past convert-to-HW)."""
    return any(is_hw_node(n) for n in model.graph.node)


def check_hw_layers(model: ModelWrapper) -> None:
    """Every FINN HW layer of a graph has onebit RTL and attributes it can build, else name it."""
    from onebit.hw.codegen import GENERATORS
    from onebit.hw.mvau import mvau_params

    known = sorted({op.removesuffix("_hls").removesuffix("_rtl") for op in GENERATORS})
    for node in model.graph.node:
        if not is_hw_node(node):
            continue
        base = node.op_type.removesuffix("_hls").removesuffix("_rtl")
        specialized = base != node.op_type  # FINN's backend already chosen: onebit's or not
        if node.op_type not in GENERATORS and (specialized or base not in known):
            raise UnsupportedOpError(node.name or node.output[0], node.op_type,
                                     "no onebit RTL for it (FINN HW layers onebit builds: "
                                     + ", ".join(sorted({*known, *GENERATORS})) + ")")
        if base == "MVAU":
            mvau_params(node, model)  # datatypes, weights, thresholds, mem_mode


def check_supported(model: ModelWrapper) -> None:
    """Raise UnsupportedOpError for the first node onebit cannot map, or a non-binary weight."""
    if has_hw_layers(model):
        check_hw_layers(model)
    for node in model.graph.node:
        if is_hw_node(node):
            continue
        if node.domain == FRACBNN_DOMAIN and node.op_type in FRACBNN_OPS:
            if node.op_type != "Thermometer":
                _check_weight(model, node, 1)
            continue
        if node.op_type not in SUPPORTED_OPS:
            raise UnsupportedOpError(
                node.name or node.output[0], node.op_type,
                "onebit maps binary linear layers, thresholds, pooling, padding and reshapes",
            )
    linear = [n for n in model.graph.node if n.op_type in LINEAR_OPS]
    for node in model.graph.node:
        if node.op_type in LINEAR_OPS:
            io = node is linear[0] or node is linear[-1]
            _check_weight(model, node, MAX_IO_WEIGHT_BITS if io else 1)
        if node.op_type == "Conv":
            _check_conv_window(model, node)
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            if group != 1:
                raise UnsupportedOpError(
                    node.name, "Conv",
                    f"grouped convolution (group={group}): onebit maps dense convs only (qonnx "
                    "lowers no grouped conv to a MatMul); train it with groups=1",
                )


def _attr(node, name: str, default):
    return next((list(a.ints) for a in node.attribute if a.name == name), default)


def _check_conv_window(model: ModelWrapper, node) -> None:
    """qonnx's Im2Col lowers a conv over a map one pixel high (or wide) only with a kernel of 1
    and no padding in that direction; refuse the others by name instead of failing there.

    A +-1 `Pad` of a sign activation (or of a max-pool of one) in front of the conv counts as
    the conv's own padding: streamlining moves it into the Im2Col.
    """
    from onebit.flows.bipolar_pad import pad_spec

    shape = model.get_tensor_shape(node.input[0])
    w = model.get_initializer(node.input[1])
    kernel = _attr(node, "kernel_shape", list(w.shape[2:]) if w is not None else None)
    if shape is None or len(shape) != 4 or kernel is None or len(kernel) != 2:
        return
    pads = _attr(node, "pads", [0, 0, 0, 0])
    src = model.find_producer(node.input[0])
    if src is not None and src.op_type == "Pad":
        p, value = pad_spec(model, src)
        if _of_sign(model, src.input[0]) and value in (-1.0, 1.0) \
                and len(p) == 8 and model.get_tensor_shape(src.input[0]) is not None:
            shape = model.get_tensor_shape(src.input[0])
            pads = [pads[0] + p[2], pads[1] + p[3], pads[2] + p[6], pads[3] + p[7]]
    for axis, side in ((0, "high"), (1, "wide")):
        pad = int(pads[axis] + pads[axis + 2])
        if shape[2 + axis] == 1 and (kernel[axis] > 1 or pad > 0):
            raise UnsupportedOpError(
                node.name, "Conv",
                f"a {kernel[0]}x{kernel[1]} kernel with padding {pad} over a map 1 pixel {side} "
                f"(input {shape[2]}x{shape[3]}): qonnx lowers convs over such a map only with "
                "kernel 1 and no padding in that direction",
            )


def _of_sign(model: ModelWrapper, tensor: str) -> bool:
    """Whether `tensor` is a sign activation's output, or a max-pool's of one (still +-1)."""
    node = model.find_producer(tensor)
    while node is not None and node.op_type == "MaxPool":
        node = model.find_producer(node.input[0])
    return node is not None and node.op_type == "BipolarQuant"


def _check_weight(model: ModelWrapper, node, max_bits: int) -> None:
    w_name = node.input[1]
    producer = model.find_producer(w_name)
    if producer is not None and producer.op_type == "BipolarQuant":
        return
    if producer is not None and producer.op_type == "Quant":
        bw = model.get_initializer(producer.input[3])
        bits = None if bw is None else float(np.asarray(bw).reshape(-1)[0])
        if bits is not None and bits == int(bits) and 1 <= bits <= max_bits:
            return
        why = (f"the first and last layer may have at most {max_bits}" if max_bits > 1 else
               f"onebit needs binary (1-bit) weights in hidden layers (the first and last "
               f"layer may have up to {MAX_IO_WEIGHT_BITS})")  # fmt: skip
        shown = "?" if bits is None else f"{bits:g}"
        raise UnsupportedOpError(node.name, node.op_type,
                                 f"weights are quantized to {shown} bits: {why}")
    w = model.get_initializer(w_name)
    if w is None:
        raise UnsupportedOpError(node.name, node.op_type, "weights are not a constant")
    values = np.unique(np.asarray(w))
    if not set(values.tolist()) <= {-1.0, 1.0} and not set(values.tolist()) <= {0.0, 1.0}:
        sample = ", ".join(f"{v:g}" for v in values[:3])
        raise UnsupportedOpError(node.name, node.op_type,
                                 f"non-binary weights (values such as {sample}); onebit needs "
                                 "+-1 (or {0,1}) weights")

